"""Recording outcomes, rescheduling and appointments: the rules, the bad input, the audit."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from caseapp.audit import AuditEvent
from caseapp.cases.models import Category
from caseapp.errors import InvalidInputError
from caseapp.extensions import db
from caseapp.followups import services
from caseapp.followups.models import ChangeReason, FollowUp, Outcome, Status
from caseapp.workflow.models import JobCheck
from tests.followups.conftest import TODAY, community_rehab, rows
from tests.workflow.support_setup import job


def _messages(exc: pytest.ExceptionInfo[InvalidInputError]) -> dict[str | None, str]:
    return {e.field: e.message for e in exc.value.errors}


@pytest.fixture
def contact(frozen, new_case, worker):
    """A youth in community rehab since 10/11: the first contact was due 24/11 (overdue)."""
    case = new_case(date(2000, 3, 1), intake=date(2026, 11, 1))
    community_rehab(case, worker, date(2026, 11, 20))
    row = services.add_appointment(case, due_on=TODAY, note=None, actor=worker, today=TODAY)
    db.session.commit()
    return case, row


def test_outcome_on_time_late_and_missed(contact, worker):
    case, row = contact
    services.record_outcome(case, row, outcome=Outcome.MET, done_on=TODAY,
                            note="Gặp tại nhà, tiến triển tốt", actor=worker,
                            today=TODAY)  # fmt: skip
    assert (row.status, row.is_late, row.done_by_id) == (Status.DONE, False, worker.id)
    raw = db.session.scalar(sa.select(FollowUp.note_ct).where(FollowUp.id == row.id))
    assert raw
    assert "tiến triển" not in raw  # the note is stored encrypted
    assert row.note == "Gặp tại nhà, tiến triển tốt"
    first = rows(case, Status.PENDING)[0]
    services.record_outcome(case, first, outcome=Outcome.NOT_REACHED, done_on=first.due_on
                            + timedelta(days=1), note="", actor=worker,
                            today=first.due_on + timedelta(days=1))  # fmt: skip
    assert (first.status, first.is_late) == (Status.MISSED, True)
    audit = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "follow_up_recorded")
    ).all()
    assert [(a.target_id, json.loads(a.details)["outcome"]) for a in audit] == [
        (str(row.id), "met"), (str(first.id), "not_reached")
    ]  # fmt: skip
    assert all("tiến triển" not in str(a.details) for a in audit)


@pytest.mark.parametrize(
    ("outcome", "done_on", "field", "message"),
    [
        (Outcome.MET, None, "done_on", "Nhập ngày thực hiện."),
        (Outcome.MET, TODAY + timedelta(days=1), "done_on", "Ngày không được ở tương lai."),
        (Outcome.MET, date(2026, 10, 1), "done_on", "Ngày này trước ngày mở hồ sơ."),
        (None, TODAY, "outcome", "Chọn kết quả."),
        (Outcome.STILL_EMPLOYED, TODAY, "outcome", "Chọn kết quả."),  # not for a contact
    ],
)
def test_bad_outcomes_are_refused_and_nothing_changes(contact, worker, outcome, done_on, field,
                                                      message):  # fmt: skip
    case, row = contact
    with pytest.raises(InvalidInputError) as exc:
        services.record_outcome(case, row, outcome=outcome, done_on=done_on, note=None,
                                actor=worker, today=TODAY)  # fmt: skip
    assert _messages(exc)[field] == message
    db.session.rollback()
    db.session.refresh(row)
    assert (row.status, row.done_on, row.outcome) == (Status.PENDING, None, None)


def test_an_answered_follow_up_cannot_be_answered_again(contact, worker):
    case, row = contact
    services.record_outcome(case, row, outcome=Outcome.CONTACTED, done_on=TODAY, note=None,
                            actor=worker, today=TODAY)  # fmt: skip
    with pytest.raises(InvalidInputError) as exc:
        services.record_outcome(case, row, outcome=Outcome.MET, done_on=TODAY, note=None,
                                actor=worker, today=TODAY)  # fmt: skip
    assert "đã được ghi kết quả" in _messages(exc)[None]


def test_a_job_follow_up_records_the_check_the_stable_job_rule_reads(frozen, new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10), category=Category.POST_PRISON)
    placed = job(case, worker, date(2026, 10, 29), TODAY)
    first = rows(case)[0]
    assert first.due_on == date(2026, 11, 29)  # a day early: not late
    services.record_outcome(case, first, outcome=Outcome.STILL_EMPLOYED, done_on=TODAY,
                            note=None, actor=worker, today=TODAY)  # fmt: skip
    checks = db.session.scalars(sa.select(JobCheck).where(JobCheck.job_id == placed.id)).all()
    assert [(c.checked_on, c.still_employed) for c in checks] == [(TODAY, True)]
    assert (first.status, first.is_late) == (Status.DONE, False)
    # The job's own rules refuse a date before the job began, on the follow-up's date field.
    second = rows(case, Status.PENDING)[0]
    with pytest.raises(InvalidInputError) as exc:
        services.record_outcome(case, second, outcome=Outcome.STILL_EMPLOYED,
                                done_on=date(2026, 10, 1), note=None, actor=worker,
                                today=TODAY)  # fmt: skip
    assert "từ ngày bắt đầu việc làm" in _messages(exc)["done_on"]


def test_reschedule_needs_a_future_date_and_a_reason_and_is_audited(contact, worker):
    case, row = contact
    for due_on, reason, field, message in (
        (None, ChangeReason.HEALTH, "due_on", "Nhập ngày hẹn."),
        (
            TODAY - timedelta(days=1),
            ChangeReason.HEALTH,
            "due_on",
            "Ngày hẹn không được ở quá khứ.",
        ),
        (TODAY + timedelta(days=400), ChangeReason.HEALTH, "due_on", "tối đa một năm"),
        (TODAY, ChangeReason.HEALTH, "due_on", "trùng ngày hẹn hiện tại"),
        (TODAY + timedelta(days=3), None, "reason", "Chọn lý do hẹn lại."),
        (TODAY + timedelta(days=3), ChangeReason.CASE_CLOSED, "reason", "Chọn lý do hẹn lại."),
    ):
        with pytest.raises(InvalidInputError) as exc:
            services.reschedule(case, row, due_on=due_on, reason=reason, actor=worker, today=TODAY)
        assert message in _messages(exc)[field]
    row.escalated_on = TODAY
    services.reschedule(case, row, due_on=TODAY + timedelta(days=3),
                        reason=ChangeReason.YOUTH_AWAY, actor=worker, today=TODAY)  # fmt: skip
    assert (row.due_on, row.reschedule_count, row.escalated_on) == (
        TODAY + timedelta(days=3), 1, None
    )  # fmt: skip
    assert [(c.old_due_on, c.new_due_on, c.reason) for c in row.changes] == [
        (TODAY, TODAY + timedelta(days=3), ChangeReason.YOUTH_AWAY)
    ]
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "follow_up_rescheduled")
    ).one()
    assert json.loads(event.details) == {
        "case": case.id, "previous": "2026-11-28", "due": "2026-12-01", "reason": "youth_away"
    }  # fmt: skip


def test_appointments_cannot_be_set_in_the_past_and_can_be_cancelled(contact, worker):
    case, row = contact
    with pytest.raises(InvalidInputError) as exc:
        services.add_appointment(case, due_on=TODAY - timedelta(days=1), note=None, actor=worker,
                                 today=TODAY)  # fmt: skip
    assert _messages(exc)["due_on"] == "Ngày hẹn không được ở quá khứ."
    services.cancel_appointment(case, row, actor=worker)
    assert (row.status, row.cancel_reason) == (Status.CANCELLED, ChangeReason.NOT_NEEDED)
    planned = rows(case, Status.PENDING)[0]
    with pytest.raises(InvalidInputError) as exc:
        services.cancel_appointment(case, planned, actor=worker)
    assert "Chỉ hủy được lịch hẹn do cán bộ tự đặt." in _messages(exc)[None]
