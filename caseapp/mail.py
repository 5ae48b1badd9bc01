"""E-mail through the SMTP server in the instance settings, from the outbox table.

Messages are queued in ``email_outbox`` (one row per recipient, kind and day) and sent one by one,
each committed as soon as it is sent: after a crash at most the message in flight goes twice,
and nothing is lost. A failing server is retried with back-off and reported to the administrator;
it never stops the sweep.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa

from caseapp.config import Settings
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.scheduler.models import ERROR_MAX, OutboxMessage, OutboxStatus
from caseapp.users.models import User

# Minutes to wait before each retry; after the last the message is marked failed.
RETRY_MINUTES = (5, 15, 60, 180, 720)


class MailNotConfiguredError(RuntimeError):
    """SMTP_HOST or MAIL_FROM is not set."""


def is_configured(settings: Settings) -> bool:
    return bool(settings.SMTP_HOST and settings.MAIL_FROM)


def _connect(settings: Settings) -> smtplib.SMTP:
    timeout = settings.SMTP_TIMEOUT_SECONDS
    if settings.SMTP_SECURITY == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.SMTP_HOST,
            settings.SMTP_PORT,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        smtp = smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT, timeout=timeout)
    try:
        if settings.SMTP_SECURITY == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.SMTP_USERNAME:
            smtp.login(settings.SMTP_USERNAME, settings.SMTP_PASSWORD)
    except BaseException:
        smtp.close()  # a failed handshake must not leak the socket on every retry
        raise
    return smtp


def _message(settings: Settings, row: OutboxMessage, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.MAIL_FROM
    message["To"] = to
    message["Subject"] = row.subject
    message["Message-ID"] = make_msgid(idstring=f"caseapp-{row.id}")
    message.set_content(row.body)
    return message


def describe_error(exc: BaseException) -> str:
    """What the administrator sees: the error's type and text (server replies, never a body)."""
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX]


def send_pending(
    settings: Settings, now: datetime | None = None, limit: int = 500
) -> dict[str, int]:
    """Send what is due in the outbox. Commits after each message."""
    if not is_configured(settings):
        raise MailNotConfiguredError("SMTP_HOST and MAIL_FROM must be set to send e-mail")
    now = now or utcnow()
    ids = db.session.scalars(
        sa.select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    db.session.commit()
    sent = failed = 0
    last_error = ""
    server_failed = False
    if not ids:
        return {"sent": 0, "failed": 0}
    smtp: smtplib.SMTP | None = None
    try:
        for message_id in ids:
            row = db.session.get(OutboxMessage, message_id)
            if row is None or row.status != OutboxStatus.PENDING:
                continue
            user = db.session.get(User, row.user_id)
            try:
                if user is None or not user.email or not user.is_enabled:
                    raise ValueError("the recipient has no e-mail address or is disabled")
                if smtp is None:
                    smtp = _connect(settings)
                smtp.send_message(_message(settings, row, user.email))
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                _failed(row, exc, now)
                last_error = row.last_error or ""
                failed += 1
                db.session.commit()
                if not isinstance(exc, ValueError | smtplib.SMTPRecipientsRefused):
                    server_failed = True
                    break  # the server itself failed: retry everything later
                continue
            row.status = OutboxStatus.SENT.value
            row.sent_at = utcnow()
            row.attempts += 1
            row.last_error = None
            db.session.commit()
            sent += 1
    finally:
        if smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
    if server_failed and not sent:
        raise SmtpFailedError(last_error)
    return {"sent": sent, "failed": failed}


class SmtpFailedError(RuntimeError):
    """Nothing could be sent: the job run records it for the administrator's page."""


def _failed(row: OutboxMessage, exc: BaseException, now: datetime) -> None:
    row.attempts += 1
    row.last_error = describe_error(exc)
    if row.attempts > len(RETRY_MINUTES):
        row.status = OutboxStatus.FAILED.value
    else:
        row.next_attempt_at = now + timedelta(minutes=RETRY_MINUTES[row.attempts - 1])
