"""Reporting periods (DESIGN §5): six-monthly and yearly with the configured cut-off days, and
calendar years.

A period has a key users and the CLI type: ``2026-H1`` (15/12/2025 – 14/06/2026 by default),
``2026-H2`` (15/06 – 14/12/2026), ``2026`` (the reporting year 15/12/2025 – 14/12/2026) and
``2026-CY`` (the calendar year). Both ends are included; days are the communes' local days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from flask_babel import gettext as _

from caseapp import web
from caseapp.errors import FieldError, InvalidInputError

FIRST_YEAR = 2020  # the plan's records start after Decision 140/QĐ-TTg (2021); margin for imports
LAST_YEAR = 2100
_KEY = re.compile(r"(\d{4})(?:-(H1|H2|CY))?")


class PeriodKind(StrEnum):
    HALF_YEAR = "half_year"  # H1 and H2
    YEAR = "year"  # the reporting year, to the yearly cut-off
    CALENDAR_YEAR = "calendar_year"


@dataclass(frozen=True)
class Period:
    key: str
    kind: PeriodKind
    year: int
    half: int  # 1 or 2 for half years, 0 otherwise
    start: date
    end: date

    @property
    def label(self) -> str:
        span = f"{self.start:%d/%m/%Y} – {self.end:%d/%m/%Y}"
        if self.kind is PeriodKind.HALF_YEAR:
            if self.half == 1:
                return str(_("6 tháng đầu năm %(year)d (%(span)s)", year=self.year, span=span))
            return str(_("6 tháng cuối năm %(year)d (%(span)s)", year=self.year, span=span))
        if self.kind is PeriodKind.YEAR:
            return str(_("Năm %(year)d (%(span)s)", year=self.year, span=span))
        return str(_("Năm dương lịch %(year)d (%(span)s)", year=self.year, span=span))

    @property
    def short_label(self) -> str:
        if self.kind is PeriodKind.HALF_YEAR:
            return f"{self.year}-{'H1' if self.half == 1 else 'H2'}"
        if self.kind is PeriodKind.YEAR:
            return str(self.year)
        return str(_("%(year)d (dương lịch)", year=self.year))

    @property
    def report_title(self) -> str:
        if self.kind is PeriodKind.HALF_YEAR and self.half == 1:
            return str(_("Báo cáo 6 tháng đầu năm %(year)d", year=self.year))
        if self.kind is PeriodKind.HALF_YEAR:
            return str(_("Báo cáo 6 tháng cuối năm %(year)d", year=self.year))
        return str(_("Báo cáo năm %(year)d", year=self.year))

    @property
    def official_name(self) -> str:
        """The period in Vietnamese whatever the user's language, for official documents."""
        if self.kind is PeriodKind.HALF_YEAR:
            return f"6 tháng {'đầu' if self.half == 1 else 'cuối'} năm {self.year}"
        if self.kind is PeriodKind.YEAR:
            return f"năm {self.year}"
        return f"năm dương lịch {self.year}"

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        if self.kind is PeriodKind.HALF_YEAR:
            if self.half == 2:
                return _build(self.year, PeriodKind.HALF_YEAR, 1)
            return _build(self.year - 1, PeriodKind.HALF_YEAR, 2)
        return _build(self.year - 1, self.kind, 0)


def _month_day(setting: str) -> tuple[int, int]:
    month, day = setting.split("-")
    return int(month), int(day)


def _cut_offs() -> tuple[tuple[int, int], tuple[int, int]]:
    settings = web.settings()
    return _month_day(settings.REPORT_HALF_YEAR_END), _month_day(settings.REPORT_YEAR_END)


def _build(year: int, kind: PeriodKind, half: int) -> Period:
    if kind is PeriodKind.CALENDAR_YEAR:
        return Period(f"{year}-CY", kind, year, 0, date(year, 1, 1), date(year, 12, 31))
    (half_month, half_day), (year_month, year_day) = _cut_offs()
    year_start = date(year - 1, year_month, year_day) + timedelta(days=1)
    year_end = date(year, year_month, year_day)
    half_end = date(year, half_month, half_day)
    if kind is PeriodKind.YEAR:
        return Period(str(year), kind, year, 0, year_start, year_end)
    if half == 1:
        return Period(f"{year}-H1", kind, year, 1, year_start, half_end)
    return Period(f"{year}-H2", kind, year, 2, half_end + timedelta(days=1), year_end)


def parse(key: str) -> Period:
    """The period named by ``key``; an unknown key is an InvalidInputError naming the forms."""
    match = _KEY.fullmatch(key.strip().upper())
    if match is None or not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
        raise InvalidInputError(
            [
                FieldError(
                    "period",
                    _(
                        "Kỳ báo cáo “%(key)s” không hợp lệ: dùng dạng 2026-H1 (6 tháng đầu năm), "
                        "2026-H2 (6 tháng cuối năm), 2026 (cả năm) hoặc 2026-CY (năm dương lịch), "
                        "năm từ %(first)d đến %(last)d.",
                        key=key[:20],
                        first=FIRST_YEAR,
                        last=LAST_YEAR,
                    ),
                )
            ]
        )
    year, suffix = int(match[1]), match[2]
    if suffix == "CY":
        return _build(year, PeriodKind.CALENDAR_YEAR, 0)
    if suffix in {"H1", "H2"}:
        return _build(year, PeriodKind.HALF_YEAR, int(suffix[1]))
    return _build(year, PeriodKind.YEAR, 0)


def containing(day: date, kind: PeriodKind) -> Period:
    """The period of ``kind`` that ``day`` falls in."""
    if kind is PeriodKind.CALENDAR_YEAR:
        return _build(day.year, kind, 0)
    year = day.year
    if day > _build(year, PeriodKind.YEAR, 0).end:
        year += 1  # after the yearly cut-off: the next reporting year has begun
    if kind is PeriodKind.YEAR:
        return _build(year, kind, 0)
    first = _build(year, PeriodKind.HALF_YEAR, 1)
    return first if day <= first.end else _build(year, PeriodKind.HALF_YEAR, 2)


def recent(last: Period, count: int) -> list[Period]:
    """``count`` periods of ``last``'s kind ending with ``last``, oldest first."""
    periods = [last]
    while len(periods) < count and periods[-1].year > FIRST_YEAR:
        periods.append(periods[-1].previous())
    return periods[::-1]


def choices(today: date, years: int = 6) -> list[Period]:
    """The periods offered in the pickers: the last ``years`` years, newest first."""
    current_year = containing(today, PeriodKind.YEAR).year
    found: list[Period] = []
    for year in range(current_year, max(FIRST_YEAR, current_year - years) - 1, -1):
        for key in (f"{year}-H2", f"{year}-H1", str(year), f"{year}-CY"):
            period = parse(key)
            if period.start <= today:
                found.append(period)
    return found
