"""``LongSelect`` writes the same HTML as WTForms' own select, only faster."""

from __future__ import annotations

from wtforms import Form, SelectChoice, SelectField
from wtforms.widgets import Select

from caseapp.forms import LongSelect

CHOICES = [
    SelectChoice("", "Tất cả"),
    SelectChoice(12452, "Xã Thái Thụy"),
    SelectChoice(7, 'Phường <"A&B">'),
    SelectChoice(8, ""),
]


class Plain(Form):
    commune = SelectField("Xã, phường", choices=CHOICES, coerce=str, widget=Select())


class Long(Form):
    commune = SelectField("Xã, phường", choices=CHOICES, coerce=str, widget=LongSelect())


def test_long_select_renders_like_wtforms_select() -> None:
    for data in ({}, {"commune": ["7"]}, {"commune": ["12452"]}):
        plain, long = Plain(_Data(data)), Long(_Data(data))
        assert long.commune() == plain.commune()
        assert long.commune(class_="form-select") == plain.commune(class_="form-select")
    html = str(Long(_Data({"commune": ["7"]})).commune())
    assert '<option selected value="7">Phường &lt;&#34;A&amp;B&#34;&gt;</option>' in html
    assert '<option value="8">8</option>' in html  # no label: the value, as WTForms does


def _optional_int(value: object) -> int | None:
    return int(str(value)) if value not in (None, "") else None


class PlainInt(Form):
    commune = SelectField("Xã, phường", choices=CHOICES, coerce=_optional_int, widget=Select())


class LongInt(Form):
    commune = SelectField("Xã, phường", choices=CHOICES, coerce=_optional_int, widget=LongSelect())


def test_long_select_with_integer_codes_marks_the_blank_or_the_code_each_time() -> None:
    # The options are written once and reused: each rendering marks only its own choice.
    for data in ({}, {"commune": ["7"]}, {"commune": [""]}, {"commune": ["12452"]}, {}):
        plain, long = PlainInt(_Data(data)), LongInt(_Data(data))
        assert long.commune() == plain.commune()
        assert str(long.commune()).count("selected") == 1


class _Data(dict):
    def getlist(self, key: str) -> list[str]:
        return self.get(key, [])
