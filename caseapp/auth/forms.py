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


# A TOTP code is 6 digits, a recovery code 12 letters and digits (with dashes); anything longer
# is refused before it is looked at.
CODE_INPUT_MAX = 32


class LoginCodeForm(Form):
    """The sign-in's second step. The code is never sent back to the browser."""

    code = StringField(
        _l("Mã xác thực"),
        validators=[
            InputRequired(_l("Nhập mã xác thực.")),
            Length(max=CODE_INPUT_MAX, message=_l("Mã quá dài.")),
        ],
        render_kw={
            "autocomplete": "one-time-code",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
        description=_l(
            "6 chữ số đang hiện trong ứng dụng xác thực trên điện thoại. "
            "Không có điện thoại bên mình? Nhập một mã khôi phục."
        ),
    )
    submit = SubmitField(_l("Xác nhận"))


class EnrolTwoFactorForm(Form):
    code = StringField(
        _l("Mã xác thực"),
        validators=[
            InputRequired(_l("Nhập mã xác thực.")),
            Length(max=CODE_INPUT_MAX, message=_l("Mã quá dài.")),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"},
        description=_l("6 chữ số ứng dụng đang hiện cho CaseApp."),
    )
    current_password = PasswordField(
        _l("Mật khẩu hiện tại"),
        validators=[InputRequired(_l("Nhập mật khẩu hiện tại.")), Length(max=PASSWORD_INPUT_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Bật xác thực hai lớp"))


class RecoveryCodesForm(Form):
    # Field names differ from the other forms of the page: ids must be unique.
    codes_password = PasswordField(
        _l("Mật khẩu hiện tại"),
        validators=[InputRequired(_l("Nhập mật khẩu hiện tại.")), Length(max=PASSWORD_INPUT_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    regenerate = SubmitField(_l("Tạo lại mã khôi phục"))


class DisableTwoFactorForm(Form):
    disable_password = PasswordField(
        _l("Mật khẩu hiện tại"),
        validators=[InputRequired(_l("Nhập mật khẩu hiện tại.")), Length(max=PASSWORD_INPUT_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    disable_code = StringField(
        _l("Mã xác thực hoặc mã khôi phục"),
        validators=[
            InputRequired(_l("Nhập mã xác thực.")),
            Length(max=CODE_INPUT_MAX, message=_l("Mã quá dài.")),
        ],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false"},
    )
    disable = SubmitField(_l("Tắt xác thực hai lớp"))
