"""Retention (ASVS 14.2.7) and legal hold.

A closed file is anonymised ``RETENTION_YEARS`` after its closure: every identifying value is
erased (the encrypted identity, the blind indexes, free-text notes, reference numbers that lead to
other registers, the employer's name, links to the files it was merged with), and what the
indicators count is kept (commune, sex, birth year, categories, steps' kinds and dates, rehab
forms, loans, follow-up outcomes), so the statistics give the same figures before and after.

A legal hold (an officer's or administrator's decision, with a reason) stops it. Each file is
anonymised in its own transaction with its audit row, so a run stopped half-way loses nothing and
the next run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from caseapp import audit
from caseapp.cases.models import REASON_MAX, Case, CaseEvent, DuplicatePair, Status
from caseapp.cases.services import record_event
from caseapp.cases.validation import clean_text
from caseapp.db import utcnow
from caseapp.errors import FieldError
from caseapp.extensions import db
from caseapp.users.models import User

BATCH_SIZE = 100
# Timeline details that name another file (a merge): linking a file to a living one identifies it.
LINKING_DETAILS = ("absorbed", "kept")


def cutoff(now: datetime, years: int) -> datetime:
    """The moment ``years`` whole years before ``now`` (29 February falls back to the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def _past_retention(limit: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        Case.status == Status.CLOSED.value,
        Case.closed_at.is_not(None),
        Case.closed_at < limit,
        Case.anonymised_at.is_(None),
    )


def eligible(limit: datetime) -> sa.ColumnElement[bool]:
    """Closed before ``limit``, not yet anonymised, not under a legal hold."""
    return sa.and_(_past_retention(limit), Case.legal_hold_at.is_(None))


@dataclass(frozen=True)
class RetentionCounts:
    """How many files are due, held back by a legal hold, and already anonymised (counts only)."""

    eligible: int
    held: int
    anonymised: int


def counts(limit: datetime) -> RetentionCounts:
    """The three counts, in one query."""
    past = _past_retention(limit)
    row = db.session.execute(
        sa.select(
            sa.func.count().filter(sa.and_(past, Case.legal_hold_at.is_(None))),
            sa.func.count().filter(sa.and_(past, Case.legal_hold_at.is_not(None))),
            sa.func.count().filter(Case.anonymised_at.is_not(None)),
        )
    ).one()
    return RetentionCounts(eligible=row[0], held=row[1], anonymised=row[2])


def anonymise_case(case: Case, *, actor: User | None, now: datetime | None = None) -> None:
    """Erase every identifying value of a closed file and keep its statistics (flushes).

    The caller has checked the retention period; the rules that always hold are checked here.
    """
    if case.anonymised_at is not None:
        raise FieldError(None, _("Hồ sơ đã được ẩn danh."))
    if case.legal_hold_at is not None:
        raise FieldError(None, _("Hồ sơ đang có lệnh giữ: không được ẩn danh."))
    if case.status != Status.CLOSED.value:
        raise FieldError(None, _("Chỉ ẩn danh hồ sơ đã đóng."))
    from caseapp.followups.models import FollowUp
    from caseapp.workflow.models import (
        AddictionDetermination,
        JobPlacement,
        PostRehabPeriod,
        RehabEpisode,
        VocationalTraining,
    )

    now = now or utcnow()
    for column in (
        "full_name_ct", "date_of_birth_ct", "national_id_ct", "phone_ct", "address_ct",
        "guardian_name_ct", "guardian_relation_ct", "guardian_phone_ct", "notes_ct",
        "national_id_bidx", "name_dob_bidx", "legal_hold_reason_ct",
    ):  # fmt: skip
        setattr(case, column, None)
    case.anonymised_at = now
    # Reference numbers lead to other registers (court, facility, certificates) that name the
    # youth; the employer's name and follow-up notes are free text about them.
    erase: list[tuple[type, dict[str, None]]] = [
        (AddictionDetermination, {"form_reference": None}),
        (RehabEpisode, {"court_decision_number": None, "certificate_number": None}),
        (PostRehabPeriod, {"certificate_number": None}),
        (VocationalTraining, {"certificate_number": None}),
        (JobPlacement, {"employer_name_ct": None}),
        (FollowUp, {"note_ct": None}),
    ]
    for model, values in erase:
        db.session.execute(
            sa.update(model).where(model.case_id == case.id).values(**values),  # type: ignore[attr-defined]
            execution_options={"synchronize_session": "fetch"},
        )
    db.session.execute(
        sa.delete(DuplicatePair).where(
            sa.or_(DuplicatePair.case_a_id == case.id, DuplicatePair.case_b_id == case.id)
        ),
        execution_options={"synchronize_session": "fetch"},
    )
    for event in db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)):
        if any(key in event.details for key in LINKING_DETAILS):
            event.details = {k: v for k, v in event.details.items() if k not in LINKING_DETAILS}
    db.session.flush()
    record_event(case, "anonymised", actor=actor)
    audit.record("case_anonymised", actor=actor, target_type="case", target_id=case.id)


