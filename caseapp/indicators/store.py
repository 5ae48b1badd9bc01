"""The figures of a period for a set of communes, computed by the SQL aggregates of ``queries``
or read back from ``indicator_cache`` when fresh enough (the dashboard allows a few minutes; the
nightly job fills the province's recent periods; downloads always compute). Also kept there:
open files by phase (``pipeline``) and the dashboard's rendered figures (``page``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from caseapp.db import insert_or_skip, utcnow
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.indicators import queries
from caseapp.indicators.models import IndicatorCache
from caseapp.indicators.periods import Period
from caseapp.indicators.queries import Counts, CubeKey


@dataclass
class Figures:
    """A period's figures over a set of communes. Read back from the cache, only the part the
    caller asked for is filled (the others are empty) and ``cube`` is None."""

    communes: dict[int, Counts]  # per commune, every sex and age band added up
    breakdown: dict[tuple[str, str], Counts]  # the whole set by sex and age band
    total: Counts
    activity: dict[int, Counts]
    computed_at: datetime
    cube: dict[CubeKey, Counts] | None = None  # per commune, sex and age band: computed now only


class Part(StrEnum):
    """What a caller needs of a period kept in the cache (the less, the faster to read back).
    Each is kept in its own row (``period_key`` + suffix), written together."""

    ALL = "all"
    COMMUNES = "communes"  # the comparison period: per-commune totals
    TOTAL = "total"  # a trend period: the scope's totals
    UA = "ua"  # a download's comparison period: per commune, users and addicts only (``ua``)
    REPORT = "report"  # a download's period: all, and per commune by sex and age band


# The rows of one period: the scope's totals and breakdown (small), per-commune counts,
# per-commune activity (3,321 communes each for a national scope) and per-commune counts by sex
# and age band (the downloads' tables). Suffixes keep the key short.
_ROWS = {Part.TOTAL: "", Part.COMMUNES: ":c", "activity": ":a", "cube": ":x"}
_READ = {
    Part.ALL: (Part.TOTAL, Part.COMMUNES, "activity"),
    Part.REPORT: (Part.TOTAL, Part.COMMUNES, "activity", "cube"),
    Part.COMMUNES: (Part.COMMUNES,),
    Part.TOTAL: (Part.TOTAL,),
    Part.UA: (Part.COMMUNES,),
}
# Counts are kept as lists in this order; rows kept with another order are computed again.
_MEASURES = [list(queries.CASE_MEASURES), list(queries.ACTIVITY_MEASURES)]


def scope_key(communes: sa.Select[Any] | None) -> str:
    """A digest naming a set of communes (every commune when None)."""
    query = communes if communes is not None else sa.select(Commune.code)
    codes = sorted(int(code) for code in db.session.scalars(query))
    return hashlib.sha256(",".join(map(str, codes)).encode()).hexdigest()[:32]


def _figures(
    cube: dict[CubeKey, Counts], activity: dict[int, Counts], computed_at: datetime
) -> Figures:
    communes: dict[int, Counts] = {}
    breakdown: dict[tuple[str, str], Counts] = {}
    total: Counts = {}
    for (code, sex, band), counts in cube.items():
        queries.add(communes.setdefault(code, {}), counts)
        queries.add(breakdown.setdefault((sex, band), {}), counts)
        queries.add(total, counts)
    return Figures(communes, breakdown, total, activity, computed_at, cube)


def _compute(period: Period, communes: sa.Select[Any] | None, today: date) -> Figures:
    return _figures(
        queries.cube(period, communes), queries.activity(period, today, communes), utcnow()
    )


def _pack(counts: Counts, measures: tuple[str, ...]) -> list[int]:
    return [counts.get(measure, 0) for measure in measures]


def _unpack(values: list[int], measures: tuple[str, ...]) -> Counts:
    return dict(zip(measures, values, strict=True))


def _dump(figures: Figures) -> dict[str, dict[str, Any]]:
    """The rows to keep: counts as lists in the order of the measures (a fifth of the size)."""
    case, act = queries.CASE_MEASURES, queries.ACTIVITY_MEASURES
    cube = figures.cube or {}
    return {
        _ROWS["cube"]: {
            "measures": _MEASURES,
            "cube": {
                f"{code}|{sex}|{band}": _pack(c, case) for (code, sex, band), c in cube.items()
            },
        },
        _ROWS[Part.TOTAL]: {
            "measures": _MEASURES,
            "total": _pack(figures.total, case),
            "breakdown": {
                f"{sex}|{band}": _pack(counts, case)
                for (sex, band), counts in figures.breakdown.items()
            },
        },
        _ROWS[Part.COMMUNES]: {
            "measures": _MEASURES,
            "communes": {str(code): _pack(c, case) for code, c in figures.communes.items()},
        },
        _ROWS["activity"]: {
            "measures": _MEASURES,
            "activity": {str(code): _pack(c, act) for code, c in figures.activity.items()},
        },
    }


def _load(payloads: dict[str, dict[str, Any]], computed_at: datetime) -> Figures:
    case, act = queries.CASE_MEASURES, queries.ACTIVITY_MEASURES

    def split(key: str) -> tuple[str, str]:
        sex, _, band = key.partition("|")
        return sex, band

    def cell(key: str) -> CubeKey:
        code, sex, band = key.split("|")
        return int(code), sex, band

    main = payloads.get(_ROWS[Part.TOTAL], {})
    communes = payloads.get(_ROWS[Part.COMMUNES], {}).get("communes", {})
    activity = payloads.get(_ROWS["activity"], {}).get("activity", {})
    cube = payloads[_ROWS["cube"]]["cube"] if _ROWS["cube"] in payloads else None
    return Figures(
        communes={int(code): _unpack(values, case) for code, values in communes.items()},
        breakdown={
            split(key): _unpack(values, case) for key, values in main.get("breakdown", {}).items()
        },
        total=_unpack(main["total"], case) if "total" in main else {},
        activity={int(code): _unpack(values, act) for code, values in activity.items()},
        computed_at=computed_at,
        cube=None if cube is None else {cell(k): _unpack(v, case) for k, v in cube.items()},
    )


def _kept(
    period: Period, key: str, part: Part, today: date, max_age: timedelta
) -> tuple[dict[str, dict[str, Any]], datetime] | None:
    """The rows of ``part`` kept for the period and when they were computed, if all are there,
    recent enough, of one computation and of this version's measures; else None."""
    wanted = [period.key + _ROWS[name] for name in _READ[part]]
    rows = db.session.execute(
        sa.select(
            IndicatorCache.period_key, IndicatorCache.computed_on, IndicatorCache.computed_at,
            IndicatorCache.payload,
        ).where(IndicatorCache.period_key.in_(wanted), IndicatorCache.scope_key == key)
    ).all()  # fmt: skip
    if len(rows) != len(wanted) or len({row.computed_at for row in rows}) != 1:
        return None
    if rows[0].computed_on != today or rows[0].computed_at < utcnow() - max_age:
        return None
    if any(not isinstance(row.payload, dict) or row.payload.get("measures") != _MEASURES
           for row in rows):  # fmt: skip
        return None  # kept by an earlier version, with other measures
    return {row.period_key[len(period.key) :]: row.payload for row in rows}, rows[0].computed_at


