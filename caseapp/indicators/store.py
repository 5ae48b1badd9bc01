"""The figures of a period for a set of communes, computed by the SQL aggregates of ``queries``
or read back from ``indicator_cache`` when fresh enough (the dashboard allows a few minutes; the
nightly job fills the province's recent periods; downloads always compute)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
    cube: dict[CubeKey, Counts]
    activity: dict[int, Counts]
    computed_at: datetime


def scope_key(communes: sa.Select[Any] | None) -> str:
    """A digest naming a set of communes (every commune when None)."""
    query = communes if communes is not None else sa.select(Commune.code)
    codes = sorted(int(code) for code in db.session.scalars(query))
    return hashlib.sha256(",".join(map(str, codes)).encode()).hexdigest()[:32]


def _compute(period: Period, communes: sa.Select[Any] | None, today: date) -> Figures:
    return Figures(
        queries.cube(period, communes), queries.activity(period, today, communes), utcnow()
    )


def _dump(figures: Figures) -> dict[str, Any]:
    return {
        "cube": [[c, sex, band, counts] for (c, sex, band), counts in figures.cube.items()],
        "activity": {str(c): counts for c, counts in figures.activity.items()},
    }


def _load(row: IndicatorCache) -> Figures:
    cube = {(int(c), str(sex), str(band)): counts for c, sex, band, counts in row.payload["cube"]}
    activity = {int(c): counts for c, counts in row.payload["activity"].items()}
    return Figures(cube, activity, row.computed_at)


def figures(
    period: Period,
    communes: sa.Select[Any] | None,
    *,
    today: date,
    max_age: timedelta | None = None,
    key: str | None = None,
) -> Figures:
    """The period's figures; from the cache when computed today less than ``max_age`` ago
    (``None``: always compute, and keep nothing). ``key``: the communes' ``scope_key``, when
    the caller already has it."""
    if max_age is None:
        return _compute(period, communes, today)
    key = key or scope_key(communes)
    row = db.session.scalars(
        sa.select(IndicatorCache).where(
            IndicatorCache.period_key == period.key, IndicatorCache.scope_key == key
        )
    ).first()
    if row is not None and row.computed_on == today and row.computed_at >= utcnow() - max_age:
        return _load(row)
    found = _compute(period, communes, today)
    store(period, key, found, today)
    return found


def store(period: Period, key: str, found: Figures, today: date) -> None:
    """Keep ``found`` (replacing what was kept); a concurrent writer's row wins a tie."""
    values = {"computed_on": today, "computed_at": found.computed_at, "payload": _dump(found)}
    updated = db.session.execute(
        sa.update(IndicatorCache)
        .where(IndicatorCache.period_key == period.key, IndicatorCache.scope_key == key)
        .values(**values)
        .execution_options(synchronize_session=False, preserve_rowcount=True)
    )
    if not getattr(updated, "rowcount", 0):
        db.session.execute(
            insert_or_skip(db.session, IndicatorCache)
            .values(period_key=period.key, scope_key=key, **values)
            .on_conflict_do_nothing()
        )


def refresh(periods: list[Period], communes: sa.Select[Any] | None, today: date) -> int:
    """Compute and keep the figures of ``periods`` (the nightly job, the refresh button)."""
    key = scope_key(communes)
    for period in periods:
        store(period, key, _compute(period, communes, today), today)
    return len(periods)


def age(computed_at: datetime) -> timedelta:
    return utcnow() - computed_at
