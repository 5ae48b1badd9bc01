"""Follow-up listings, always starting from ``authz.visible_cases`` (scope first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

import sqlalchemy as sa

from caseapp import authz
from caseapp.cases.models import Case
from caseapp.cases.models import Status as CaseStatus
from caseapp.extensions import db
from caseapp.followups.models import FollowUp, ReminderDispatch, Status
from caseapp.geo.models import Commune
from caseapp.users.models import Role, User

WEEK_DAYS = 7
SECTION_LIMIT = 200  # rows shown per section of the to-do page; the count says how many in all


def _mine(user: User) -> sa.ColumnElement[bool]:
    """A worker's follow-ups: their cases, and unassigned cases of their communes. Anyone else
    (an officer doing casework): the cases assigned to them."""
    if user.role == Role.WORKER:
        return sa.or_(Case.assigned_worker_id == user.id, Case.assigned_worker_id.is_(None))
    return Case.assigned_worker_id == user.id


def _open_in_scope(user: User, commune_code: int | None = None) -> sa.Select[int]:
    """The ids of the open files in the user's scope (optionally one commune of it)."""
    scope = (
        authz.visible_cases(user).with_only_columns(Case.id).where(Case.status == CaseStatus.OPEN)
    )
    if commune_code is not None:
        scope = scope.where(Case.commune_code == commune_code)
    return scope


def _pending_of(user: User) -> sa.Select[Any]:
    scope = _open_in_scope(user).where(_mine(user))
    return sa.select(FollowUp).where(FollowUp.status == Status.PENDING, FollowUp.case_id.in_(scope))


@dataclass(frozen=True)
class Counts:
    overdue: int
    today: int
    week: int  # due in the next seven days, after today

    @property
    def total(self) -> int:
        return self.overdue + self.today + self.week


def counts(user: User, today: date) -> Counts:
    pending = _pending_of(user).subquery()
    week_end = today + timedelta(days=WEEK_DAYS)
    row = db.session.execute(
        sa.select(
            sa.func.count().filter(pending.c.due_on < today),
            sa.func.count().filter(pending.c.due_on == today),
            sa.func.count().filter(pending.c.due_on > today, pending.c.due_on <= week_end),
        ).select_from(pending)
    ).one()
    return Counts(int(row[0]), int(row[1]), int(row[2]))


@dataclass(frozen=True)
class TodoItem:
    follow_up: FollowUp
    case_code: str
    phase: str


def todo(user: User, today: date) -> dict[str, list[TodoItem]]:
    """The to-do page's sections: overdue (oldest first), today, the next seven days."""
    week_end = today + timedelta(days=WEEK_DAYS)
    sections: dict[str, list[TodoItem]] = {}
    for name, condition in (
        ("overdue", FollowUp.due_on < today),
        ("today", FollowUp.due_on == today),
        ("week", sa.and_(FollowUp.due_on > today, FollowUp.due_on <= week_end)),
    ):
        query = (
            _pending_of(user)
            .add_columns(Case.code, Case.phase)
            .join(Case, Case.id == FollowUp.case_id)
            .where(condition)
            .order_by(FollowUp.due_on, FollowUp.id)
            .limit(SECTION_LIMIT)
        )
        sections[name] = [
            TodoItem(cast(FollowUp, row[0]), str(row[1]), str(row[2]))
            for row in db.session.execute(query)
        ]
    return sections


def case_follow_ups(case: Case) -> list[FollowUp]:
    """A case's follow-ups: pending first by date, then the rest, latest first."""
    rows = db.session.scalars(
        sa.select(FollowUp).where(FollowUp.case_id == case.id).order_by(FollowUp.due_on)
    ).all()
    pending = [r for r in rows if r.status == Status.PENDING]
    rest = sorted(
        (r for r in rows if r.status != Status.PENDING),
        key=lambda r: (r.done_on or r.due_on, r.id),
        reverse=True,
    )
    return pending + rest


@dataclass(frozen=True)
class OverdueRow:
    commune_code: int
    commune_name: str
    worker_id: int | None
    worker_name: str | None
    overdue: int
    escalated: int
    oldest_due_on: date


def overdue_by_worker(user: User, today: date, commune_code: int | None = None) -> list[OverdueRow]:
    """The officer's view: overdue follow-ups per commune and worker, most escalated first."""
    scope = _open_in_scope(user, commune_code)
    query = (
        sa.select(
            Case.commune_code,
            Commune.name,
            Case.assigned_worker_id,
            User.display_name,
            sa.func.count(FollowUp.id),
            sa.func.count(FollowUp.escalated_on),
            sa.func.min(FollowUp.due_on),
        )
        .join(Case, Case.id == FollowUp.case_id)
        .join(Commune, Commune.code == Case.commune_code)
        .outerjoin(User, User.id == Case.assigned_worker_id)
        .where(
            FollowUp.status == Status.PENDING,
            FollowUp.due_on < today,
            FollowUp.case_id.in_(scope),
        )
        .group_by(Case.commune_code, Commune.name, Case.assigned_worker_id, User.display_name)
        .order_by(sa.func.count(FollowUp.escalated_on).desc(), sa.func.min(FollowUp.due_on))
    )
    return [OverdueRow(*row) for row in db.session.execute(query)]


def escalated(user: User, commune_code: int | None, limit: int = SECTION_LIMIT) -> list[TodoItem]:
    """Escalated follow-ups in the officer's scope, oldest first."""
    scope = _open_in_scope(user, commune_code)
    query = (
        sa.select(FollowUp, Case.code, Case.phase)
        .join(Case, Case.id == FollowUp.case_id)
        .where(
            FollowUp.status == Status.PENDING,
            FollowUp.escalated_on.is_not(None),
            FollowUp.case_id.in_(scope),
        )
        .order_by(FollowUp.due_on, FollowUp.id)
        .limit(limit)
    )
    return [TodoItem(f, code, phase) for f, code, phase in db.session.execute(query)]


def escalated_count(user: User) -> int:
    """How many follow-ups in the user's scope wait, escalated (the officer's digest)."""
    scope = _open_in_scope(user)
    return int(
        db.session.scalar(
            sa.select(sa.func.count(FollowUp.id)).where(
                FollowUp.status == Status.PENDING,
                FollowUp.escalated_on.is_not(None),
                FollowUp.case_id.in_(scope),
            )
        )
        or 0
    )


def unread_count(user: User) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count(ReminderDispatch.id)).where(
                ReminderDispatch.user_id == user.id, ReminderDispatch.read_at.is_(None)
            )
        )
        or 0
    )


@dataclass(frozen=True)
class Notice:
    reminder: ReminderDispatch
    case_code: str
    kind: str  # the follow-up's kind


def notifications(user: User, limit: int = 100) -> list[Notice]:
    """The user's reminders, unread first then newest, for cases still in their scope."""
    scope = authz.visible_cases(user).with_only_columns(Case.id)
    query = (
        sa.select(ReminderDispatch, Case.code, FollowUp.kind)
        .join(Case, Case.id == ReminderDispatch.case_id)
        .join(FollowUp, FollowUp.id == ReminderDispatch.follow_up_id)
        .where(ReminderDispatch.user_id == user.id, ReminderDispatch.case_id.in_(scope))
        .order_by(ReminderDispatch.read_at.is_not(None), ReminderDispatch.id.desc())
        .limit(limit)
    )
    return [Notice(r, code, kind) for r, code, kind in db.session.execute(query)]
