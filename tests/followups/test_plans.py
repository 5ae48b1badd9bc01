"""Follow-up plans: transitions create them, changes move or cancel them with a visible reason,
and re-planning never duplicates (issue 5, "What to build" 1)."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from caseapp.cases.models import Category, CloseReason
from caseapp.cases.services import close_case, reopen_case, transfer_case
from caseapp.dates import add_months
from caseapp.extensions import db
from caseapp.followups import plans
from caseapp.followups.models import ChangeReason, FollowUp, FollowUpChange, Kind, Outcome, Status
from caseapp.workflow import services, support
from caseapp.workflow.models import ConsentPurpose, LoanProgramme, LoanStatus, RehabOutcome, RuleSet
from tests.conftest import C2
from tests.followups.conftest import TODAY, community_rehab, dues, rows
from tests.workflow.support_setup import consent, job, to_post_rehab


def test_community_rehab_plans_a_contact_every_two_weeks_until_its_end(frozen, new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 11, 1))
    episode = community_rehab(case, worker, date(2026, 11, 20), months=6)
    expected = []
    day = date(2026, 11, 20) + timedelta(days=14)
    while day <= episode.planned_end_on:
        expected.append(day)
        day += timedelta(days=14)
    assert dues(case) == expected  # 04/12/2026, 18/12/2026, … up to 20/05/2027
    assert {r.kind for r in rows(case)} == {Kind.REHAB_CONTACT}
    assert all(r.rule_set_id == episode.rule_set_id for r in rows(case))
    assert case.next_due_on == date(2026, 12, 4)


def test_ending_rehab_early_cancels_the_later_contacts_with_a_reason(frozen, new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 11, 1))
    episode = community_rehab(case, worker, date(2026, 11, 20))
    before = len(rows(case))
    with time_machine_day(frozen, date(2026, 12, 20)):
        services.end_rehab(case, episode, ended_on=date(2026, 12, 20), outcome=RehabOutcome.QUIT,
                           certificate_number=None, actor=worker,
                           today=date(2026, 12, 20))  # fmt: skip
    assert dues(case, Status.PENDING) == [date(2026, 12, 4), date(2026, 12, 18)]
    cancelled = rows(case, Status.CANCELLED)
    assert len(cancelled) == before - 2
    assert {r.cancel_reason for r in cancelled} == {ChangeReason.PLAN_ENDED}
    history = db.session.scalars(
        sa.select(FollowUpChange).where(FollowUpChange.follow_up_id == cancelled[0].id)
    ).all()
    assert [(h.reason, h.new_due_on, h.changed_by_id) for h in history] == [
        (ChangeReason.PLAN_ENDED, None, worker.id)
    ]


def time_machine_day(frozen, day: date):
    """Move the frozen clock to 09:00 on ``day`` (Asia/Ho_Chi_Minh)."""
    import contextlib
    from datetime import UTC, datetime

    @contextlib.contextmanager
    def moved():
        frozen.move_to(datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC))
        yield

    return moved()


def test_replanning_is_idempotent(frozen, new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 11, 1))
    community_rehab(case, worker, date(2026, 11, 20))
    count = db.session.scalar(sa.select(sa.func.count(FollowUp.id)))
    changes = db.session.scalar(sa.select(sa.func.count(FollowUpChange.id)))
    for _ in range(2):
        plans.sync_case(case, services.load_steps(case), actor=worker)
    assert db.session.scalar(sa.select(sa.func.count(FollowUp.id))) == count
    assert db.session.scalar(sa.select(sa.func.count(FollowUpChange.id))) == changes


def test_past_occurrences_are_not_created_when_a_step_is_recorded_late(frozen, new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10), category=Category.POST_PRISON)
    placed = job(case, worker, date(2026, 7, 1), TODAY)  # recorded five months after it began
    # The 1- and 3-month checks (01/08, 01/10) are past: only the 6-month one is planned.
    assert dues(case) == [date(2027, 1, 1)]
    assert rows(case)[0].source_id == placed.id


def test_job_checks_answer_the_plan_and_a_lost_job_ends_it(frozen, new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10), category=Category.POST_PRISON)
    placed = job(case, worker, date(2026, 11, 25), TODAY)
    assert dues(case) == [date(2026, 12, 25), date(2027, 2, 25), date(2027, 5, 25)]
    # A confirmation recorded on the job's own page counts as the first follow-up, late.
    with time_machine_day(frozen, date(2026, 12, 30)):
        support.record_job_check(case, placed, checked_on=date(2026, 12, 30), still_employed=True,
                                 actor=worker, today=date(2026, 12, 30))  # fmt: skip
    first = rows(case)[0]
    assert (first.status, first.outcome, first.done_on, first.is_late) == (
        Status.DONE, Outcome.STILL_EMPLOYED, date(2026, 12, 30), True
    )  # fmt: skip
    with time_machine_day(frozen, date(2027, 2, 20)):
        support.record_job_check(case, placed, checked_on=date(2027, 2, 20), still_employed=False,
                                 actor=worker, today=date(2027, 2, 20))  # fmt: skip
    second, third = rows(case)[1:]
    assert (second.status, second.outcome, second.is_late) == (
        Status.DONE, Outcome.NOT_EMPLOYED, False
    )  # fmt: skip
    assert (third.status, third.cancel_reason) == (Status.CANCELLED, ChangeReason.PLAN_ENDED)


def test_post_rehab_management_is_followed_monthly(frozen, new_case, worker, officer):
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10))
    period = to_post_rehab(case, worker, officer, start=date(2026, 2, 1), today=TODAY)
    assert (period.started_on, period.planned_end_on) == (date(2026, 8, 7), date(2027, 8, 7))
    # Recorded today: the occurrences from today on are planned, monthly, to its end.
    assert dues(case, Status.PENDING) == [
        add_months(period.started_on, n)
        for n in range(1, 13)
        if add_months(period.started_on, n) >= TODAY
    ]
    assert {r.kind for r in rows(case, Status.PENDING)} == {Kind.POST_REHAB_CONTACT}


def test_loan_outcome_check_after_30_days_answered_by_the_decision(frozen, new_case, worker,
                                                                   officer):  # fmt: skip
    case = new_case(date(2000, 3, 1), intake=date(2025, 1, 10))
    to_post_rehab(case, worker, officer, start=date(2025, 2, 1), today=TODAY)
    consent(case, worker, ConsentPurpose.LOAN_REFERRAL, date(2026, 11, 1), TODAY)
    loan = support.refer_loan(case, programme=LoanProgramme.DECISION_08_2026,
                              referred_on=TODAY, amount_requested_vnd=50_000_000,
                              on_police_list=True, actor=worker, today=TODAY)  # fmt: skip
    check = next(r for r in rows(case) if r.kind == Kind.LOAN_OUTCOME)
    assert check.due_on == TODAY + timedelta(days=30)
    for to, day in ((LoanStatus.APPLICATION, TODAY), (LoanStatus.APPROVED, TODAY)):
        support.advance_loan(case, loan, to=to, dated_on=day,
                             amount_vnd=50_000_000 if to == LoanStatus.APPROVED else None,
                             actor=worker, today=TODAY)  # fmt: skip
    db.session.refresh(check)
    assert (check.status, check.outcome, check.done_on) == (
        Status.DONE, Outcome.LOAN_DECIDED, TODAY
    )  # fmt: skip


def test_closing_cancels_reopening_brings_back_what_is_ahead(frozen, new_case, worker, officer):
    case = new_case(date(2000, 3, 1), intake=date(2026, 11, 1))
    community_rehab(case, worker, date(2026, 11, 20))
    planned = dues(case)
    close_case(case, CloseReason.MOVED_AWAY, "", actor=officer)
    assert dues(case, Status.PENDING) == []
    assert {r.cancel_reason for r in rows(case)} == {ChangeReason.CASE_CLOSED}
    assert case.next_due_on is None
    reopen_case(case, "Trở về địa phương", actor=officer)
    assert dues(case, Status.PENDING) == planned
    assert case.next_due_on == planned[0]


def test_transfer_moves_the_follow_ups_with_the_file(frozen, new_case, worker, officer):
    case = new_case(date(2000, 3, 1), intake=date(2026, 11, 1))
    community_rehab(case, worker, date(2026, 11, 20))
    planned = dues(case)
    transfer_case(case, C2, "Chuyển nơi ở", actor=officer)
    assert dues(case, Status.PENDING) == planned  # same dates, now the new commune's work
    reasons = db.session.scalars(
        sa.select(FollowUpChange.reason).join(FollowUp).where(FollowUp.case_id == case.id)
    ).all()
    assert set(reasons) == {ChangeReason.CASE_TRANSFERRED}
    assert len(reasons) == len(planned)


def test_a_rule_change_applies_to_new_plans_only(frozen, new_case, worker):
    first = new_case(date(2000, 3, 1), intake=date(2026, 11, 1))
    community_rehab(first, worker, date(2026, 11, 20))
    rule_set = services.rule_set_on(TODAY)
    rule_set.params = {**rule_set.params, "followup_rehab_days": 7}
    db.session.flush()
    second = new_case(date(2001, 3, 1), intake=date(2026, 11, 1))
    community_rehab(second, worker, date(2026, 11, 20))
    assert dues(first)[:2] == [date(2026, 12, 4), date(2026, 12, 18)]
    assert dues(second)[:2] == [date(2026, 12, 4), date(2026, 12, 11)]  # 27/11 was past
    plans.sync_case(first, services.load_steps(first), actor=worker)  # the past stays
    assert dues(first)[:2] == [date(2026, 12, 4), date(2026, 12, 18)]
    assert isinstance(rule_set, RuleSet)


def test_the_sweep_extends_only_the_open_plans_that_need_it(frozen, new_case, worker):
    """Methadone without an end is planned 62 days ahead; each night the sweep writes the next
    month only for the plans whose horizon has moved past their last occurrence."""
    from datetime import UTC, datetime

    from caseapp.followups import reminders
    from caseapp.workflow.models import RehabForm
    from tests.workflow.support_setup import determined

    case = new_case(date(2000, 1, 1), intake=date(2026, 10, 1))
    determined(case, worker, date(2026, 10, 20), TODAY)
    services.start_rehab(
        case, services.RehabStart(RehabForm.METHADONE, date(2026, 11, 1), None),
        actor=worker, today=TODAY,
    )  # fmt: skip
    db.session.commit()
    assert dues(case) == [date(2026, 12, 1), date(2027, 1, 1)]  # up to 29/01/2027
    later = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)  # 09:00 on 10/12 in the communes
    frozen.move_to(later)
    assert reminders.sweep(later)["plans_extended"] == 1
    db.session.commit()
    assert dues(case)[-1] == date(2027, 2, 1)  # the horizon reached 10/02/2027
    # The same night again: the last occurrence (01/02) lies beyond 28 days of the horizon.
    assert reminders.sweep(later)["plans_extended"] == 0
