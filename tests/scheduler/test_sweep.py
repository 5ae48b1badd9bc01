"""The daily reminder sweep (SECURITY J1, J6): each reminder exactly once, to the right people,
on the right day in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from caseapp.extensions import db
from caseapp.followups import queries, reminders
from caseapp.followups.models import FollowUp, ReminderDispatch, ReminderKind
from caseapp.geo.models import Commune
from caseapp.users.models import Role, ScopeKind
from caseapp.workflow.models import RuleSet
from caseapp.workflow.services import rule_set_on
from tests.conftest import C1, C2
from tests.scheduler.conftest import count, due, local, make_case, make_user

TODAY = date(2025, 11, 28)
NOW = local(TODAY, 0, 10)  # the sweep's usual time: just after midnight, local time
ZERO = {
    "plans_extended": 0,
    "marked_overdue": 0,
    "due_reminders": 0,
    "overdue_reminders": 0,
    "escalated": 0,
    "escalation_reminders": 0,
}


def _reminders() -> set[tuple[int, str, int, date]]:
    return {
        (r.follow_up_id, r.kind, r.user_id, r.due_on)
        for r in db.session.scalars(sa.select(ReminderDispatch))
    }


@pytest.mark.plan("J1")
def test_reminder_job_idempotent_and_addressed_by_scope(ctx):
    app = ctx
    w1 = make_user(app, communes=(C1,))
    w1_other = make_user(app, communes=(C1,))
    w1_disabled = make_user(app, communes=(C1,))
    w1_disabled.is_enabled = False
    w2 = make_user(app, communes=(C2,))
    province = make_user(app, Role.OFFICER)
    c1_district = db.session.get(Commune, C1).former_district_code
    c2_district = db.session.get(Commune, C2).former_district_code
    assert c1_district != c2_district
    district = make_user(
        app, Role.OFFICER, scope=ScopeKind.FORMER_DISTRICT, former_district=c1_district
    )
    other_district = make_user(
        app, Role.OFFICER, scope=ScopeKind.FORMER_DISTRICT, former_district=c2_district
    )
    other_communes = make_user(app, Role.OFFICER, scope=ScopeKind.COMMUNES, communes=(C2,))
    db.session.commit()

    unassigned = due(make_case(w1), TODAY)
    assigned = due(make_case(w1, assigned=w1), TODAY)
    escalate_days = reminders.escalate_after_days(TODAY)
    assert escalate_days == 7
    long_overdue = due(make_case(w1), TODAY - timedelta(days=escalate_days))
    short_overdue = due(make_case(w1, assigned=w1_other), TODAY - timedelta(days=escalate_days - 1))
    c2_today = due(make_case(w2, commune=C2), TODAY)
    later = due(make_case(w1), TODAY + timedelta(days=1))

    first = reminders.sweep(NOW)
    db.session.commit()
    assert (first["marked_overdue"], first["escalated"]) == (2, 1)
    snapshot = _reminders()
    second = reminders.sweep(NOW + timedelta(hours=3))  # the same local day
    db.session.commit()
    assert (second["marked_overdue"], second["escalated"]) == (0, 0)
    assert _reminders() == snapshot

    due_kind, late, escalated = (
        ReminderKind.DUE.value,
        ReminderKind.OVERDUE.value,
        ReminderKind.ESCALATED.value,
    )
    assert _reminders() == {
        (unassigned.id, due_kind, w1.id, TODAY),
        (unassigned.id, due_kind, w1_other.id, TODAY),
        (assigned.id, due_kind, w1.id, TODAY),
        (c2_today.id, due_kind, w2.id, TODAY),
        (long_overdue.id, late, w1.id, long_overdue.due_on),
        (long_overdue.id, late, w1_other.id, long_overdue.due_on),
        (short_overdue.id, late, w1_other.id, short_overdue.due_on),
        (long_overdue.id, escalated, province.id, long_overdue.due_on),
        (long_overdue.id, escalated, district.id, long_overdue.due_on),
    }
    assert count(ReminderDispatch) == 9  # one row per key, nothing twice
    assert count(ReminderDispatch, ReminderDispatch.created_on != TODAY) == 0
    for nobody in (w1_disabled, other_district, other_communes):
        assert count(ReminderDispatch, ReminderDispatch.user_id == nobody.id) == 0
    assert count(ReminderDispatch, ReminderDispatch.follow_up_id == later.id) == 0

    # The bell: one notification per reminder.
    assert queries.unread_count(w1) == 3
    assert sorted(n.reminder.follow_up_id for n in queries.notifications(w1)) == sorted(
        [unassigned.id, assigned.id, long_overdue.id]
    )
    assert [n.reminder.kind for n in queries.notifications(province)] == [escalated]

    rows = {r.id: r for r in db.session.scalars(sa.select(FollowUp))}
    assert rows[long_overdue.id].escalated_on == TODAY
    assert rows[long_overdue.id].overdue_since == TODAY
    assert rows[short_overdue.id].escalated_on is None
    assert rows[short_overdue.id].overdue_since == TODAY
    assert rows[unassigned.id].overdue_since is None

    # The next day: the due-today follow-ups are now overdue (one new reminder each), the
    # six-day one reaches seven days and is escalated; nothing already sent is sent again and
    # the first escalation day is kept.
    tomorrow = reminders.sweep(NOW + timedelta(days=1))
    db.session.commit()
    assert tomorrow["escalated"] == 1
    new = {key[:3] for key in _reminders() - snapshot}
    assert new == {
        (later.id, due_kind, w1.id),
        (later.id, due_kind, w1_other.id),
        (unassigned.id, late, w1.id),
        (unassigned.id, late, w1_other.id),
        (assigned.id, late, w1.id),
        (c2_today.id, late, w2.id),
        (short_overdue.id, escalated, province.id),
        (short_overdue.id, escalated, district.id),
    }
    assert db.session.get(FollowUp, long_overdue.id).escalated_on == TODAY
    assert db.session.get(FollowUp, short_overdue.id).escalated_on == TODAY + timedelta(days=1)
    assert count(ReminderDispatch, ReminderDispatch.follow_up_id == long_overdue.id) == 4


def test_sweep_summary_counts_what_it_wrote(ctx):
    """The summary (JobRun, CLI, the administrator's page) counts the reminders written: the
    first run the new ones, a rerun the same day zero."""
    app = ctx
    worker = make_user(app)
    officer = make_user(app, Role.OFFICER)
    due(make_case(worker), TODAY)
    due(make_case(worker), TODAY - timedelta(days=8))
    first = reminders.sweep(NOW)
    db.session.commit()
    assert first == {
        "plans_extended": 0,
        "marked_overdue": 1,
        "due_reminders": 1,
        "overdue_reminders": 1,
        "escalated": 1,
        "escalation_reminders": 1,
    }
    assert count(ReminderDispatch) == 3
    assert count(ReminderDispatch, ReminderDispatch.user_id == officer.id) == 1
    assert reminders.sweep(NOW + timedelta(hours=1)) == ZERO


def test_escalation_follows_the_rule_set_in_force(ctx):
    app = ctx
    worker = make_user(app)
    officer = make_user(app, Role.OFFICER)
    rule_set = rule_set_on(TODAY)
    rule_set.params = {**rule_set.params, "followup_escalate_after_days": 3}
    db.session.commit()
    assert reminders.escalate_after_days(TODAY) == 3
    three = due(make_case(worker), TODAY - timedelta(days=3))
    two = due(make_case(worker), TODAY - timedelta(days=2))

    summary = reminders.sweep(NOW)
    db.session.commit()
    assert summary["escalated"] == 1
    assert _reminders() >= {(three.id, ReminderKind.ESCALATED.value, officer.id, three.due_on)}
    assert count(ReminderDispatch, ReminderDispatch.kind == ReminderKind.ESCALATED.value) == 1
    assert db.session.get(FollowUp, three.id).escalated_on == TODAY
    assert db.session.get(FollowUp, two.id).escalated_on is None
    assert db.session.get(RuleSet, rule_set.id).params["followup_escalate_after_days"] == 3


@pytest.mark.plan("J6")
def test_due_date_timezone_boundary(ctx):
    """17:30 UTC on 27/11 is 00:30 on 28/11 in Việt Nam: a follow-up due 28/11 is due then, not
    at 16:30 UTC (23:30 on 27/11 local)."""
    app = ctx
    worker = make_user(app)
    row = due(make_case(worker), date(2025, 11, 28))

    reminders.sweep(datetime(2025, 11, 27, 16, 30, tzinfo=UTC))
    db.session.commit()
    assert count(ReminderDispatch) == 0
    assert db.session.get(FollowUp, row.id).overdue_since is None

    at = datetime(2025, 11, 27, 17, 30, tzinfo=UTC)
    reminders.sweep(at)
    db.session.commit()
    reminder = db.session.scalars(sa.select(ReminderDispatch)).one()
    assert (reminder.follow_up_id, reminder.kind, reminder.user_id) == (
        row.id,
        ReminderKind.DUE.value,
        worker.id,
    )
    assert reminder.due_on == date(2025, 11, 28)
    assert reminder.created_on == date(2025, 11, 28)  # the local day, not the UTC one
    assert reminder.created_at == at  # read back as an aware UTC moment
    assert reminder.created_at.tzinfo is not None
    # Stored as UTC: the raw column holds 17:30 (the UTC time), not 00:30 (the local one).
    raw = db.session.execute(sa.text("SELECT created_at FROM reminder_dispatches")).scalar_one()
    if isinstance(raw, datetime):  # PostgreSQL: timestamptz
        assert raw.astimezone(UTC) == at
    else:  # SQLite: text, without a zone
        assert str(raw).startswith("2025-11-27 17:30:00")
    # A sweep later that local day changes nothing.
    reminders.sweep(at + timedelta(hours=20))
    db.session.commit()
    assert count(ReminderDispatch) == 1
    assert db.session.get(FollowUp, row.id).overdue_since is None
    # The first sweep of 29/11 local (17:05 UTC on 28/11) finds it overdue.
    reminders.sweep(datetime(2025, 11, 28, 17, 5, tzinfo=UTC))
    db.session.commit()
    assert db.session.get(FollowUp, row.id).overdue_since == date(2025, 11, 29)
    assert {r.kind for r in db.session.scalars(sa.select(ReminderDispatch))} == {
        ReminderKind.DUE.value,
        ReminderKind.OVERDUE.value,
    }
