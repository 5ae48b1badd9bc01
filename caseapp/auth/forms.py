"""Sign-in and password forms. Password fields are never sent back to the browser."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import EqualTo, InputRequired, Length

from caseapp.forms import Form
from caseapp.users.models import USERNAME_MAX

# Checked before any hashing: a megabyte "password" is refused at once (SECURITY A6).
PASSWORD_INPUT_MAX = 256


class LoginForm(Form):
    username = StringField(
        _l("Tên đăng nhập"),
        validators=[InputRequired(_l("Nhập tên đăng nhập.")), Length(max=USERNAME_MAX)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Mật khẩu"),
        validators=[
            InputRequired(_l("Nhập mật khẩu.")),
            Length(max=PASSWORD_INPUT_MAX, message=_l("Mật khẩu quá dài.")),
        ],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Đăng nhập"))


class ChangePasswordForm(Form):
    current_password = PasswordField(
        _l("Mật khẩu hiện tại"),
        validators=[InputRequired(_l("Nhập mật khẩu hiện tại.")), Length(max=PASSWORD_INPUT_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        _l("Mật khẩu mới"),
        validators=[
            InputRequired(_l("Nhập mật khẩu mới.")),
            Length(max=PASSWORD_INPUT_MAX, message=_l("Mật khẩu quá dài.")),
        ],
        render_kw={"autocomplete": "new-password"},
        description=_l("Ít nhất 12 ký tự. Nên dùng một câu dễ nhớ, có thể gõ tiếng Việt có dấu."),
    )
    confirm_password = PasswordField(
        _l("Nhập lại mật khẩu mới"),
        validators=[
            InputRequired(_l("Nhập lại mật khẩu mới.")),
            EqualTo("new_password", _l("Hai lần nhập mật khẩu mới không khớp.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Đổi mật khẩu"))


class LanguageForm(Form):
    locale = SelectField(
        _l("Ngôn ngữ"),
        choices=[SelectChoice("vi", "Tiếng Việt"), SelectChoice("en", "English")],
        validators=[InputRequired()],
    )
    submit = SubmitField(_l("Lưu"))
