"""Follow-ups and the reminders the daily sweep sends about them.

A follow-up row holds no identity: a kind, dates, a status and an outcome code. The one free-text
field, the worker's note, is encrypted like the case's identity, bound to the row's UUID.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.crypto import EncryptedField
from caseapp.db import UTCDateTime, allowed_values, utcnow
from caseapp.extensions import Model
from caseapp.users.models import User

NOTE_MAX = 1000


class Kind(StrEnum):
    REHAB_CONTACT = "rehab_contact"  # community rehab: a contact every two weeks
    METHADONE_CONTACT = "methadone_contact"
    POST_REHAB_CONTACT = "post_rehab_contact"
    JOB_CHECK = "job_check"  # "still employed?"
    LOAN_OUTCOME = "loan_outcome"
    MANUAL = "manual"  # an appointment the worker sets


class Source(StrEnum):
    """The record a planned follow-up belongs to."""

    REHAB = "rehab"
    POST_REHAB = "post_rehab"
    JOB = "job"
    LOAN = "loan"


class Status(StrEnum):
    PENDING = "pending"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    MET = "met"  # seen in person
    CONTACTED = "contacted"  # by phone or message
    NOT_REACHED = "not_reached"  # → missed
    STILL_EMPLOYED = "still_employed"
    NOT_EMPLOYED = "not_employed"
    LOAN_IN_PROGRESS = "loan_in_progress"
    LOAN_DECIDED = "loan_decided"


class ChangeReason(StrEnum):
    """Why a follow-up was moved or cancelled (shown on the follow-up and in the audit trail)."""

    YOUTH_UNAVAILABLE = "youth_unavailable"
    WORKER_UNAVAILABLE = "worker_unavailable"
    YOUTH_AWAY = "youth_away"
    HEALTH = "health"
    OTHER = "other"
    # set by the system, never chosen in a form
    PLAN_ENDED = "plan_ended"
    PLAN_CHANGED = "plan_changed"
    CASE_CLOSED = "case_closed"
    CASE_REOPENED = "case_reopened"
    CASE_TRANSFERRED = "case_transferred"
    NOT_NEEDED = "not_needed"


RESCHEDULE_REASONS = (
    ChangeReason.YOUTH_UNAVAILABLE,
    ChangeReason.WORKER_UNAVAILABLE,
    ChangeReason.YOUTH_AWAY,
    ChangeReason.HEALTH,
    ChangeReason.OTHER,
)

KIND_LABELS = {
    Kind.REHAB_CONTACT: _l("Theo dõi cai nghiện tại cộng đồng"),
    Kind.METHADONE_CONTACT: _l("Theo dõi điều trị methadone"),
    Kind.POST_REHAB_CONTACT: _l("Theo dõi quản lý sau cai nghiện"),
    Kind.JOB_CHECK: _l("Xác nhận còn làm việc"),
    Kind.LOAN_OUTCOME: _l("Kiểm tra kết quả vay vốn"),
    Kind.MANUAL: _l("Hẹn theo dõi"),
}
STATUS_LABELS = {
    Status.PENDING: _l("Chưa thực hiện"),
    Status.DONE: _l("Đã thực hiện"),
    Status.MISSED: _l("Không thực hiện được"),
    Status.CANCELLED: _l("Đã hủy"),
}
OUTCOME_LABELS = {
    Outcome.MET: _l("Đã gặp trực tiếp"),
    Outcome.CONTACTED: _l("Đã liên lạc qua điện thoại, tin nhắn"),
    Outcome.NOT_REACHED: _l("Không liên lạc được"),
    Outcome.STILL_EMPLOYED: _l("Vẫn đang làm việc"),
    Outcome.NOT_EMPLOYED: _l("Không còn làm việc"),
    Outcome.LOAN_IN_PROGRESS: _l("Hồ sơ vay đang được xử lý"),
    Outcome.LOAN_DECIDED: _l("Đã có kết quả vay vốn"),
}
REASON_LABELS = {
    ChangeReason.YOUTH_UNAVAILABLE: _l("Người được theo dõi bận, hẹn lại"),
    ChangeReason.WORKER_UNAVAILABLE: _l("Cán bộ bận công tác"),
    ChangeReason.YOUTH_AWAY: _l("Người được theo dõi đi vắng tạm thời"),
    ChangeReason.HEALTH: _l("Lý do sức khỏe"),
    ChangeReason.OTHER: _l("Lý do khác"),
    ChangeReason.PLAN_ENDED: _l("Giai đoạn theo dõi đã kết thúc"),
    ChangeReason.PLAN_CHANGED: _l("Kế hoạch theo dõi thay đổi"),
    ChangeReason.CASE_CLOSED: _l("Hồ sơ đã đóng"),
    ChangeReason.CASE_REOPENED: _l("Hồ sơ được mở lại"),
    ChangeReason.CASE_TRANSFERRED: _l("Hồ sơ chuyển sang xã, phường khác"),
    ChangeReason.NOT_NEEDED: _l("Không còn cần thiết"),
}
# The outcomes a worker may record for each kind; the first is the usual one.
OUTCOMES_BY_KIND: dict[Kind, tuple[Outcome, ...]] = {
    Kind.JOB_CHECK: (Outcome.STILL_EMPLOYED, Outcome.NOT_EMPLOYED, Outcome.NOT_REACHED),
    Kind.LOAN_OUTCOME: (Outcome.LOAN_IN_PROGRESS, Outcome.LOAN_DECIDED, Outcome.NOT_REACHED),
}
CONTACT_OUTCOMES = (Outcome.MET, Outcome.CONTACTED, Outcome.NOT_REACHED)


def outcomes_for(kind: Kind) -> tuple[Outcome, ...]:
    return OUTCOMES_BY_KIND.get(kind, CONTACT_OUTCOMES)


class FollowUp(Model):
    """One follow-up of a case: planned by a transition (source + sequence) or set by hand."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(24))
    source: Mapped[str | None] = mapped_column(sa.String(16))
    source_id: Mapped[int | None] = mapped_column(sa.Integer)
    seq: Mapped[int | None] = mapped_column(sa.Integer)  # the n-th occurrence of its plan
    due_on: Mapped[date] = mapped_column(sa.Date)
    planned_on: Mapped[date] = mapped_column(sa.Date)  # the plan's own date (before any move)
    status: Mapped[str] = mapped_column(sa.String(12), default=Status.PENDING.value)
    outcome: Mapped[str | None] = mapped_column(sa.String(24))
    done_on: Mapped[date | None] = mapped_column(sa.Date)
    is_late: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    done_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(24))
    # Set by the daily sweep: the first day it found the follow-up overdue, and when it was
    # escalated to the officers.
    overdue_since: Mapped[date | None] = mapped_column(sa.Date)
    escalated_on: Mapped[date | None] = mapped_column(sa.Date)
    reschedule_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    rule_set_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rule_sets.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    note_ct: Mapped[str | None] = mapped_column(sa.Text)

    note = EncryptedField("note_ct")

    done_by: Mapped[User | None] = relationship(foreign_keys=[done_by_id])
    changes: Mapped[list[FollowUpChange]] = relationship(
        lazy="selectin", order_by="FollowUpChange.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        allowed_values("kind", Kind),
        allowed_values("source", Source),
        allowed_values("status", Status),
        allowed_values("outcome", Outcome),
        allowed_values("cancel_reason", ChangeReason),
        # A plan has one row per occurrence: re-planning never duplicates.
        sa.UniqueConstraint("source", "source_id", "seq", name="uq_follow_ups_plan_occurrence"),
        sa.CheckConstraint(
            "(source IS NULL) = (source_id IS NULL) AND (source IS NULL) = (seq IS NULL)",
            name="planned_has_source",
        ),
        sa.CheckConstraint(
            "(status IN ('done', 'missed')) = (done_on IS NOT NULL)", name="done_has_date"
        ),
        sa.CheckConstraint(
            "(status = 'cancelled') = (cancel_reason IS NOT NULL)", name="cancelled_has_reason"
        ),
        sa.Index("ix_follow_ups_case_status", "case_id", "status"),
        sa.Index("ix_follow_ups_status_due", "status", "due_on"),
    )

    def __repr__(self) -> str:
        return f"<FollowUp {self.id} {self.kind} {self.status}>"

    @property
    def kind_enum(self) -> Kind:
        return Kind(self.kind)

    def days_overdue(self, today: date) -> int:
        return (today - self.due_on).days if self.status == Status.PENDING else 0


