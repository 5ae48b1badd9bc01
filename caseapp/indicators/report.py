"""A report of the plan's indicators for one period and a set of communes: the rows the dashboard,
the printable page, the workbook and the Word document all show.

Everything here adds up the grouped counts of ``queries``; nothing reads a single case.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from caseapp import web
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.geo.models import Commune, FormerDistrict
from caseapp.geo.services import province_name
from caseapp.indicators import periods, queries, store
from caseapp.indicators.periods import Period
from caseapp.indicators.queries import AGE_BANDS, SEXES, Counts

SUPPORT_TARGET_2025 = 80  # % of managed users and addicts receiving support (Decision 140/QĐ-TTg)
SUPPORT_TARGET_2030 = 90
REINTEGRATION_TARGET = 1  # youth reintegrated with a stable job per commune and year
TREND_PERIODS = 6

AGE_BAND_LABELS = {"12-15": _l("12 – dưới 16"), "16-17": _l("16 – dưới 18"), "18-30": _l("18 – 30")}
SEX_LABELS = {"male": _l("Nam"), "female": _l("Nữ")}


class Level(StrEnum):
    COMMUNE = "commune"
    DISTRICT = "district"
    PROVINCE = "province"


class Reintegration(StrEnum):
    MET = "met"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    NOT_MET = "not_met"


REINTEGRATION_LABELS = {
    Reintegration.MET: _l("Đạt"),
    Reintegration.ON_TRACK: _l("Đang tiến triển"),
    Reintegration.AT_RISK: _l("Có nguy cơ không đạt"),
    Reintegration.NOT_MET: _l("Không đạt"),
}


def support_target(year: int) -> int:
    """The share (%) the plan asks for in ``year``: >80% from 2025, >90% by 2030."""
    return SUPPORT_TARGET_2030 if year >= 2030 else SUPPORT_TARGET_2025


def share(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in %, or None when there is nobody to count."""
    return None if whole == 0 else 100.0 * part / whole


@dataclass
class Row:
    """One area: a commune, a former district or the whole scope."""

    level: Level
    code: int | None
    name: str
    population: int | None  # None: not entered (for a group: missing for some commune)
    counts: Counts = field(default_factory=dict)
    previous: Counts = field(default_factory=dict)
    activity: Counts = field(default_factory=dict)
    breakdown: dict[tuple[str, str], Counts] = field(default_factory=dict)
    children: list[Row] = field(default_factory=list)
    missing_population: int = 0  # communes in the group without a population figure

    def __getitem__(self, key: str) -> int:
        if key in self.counts:
            return self.counts[key]
        return self.activity.get(key, 0)

    def share(self, part: str, whole: str) -> float | None:
        return share(self[part], self[whole])

    @property
    def ua_change(self) -> int:
        """Users and addicts on record against the previous period (the plan: must not grow)."""
        return self.counts.get("ua", 0) - self.previous.get("ua", 0)

    def per_10000(self) -> float | None:
        """Users and addicts on record per 10,000 residents (None: population not entered)."""
        if not self.population or self.missing_population:
            return None
        return 10_000.0 * self.counts.get("ua", 0) / self.population

    def alert(self, threshold_per_10000: int) -> bool | None:
        rate = self.per_10000()
        return None if rate is None else rate >= threshold_per_10000

    def reintegration(self, period: Period, today: date) -> Reintegration:
        if self.counts.get("reintegrated", 0) >= REINTEGRATION_TARGET:
            return Reintegration.MET
        if period.end < today:
            return Reintegration.NOT_MET
        if self.activity.get("jobs_running", 0) > 0:
            return Reintegration.ON_TRACK  # youth in work who may be confirmed in time
        return Reintegration.AT_RISK


@dataclass
class Report:
    period: Period
    previous: Period
    today: date
    generated_at: datetime
    scope_name: str
    province: Row
    districts: list[Row]
    communes: list[Row]
    alert_per_10000: int
    computed_at: datetime
    trend: list[tuple[Period, Counts]] = field(default_factory=list)
    scope_key: str | None = None  # the communes' cache key, when figures may be reused
    _rankings: dict[tuple[str, str], list[Row]] = field(default_factory=dict, repr=False)

    @property
    def is_empty(self) -> bool:
        return self.province.counts.get("managed", 0) == 0 and not any(
            self.province.activity.values()
        )

    @property
    def target(self) -> int:
        return support_target(self.period.end.year)

    @property
    def is_provisional(self) -> bool:
        """The period has not ended: figures are to date."""
        return self.period.end >= self.today

    def reintegration_counts(self) -> dict[Reintegration, int]:
        counts = dict.fromkeys(Reintegration, 0)
        for row in self.communes:
            counts[row.reintegration(self.period, self.today)] += 1
        return counts

    def ranking(self, key: str = "ua_supported", whole: str = "ua") -> list[Row]:
        """Communes by the share of ``key`` in ``whole``, lowest first (those needing help);
        communes with nobody to count come last. Sorted once per report and measure."""
        if (key, whole) not in self._rankings:

            def order(row: Row) -> tuple[bool, float, str]:
                value = row.share(key, whole)
                return value is None, value or 0.0, row.name

            self._rankings[key, whole] = sorted(self.communes, key=order)
        return list(self._rankings[key, whole])


