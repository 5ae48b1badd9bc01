"""Computed figures kept for the dashboard: a period's grouped counts for a set of communes, so a
page view does not re-run the aggregates over every case. Official downloads never read it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from caseapp.db import UTCDateTime, utcnow
from caseapp.extensions import Model


class IndicatorCache(Model):
    __tablename__ = "indicator_cache"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_key: Mapped[str] = mapped_column(sa.String(16))
    scope_key: Mapped[str] = mapped_column(sa.String(64))  # a digest of the commune codes
    computed_on: Mapped[date] = mapped_column(sa.Date)  # the local day "overdue" was counted on
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # counts only, never identities

    __table_args__ = (
        sa.UniqueConstraint("period_key", "scope_key", name="uq_indicator_cache_key"),
    )
