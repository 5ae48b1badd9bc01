"""The administrator's view of the scheduler: when it last ran, each job's result, the outbox."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from caseapp import authz, mail, web
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.scheduler.jobs import JOBS
from caseapp.scheduler.leader import LOCK_NAME
from caseapp.scheduler.models import JobRun, OutboxMessage, OutboxStatus, SchedulerLease

bp = Blueprint("scheduler", __name__)

# Beyond this the heartbeat counts as stale: the scheduler is not running.
STALE_AFTER = timedelta(minutes=5)


@bp.route("/admin/scheduler")
@authz.requires(authz.Action.VIEW_SYSTEM_STATUS)
def status() -> ResponseReturnValue:
    lease = db.session.get(SchedulerLease, LOCK_NAME)
    runs = {run.job: run for run in db.session.scalars(sa.select(JobRun))}
    outbox = dict(
        db.session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    last_failure = db.session.scalar(
        sa.select(OutboxMessage.last_error)
        .where(OutboxMessage.last_error.is_not(None))
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    now = utcnow()
    return render_template(
        "admin/scheduler.html",
        lease=lease,
        alive=lease is not None and now - lease.heartbeat_at <= STALE_AFTER,
        jobs=JOBS,
        runs=runs,
        outbox={s: outbox.get(s.value, 0) for s in OutboxStatus},
        last_failure=last_failure,
        mail_configured=mail.is_configured(web.settings()),
        settings=web.settings(),
    )
