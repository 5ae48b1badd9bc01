"""APScheduler 3 wiring: one process, jobs from ``jobs.JOBS`` in a memory job store.

Every minute the scheduler renews its leadership; only the leader runs jobs. Daily jobs are
cron-triggered in Asia/Ho_Chi_Minh, and also checked on every tick, so a new leader (after a
crash or downtime) catches up once. ``create_app`` never starts a scheduler: the web workers
don't run one; ``caseapp scheduler`` does, and ``caseapp serve`` (the embedded single process of
``make run``) starts one in a background thread.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from caseapp.dates import VIETNAM
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.scheduler import jobs
from caseapp.scheduler.leader import LeaderLock

log = logging.getLogger(__name__)
TICK_SECONDS = 60


class Leader:
    """The scheduler's side of the lock: jobs ask ``is_leader`` before they run."""

    def __init__(self, app: Flask, lock: LeaderLock | None = None) -> None:
        self.app = app
        with app.app_context():
            self.lock = lock or LeaderLock(db.engine)
        self._guard = threading.Lock()

    def tick(self, now: datetime | None = None) -> bool:
        """Renew the lease; when leading, run whatever daily job is due."""
        with self._guard:
            was = self.lock.held
            try:
                leading = self.lock.acquire(now)
            except Exception as exc:  # the database is away: stop leading, try again later
                log.warning("scheduler lease not renewed: %s", type(exc).__name__)
                self.lock.held = False
                return False
            if leading and not was:
                log.info("scheduler %s is now the leader", self.lock.holder)
            if leading:
                jobs.catch_up(self.app, now)
            return leading

    def run(self, name: str) -> None:
        with self._guard:
            if self.lock.held:
                jobs.run_job(self.app, name, utcnow())


def configure(scheduler: BaseScheduler, leader: Leader) -> None:
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    scheduler.add_job(
        leader.tick,
        IntervalTrigger(seconds=TICK_SECONDS),
        id="tick",
        next_run_time=datetime.now(VIETNAM),
        **defaults,
    )
    for job in jobs.JOBS:
        if job.at is None:
            trigger: CronTrigger | IntervalTrigger = IntervalTrigger(minutes=job.every_minutes)
        else:
            trigger = CronTrigger(hour=job.at.hour, minute=job.at.minute, timezone=VIETNAM)
        scheduler.add_job(leader.run, trigger, args=[job.name], id=job.name, **defaults)


def start_background(app: Flask) -> tuple[BackgroundScheduler, Leader]:
    """The embedded mode: a scheduler thread inside the ``caseapp serve`` process."""
    leader = Leader(app)
    scheduler = BackgroundScheduler(timezone=VIETNAM)
    configure(scheduler, leader)
    scheduler.start()
    return scheduler, leader


def run_forever(app: Flask) -> None:
    """``caseapp scheduler``: the dedicated process; returns on Ctrl-C or SIGTERM."""
    leader = Leader(app)
    scheduler = BlockingScheduler(timezone=VIETNAM)
    configure(scheduler, leader)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        leader.lock.release()
