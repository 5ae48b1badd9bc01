"""The daily e-mail digest: counts and case codes, never a name or any other identity."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from caseapp.config import Settings
from caseapp.dates import local_day
from caseapp.db import insert_or_skip, utcnow
from caseapp.extensions import db
from caseapp.followups import queries
from caseapp.scheduler.models import OutboxMessage, OutboxStatus
from caseapp.users.models import Role, User

DIGEST = "digest"
CODES_LISTED = 20


def _body(user: User, settings: Settings, today: date) -> tuple[str, str] | None:
    today_text = today.strftime("%d/%m/%Y")
    counts = queries.counts(user, today)
    # Officers also hear about the follow-ups escalated to them across their scope.
    escalated = queries.escalated_count(user) if user.role == Role.OFFICER else 0
    if not counts.total and not escalated:
        return None
    items = queries.todo(user, today)
    codes = [i.case_code for i in items["overdue"] + items["today"]]
    if escalated:
        codes += [i.case_code for i in queries.escalated(user, None, limit=CODES_LISTED)]
    codes = list(dict.fromkeys(codes))[:CODES_LISTED]
    subject = _(
        "CaseApp %(day)s: %(overdue)d việc quá hạn, %(today)d việc hôm nay",
        day=today_text,
        overdue=counts.overdue,
        today=counts.today,
    )
    lines = [
        _("Việc cần làm ngày %(day)s", day=today_text),
        "",
        _("Quá hạn: %(n)d", n=counts.overdue),
        _("Đến hạn hôm nay: %(n)d", n=counts.today),
        _("Trong 7 ngày tới: %(n)d", n=counts.week),
    ]
    if escalated:
        lines.append(_("Quá hạn đã báo cán bộ phụ trách, trong phạm vi: %(n)d", n=escalated))
    if codes:
        lines += ["", _("Mã hồ sơ cần theo dõi:"), *(f"  {code}" for code in codes)]
    if settings.BASE_URL:
        lines += ["", _("Mở danh sách việc cần làm: %(url)s", url=settings.BASE_URL + "/todo")]
    lines += [
        "",
        _("Thư này chỉ ghi mã hồ sơ và số lượng. Thông tin cá nhân chỉ xem trong CaseApp."),
        _("Tắt thư hằng ngày trong mục Tài khoản của tôi."),
    ]
    return subject, "\n".join(lines)


def queue_digests(settings: Settings, now: datetime | None = None) -> int:
    """Queue today's digest for everyone who asked for one and has something due. The outbox's
    unique key (person, kind, day) makes a rerun queue nothing twice."""
    now = now or utcnow()
    today = local_day(now)
    users = db.session.scalars(
        sa.select(User).where(
            User.wants_digest.is_(True),
            User.is_enabled.is_(True),
            User.email.is_not(None),
            User.email != "",
            User.role.in_([Role.WORKER, Role.OFFICER]),
            ~sa.exists().where(
                OutboxMessage.user_id == User.id,
                OutboxMessage.kind == DIGEST,
                OutboxMessage.day == today,
            ),
        )
    ).all()
    queued = 0
    for user in users:
        with force_locale(user.locale):
            content = _body(user, settings, today)
        if content is None:
            continue
        subject, body = content
        result = db.session.execute(
            insert_or_skip(db.session, OutboxMessage)
            .values(
                user_id=user.id,
                kind=DIGEST,
                day=today,
                subject=subject,
                body=body,
                status=OutboxStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["user_id", "kind", "day"])
            .execution_options(preserve_rowcount=True)  # psycopg reports -1 otherwise
        )
        queued += int(cast(sa.CursorResult[Any], result).rowcount or 0)
    db.session.flush()
    return queued