def _blank() -> Counts:
    return dict.fromkeys(queries.CASE_MEASURES, 0)


def _blank_activity() -> Counts:
    return dict.fromkeys(queries.ACTIVITY_MEASURES, 0)


def _roll_up(row: Row, children: Iterable[Row]) -> None:
    for child in children:
        queries.add(row.counts, child.counts)
        queries.add(row.previous, child.previous)
        queries.add(row.activity, child.activity)
        for key, counts in child.breakdown.items():
            queries.add(row.breakdown.setdefault(key, _blank()), counts)
        row.missing_population += child.missing_population
        if child.population is not None:
            row.population = (row.population or 0) + child.population


def _communes(codes: sa.Select[Any] | None) -> list[sa.Row[Any]]:
    """Code, name, population, former district (code and name) of the communes: rows, not
    objects (a national scope has 3,321 of them)."""
    query = sa.select(
        Commune.code,
        Commune.name,
        Commune.population,
        Commune.former_district_code,
        FormerDistrict.name.label("district_name"),
    ).outerjoin(FormerDistrict, FormerDistrict.code == Commune.former_district_code)
    if codes is not None:
        query = query.where(Commune.code.in_(codes))
    return list(
        db.session.execute(
            query.order_by(
                Commune.former_district_code.is_(None), Commune.former_district_code, Commune.name
            )
        )
    )


def build(
    period: Period,
    *,
    communes: sa.Select[Any] | None = None,
    scope_name: str | None = None,
    today: date,
    trend: int = 0,
    max_age: timedelta | None = None,
) -> Report:
    """The report of ``period`` over ``communes`` (a select of commune codes; None: all), with
    the previous period for comparison and ``trend`` periods for the charts. With ``max_age``,
    figures computed less than that long ago today are reused (the dashboard, and the downloads:
    the figures the dashboard shows)."""
    settings = web.settings()
    previous = period.previous()
    scope = store.scope_key(communes) if max_age is not None else None  # once, not per period
    # Without a trend (the downloads), the communes' counts by sex and age band too.
    wanted = store.Part.ALL if trend else store.Part.REPORT
    current = store.figures(period, communes, today=today, max_age=max_age, key=scope, part=wanted)
    # Without a trend, the previous period shows only its users and addicts (the charts of a
    # trend show its other shares too).
    part = store.Part.COMMUNES if trend else store.Part.UA
    last = store.figures(previous, communes, today=today, max_age=max_age, key=scope, part=part)
    events = current.activity
    computed_at = min(current.computed_at, last.computed_at)
    rows: dict[int, Row] = {}
    in_scope = _communes(communes)
    blank, blank_activity = _blank(), _blank_activity()
    none: Counts = {}
    for commune in in_scope:
        code = commune.code
        rows[code] = Row(
            Level.COMMUNE,
            code,
            commune.name,
            commune.population,
            counts={**blank, **current.communes.get(code, none)},
            previous={**blank, **last.communes.get(code, none)},
            activity=events.get(code) or dict(blank_activity),
            missing_population=int(commune.population is None),
        )
    for (code, sex, band), counts in (current.cube or {}).items():
        if code in rows:
            rows[code].breakdown[(sex, band)] = counts
    districts: dict[int | None, Row] = {}
    for commune in in_scope:
        key = commune.former_district_code
        if key not in districts:
            name = (
                _("%(name)s (cũ)", name=commune.district_name)
                if commune.district_name is not None
                else _("Các xã, phường khác")
            )
            districts[key] = Row(Level.DISTRICT, key, name, None, _blank(), _blank())
            districts[key].activity = _blank_activity()
        districts[key].children.append(rows[commune.code])
    for district in districts.values():
        _roll_up(district, district.children)
    province = Row(
        Level.PROVINCE,
        settings.PROVINCE,
        scope_name or province_name(settings.PROVINCE),
        None,
        _blank(),
        _blank(),
        _blank_activity(),
        children=list(districts.values()),
    )
    _roll_up(province, districts.values())
    if current.cube is None:  # read back from the cache: the scope's breakdown only
        province.breakdown = {key: dict(counts) for key, counts in current.breakdown.items()}
    report = Report(
        period=period,
        previous=previous,
        today=today,
        generated_at=utcnow(),
        scope_name=province.name,
        province=province,
        districts=list(districts.values()),
        communes=list(rows.values()),
        alert_per_10000=settings.ALERT_PER_10000,
        computed_at=computed_at,
        scope_key=scope,
    )
    if trend:
        for earlier in periods.recent(period, trend):
            if earlier == period:
                report.trend.append((earlier, province.counts))
            elif earlier == previous:
                report.trend.append((earlier, province.previous))
            else:
                total = _blank()
                found = store.figures(
                    earlier, communes, today=today, max_age=max_age, key=scope,
                    part=store.Part.TOTAL,
                )  # fmt: skip
                queries.add(total, found.total)
                report.trend.append((earlier, total))
                report.computed_at = min(report.computed_at, found.computed_at)
    return report


def sex_band_keys() -> Sequence[tuple[str, str]]:
    return [(sex, band) for sex in SEXES for band in AGE_BANDS]
