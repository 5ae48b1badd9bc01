"""Shared form plumbing: the base form (WTForms' own messages in Vietnamese) and putting a
service's ``FieldError`` on the right field."""

from __future__ import annotations

import functools
import unicodedata
from datetime import date
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import Field, SelectChoice, StringField
from wtforms.widgets import Select, html_params

from caseapp.errors import FieldError, InvalidInputError

# WTForms ships no Vietnamese catalog; these are its built-in messages a user can meet.
WTFORMS_VI: dict[str, str] = {
    "Field must be equal to %(other_name)s.": "Giá trị phải trùng với ô %(other_name)s.",
    "Field must be at least %(min)d character long.": "Cần ít nhất %(min)d ký tự.",
    "Field must be at least %(min)d characters long.": "Cần ít nhất %(min)d ký tự.",
    "Field cannot be longer than %(max)d character.": "Không được dài quá %(max)d ký tự.",
    "Field cannot be longer than %(max)d characters.": "Không được dài quá %(max)d ký tự.",
    "Field must be exactly %(max)d character long.": "Cần đúng %(max)d ký tự.",
    "Field must be exactly %(max)d characters long.": "Cần đúng %(max)d ký tự.",
    "Field must be between %(min)d and %(max)d characters long.": (
        "Cần từ %(min)d đến %(max)d ký tự."
    ),
    "Number must be at least %(min)s.": "Số phải từ %(min)s trở lên.",
    "Number must be at most %(max)s.": "Số không được lớn hơn %(max)s.",
    "Number must be between %(min)s and %(max)s.": "Số phải từ %(min)s đến %(max)s.",
    "Date must be at least %(min)s.": "Ngày phải từ %(min)s trở đi.",
    "Date must be at most %(max)s.": "Ngày không được sau %(max)s.",
    "Date must be between %(min)s and %(max)s.": "Ngày phải từ %(min)s đến %(max)s.",
    "This field is required.": "Ô này không được để trống.",
    "Invalid input.": "Giá trị không hợp lệ.",
    "Invalid email address.": "Địa chỉ thư điện tử không hợp lệ.",
    "Invalid value, must be one of: %(values)s.": "Giá trị phải là một trong: %(values)s.",
    "Invalid value, can't be any of: %(values)s.": "Giá trị không được là: %(values)s.",
    "This field cannot be edited.": "Ô này không được sửa.",
    "This field is disabled and cannot have a value.": "Ô này bị khóa, không nhận giá trị.",
    "Invalid CSRF Token.": "Mã bảo vệ biểu mẫu không hợp lệ.",
    "CSRF token missing.": "Thiếu mã bảo vệ biểu mẫu.",
    "CSRF failed.": "Kiểm tra mã bảo vệ biểu mẫu thất bại.",
    "CSRF token expired.": "Mã bảo vệ biểu mẫu đã hết hạn.",
    "Invalid Choice: could not coerce.": "Lựa chọn không hợp lệ.",
    "Choices cannot be None.": "Chưa có lựa chọn nào.",
    "Not a valid choice.": "Lựa chọn không hợp lệ.",
    "Invalid choice(s): one or more data inputs could not be coerced.": (
        "Có lựa chọn không hợp lệ."
    ),
    "'%(value)s' is not a valid choice for this field.": "Lựa chọn “%(value)s” không hợp lệ.",
    "'%(value)s' are not valid choices for this field.": "Các lựa chọn “%(value)s” không hợp lệ.",
    "Not a valid datetime value.": "Ngày giờ không hợp lệ.",
    "Not a valid date value.": "Ngày không hợp lệ (nhập theo dạng dd/mm/yyyy).",
    "Not a valid time value.": "Giờ không hợp lệ.",
    "Not a valid integer value.": "Phải là số nguyên.",
    "Not a valid decimal value.": "Phải là số.",
    "Not a valid float value.": "Phải là số.",
}


class _WTFormsTranslations:
    """WTForms asks this object for its messages; Vietnamese unless the user chose English."""

    def gettext(self, message: str) -> str:
        if str(get_locale() or "vi") == "en":
            return message
        return WTFORMS_VI.get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)


_MULTILINE = frozenset({"\n", "\r", "\t"})


class Form(FlaskForm):
    """Every CaseApp form derives from this one.

    Typed text is stored NFC (whatever the keyboard sent) and control characters are refused
    everywhere: they corrupt logs and reports, and PostgreSQL refuses NUL bytes outright.
    """

    class Meta(FlaskForm.Meta):
        def get_translations(self, form: Any) -> _WTFormsTranslations:
            return _WTFormsTranslations()

    def validate(self, extra_validators: Any = None) -> bool:
        valid: bool = super().validate(extra_validators)
        for field in self:
            if field.type == "PasswordField" or not isinstance(field.data, str):
                continue
            field.data = unicodedata.normalize("NFC", field.data)
            allowed = _MULTILINE if field.type == "TextAreaField" else frozenset()
            if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in field.data):
                field.errors = [*field.errors, _("Có ký tự điều khiển không hợp lệ; hãy gõ lại.")]
                valid = False
        return valid


