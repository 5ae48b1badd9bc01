"""Break-glass operations: grant, record a view, end or revoke, notify the supervisors.

Services flush and never commit; they take the actor explicitly. The reason is checked here as
well as in the form, so no caller can store an empty or token reason.
"""

from __future__ import annotations

import math
import unicodedata
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from caseapp import audit
from caseapp.audit import AuditEvent
from caseapp.break_glass.models import PURPOSE, REASON_MAX, REASON_MIN, BreakGlassGrant
from caseapp.cases.codes import display as display_code
from caseapp.cases.models import Case
from caseapp.config import Settings
from caseapp.dates import VIETNAM, local_day
from caseapp.db import utcnow
from caseapp.errors import FieldError
from caseapp.extensions import db
from caseapp.scheduler.models import OutboxMessage, OutboxStatus
from caseapp.users.models import Role, User

# Audit actions that count against the daily cap: a grant, or a request for a code that does not
# exist (so that guessing codes costs a reason each time, and stops at the cap).
COUNTED_ACTIONS = ("break_glass_granted", "break_glass_not_found")


def check_reason(text: str | None) -> str:
    """The reason, trimmed; ``FieldError`` on the ``reason`` field when it is empty or too short."""
    reason = unicodedata.normalize("NFC", (text or "").strip())
    if not reason:
        raise FieldError("reason", _("Hãy ghi lý do cần xem hồ sơ."))
    if len(" ".join(reason.split())) < REASON_MIN:
        raise FieldError(
            "reason",
            _(
                "Lý do quá ngắn: ghi rõ công việc cần làm với hồ sơ này (ít nhất %(n)d ký tự).",
                n=REASON_MIN,
            ),
        )
    if len(reason) > REASON_MAX:
        raise FieldError("reason", _("Lý do không được dài quá %(n)d ký tự.", n=REASON_MAX))
    return reason


def requests_in_last_day(actor: User, now: datetime) -> int:
    """Break-glass requests the actor made in the last 24 hours (from the audit trail)."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.actor_id == actor.id,
                AuditEvent.action.in_(COUNTED_ACTIONS),
                AuditEvent.occurred_at >= now - timedelta(days=1),
            )
        )
        or 0
    )


def check_daily_limit(actor: User, settings: Settings, now: datetime) -> None:
    """``FieldError`` (for the whole form) once the actor reached the day's cap."""
    if requests_in_last_day(actor, now) >= settings.BREAK_GLASS_DAILY_LIMIT:
        raise FieldError(
            None,
            _(
                "Bạn đã yêu cầu truy cập khẩn cấp %(n)d lần trong 24 giờ qua, mức tối đa cho "
                "phép. Hãy liên hệ lãnh đạo hoặc cán bộ phụ trách hồ sơ.",
                n=settings.BREAK_GLASS_DAILY_LIMIT,
            ),
        )


def active_grant(actor: User, case: Case, now: datetime | None = None) -> BreakGlassGrant | None:
    """The actor's grant on this case still running, if any."""
    now = now or utcnow()
    return db.session.scalar(
        sa.select(BreakGlassGrant)
        .where(
            BreakGlassGrant.user_id == actor.id,
            BreakGlassGrant.case_id == case.id,
            BreakGlassGrant.ended_at.is_(None),
            BreakGlassGrant.expires_at > now,
        )
        .order_by(BreakGlassGrant.expires_at.desc())
        .limit(1)
    )


def record_not_found(actor: User, *, context: audit.AuditContext | None = None) -> None:
    """A break-glass request for a code that names no file (audited; counts against the cap)."""
    audit.record("break_glass_not_found", actor=actor, outcome="not_found", context=context)


def grant_access(
    actor: User,
    case: Case,
    reason: str | None,
    *,
    settings: Settings,
    now: datetime | None = None,
    context: audit.AuditContext | None = None,
) -> BreakGlassGrant:
    """Open read access to ``case`` for ``settings.BREAK_GLASS_MINUTES``; audited (ids only) and
    the supervisors' e-mails queued."""
    now = now or utcnow()
    text = check_reason(reason)
    check_daily_limit(actor, settings, now)
    grant = BreakGlassGrant(
        uuid=str(uuid.uuid4()),  # before the reason: its ciphertext is bound to the row's UUID
        user_id=actor.id,
        case_id=case.id,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.BREAK_GLASS_MINUTES),
        views=0,
    )
    grant.reason = text
    db.session.add(grant)
    db.session.flush()
    audit.record(
        "break_glass_granted",
        actor=actor,
        target_type="case",
        target_id=case.id,
        details={"grant_id": grant.id, "minutes": settings.BREAK_GLASS_MINUTES},
        context=context,
    )
    notify_supervisors(grant, actor=actor, case=case, settings=settings, now=now)
    return grant