@dataclass(frozen=True)
class RetentionRun:
    before: RetentionCounts
    anonymised: int
    after: RetentionCounts | None  # None for a dry run


def run(
    *,
    years: int,
    apply: bool,
    now: datetime | None = None,
    limit: int | None = None,
    batch_size: int = BATCH_SIZE,
    actor: User | None = None,
    on_case: Callable[[int], None] | None = None,
) -> RetentionRun:
    """Count (dry run), or anonymise up to ``limit`` eligible files, one transaction each; either
    way the run is audited (counts only). Commits. ``on_case`` is called after each commit."""
    now = now or utcnow()
    before_limit = cutoff(now, years)
    before = counts(before_limit)
    db.session.rollback()  # a short read: the work below takes the write lock per file
    if not apply:
        audit.record(
            "retention_run",
            actor=actor,
            details={"years": years, "dry_run": True, "eligible": before.eligible,
                     "held": before.held},
        )  # fmt: skip
        db.session.commit()
        return RetentionRun(before=before, anonymised=0, after=None)
    done = 0
    last_id = 0
    while limit is None or done < limit:
        size = batch_size if limit is None else min(batch_size, limit - done)
        ids = list(
            db.session.scalars(
                sa.select(Case.id)
                .where(eligible(before_limit), Case.id > last_id)
                .order_by(Case.id)
                .limit(size)
            )
        )
        db.session.rollback()
        if not ids:
            break
        for case_id in ids:
            last_id = case_id
            # Read again in the file's own transaction: a hold set meanwhile wins.
            case = db.session.scalar(
                sa.select(Case)
                .where(Case.id == case_id, eligible(before_limit))
                .with_for_update(of=Case)
            )
            if case is None:
                db.session.rollback()
                continue
            anonymise_case(case, actor=actor, now=now)
            db.session.commit()
            done += 1
            if on_case is not None:
                on_case(case_id)
    after = counts(before_limit)
    audit.record(
        "retention_run",
        actor=actor,
        details={
            "years": years,
            "anonymised": done,
            "eligible_left": after.eligible,
            "held": after.held,
        },
    )
    db.session.commit()
    return RetentionRun(before=before, anonymised=done, after=after)


def set_legal_hold(
    case: Case, reason: str, *, actor: User, context: audit.AuditContext | None = None
) -> None:
    """Put a file under legal hold (it is never anonymised while held); the reason is required."""
    if case.anonymised_at is not None:
        raise FieldError(None, _("Hồ sơ đã được ẩn danh: không thể đặt lệnh giữ."))
    if case.legal_hold_at is not None:
        raise FieldError(None, _("Hồ sơ đã có lệnh giữ."))
    reason = clean_text(reason, "reason", REASON_MAX, multiline=True)
    if not reason:
        raise FieldError("reason", _("Nhập lý do giữ hồ sơ (ví dụ: số văn bản yêu cầu)."))
    case.legal_hold_at = utcnow()
    case.legal_hold_by_id = actor.id
    case.legal_hold_reason = reason
    db.session.flush()
    record_event(case, "legal_hold_set", actor=actor)
    audit.record(
        "legal_hold_set", actor=actor, target_type="case", target_id=case.id, context=context
    )


def lift_legal_hold(case: Case, *, actor: User, context: audit.AuditContext | None = None) -> None:
    """End a legal hold: the file follows the retention period again."""
    if case.legal_hold_at is None:
        raise FieldError(None, _("Hồ sơ không có lệnh giữ."))
    case.legal_hold_at = None
    case.legal_hold_by_id = None
    case.legal_hold_reason = None
    db.session.flush()
    record_event(case, "legal_hold_lifted", actor=actor)
    audit.record(
        "legal_hold_lifted", actor=actor, target_type="case", target_id=case.id, context=context
    )


def held_cases(limit: int = 500) -> list[Case]:
    """Files under legal hold, oldest hold first (codes and dates; no identity is read)."""
    return list(
        db.session.scalars(
            sa.select(Case)
            .where(Case.legal_hold_at.is_not(None))
            .order_by(Case.legal_hold_at, Case.id)
            .limit(limit)
        )
    )
