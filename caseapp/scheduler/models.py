"""What the scheduler keeps in the database: its lease, each job's last run, the e-mail outbox
and the nightly indicator snapshot. No row here names a youth."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from caseapp.db import UTCDateTime, allowed_values, utcnow
from caseapp.extensions import Model

ERROR_MAX = 300


class SchedulerLease(Model):
    """The leader's lease (one row per lock name). On SQLite it is the lock; on PostgreSQL an
    advisory lock is, and this row carries the heartbeat the administrator sees."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(120))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JobRun(Model):
    """The last run of each job: the day it last completed for, and how it went."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    last_day: Mapped[date | None] = mapped_column(sa.Date)  # Asia/Ho_Chi_Minh
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ok: Mapped[bool | None] = mapped_column(sa.Boolean)
    error: Mapped[str | None] = mapped_column(sa.String(ERROR_MAX))
    summary: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt


class OutboxMessage(Model):
    """An e-mail to send. The unique key (recipient, kind, day) makes the digest at-least-once
    and never duplicated: a rerun finds the row and sends only what is still pending."""

    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    day: Mapped[date] = mapped_column(sa.Date)
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)  # case codes and counts only, never identities
    status: Mapped[str] = mapped_column(sa.String(12), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.String(ERROR_MAX))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        allowed_values("status", OutboxStatus),
        sa.UniqueConstraint("user_id", "kind", "day", name="uq_email_outbox_key"),
        sa.Index("ix_email_outbox_status_next", "status", "next_attempt_at"),
    )


class IndicatorSnapshot(Model):
    """A nightly count per commune and metric (open cases by phase, overdue follow-ups…), so
    trends survive later edits. Rerunning a night replaces that night's rows."""

    __tablename__ = "indicator_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    taken_on: Mapped[date] = mapped_column(sa.Date)
    commune_code: Mapped[int] = mapped_column(sa.ForeignKey("communes.code"))
    metric: Mapped[str] = mapped_column(sa.String(48))
    value: Mapped[int] = mapped_column(sa.Integer)

    __table_args__ = (
        sa.UniqueConstraint(
            "taken_on", "commune_code", "metric", name="uq_indicator_snapshots_key"
        ),
    )