def record_view(
    grant: BreakGlassGrant,
    actor: User,
    *,
    now: datetime | None = None,
    context: audit.AuditContext | None = None,
) -> None:
    """One reading of the file under the grant: counted on the grant and audited with its
    purpose (the "who viewed this file" panel lists it with the others)."""
    # Counted in SQL: two views at once must not lose one (the audit rows are the full record).
    grant.views = BreakGlassGrant.views + 1
    grant.last_viewed_at = now or utcnow()
    audit.record(
        "case_viewed",
        actor=actor,
        target_type="case",
        target_id=grant.case_id,
        details={"purpose": PURPOSE, "grant_id": grant.id},
        context=context,
    )
    db.session.flush()


def record_refused_view(
    grant: BreakGlassGrant, actor: User, *, context: audit.AuditContext | None = None
) -> None:
    """An attempt to read under a grant that has expired or was ended."""
    audit.record(
        "break_glass_view_refused",
        actor=actor,
        target_type="case",
        target_id=grant.case_id,
        outcome="denied",
        details={"grant_id": grant.id},
        context=context,
    )


def end_grant(
    grant: BreakGlassGrant,
    actor: User,
    *,
    now: datetime | None = None,
    context: audit.AuditContext | None = None,
) -> bool:
    """End a running grant now: by its holder ("end now") or by a reviewer (revoked). False if
    it had already ended or expired (nothing is written)."""
    now = now or utcnow()
    if not grant.is_active(now):
        return False
    grant.ended_at = now
    grant.ended_by_id = actor.id
    audit.record(
        "break_glass_ended" if actor.id == grant.user_id else "break_glass_revoked",
        actor=actor,
        target_type="case",
        target_id=grant.case_id,
        details={"grant_id": grant.id},
        context=context,
    )
    db.session.flush()
    return True


def minutes_left(grant: BreakGlassGrant, now: datetime | None = None) -> int:
    """Whole minutes until the grant expires, rounded up (0 once it has)."""
    seconds = (grant.expires_at - (now or utcnow())).total_seconds()
    return max(0, math.ceil(seconds / 60))


def _local(moment: datetime) -> str:
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")


def notify_supervisors(
    grant: BreakGlassGrant, *, actor: User, case: Case, settings: Settings, now: datetime
) -> int:
    """Queue one e-mail per enabled supervisor with an address: who, which case code, when, a
    link. Never an identity, never the reason (it is read in CaseApp, on the review page)."""
    supervisors = db.session.scalars(
        sa.select(User).where(
            User.role == Role.SUPERVISOR.value,
            User.is_enabled.is_(True),
            User.email.is_not(None),
            User.email != "",
        )
    ).all()
    queued = 0
    for supervisor in supervisors:
        with force_locale(supervisor.locale):
            subject = _("CaseApp: truy cập khẩn cấp hồ sơ %(code)s", code=display_code(case.code))
            lines = [
                _(
                    "Tài khoản %(username)s đã mở quyền truy cập khẩn cấp (chỉ đọc) vào hồ sơ "
                    "%(code)s, ngoài phạm vi được giao.",
                    username=actor.username,
                    code=display_code(case.code),
                ),
                _(
                    "Thời gian hiệu lực: từ %(start)s đến %(end)s.",
                    start=_local(grant.created_at),
                    end=_local(grant.expires_at),
                ),
                "",
                _("Lý do truy cập chỉ xem được trong CaseApp, mục Rà soát truy cập khẩn cấp."),
            ]
            if settings.BASE_URL:
                lines.append(settings.BASE_URL.rstrip("/") + "/break-glass/review")
            lines += [
                "",
                _("Thư này không ghi thông tin cá nhân của người trong hồ sơ."),
            ]
        db.session.add(
            OutboxMessage(
                user_id=supervisor.id,
                # One message per supervisor and grant (the outbox is unique per kind and day).
                kind=f"bg-{grant.id}",
                day=local_day(now),
                subject=subject[:200],
                body="\n".join(lines),
                status=OutboxStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        queued += 1
    db.session.flush()
    return queued