def show_field_error(form: FlaskForm, error: FieldError | InvalidInputError) -> None:
    """Attach business-rule refusals to their fields, or to the form when no field is named."""
    for one in error.errors if isinstance(error, InvalidInputError) else [error]:
        field = getattr(form, one.field, None) if one.field else None
        if field is not None:
            field.errors = [*field.errors, one.message]
        else:
            form.form_errors.append(one.message)


class DayField(StringField):
    """A date typed dd/mm/yyyy (the way Vietnamese forms write it); ``data`` is a ``date``."""

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        render_kw = {"inputmode": "numeric", "placeholder": "dd/mm/yyyy", "autocomplete": "off"}
        render_kw.update(kwargs.pop("render_kw", {}))
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.raw_text = ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        from caseapp.cases.validation import parse_day

        self.raw_text = (valuelist[0] if valuelist else "") or ""
        self.data = None
        if not self.raw_text.strip():
            return
        try:
            self.data = parse_day(self.raw_text, self.name)
        except FieldError as exc:
            raise ValueError(exc.message) from None

    def _value(self) -> str:
        if self.raw_text:
            return self.raw_text
        return self.data.strftime("%d/%m/%Y") if isinstance(self.data, date) else ""


# Typed amounts stop here (a thousand billion đồng): enough for any loan, and no huge integers.
VND_DIGITS_MAX = 13


class VndField(StringField):
    """An amount in đồng typed the Vietnamese way (50.000.000, 50 000 000 or 50000000đ); ``data``
    is an ``int``. What was typed is shown again when the form has errors."""

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        render_kw = {"inputmode": "numeric", "autocomplete": "off"}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.raw_text = ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.raw_text = (valuelist[0] if valuelist else "") or ""
        self.data = None
        text = self.raw_text.strip().casefold()
        for noise in ("vnđ", "vnd", "đồng", "đ", "₫", ".", ",", " ", "\u00a0"):
            text = text.replace(noise, "")
        if not text:
            return
        if not (text.isascii() and text.isdigit()) or len(text) > VND_DIGITS_MAX:
            raise ValueError(_("Nhập số tiền bằng chữ số, ví dụ 50.000.000."))
        self.data = int(text)

    def _value(self) -> str:
        if self.raw_text:
            return self.raw_text
        return f"{self.data:,}".replace(",", ".") if isinstance(self.data, int) else ""


class LongSelect(Select):
    """A ``<select>`` of thousands of options (the communes of a national scope): the same HTML as
    WTForms' ``Select`` (a test compares them), but the options are written once per distinct
    list and reused (``_option_tags``), and the selected one is marked in that text: the option
    whose value, as text, is the field's data, or the blank one when there is none (what
    ``coerce`` gives for the integer and text choices it is used with)."""

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        choices = field.choices
        if field.has_groups() or any(isinstance(c, SelectChoice) and c.render_kw for c in choices):
            return super().__call__(field, **kwargs)  # type: ignore[no-any-return]
        kwargs.setdefault("id", field.id)
        flags = field.flags
        for name in self.validation_attrs:
            if name not in kwargs and getattr(flags, name, False):
                kwargs[name] = getattr(flags, name)
        pairs = tuple(
            (str(value), str(label))
            for value, label in (
                (c.value, c.label) if isinstance(c, SelectChoice) else c[:2] for c in choices
            )
        )
        options = _option_tags(pairs)
        data = field.data
        # The blank option is chosen when the field's coerce turns "" into its data (an empty
        # filter), any other when its value reads as the data.
        chosen = "" if data is None or data == "" else str(data)
        if chosen or field.coerce("") == data:
            mark = f'<option value="{escape(chosen)}">'
            options = options.replace(mark, f'<option selected value="{escape(chosen)}">', 1)
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{options}</select>")  # noqa: S704 -- escaped in _option_tags


@functools.lru_cache(maxsize=64)
def _option_tags(pairs: tuple[tuple[str, str], ...]) -> str:
    """The ``<option>`` tags of (value, label) pairs, escaped; a label left empty shows the value,
    as WTForms does. Kept for the few distinct lists a deployment has (its scopes' communes)."""
    return "".join(
        f'<option value="{escape(value)}">{escape(label) or escape(value)}</option>'
        for value, label in pairs
    )
