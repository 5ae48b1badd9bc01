"""Follow-up plans: what each transition schedules, under the rules in force when it happened.

``sync_case`` compares the follow-ups a case's records call for with the rows that exist and
creates, moves or cancels rows so they agree, always giving a visible reason. It is idempotent:
running it twice changes nothing the second time, so every transition can simply call it.
Occurrences already past when a plan is first recorded (a job entered months after it began)
are not created: the worker records what happened then on the step itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from caseapp.cases.models import Case
from caseapp.cases.models import Status as CaseStatus
from caseapp.dates import add_months, local_day
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.followups.models import (
    ChangeReason,
    FollowUp,
    FollowUpChange,
    Kind,
    Outcome,
    Source,
    Status,
)
from caseapp.users.models import User
from caseapp.workflow.models import JobPlacement, LoanStatus, RehabEpisode, RehabForm
from caseapp.workflow.rules import Rules

if TYPE_CHECKING:
    from caseapp.workflow.services import CaseSteps

# A job check recorded up to this many days before a follow-up's date counts as that follow-up.
EARLY_CHECK_DAYS = 14
# Open-ended plans (methadone without a planned end) are written this far ahead; the daily
# sweep extends them.
OPEN_ENDED_HORIZON_DAYS = 62
LOAN_DECIDED = (LoanStatus.APPROVED, LoanStatus.REFUSED, LoanStatus.DISBURSED)


@dataclass(frozen=True)
class Plan:
    """The occurrences one record calls for."""

    source: Source
    source_id: int
    kind: Kind
    rule_set_id: int
    dates: list[date]  # occurrence n (1-based) is dates[n - 1]
    recorded_on: date  # occurrences before this day are not created
    ended: bool  # the record ended: later occurrences are cancelled as "plan ended"


def _series(start: date, end: date, *, days: int = 0, months: int = 0) -> list[date]:
    result: list[date] = []
    n = 1
    while True:
        day = add_months(start, months * n) if months else start + timedelta(days=days * n)
        if day > end:
            return result
        result.append(day)
        n += 1


def _episode_plan(episode: RehabEpisode, today: date) -> Plan | None:
    rules = Rules.from_params(episode.rules_snapshot)
    if episode.form == RehabForm.VOLUNTARY_COMMUNITY:
        kind, step = Kind.REHAB_CONTACT, {"days": rules.followup_rehab_days}
    elif episode.form == RehabForm.METHADONE:
        kind, step = Kind.METHADONE_CONTACT, {"months": rules.followup_methadone_months}
    else:
        return None  # in a facility: the facility follows the youth
    end = episode.ended_on or episode.planned_end_on
    if end is None:
        end = today + timedelta(days=OPEN_ENDED_HORIZON_DAYS)
    return Plan(
        Source.REHAB,
        episode.id,
        kind,
        episode.rule_set_id,
        _series(episode.started_on, end, **step),
        local_day(episode.recorded_at),
        episode.ended_on is not None,
    )


def _job_end(job: JobPlacement) -> date | None:
    ends = [d for d in (job.ended_on, job.left_on) if d is not None]
    return min(ends, default=None)


def plans_of(steps: CaseSteps, today: date) -> list[Plan]:
    """Every plan a case's records call for."""
    plans = [p for e in steps.episodes if (p := _episode_plan(e, today)) is not None]
    for period in steps.post_rehab:
        rules = Rules.from_params(period.rules_snapshot)
        plans.append(
            Plan(
                Source.POST_REHAB,
                period.id,
                Kind.POST_REHAB_CONTACT,
                period.rule_set_id,
                _series(
                    period.started_on,
                    period.ended_on or period.planned_end_on,
                    months=rules.followup_post_rehab_months,
                ),
                local_day(period.recorded_at),
                period.ended_on is not None,
            )
        )
    for job in steps.jobs:
        rules = Rules.from_params(job.rules_snapshot)
        end = _job_end(job)
        dates = [add_months(job.started_on, m) for m in rules.job_check_months]
        plans.append(
            Plan(
                Source.JOB,
                job.id,
                Kind.JOB_CHECK,
                job.rule_set_id,
                [d for d in dates if end is None or d <= end],
                local_day(job.recorded_at),
                end is not None,
            )
        )
    for loan in steps.loans:
        rules = Rules.from_params(loan.rules_snapshot)
        plans.append(
            Plan(
                Source.LOAN,
                loan.id,
                Kind.LOAN_OUTCOME,
                loan.rule_set_id,
                [loan.referred_on + timedelta(days=rules.followup_loan_days)],
                local_day(loan.recorded_at),
                False,
            )
        )
    return plans


def record_change(
    row: FollowUp, reason: ChangeReason, new_due: date | None, actor: User | None
) -> None:
    row.changes.append(
        FollowUpChange(
            old_due_on=row.due_on,
            new_due_on=new_due,
            reason=reason.value,
            changed_by_id=actor.id if actor else None,
        )
    )


def cancel(row: FollowUp, reason: ChangeReason, actor: User | None) -> None:
    """Cancel a pending follow-up, keeping why."""
    record_change(row, reason, None, actor)
    row.status = Status.CANCELLED.value
    row.cancel_reason = reason.value


