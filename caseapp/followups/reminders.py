"""The daily sweep: mark overdue follow-ups, remind workers, escalate to officers.

Set-based SQL (INSERT … SELECT … ON CONFLICT DO NOTHING), so a million follow-ups take seconds,
and idempotent: the reminders' unique key (follow-up, kind, person, due date) means running the
sweep twice, or after a three-day outage, produces each reminder exactly once.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa

from caseapp import authz
from caseapp.cases.models import Case
from caseapp.cases.models import Status as CaseStatus
from caseapp.dates import local_day
from caseapp.db import insert_or_skip, utcnow
from caseapp.extensions import db
from caseapp.followups import plans
from caseapp.followups.models import FollowUp, ReminderDispatch, ReminderKind, Source, Status
from caseapp.users.models import Role, User, user_communes
from caseapp.workflow.models import RehabEpisode, RehabForm
from caseapp.workflow.rules import ADDED_DEFAULTS

DEFAULT_ESCALATE_DAYS = ADDED_DEFAULTS["followup_escalate_after_days"]


def _insert_ignoring_duplicates(select: sa.Select[*tuple[Any, ...]]) -> int:
    """Insert the selected reminders; rows whose unique key exists are skipped."""
    columns = ["follow_up_id", "case_id", "kind", "user_id", "due_on", "created_on", "created_at"]
    statement = (
        insert_or_skip(db.session, ReminderDispatch)
        .from_select(columns, select)
        .on_conflict_do_nothing(index_elements=["follow_up_id", "kind", "user_id", "due_on"])
        .execution_options(preserve_rowcount=True)  # psycopg reports -1 otherwise
    )
    return _count(db.session.execute(statement))


def _count(result: sa.Result[Any]) -> int:
    """Rows an INSERT or UPDATE touched."""
    return int(cast(sa.CursorResult[Any], result).rowcount or 0)


def escalate_after_days(today: date) -> int:
    from caseapp.workflow.services import rules_on  # the rules in force today

    rules = rules_on(today)
    return rules.followup_escalate_after_days if rules else DEFAULT_ESCALATE_DAYS


def _worker_reminders(
    kind: ReminderKind, due: sa.ColumnElement[bool], today: date, now: datetime
) -> int:
    """Reminders to the case's worker (or, for an unassigned file, every worker of the commune)."""
    select = (
        sa.select(
            FollowUp.id,
            FollowUp.case_id,
            sa.literal(kind.value),
            User.id,
            FollowUp.due_on,
            sa.literal(today, sa.Date),
            sa.literal(now, FollowUp.created_at.type),
        )
        .join(Case, Case.id == FollowUp.case_id)
        .join(user_communes, user_communes.c.commune_code == Case.commune_code)
        .join(User, User.id == user_communes.c.user_id)
        .where(
            FollowUp.status == Status.PENDING,
            due,
            Case.status == CaseStatus.OPEN,
            User.role == Role.WORKER,
            User.is_enabled.is_(True),
            sa.or_(Case.assigned_worker_id.is_(None), Case.assigned_worker_id == User.id),
        )
    )
    return _insert_ignoring_duplicates(select)


# Occurrences of an open-ended plan are at least a month apart (28 days or more): a plan whose
# last written occurrence lies beyond this many days from today has nothing new in the horizon.
_SHORTEST_GAP_DAYS = 28


def _extend_open_plans(today: date) -> int:
    """Methadone without a planned end: write the next months of its plan, for the plans whose
    next occurrence may fall inside the horizon (not every open plan every night)."""
    last_due = (
        sa.select(FollowUp.source_id, sa.func.max(FollowUp.due_on).label("last_due"))
        .where(FollowUp.source == Source.REHAB.value)
        .group_by(FollowUp.source_id)
        .subquery()
    )
    reach = today + timedelta(days=plans.OPEN_ENDED_HORIZON_DAYS - _SHORTEST_GAP_DAYS)
    case_ids = db.session.scalars(
        sa.select(RehabEpisode.case_id)
        .join(Case, Case.id == RehabEpisode.case_id)
        .outerjoin(last_due, last_due.c.source_id == RehabEpisode.id)
        .where(
            RehabEpisode.form == RehabForm.METHADONE,
            RehabEpisode.ended_on.is_(None),
            RehabEpisode.planned_end_on.is_(None),
            Case.status == CaseStatus.OPEN,
            sa.or_(last_due.c.last_due.is_(None), last_due.c.last_due <= reach),
        )
        .distinct()
    ).all()
    from caseapp.workflow.services import load_steps, refresh_next_due

    for case_id in case_ids:
        case = db.session.get(Case, case_id)
        if case is None:
            continue
        steps = load_steps(case)
        plans.sync_case(case, steps, actor=None, today=today)
        refresh_next_due(case, steps)
    return len(case_ids)


def sweep(now: datetime | None = None) -> dict[str, int]:
    """One pass for the day of ``now`` (Asia/Ho_Chi_Minh); returns what it did. Flushes only:
    the caller commits (all or nothing)."""
    now = now or utcnow()
    today = local_day(now)
    extended = _extend_open_plans(today)
    marked = _count(
        db.session.execute(
            sa.update(FollowUp)
            .where(
                FollowUp.status == Status.PENDING,
                FollowUp.due_on < today,
                FollowUp.overdue_since.is_(None),
            )
            .values(overdue_since=today)
            .execution_options(synchronize_session=False)
        )
    )
    due_today = _worker_reminders(ReminderKind.DUE, FollowUp.due_on == today, today, now)
    # Only what became overdue in this pass (or an earlier pass today): reminders already sent
    # are not looked at again, so the daily cost follows the day's news, not the backlog.
    late = _worker_reminders(
        ReminderKind.OVERDUE,
        sa.and_(FollowUp.due_on < today, FollowUp.overdue_since == today),
        today,
        now,
    )
    escalated, escalation_reminders = _escalate(today, now)
    db.session.flush()
    return {
        "plans_extended": extended,
        "marked_overdue": marked,
        "due_reminders": due_today,
        "overdue_reminders": late,
        "escalated": escalated,
        "escalation_reminders": escalation_reminders,
    }


def _escalate(today: date, now: datetime) -> tuple[int, int]:
    """Follow-ups overdue for the rule set's number of days go to every officer over the
    commune; the follow-up keeps the day it was escalated (the officer's overdue view)."""
    limit = today - timedelta(days=escalate_after_days(today))
    waiting = sa.and_(
        FollowUp.status == Status.PENDING,
        FollowUp.due_on <= limit,
    )
    officers = authz.scope_pairs(Role.OFFICER).subquery()
    select = (
        sa.select(
            FollowUp.id,
            FollowUp.case_id,
            sa.literal(ReminderKind.ESCALATED.value),
            officers.c.user_id,
            FollowUp.due_on,
            sa.literal(today, sa.Date),
            sa.literal(now, FollowUp.created_at.type),
        )
        .join(Case, Case.id == FollowUp.case_id)
        .join(officers, officers.c.commune_code == Case.commune_code)
        .where(
            waiting,
            sa.or_(FollowUp.escalated_on.is_(None), FollowUp.escalated_on == today),
            Case.status == CaseStatus.OPEN,
        )
    )
    sent = _insert_ignoring_duplicates(select)
    marked = _count(
        db.session.execute(
            sa.update(FollowUp)
            .where(waiting, FollowUp.escalated_on.is_(None))
            .values(escalated_on=today)
            .execution_options(synchronize_session=False)
        )
    )
    return marked, sent
