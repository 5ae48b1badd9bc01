"""What a worker does with a follow-up: record its outcome, reschedule it, set an appointment.

Services take the actor and "today" explicitly (the scheduler, the CLI and tests call them too),
check everything before writing, flush and never commit.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import gettext as _

from caseapp import audit
from caseapp.cases.models import Case
from caseapp.cases.models import Status as CaseStatus
from caseapp.cases.services import record_event
from caseapp.errors import FieldError, InvalidInputError
from caseapp.extensions import db
from caseapp.followups import plans
from caseapp.followups.models import (
    NOTE_MAX,
    RESCHEDULE_REASONS,
    ChangeReason,
    FollowUp,
    Kind,
    Outcome,
    Source,
    Status,
    outcomes_for,
)
from caseapp.users.models import User
from caseapp.workflow import services as workflow
from caseapp.workflow import support
from caseapp.workflow.models import JobPlacement

# An appointment further ahead than this is almost certainly a typo in the year.
MAX_AHEAD_DAYS = 366


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidInputError(errors)


def _note(note: str | None) -> str:
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise InvalidInputError([FieldError("note", _("Ghi chú dài quá %(n)d ký tự.", n=NOTE_MAX))])
    return text


def _open(case: Case) -> None:
    if case.status != CaseStatus.OPEN:
        raise InvalidInputError([FieldError(None, _("Hồ sơ đã đóng."))])


def _pending(row: FollowUp) -> None:
    if row.status != Status.PENDING:
        raise InvalidInputError(
            [FieldError(None, _("Lần theo dõi này đã được ghi kết quả hoặc đã hủy."))]
        )


def _finish(
    case: Case,
    row: FollowUp,
    event: str,
    actor: User,
    context: audit.AuditContext | None,
    **details: object,
) -> None:
    workflow.refresh_next_due(case)
    db.session.flush()
    record_event(case, event, actor=actor, follow_up=row.id, **details)
    audit.record(
        event,
        actor=actor,
        target_type="follow_up",
        target_id=row.id,
        details={"case": case.id, **details},
        context=context,
    )


def record_outcome(
    case: Case,
    row: FollowUp,
    *,
    outcome: Outcome | None,
    done_on: date | None,
    note: str | None,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> None:
    """Record what happened. A job check also records the job's follow-up (the stable-job rule
    reads it); "not reached" marks the follow-up missed; after its due date it is late."""
    _open(case)
    _pending(row)
    errors = []
    if outcome is None or outcome not in outcomes_for(row.kind_enum):
        errors.append(FieldError("outcome", _("Chọn kết quả.")))
    if done_on is None:
        errors.append(FieldError("done_on", _("Nhập ngày thực hiện.")))
    elif done_on > today:
        errors.append(FieldError("done_on", _("Ngày không được ở tương lai.")))
    elif done_on < case.intake_on:
        errors.append(FieldError("done_on", _("Ngày này trước ngày mở hồ sơ.")))
    text = _note(note)
    _raise(errors)
    if outcome is None or done_on is None:  # refused above; narrows the types
        raise InvalidInputError(errors)
    plans.mark_done(row, outcome, done_on, actor.id, text or None)
    if row.kind_enum == Kind.JOB_CHECK and outcome != Outcome.NOT_REACHED:
        job = db.session.get(JobPlacement, row.source_id) if row.source == Source.JOB else None
        if job is None or job.case_id != case.id:
            raise InvalidInputError([FieldError(None, _("Không tìm thấy việc làm."))])
        # The job's own service checks the date against the job and writes the check the
        # stable-job rule reads; its errors name "checked_on", shown here on "done_on".
        try:
            support.record_job_check(
                case,
                job,
                checked_on=done_on,
                still_employed=outcome == Outcome.STILL_EMPLOYED,
                actor=actor,
                today=today,
                context=context,
            )
        except InvalidInputError as exc:
            raise InvalidInputError(
                [
                    FieldError("done_on" if e.field == "checked_on" else e.field, e.message)
                    for e in exc.errors
                ]
            ) from None
    _finish(
        case,
        row,
        "follow_up_recorded",
        actor,
        context,
        outcome=outcome.value,
        late=row.is_late,
    )


def reschedule(
    case: Case,
    row: FollowUp,
    *,
    due_on: date | None,
    reason: ChangeReason | None,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> None:
    """Move a pending follow-up to a new date, with a reason (kept on the follow-up, audited)."""
    _open(case)
    _pending(row)
    errors = _due_problems(due_on, today)
    if due_on is not None and due_on == row.due_on:
        errors.append(FieldError("due_on", _("Ngày hẹn mới trùng ngày hẹn hiện tại.")))
    if reason is None or reason not in RESCHEDULE_REASONS:
        errors.append(FieldError("reason", _("Chọn lý do hẹn lại.")))
    _raise(errors)
    if due_on is None or reason is None:  # refused above; narrows the types
        raise InvalidInputError(errors)
    previous = row.due_on
    plans.record_change(row, reason, due_on, actor)
    row.due_on = due_on
    row.reschedule_count += 1
    row.overdue_since = row.escalated_on = None  # a new date starts the reminders afresh
    _finish(
        case,
        row,
        "follow_up_rescheduled",
        actor,
        context,
        previous=previous.isoformat(),
        due=due_on.isoformat(),
        reason=reason.value,
    )


def _due_problems(due_on: date | None, today: date) -> list[FieldError]:
    if due_on is None:
        return [FieldError("due_on", _("Nhập ngày hẹn."))]
    if due_on < today:
        return [FieldError("due_on", _("Ngày hẹn không được ở quá khứ."))]
    if due_on > today + timedelta(days=MAX_AHEAD_DAYS):
        return [FieldError("due_on", _("Ngày hẹn quá xa: tối đa một năm kể từ hôm nay."))]
    return []


def add_appointment(
    case: Case,
    *,
    due_on: date | None,
    note: str | None,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> FollowUp:
    """An appointment the worker sets by hand (due today or later)."""
    _open(case)
    errors = _due_problems(due_on, today)
    text = _note(note)
    _raise(errors)
    if due_on is None:  # refused above; narrows the type
        raise InvalidInputError(errors)
    row = plans.new_row(case, Kind.MANUAL, due_on, created_by_id=actor.id)
    if text:
        row.note = text
    db.session.flush()
    _finish(case, row, "follow_up_added", actor, context, due=due_on.isoformat())
    return row


def cancel_appointment(
    case: Case, row: FollowUp, *, actor: User, context: audit.AuditContext | None = None
) -> None:
    """Cancel an appointment set by hand (planned follow-ups change only with their plan)."""
    _open(case)
    _pending(row)
    if row.kind_enum != Kind.MANUAL:
        raise InvalidInputError([FieldError(None, _("Chỉ hủy được lịch hẹn do cán bộ tự đặt."))])
    plans.cancel(row, ChangeReason.NOT_NEEDED, actor)
    _finish(case, row, "follow_up_cancelled", actor, context)
