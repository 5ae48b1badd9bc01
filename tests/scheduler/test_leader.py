"""One scheduler leads (SECURITY J2, decision 2): an advisory lock on PostgreSQL, a lease row on
SQLite, each proven with two apps (two engines, as two processes would have) on one database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.followups.models import ReminderDispatch, ReminderKind
from caseapp.scheduler.leader import LEASE_SECONDS, LOCK_NAME, LeaderLock
from caseapp.scheduler.models import IndicatorSnapshot, JobRun, SchedulerLease
from caseapp.scheduler.runner import Leader
from tests.conftest import PG_URL
from tests.scheduler.conftest import (
    count,
    due,
    engine_of,
    local,
    make_case,
    make_user,
    terminate_lock_holder,
)

DAY = date(2025, 12, 8)
postgres_only = pytest.mark.skipif(not PG_URL, reason="PostgreSQL run only")


def _lease(engine: sa.Engine) -> sa.Row | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(SchedulerLease.__table__).where(SchedulerLease.name == LOCK_NAME)
        ).first()


@pytest.fixture
def two_engines(app_factory):
    return engine_of(app_factory()), engine_of(app_factory())


@pytest.mark.plan("J2")
def test_only_one_scheduler_leader(two_engines):
    engine_a, engine_b = two_engines
    first = LeaderLock(engine_a, holder="scheduler-a")
    second = LeaderLock(engine_b, holder="scheduler-b")
    try:
        now = utcnow()
        assert first.acquire(now) is True
        assert second.acquire(now) is False
        assert (first.held, second.held) == (True, False)
        # The leader renews (its heartbeat moves); the other still cannot get in.
        assert first.acquire(now + timedelta(seconds=60)) is True
        assert second.acquire(now + timedelta(seconds=61)) is False
        lease = _lease(engine_b)
        assert lease is not None
        assert lease.holder == "scheduler-a"
        assert lease.heartbeat_at == now + timedelta(seconds=60)
        assert lease.expires_at == now + timedelta(seconds=60 + LEASE_SECONDS)

        first.release()
        assert first.held is False
        assert second.acquire() is True
        assert first.acquire() is False
        assert _lease(engine_a).holder == "scheduler-b"
    finally:
        second.release()
        first.release()
    with engine_a.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(SchedulerLease)).scalar() == 1
        )


def test_a_crashed_leader_is_replaced(two_engines):
    """The leader dies without releasing. SQLite: the other takes over once the lease has
    expired, not before. PostgreSQL: the lease's expiry changes nothing while the leader's session
    lives; its session ending frees the lock at once."""
    engine_a, engine_b = two_engines
    first = LeaderLock(engine_a, holder="scheduler-a")
    second = LeaderLock(engine_b, holder="scheduler-b")
    now = utcnow()
    try:
        assert first.acquire(now)
        assert not second.acquire(now + timedelta(seconds=LEASE_SECONDS - 1))
        after_expiry = now + timedelta(seconds=LEASE_SECONDS + 1)
        if PG_URL:
            assert not second.acquire(after_expiry)  # the advisory lock still holds
            terminate_lock_holder(engine_b)
        assert second.acquire(after_expiry) is True
        assert _lease(engine_a).holder == "scheduler-b"
        if not PG_URL:
            # The old leader comes back: it has lost the lease and must not lead.
            assert first.acquire(after_expiry + timedelta(seconds=1)) is False
            assert first.held is False
    finally:
        second.release()
        first.release()


def test_two_schedulers_run_each_daily_job_once(app_factory):
    app_a, app_b = app_factory(), app_factory()
    with app_a.app_context():
        worker = make_user(app_a)
        ids = (due(make_case(worker), DAY).id, worker.id)
    a = Leader(app_a, LeaderLock(engine_of(app_a), holder="scheduler-a"))
    b = Leader(app_b, LeaderLock(engine_of(app_b), holder="scheduler-b"))
    try:
        # Both tick every minute; a started first.
        with time_machine.travel(local(DAY, 0, 10), tick=False) as clock:
            assert a.tick() is True  # 00:10: the sweep is due, the others not yet
            assert b.tick() is False
            b.run("sweep")  # the cron trigger fires in both processes: only the leader acts
            clock.move_to(local(DAY, 0, 59))
            assert a.tick() is True  # renews; nothing due
            clock.move_to(local(DAY, 1, 0))
            assert b.tick() is False  # the snapshot is due, but b does not lead
            b.run("snapshot")
            with app_b.app_context():
                assert db.session.get(JobRun, "snapshot") is None
                assert count(IndicatorSnapshot) == 0
            clock.move_to(local(DAY, 1, 0) + timedelta(seconds=20))
            assert a.tick() is True  # the snapshot
            clock.move_to(local(DAY, 6, 29))
            assert a.tick() is True
            clock.move_to(local(DAY, 6, 30))
            assert b.tick() is False
            assert a.tick() is True  # the digest
            clock.move_to(local(DAY, 6, 31))
            assert a.tick() is True  # nothing is due any more today
            assert b.tick() is False
            b.run("sweep")
        with app_b.app_context():
            runs = {r.job: r for r in db.session.scalars(sa.select(JobRun))}
            assert set(runs) == {"sweep", "snapshot", "retention", "digest"}
            assert all(r.ok and r.last_day == DAY for r in runs.values())
            assert runs["sweep"].started_at == local(DAY, 0, 10)  # never rerun at 07:00
            assert runs["snapshot"].started_at == local(DAY, 1, 0) + timedelta(seconds=20)
            assert runs["digest"].started_at == local(DAY, 6, 30)
            assert runs["digest"].summary == {"skipped": "smtp_not_configured"}
            reminders = db.session.scalars(sa.select(ReminderDispatch)).all()
            assert [(r.follow_up_id, r.kind, r.user_id) for r in reminders] == [
                (ids[0], ReminderKind.DUE.value, ids[1])
            ]
        assert _lease(engine_of(app_b)).holder == "scheduler-a"

        # a stops (releases): b leads from its next tick and runs the next day's jobs.
        with time_machine.travel(local(DAY, 6, 32), tick=False) as clock:
            a.lock.release()
            clock.move_to(local(DAY, 6, 32) + timedelta(seconds=1))
            assert b.tick() is True
            clock.move_to(local(DAY + timedelta(days=1), 7, 0))
            assert b.tick() is True  # a day later (b alone ticking): catches up once
            assert a.tick() is False
        with app_a.app_context():
            runs = {r.job: r for r in db.session.scalars(sa.select(JobRun))}
            assert {r.last_day for r in runs.values()} == {DAY + timedelta(days=1)}
            assert count(ReminderDispatch) == 2  # due, then overdue: each once
    finally:
        a.lock.release()
        b.lock.release()


@postgres_only
def test_leader_connection_not_left_idle_in_transaction(two_engines):
    engine_a, engine_b = two_engines
    lock = LeaderLock(engine_a, holder="scheduler-a")
    try:
        assert lock.acquire()
        assert lock.acquire()  # the next tick renews
        with engine_b.connect() as connection:
            state = connection.execute(
                sa.text(
                    "SELECT state FROM pg_stat_activity WHERE pid IN (SELECT pid FROM pg_locks"
                    " WHERE locktype = 'advisory' AND granted)"
                )
            ).scalar_one()
        assert state == "idle"
    finally:
        lock.release()


@postgres_only
def test_leader_whose_session_died_reports_the_lost_lock(two_engines):
    engine_a, engine_b = two_engines
    first = LeaderLock(engine_a, holder="scheduler-a")
    second = LeaderLock(engine_b, holder="scheduler-b")
    try:
        assert first.acquire()
        terminate_lock_holder(engine_b)
        assert second.acquire()
        assert first.acquire() is False  # must not raise
        assert first.held is False
    finally:
        second.release()
        first.release()
