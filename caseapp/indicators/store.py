"""The figures of a period for a set of communes, computed by the SQL aggregates of ``queries``
or read back from ``indicator_cache`` when fresh enough (the dashboard allows a few minutes; the
nightly job fills the province's recent periods; downloads always compute)."""

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
    """What a caller needs of a period kept in the cache (the less, the faster to read back)."""

    ALL = "all"
    COMMUNES = "communes"  # the comparison period: per-commune totals
    TOTAL = "total"  # a trend period: the scope's totals


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


def _dump(figures: Figures) -> dict[str, Any]:
    return {
        "communes": {str(code): counts for code, counts in figures.communes.items()},
        "breakdown": {f"{sex}|{band}": counts for (sex, band), counts in figures.breakdown.items()},
        "total": figures.total,
        "activity": {str(code): counts for code, counts in figures.activity.items()},
    }


def _load(payload: dict[str, Any], computed_at: datetime) -> Figures:
    def split(key: str) -> tuple[str, str]:
        sex, _, band = key.partition("|")
        return sex, band

    return Figures(
        communes={int(code): counts for code, counts in payload.get("communes", {}).items()},
        breakdown={split(key): counts for key, counts in payload.get("breakdown", {}).items()},
        total=payload.get("total", {}),
        activity={int(code): counts for code, counts in payload.get("activity", {}).items()},
        computed_at=computed_at,
    )


_PAYLOAD = {
    Part.ALL: IndicatorCache.payload,
    Part.COMMUNES: IndicatorCache.payload["communes"],
    Part.TOTAL: IndicatorCache.payload["total"],
}


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
    the communes' ``scope_key``, when the caller already has it."""
    if max_age is None:
        return _compute(period, communes, today)
    key = key or scope_key(communes)
    row = db.session.execute(
        sa.select(IndicatorCache.computed_on, IndicatorCache.computed_at, _PAYLOAD[part]).where(
            IndicatorCache.period_key == period.key, IndicatorCache.scope_key == key
        )
    ).first()
    kept = _fresh(row, today, max_age)
    if kept is not None and (part is not Part.ALL or "communes" in kept[0]):
        return _load(kept[0] if part is Part.ALL else {part.value: kept[0]}, kept[1])
    found = _compute(period, communes, today)
    store(period.key, key, _dump(found), found.computed_at, today)
    return found


def _fresh(row: Any, today: date, max_age: timedelta) -> tuple[Any, datetime] | None:
    """The kept payload (or part) and when it was computed, if recent enough to reuse."""
    if row is None or row[0] != today or row[1] < utcnow() - max_age:
        return None
    if row[2] is None:  # a part the kept payload lacks (an earlier layout): compute
        return None
    return row[2], row[1]


NOW = "now"  # the key of what belongs to no period: open files by phase today


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
    for period in periods:
        found = _compute(period, communes, today)
        store(period.key, key, _dump(found), found.computed_at, today)
    store(NOW, key, {"pipeline": queries.pipeline(communes)}, utcnow(), today)
    return len(periods)


def age(computed_at: datetime) -> timedelta:
    return utcnow() - computed_at
