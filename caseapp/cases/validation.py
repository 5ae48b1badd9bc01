"""Checks on identity fields: dates typed dd/mm/yyyy, CCCD numbers, Vietnamese phones, text."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import phonenumbers
from flask_babel import gettext as _

from caseapp.cases.models import Sex
from caseapp.crypto import normalise_cccd
from caseapp.errors import FieldError

_DATE = re.compile(r"^\s*(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})\s*$")

# Province codes of birth registration on a CCCD: the 63 provinces before 2025 (Circular 07/2016).
CCCD_PROVINCES = frozenset(
    f"{code:03d}"
    for code in (
        1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35,
        36, 37, 38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70,
        72, 74, 75, 77, 79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
    )
)  # fmt: skip


def parse_day(text: str, field: str) -> date:
    """dd/mm/yyyy (also with . or -) → date; anything else is a FieldError naming the field."""
    match = _DATE.match(text or "")
    if match is None:
        raise FieldError(field, _("Ngày phải theo dạng dd/mm/yyyy, ví dụ 05/09/2008."))
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise FieldError(field, _("Ngày này không có trên lịch.")) from None


def clean_text(text: str | None, field: str, max_length: int, *, multiline: bool = False) -> str:
    """NFC, trimmed, within ``max_length`` characters, no control characters."""
    value = unicodedata.normalize("NFC", text or "").strip()
    allowed = {"\n", "\r", "\t"} if multiline else set()
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value):
        raise FieldError(field, _("Có ký tự điều khiển không hợp lệ; hãy gõ lại."))
    if len(value) > max_length:
        raise FieldError(field, _("Không được dài quá %(n)d ký tự.", n=max_length))
    return value


def check_cccd(raw: str, date_of_birth: date, sex: Sex, field: str = "national_id") -> str:
    """A 12-digit CCCD whose province, century/sex and year digits agree with the person."""
    digits = normalise_cccd(raw)
    if not (digits.isascii() and digits.isdigit()) or len(digits) != 12:
        raise FieldError(field, _("Số CCCD phải gồm đúng 12 chữ số."))
    if digits[:3] not in CCCD_PROVINCES:
        raise FieldError(field, _("Ba số đầu của CCCD không phải mã tỉnh nơi đăng ký khai sinh."))
    century_digit = int(digits[3])
    century = 1900 + 100 * (century_digit // 2)
    digit_sex = Sex.MALE if century_digit % 2 == 0 else Sex.FEMALE
    if century_digit > 9 or not century <= date_of_birth.year < century + 100:
        raise FieldError(field, _("Số thứ 4 của CCCD không khớp với thế kỷ của năm sinh."))
    if digit_sex != sex:
        raise FieldError(field, _("Số thứ 4 của CCCD không khớp với giới tính."))
    if digits[4:6] != f"{date_of_birth.year % 100:02d}":
        raise FieldError(field, _("Số thứ 5–6 của CCCD không khớp với năm sinh."))
    return digits


def check_phone(raw: str, field: str) -> str:
    """A Vietnamese (or international) phone number in E.164."""
    try:
        number = phonenumbers.parse(raw, "VN")
    except phonenumbers.NumberParseException:
        raise FieldError(field, _("Số điện thoại không hợp lệ.")) from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError(field, _("Số điện thoại không hợp lệ."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str | None) -> str:
    """+84912345678 → 0912 345 678 (as people write it)."""
    if not e164:
        return ""
    number = phonenumbers.parse(e164, "VN")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
