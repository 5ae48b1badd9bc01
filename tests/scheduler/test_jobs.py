"""The jobs: catching up after downtime (J4), the web app starting no scheduler (J5), the nightly
snapshot, and ``caseapp run-job``."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from apscheduler.schedulers.base import BaseScheduler
from click.testing import CliRunner

from caseapp import cli
from caseapp.cases.models import Category, CloseReason
from caseapp.cases.services import close_case
from caseapp.extensions import db
from caseapp.followups import reminders
from caseapp.followups.models import FollowUp, ReminderDispatch, ReminderKind, Status
from caseapp.scheduler import jobs, runner
from caseapp.scheduler.leader import LeaderLock
from caseapp.scheduler.models import IndicatorSnapshot, JobRun, SchedulerLease
from tests.conftest import C1, C2
from tests.scheduler.conftest import count, due, engine_of, local, make_case, make_user
from tests.workflow.support_setup import job

DAILY = ["sweep", "snapshot", "retention", "digest"]
D = date(2025, 12, 8)  # the last day the scheduler ran before the outage


def _runs() -> dict[str, JobRun]:
    return {r.job: r for r in db.session.scalars(sa.select(JobRun))}


def _employed_case(app, worker, started: date):
    """A youth out of prison with a job from ``started``: the job plan's follow-ups (1, 3 and 6
    months on) are written by the workflow, as recorded on the day the job began."""
    with time_machine.travel(local(started, 10), tick=False):
        case = make_case(
            worker, category=Category.POST_PRISON, born=date(2000, 3, 1), intake=started
        )
        job(case, worker, started, started)
        db.session.commit()
    return case


@pytest.mark.plan("J4")
def test_downtime_catchup_coalesced(ctx):
    app = ctx
    worker = make_user(app)
    case = _employed_case(app, worker, date(2025, 11, 10))
    check = db.session.scalars(
        sa.select(FollowUp).where(FollowUp.case_id == case.id).order_by(FollowUp.due_on)
    ).first()
    assert check.due_on == date(2025, 12, 10)  # due during the outage
    outage_manual = due(case, D + timedelta(days=1))
    restart_day = D + timedelta(days=3)
    due_on_restart = due(case, restart_day)
    db.session.commit()

    assert jobs.catch_up(app, local(D, 9)) == DAILY
    db.session.commit()
    assert {r.last_day for r in _runs().values()} == {D}
    db.session.commit()

    # Down from D 09:00 until D+3 09:00: one run of each job on restart.
    with time_machine.travel(local(restart_day, 9), tick=False):
        assert jobs.catch_up(app) == DAILY
        assert jobs.catch_up(app) == []  # the same day again: nothing
    with time_machine.travel(local(restart_day, 23, 59), tick=False):
        assert jobs.catch_up(app) == []
    assert jobs.catch_up(app, local(D + timedelta(days=2), 9)) == []  # a clock set back

    runs = _runs()
    assert {name: r.last_day for name, r in runs.items()} == dict.fromkeys(DAILY, restart_day)
    assert all(r.ok and r.started_at == local(restart_day, 9) for r in runs.values())
    assert set(db.session.scalars(sa.select(IndicatorSnapshot.taken_on))) == {D, restart_day}

    rows = {
        (r.follow_up_id, r.kind, r.due_on, r.created_on)
        for r in db.session.scalars(sa.select(ReminderDispatch))
    }
    overdue, due_kind = ReminderKind.OVERDUE.value, ReminderKind.DUE.value
    assert rows == {
        (check.id, overdue, check.due_on, restart_day),  # one reminder, not one per day
        (outage_manual.id, overdue, outage_manual.due_on, restart_day),
        (due_on_restart.id, due_kind, restart_day, restart_day),
    }
    assert count(ReminderDispatch, ReminderDispatch.user_id != worker.id) == 0
    assert db.session.get(FollowUp, check.id).overdue_since == restart_day


def test_daily_job_waits_for_its_local_time(ctx):
    """The sweep is due from 00:05 in Việt Nam, which is 17:05 UTC the day before."""
    app = ctx
    sweep = jobs.JOBS_BY_NAME["sweep"]
    assert not jobs.is_due(sweep, None, local(D, 0, 4))
    assert jobs.is_due(sweep, None, local(D, 0, 5))
    assert jobs.is_due(sweep, D - timedelta(days=1), local(D, 0, 5))
    assert not jobs.is_due(sweep, D, local(D, 23, 59))
    assert jobs.catch_up(app, local(D, 0, 4)) == []
    assert jobs.catch_up(app, local(D, 0, 6)) == ["sweep"]
    assert jobs.catch_up(app, local(D, 1, 0)) == ["snapshot"]
    assert _runs()["sweep"].last_day == D


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def _running_schedulers() -> list[BaseScheduler]:
    return [o for o in gc.get_objects() if isinstance(o, BaseScheduler) and o.running]


@pytest.mark.plan("J5")
def test_web_app_starts_no_scheduler(app_factory, monkeypatch):
    before = {t.ident for t in threading.enumerate()}
    assert not _threads("APScheduler")
    app = app_factory()
    client = app.test_client()
    assert client.get("/login").status_code == 200
    assert not _threads("APScheduler")
    assert not [t for t in threading.enumerate() if t.ident not in before]
    assert not _running_schedulers()
    with app.app_context():
        assert count(SchedulerLease) == 0
        assert count(JobRun) == 0

    # The embedded mode (``caseapp serve``) does start one: the checks above would see it.
    ticked = threading.Event()
    real_tick = runner.Leader.tick

    def tick(self, now=None):
        try:
            return real_tick(self, now)
        finally:
            ticked.set()

    monkeypatch.setattr(runner.Leader, "tick", tick)
    scheduler, leader = runner.start_background(app)
    try:
        assert len(_threads("APScheduler")) == 1
        assert _running_schedulers() == [scheduler]
        assert ticked.wait(timeout=10)
    finally:
        scheduler.shutdown(wait=True)
        leader.lock.release()
    assert not _threads("APScheduler")
    with app.app_context():
        assert count(SchedulerLease) == 1


def _expected_snapshot(c1_open_by_phase, c2_open_by_phase, c1_follow_ups):
    rows = {(C1, f"open_{phase}", n) for phase, n in c1_open_by_phase.items()}
    rows |= {(C2, f"open_{phase}", n) for phase, n in c2_open_by_phase.items()}
    rows |= {(C1, f"follow_ups_{metric}", n) for metric, n in c1_follow_ups.items()}
    return rows


def _snapshot(day: date) -> set[tuple[int, str, int]]:
    return {
        (r.commune_code, r.metric, r.value)
        for r in db.session.scalars(
            sa.select(IndicatorSnapshot).where(IndicatorSnapshot.taken_on == day)
        )
    }


def test_snapshot_counts_open_cases_and_replaces_its_day(ctx):
    app = ctx
    worker = make_user(app)
    worker_c2 = make_user(app, communes=(C2,))
    day = date(2025, 12, 15)
    intake = make_case(worker)
    due(intake, date(2025, 12, 1))  # overdue, escalated by the sweep below
    employed = _employed_case(app, worker, date(2025, 11, 10))  # checks 10/12, 10/02, 10/05
    closed = make_case(worker)
    due(closed, date(2025, 12, 5))
    close_case(closed, CloseReason.MOVED_AWAY, "", actor=worker)
    make_case(worker_c2, commune=C2)
    reminders.sweep(local(day, 0, 10))
    db.session.commit()
    assert employed.phase == "support"
    assert db.session.scalars(
        sa.select(FollowUp.status).where(FollowUp.case_id == closed.id)
    ).all() == [Status.CANCELLED.value]

    expected = _expected_snapshot(
        {"intake": 1, "support": 1},
        {"intake": 1},
        {"pending": 4, "overdue": 2, "escalated": 1},
    )
    assert jobs.take_snapshot(day) == len(expected)
    db.session.commit()
    assert _snapshot(day) == expected

    assert jobs.take_snapshot(day) == len(expected)  # rerun: replaced, not duplicated
    db.session.commit()
    assert _snapshot(day) == expected
    assert count(IndicatorSnapshot) == len(expected)

    # Another night keeps this one, and counts what changed since.
    make_case(worker)
    db.session.commit()
    next_day = day + timedelta(days=1)
    jobs.take_snapshot(next_day)
    db.session.commit()
    assert _snapshot(day) == expected
    assert (C1, "open_intake", 2) in _snapshot(next_day)
    db.session.commit()  # the job runs in its own session

    # The job itself, forced twice for the same night.
    assert jobs.run_job(app, "snapshot", local(next_day, 2), force=True)
    assert jobs.run_job(app, "snapshot", local(next_day, 3), force=True)
    assert count(IndicatorSnapshot, IndicatorSnapshot.taken_on == next_day) == len(expected)
    run = db.session.get(JobRun, "snapshot")
    # The night also refreshes the dashboard's figures: six years and six half years.
    assert (run.ok, run.last_day) == (True, next_day)
    assert run.summary == {"rows": len(expected), "indicator_periods": 12}


@pytest.fixture
def cli_app(app_factory, monkeypatch) -> Iterator:
    """``caseapp`` in-process on the test database. SQLite waits 0.5 s for a lock (30 s in
    production), so a command blocking on its own transaction fails fast."""
    app = app_factory()
    engine = engine_of(app)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _short_wait(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 500")
            cursor.close()

    monkeypatch.setattr(cli, "_app", lambda: app)
    umask = os.umask(0o022)
    os.umask(umask)
    yield app
    os.umask(umask)  # ``caseapp`` sets 0o077 for the files it writes


def test_run_job_command_prints_the_summary(cli_app):
    app = cli_app
    with app.app_context():
        worker = make_user(app)
        due(make_case(worker), D - timedelta(days=1))
    with time_machine.travel(local(D, 9), tick=False):
        result = CliRunner().invoke(cli.main, ["run-job", "sweep"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        run = db.session.get(JobRun, "sweep")
        assert (run.ok, run.last_day) == (True, D)
        assert result.output == f"sweep: {run.summary}\n"
        assert run.summary["marked_overdue"] == 1
        assert count(ReminderDispatch, ReminderDispatch.kind == ReminderKind.OVERDUE.value) == 1


def test_run_job_command_refuses_while_a_scheduler_leads(cli_app):
    app = cli_app
    lock = LeaderLock(engine_of(app), holder="the-scheduler")
    assert lock.acquire()
    try:
        result = CliRunner().invoke(cli.main, ["run-job", "sweep"])
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "Another scheduler holds the lock" in result.output
    with app.app_context():
        assert count(JobRun) == 0
