"""Administrator forms. Choices for communes and districts come from the database."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from caseapp.forms import Form
from caseapp.geo.models import POPULATION_MAX, Commune, FormerDistrict
from caseapp.users.models import DISPLAY_NAME_MAX, EMAIL_MAX, USERNAME_MAX, Role, ScopeKind
from caseapp.users.services import UserInput
from caseapp.web import LOCALE_LABELS, ROLE_LABELS, SCOPE_LABELS, small_int

_GROUPED_NUMBER = re.compile(r"\d{1,3}(?:([., ])\d{3})?(?:\1\d{3})*|\d+")


def _optional_int(value: object) -> int | None:
    return small_int(value)


class MultiCheckboxField(SelectMultipleField):
    """Several choices as checkboxes (usable on a phone, unlike a multiple select)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserForm(Form):
    username = StringField(
        _l("Tên đăng nhập"),
        validators=[InputRequired(_l("Nhập tên đăng nhập.")), Length(min=3, max=USERNAME_MAX)],
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )
    display_name = StringField(
        _l("Họ và tên cán bộ"),
        validators=[InputRequired(_l("Nhập họ và tên.")), Length(max=DISPLAY_NAME_MAX)],
    )
    email = EmailField(
        _l("Thư điện tử"),
        validators=[
            Optional(),
            # Shape only; delivery proves the rest (Email() needs the email-validator package).
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Địa chỉ thư điện tử không hợp lệ.")),
            Length(max=EMAIL_MAX),
        ],
    )
    role = SelectField(
        _l("Vai trò"),
        choices=[SelectChoice(r.value, ROLE_LABELS[r]) for r in Role],
        validators=[InputRequired()],
    )
    scope_kind = SelectField(
        _l("Phạm vi"),
        choices=[SelectChoice(s.value, SCOPE_LABELS[s]) for s in ScopeKind],
        validators=[InputRequired()],
    )
    commune_codes = MultiCheckboxField(
        _l("Xã, phường phụ trách"),
        coerce=int,
        validators=[Optional()],
        description=_l("Dùng khi phạm vi là một số xã, phường."),
    )
    former_district_code = SelectField(
        _l("Huyện cũ"),
        coerce=_optional_int,
        validators=[Optional()],
        description=_l("Dùng khi phạm vi là một huyện cũ."),
    )
    locale = SelectField(
        _l("Ngôn ngữ"),
        choices=[SelectChoice(k, v) for k, v in LOCALE_LABELS.items()],
        validators=[InputRequired()],
    )
    submit = SubmitField(_l("Lưu"))

    def set_choices(self, communes: list[Commune], districts: list[FormerDistrict]) -> None:
        """Communes grouped by former district (as officers think of them); districts by name."""
        other = str(_l("Không thuộc Thái Bình cũ"))
        self.commune_codes.choices = [
            SelectChoice(
                c.code, c.name, optgroup=c.former_district.name if c.former_district else other
            )
            for c in communes
        ]
        self.former_district_code.choices = [
            SelectChoice("", str(_l("— Không chọn —"))),
            *(SelectChoice(d.code, d.name) for d in districts),
        ]

    def to_input(self) -> UserInput:
        return UserInput(
            username=self.username.data or "",
            display_name=self.display_name.data or "",
            email=self.email.data or None,
            role=self.role.data or "",
            scope_kind=self.scope_kind.data or "",
            commune_codes=list(self.commune_codes.data or []),
            former_district_code=self.former_district_code.data,
            locale=self.locale.data or "vi",
        )


class ConfirmForm(Form):
    """A button that changes state: POST with a CSRF token, nothing else."""

    submit = SubmitField(_l("Xác nhận"))


class TwoFactorPolicyForm(Form):
    """Whether commune social workers must use two-factor sign-in (other roles always must)."""

    workers_required = BooleanField(
        _l("Bắt buộc xác thực hai lớp với cán bộ cấp xã"),
        description=_l(
            "Cán bộ phụ trách, lãnh đạo và quản trị luôn phải dùng. Khi bật, cán bộ cấp xã chưa "
            "cài đặt phải cài đặt ngay ở lần dùng tiếp theo."
        ),
    )
    save_policy = SubmitField(_l("Lưu quy định"))


class PopulationForm(Form):
    # Text, not a number input: people type "12.345" or "12 345" as they write it on paper.
    population = StringField(
        _l("Dân số (người)"),
        validators=[Optional(), Length(max=20)],
        render_kw={"inputmode": "numeric"},
        description=_l("Để trống nếu chưa có số liệu. Có thể gõ 12.345 hoặc 12345."),
    )
    submit = SubmitField(_l("Lưu"))

    def validate_population(self, field: StringField) -> None:
        if self.population_value() is None and (field.data or "").strip():
            raise ValidationError(_l("Dân số phải là số nguyên từ 0 đến 10.000.000."))

    def population_value(self) -> int | None:
        """The typed whole number, or None (blank or not one).

        Thousands may be grouped with dots, commas or spaces, but only in groups of three, so
        "12,5" or "1.2345" are refused rather than read as 125 or 12345.
        """
        text = (self.population.data or "").strip().replace("\u00a0", " ")
        if not _GROUPED_NUMBER.fullmatch(text):
            return None
        value = int("".join(ch for ch in text if ch.isdigit()))
        return value if value <= POPULATION_MAX else None