def figures(
    period: Period,
    communes: sa.Select[Any] | None,
    *,
    today: date,
    max_age: timedelta | None = None,
    key: str | None = None,
    part: Part = Part.ALL,
) -> Figures:
    """The period's figures; from the cache when computed today less than ``max_age`` ago
    (``None``: always compute, and keep nothing), reading back only ``part`` of them. ``key``:
    the communes' ``scope_key``, when the caller already has it. Computed for ``Part.UA``, only
    ``communes`` is filled, with ``ua`` alone (and nothing is kept)."""
    if max_age is not None:
        key = key or scope_key(communes)
        kept = _kept(period, key, part, today, max_age)
        if kept is not None:
            return _load(*kept)
    if part is Part.UA:
        counted = queries.users_and_addicts(period, communes)
        ua = {code: {"ua": n} for code, n in counted.items()}
        return Figures(ua, {}, {}, {}, utcnow())
    found = _compute(period, communes, today)
    if max_age is not None and key is not None:  # key: found above
        keep(period, key, found, today)
    return found


def keep(period: Period, key: str, found: Figures, today: date) -> None:
    """Keep a period's figures, one row per part."""
    for suffix, payload in _dump(found).items():
        store(period.key + suffix, key, payload, found.computed_at, today)


def _fresh(row: Any, today: date, max_age: timedelta) -> tuple[Any, datetime] | None:
    """The kept payload (or part) and when it was computed, if recent enough to reuse."""
    if row is None or row[0] != today or row[1] < utcnow() - max_age:
        return None
    if row[2] is None:  # a part the kept payload lacks (an earlier layout): compute
        return None
    return row[2], row[1]