def mark_done(
    row: FollowUp, outcome: Outcome, day: date, actor_id: int | None, note: str | None = None
) -> None:
    """Record a follow-up's outcome on ``day`` (late when after its due date)."""
    row.status = (Status.MISSED if outcome == Outcome.NOT_REACHED else Status.DONE).value
    row.outcome = outcome.value
    row.done_on = day
    row.is_late = day > row.due_on
    row.done_by_id = actor_id
    row.done_at = utcnow()
    if note:
        row.note = note


def new_row(case: Case, kind: Kind, due: date, **values: object) -> FollowUp:
    row = FollowUp(
        uuid=str(uuid.uuid4()),
        case_id=case.id,
        kind=kind.value,
        due_on=due,
        planned_on=due,
        status=Status.PENDING.value,
        **values,
    )
    db.session.add(row)
    return row


def case_rows(case: Case) -> list[FollowUp]:
    return list(
        db.session.scalars(
            sa.select(FollowUp).where(FollowUp.case_id == case.id).order_by(FollowUp.id)
        )
    )


def sync_case(
    case: Case, steps: CaseSteps | None, *, actor: User | None, today: date | None = None
) -> None:
    """Bring the case's follow-ups in line with its records (see the module docstring). A closed
    file (``steps`` may then be None) has its pending follow-ups cancelled."""
    today = today or local_day()
    rows = case_rows(case)
    if case.status != CaseStatus.OPEN:
        for row in rows:
            if row.status == Status.PENDING:
                cancel(row, ChangeReason.CASE_CLOSED, actor)
        db.session.flush()
        return
    if steps is None:
        raise ValueError("an open case's follow-ups are planned from its steps")
    # Answers first: a check that found the job lost answers its follow-up before the plan,
    # which that loss ends, cancels the rest.
    _satisfy_job_checks(steps, rows)
    _settle_loans(steps, rows)
    planned = {(r.source, r.source_id, r.seq): r for r in rows if r.source is not None}
    for plan in plans_of(steps, today):
        wanted = dict(enumerate(plan.dates, start=1))
        for (source, source_id, seq), row in planned.items():
            if (source, source_id) == (plan.source.value, plan.source_id) and seq is not None:
                _reconcile(row, wanted.get(seq), plan, actor, today)
        for seq, due in wanted.items():
            if (plan.source.value, plan.source_id, seq) in planned or due < plan.recorded_on:
                continue
            new_row(
                case,
                plan.kind,
                due,
                source=plan.source.value,
                source_id=plan.source_id,
                seq=seq,
                rule_set_id=plan.rule_set_id,
                created_by_id=actor.id if actor else None,
            )
    db.session.flush()


def _reconcile(
    row: FollowUp, due: date | None, plan: Plan, actor: User | None, today: date
) -> None:
    if row.status == Status.CANCELLED:
        # A file closed and reopened: bring back what is still ahead.
        if row.cancel_reason == ChangeReason.CASE_CLOSED and due is not None and due >= today:
            record_change(row, ChangeReason.CASE_REOPENED, due, actor)
            row.status, row.cancel_reason = Status.PENDING.value, None
            row.due_on = row.planned_on = due
        return
    if row.status != Status.PENDING:
        return
    if due is None:
        cancel(row, ChangeReason.PLAN_ENDED if plan.ended else ChangeReason.PLAN_CHANGED, actor)
    elif due != row.planned_on:
        if row.reschedule_count == 0:  # a date the worker chose stays
            record_change(row, ChangeReason.PLAN_CHANGED, due, actor)
            row.due_on = due
        row.planned_on = due


def _satisfy_job_checks(steps: CaseSteps, rows: list[FollowUp]) -> None:
    """A job check recorded on the job's page counts as the follow-up it answers."""
    for job in steps.jobs:
        mine = sorted(
            (r for r in rows if r.source == Source.JOB and r.source_id == job.id),
            key=lambda r: r.due_on,
        )
        answered = {r.done_on for r in mine if r.done_on is not None}
        for check in job.checks:
            if check.checked_on in answered:
                continue
            row = next(
                (
                    r
                    for r in mine
                    if r.status == Status.PENDING
                    and r.due_on <= check.checked_on + timedelta(days=EARLY_CHECK_DAYS)
                ),
                None,
            )
            if row is not None:
                outcome = Outcome.STILL_EMPLOYED if check.still_employed else Outcome.NOT_EMPLOYED
                mark_done(row, outcome, check.checked_on, check.recorded_by_id)
                answered.add(check.checked_on)


def _settle_loans(steps: CaseSteps, rows: list[FollowUp]) -> None:
    """A loan decided before its outcome check answers the check."""
    for loan in steps.loans:
        if loan.status not in LOAN_DECIDED or loan.decided_on is None:
            continue
        for row in rows:
            if (
                row.source == Source.LOAN
                and row.source_id == loan.id
                and row.status == Status.PENDING
            ):
                mark_done(row, Outcome.LOAN_DECIDED, loan.decided_on, loan.recorded_by_id)


def note_transfer(case: Case, actor: User) -> None:
    """The pending follow-ups move with the file to its new commune: say so on each."""
    for row in case_rows(case):
        if row.status == Status.PENDING:
            record_change(row, ChangeReason.CASE_TRANSFERRED, row.due_on, actor)
    db.session.flush()