class FollowUpChange(Model):
    """A follow-up moved or cancelled, with its reason: the visible history of a plan."""

    __tablename__ = "follow_up_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    follow_up_id: Mapped[int] = mapped_column(
        sa.ForeignKey("follow_ups.id", ondelete="CASCADE"), index=True
    )
    old_due_on: Mapped[date] = mapped_column(sa.Date)
    new_due_on: Mapped[date | None] = mapped_column(sa.Date)  # None: cancelled
    reason: Mapped[str] = mapped_column(sa.String(24))
    changed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # None: system
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    changed_by: Mapped[User | None] = relationship()

    __table_args__ = (allowed_values("reason", ChangeReason),)


class ReminderKind(StrEnum):
    DUE = "due"  # due today: to the case's worker
    OVERDUE = "overdue"  # the day after: to the case's worker
    ESCALATED = "escalated"  # overdue for N days: to the officers over the commune


REMINDER_LABELS = {
    ReminderKind.DUE: _l("Đến hạn hôm nay"),
    ReminderKind.OVERDUE: _l("Quá hạn"),
    ReminderKind.ESCALATED: _l("Quá hạn, chuyển cán bộ phụ trách"),
}


class ReminderDispatch(Model):
    """A reminder about one follow-up to one person: the bell's notifications. The unique key
    makes the sweep idempotent: however often it runs, each reminder exists once."""

    __tablename__ = "reminder_dispatches"

    id: Mapped[int] = mapped_column(primary_key=True)
    follow_up_id: Mapped[int] = mapped_column(sa.ForeignKey("follow_ups.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(12))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    due_on: Mapped[date] = mapped_column(sa.Date)
    created_on: Mapped[date] = mapped_column(sa.Date)  # the sweep's day (Asia/Ho_Chi_Minh)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        allowed_values("kind", ReminderKind),
        sa.UniqueConstraint(
            "follow_up_id", "kind", "user_id", "due_on", name="uq_reminder_dispatches_key"
        ),
        sa.Index("ix_reminder_dispatches_user_read", "user_id", "read_at"),
    )