NOW = "now"  # the key of what belongs to no period: open files by phase today
PAGE = ":h-"  # period key + this + language: the dashboard's figures as HTML


def page(period: Period, key: str, language: str, *, today: date, max_age: timedelta) -> Any:
    """The dashboard's figures rendered for this period, communes and language, and the time of
    the figures they show, while those are fresh; else None."""
    row = db.session.execute(
        sa.select(
            IndicatorCache.computed_on, IndicatorCache.computed_at, IndicatorCache.payload
        ).where(
            IndicatorCache.period_key == f"{period.key}{PAGE}{language}",
            IndicatorCache.scope_key == key,
        )
    ).first()
    kept = _fresh(row, today, max_age)
    if kept is None or not isinstance(kept[0].get("html"), str):
        return None
    return kept[0]["html"], kept[1]


def keep_page(
    period: Period, key: str, language: str, html: str, computed_at: datetime, today: date
) -> None:
    """Keep the rendered figures; ``computed_at``: of the oldest figure they show."""
    store(f"{period.key}{PAGE}{language}", key, {"html": html}, computed_at, today)


def pipeline(
    communes: sa.Select[Any] | None, *, today: date, max_age: timedelta, key: str | None = None
) -> tuple[dict[str, int], datetime]:
    """Open files by phase (``queries.pipeline``), reused when computed less than ``max_age``
    ago, like the period figures beside it; with the time it was counted."""
    key = key or scope_key(communes)
    row = db.session.execute(
        sa.select(
            IndicatorCache.computed_on, IndicatorCache.computed_at, IndicatorCache.payload
        ).where(IndicatorCache.period_key == NOW, IndicatorCache.scope_key == key)
    ).first()
    kept = _fresh(row, today, max_age)
    if kept is not None and "pipeline" in kept[0]:
        return {str(k): int(v) for k, v in kept[0]["pipeline"].items()}, kept[1]
    counted, at = queries.pipeline(communes), utcnow()
    store(NOW, key, {"pipeline": counted}, at, today)
    return counted, at


def store(
    period_key: str, key: str, payload: dict[str, Any], computed_at: datetime, today: date
) -> None:
    """Keep ``payload`` (replacing what was kept); a concurrent writer's row wins a tie."""
    values = {"computed_on": today, "computed_at": computed_at, "payload": payload}
    updated = db.session.execute(
        sa.update(IndicatorCache)
        .where(IndicatorCache.period_key == period_key, IndicatorCache.scope_key == key)
        .values(**values)
        .execution_options(synchronize_session=False, preserve_rowcount=True)
    )
    if not getattr(updated, "rowcount", 0):
        db.session.execute(
            insert_or_skip(db.session, IndicatorCache)
            .values(period_key=period_key, scope_key=key, **values)
            .on_conflict_do_nothing()
        )


def refresh(periods: list[Period], communes: sa.Select[Any] | None, today: date) -> int:
    """Compute and keep the figures of ``periods`` (the nightly job, the refresh button)."""
    key = scope_key(communes)
    db.session.execute(  # pages rendered from the figures replaced here
        sa.delete(IndicatorCache).where(
            IndicatorCache.scope_key == key, IndicatorCache.period_key.contains(PAGE)
        )
    )
    for period in periods:
        keep(period, key, _compute(period, communes, today), today)
    store(NOW, key, {"pipeline": queries.pipeline(communes)}, utcnow(), today)
    return len(periods)


def age(computed_at: datetime) -> timedelta:
    return utcnow() - computed_at
