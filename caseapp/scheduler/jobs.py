"""The scheduler's jobs, defined in code. Each is safe to rerun: the sweep and the digest queue
use unique keys, the snapshot replaces its day, the outbox sends only what is pending.

A daily job runs once per day (Asia/Ho_Chi_Minh) at or after its time; ``job_runs`` remembers the
day it last completed, so a restart after downtime catches up once, and a clock that jumps back
runs nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from flask import Flask

from caseapp import mail
from caseapp.cases.models import Case
from caseapp.cases.models import Status as CaseStatus
from caseapp.config import Settings
from caseapp.dates import VIETNAM, local_day
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.followups import digest, reminders
from caseapp.followups.models import FollowUp
from caseapp.followups.models import Status as FollowUpStatus
from caseapp.scheduler.models import IndicatorSnapshot, JobRun


def _sweep(app: Flask, now: datetime) -> dict[str, Any]:
    return reminders.sweep(now)


def _digest(app: Flask, now: datetime) -> dict[str, Any]:
    settings: Settings = app.extensions["caseapp.settings"]
    if not mail.is_configured(settings):
        return {"skipped": "smtp_not_configured"}
    queued = digest.queue_digests(settings, now)
    db.session.commit()  # queued before sending: a failure below keeps them for the retry
    return {"queued": queued, **mail.send_pending(settings, now)}


def _outbox(app: Flask, now: datetime) -> dict[str, Any]:
    settings: Settings = app.extensions["caseapp.settings"]
    if not mail.is_configured(settings):
        return {"skipped": "smtp_not_configured"}
    return mail.send_pending(settings, now)


def _snapshot(app: Flask, now: datetime) -> dict[str, Any]:
    day = local_day(now)
    rows = take_snapshot(day)
    db.session.commit()
    return {"rows": rows, "indicator_periods": refresh_indicators(day)}


def _retention(app: Flask, now: datetime) -> dict[str, Any]:
    """Anonymise the closed files past the retention period (bounded; the rest the next night)."""
    from caseapp.cases import retention

    settings: Settings = app.extensions["caseapp.settings"]
    result = retention.run(
        years=settings.RETENTION_YEARS,
        apply=True,
        now=now,
        limit=settings.RETENTION_MAX_PER_RUN,
    )
    after = result.after or result.before
    return {
        "anonymised": result.anonymised,
        "eligible_left": after.eligible,
        "held": after.held,
        "already_anonymised": after.anonymised - result.anonymised,
    }


def refresh_indicators(day: date) -> int:
    """The province's figures for the dashboard's periods and trends, computed overnight so the
    first views of the day are quick."""
    from caseapp.indicators import periods, report, store

    wanted: dict[str, periods.Period] = {}
    for kind in (periods.PeriodKind.YEAR, periods.PeriodKind.HALF_YEAR):
        current = periods.containing(day, kind)
        for period in periods.recent(current, report.TREND_PERIODS):
            wanted[period.key] = period
        wanted[current.previous().key] = current.previous()
    return store.refresh(list(wanted.values()), None, day)


def take_snapshot(day: date) -> int:
    """Per commune: open files by phase, pending and overdue follow-ups (replaces ``day``)."""
    db.session.execute(sa.delete(IndicatorSnapshot).where(IndicatorSnapshot.taken_on == day))
    rows: list[dict[str, Any]] = []
    for commune, phase, count in db.session.execute(
        sa.select(Case.commune_code, Case.phase, sa.func.count())
        .where(Case.status == CaseStatus.OPEN)
        .group_by(Case.commune_code, Case.phase)
    ):
        rows.append({"commune_code": commune, "metric": f"open_{phase}", "value": count})
    for commune, pending, overdue, escalated in db.session.execute(
        sa.select(
            Case.commune_code,
            sa.func.count(),
            sa.func.count().filter(FollowUp.due_on < day),
            sa.func.count(FollowUp.escalated_on),
        )
        .join(Case, Case.id == FollowUp.case_id)
        .where(FollowUp.status == FollowUpStatus.PENDING, Case.status == CaseStatus.OPEN)
        .group_by(Case.commune_code)
    ):
        rows += [
            {"commune_code": commune, "metric": "follow_ups_pending", "value": pending},
            {"commune_code": commune, "metric": "follow_ups_overdue", "value": overdue},
            {"commune_code": commune, "metric": "follow_ups_escalated", "value": escalated},
        ]
    if rows:
        db.session.execute(sa.insert(IndicatorSnapshot), [{"taken_on": day, **row} for row in rows])
    return len(rows)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Flask, datetime], dict[str, Any]]
    at: time | None  # daily at this local time; None: every ``every_minutes``
    every_minutes: int = 0


JOBS = (
    Job("sweep", _sweep, time(0, 5)),
    Job("snapshot", _snapshot, time(1, 0)),
    Job("retention", _retention, time(2, 0)),
    Job("digest", _digest, time(6, 30)),
    Job("outbox", _outbox, None, every_minutes=5),
)
JOBS_BY_NAME = {job.name: job for job in JOBS}


def is_due(job: Job, last_day: date | None, now: datetime) -> bool:
    """A daily job is due once its time has come today and it has not completed today."""
    if job.at is None:
        return True
    local = now.astimezone(VIETNAM)
    return local.time() >= job.at and (last_day is None or last_day < local.date())


def run_job(app: Flask, name: str, now: datetime | None = None, *, force: bool = False) -> bool:
    """Run one job now if it is due (or ``force``), recording the run. Returns whether it ran.
    Any error is recorded for the administrator's page and rolled back; it never propagates
    (one failing job must not stop the others)."""
    job = JOBS_BY_NAME[name]
    now = now or utcnow()
    with app.app_context():
        run = db.session.get(JobRun, name) or JobRun(job=name)
        if not force and not is_due(job, run.last_day, now):
            db.session.rollback()
            return False
        started = utcnow()
        try:
            summary = job.run(app, now)
        except Exception as exc:  # recorded (type and message only, no data) and retried
            db.session.rollback()
            app.logger.warning("scheduler job %s failed: %s", name, type(exc).__name__)
            _record(name, started, error=mail.describe_error(exc))
            return True
        _record(name, started, summary=summary, day=local_day(now) if job.at else None)
        return True


def _record(
    name: str,
    started: datetime,
    *,
    summary: dict[str, Any] | None = None,
    error: str | None = None,
    day: date | None = None,
) -> None:
    """Write how a run went (a failure keeps the last completed day, so it is retried)."""
    run = db.session.get(JobRun, name) or JobRun(job=name)
    run.started_at, run.finished_at = started, utcnow()
    run.ok, run.error = error is None, error
    if error is None:
        run.summary = summary
    if day is not None:
        run.last_day = day
    db.session.add(run)
    db.session.commit()


def catch_up(app: Flask, now: datetime | None = None) -> list[str]:
    """Run every daily job that is due (after downtime: once each). Returns the names run."""
    now = now or utcnow()
    return [job.name for job in JOBS if job.at is not None and run_job(app, job.name, now)]
