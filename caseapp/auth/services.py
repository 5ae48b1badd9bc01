"""Sign-in with a per-account throttle, and revocable server-side sessions.

Services take the actor and settings explicitly and flush, never commit (CONVENTIONS).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import gettext

from caseapp import audit
from caseapp.auth import passwords
from caseapp.auth.models import LoginThrottle, UserSession
from caseapp.config import Settings
from caseapp.db import insert_or_skip, utcnow
from caseapp.extensions import db
from caseapp.users.models import User

# Verified against when the username is unknown, so both paths cost one Argon2 verification.
_DUMMY_PASSWORD = "not-a-real-password-" + secrets.token_hex(8)
_SESSION_TOUCH_SECONDS = 60


class LoginOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    LOCKED = "locked"
    OTP_REQUIRED = "otp_required"  # the password was right; no session before the second factor


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: User | None = None
    locked_until: datetime | None = None


def normalise_username(username: str) -> str:
    """Usernames compare case-insensitively and without surrounding spaces."""
    return username.strip().casefold()


def _throttle_key(settings: Settings, username: str) -> str:
    # Keyed, so the table never holds what people typed (sometimes a password in the wrong box).
    return hmac.new(
        settings.SECRET_KEY.encode(), normalise_username(username).encode(), hashlib.sha256
    ).hexdigest()


def _dummy_hash(settings: Settings) -> str:
    cache = _dummy_hash.__dict__.setdefault("cache", {})
    key = (settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_COST, settings.ARGON2_PARALLELISM)
    if key not in cache:
        cache[key] = passwords.hash_password(settings, _DUMMY_PASSWORD)
    return str(cache[key])


def _locked_throttle(key: str, now: datetime) -> LoginThrottle | None:
    """Create the throttle row if missing (race-free), lock it, and return it."""
    db.session.execute(
        insert_or_skip(db.session, LoginThrottle)
        .values(key=key, failures=0, window_started_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return db.session.execute(
        sa.select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def register_failure(
    settings: Settings, username: str, *, now: datetime | None = None
) -> datetime | None:
    """Count a failed password for ``username``; returns the lock's end when this locks it."""
    now = now or utcnow()
    throttle = _locked_throttle(_throttle_key(settings, username), now)
    assert throttle is not None  # noqa: S101 -- inserted just above
    window = timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES)
    if throttle.window_started_at + window < now or throttle.locked_until is not None:
        throttle.failures = 0
        throttle.window_started_at = now
        throttle.locked_until = None
    throttle.failures += 1
    if throttle.failures >= settings.LOGIN_MAX_FAILURES:
        throttle.locked_until = now + timedelta(minutes=settings.LOGIN_LOCK_MINUTES)
    db.session.flush()
    return throttle.locked_until


def clear_failures(settings: Settings, username: str) -> None:
    """Forget failed sign-ins for ``username`` (after a success, or a password reset)."""
    db.session.execute(
        sa.delete(LoginThrottle).where(LoginThrottle.key == _throttle_key(settings, username))
    )


def current_lock(
    settings: Settings, username: str, *, now: datetime | None = None
) -> datetime | None:
    """When the sign-in lock on ``username`` ends, or ``None`` if it is not locked now."""
    locked_until = db.session.scalar(
        sa.select(LoginThrottle.locked_until).where(
            LoginThrottle.key == _throttle_key(settings, username)
        )
    )
    if locked_until is not None and locked_until > (now or utcnow()):
        return locked_until
    return None


def authenticate(
    settings: Settings,
    username: str,
    password: str,
    *,
    context: audit.AuditContext | None = None,
    now: datetime | None = None,
) -> LoginResult:
    """Check a sign-in. Unknown user, wrong password and disabled account look the same.

    Argon2 runs outside any transaction: on SQLite a transaction holds the database's write lock,
    and a sign-in attempt must not stall everybody else for the time of a hash.
    """
    now = now or utcnow()
    locked_until = current_lock(settings, username, now=now)
    if locked_until is not None:
        audit.record("login_refused_locked", actor=None, outcome="denied", context=context)
        return LoginResult(LoginOutcome.LOCKED, locked_until=locked_until)
    found = db.session.execute(
        sa.select(User.id, User.password_hash, User.is_enabled).where(
            User.username == normalise_username(username)
        )
    ).first()
    db.session.rollback()  # nothing was written: end the read before the slow hash

    stored = found.password_hash if found is not None else _dummy_hash(settings)
    password_ok = passwords.verify_password(settings, stored, password)

    user = db.session.get(User, found.id) if found is not None else None
    if user is not None and password_ok and user.is_enabled and user.password_hash == stored:
        if passwords.needs_rehash(settings, user.password_hash):
            user.password_hash = passwords.hash_password(settings, password)
        if user.totp is not None and user.totp.is_confirmed:
            # Failures are cleared only after the code: re-entering the password must not reset
            # the count of wrong codes (SECURITY A5, A3).
            audit.record(
                "login_password_ok",
                actor=None,
                target_type="user",
                target_id=user.id,
                context=context,
            )
            return LoginResult(LoginOutcome.OTP_REQUIRED, user=user)
        clear_failures(settings, username)
        complete_login(user, now=now, context=context)
        return LoginResult(LoginOutcome.OK, user=user)

    new_lock = register_failure(settings, username, now=now)
    target_type = "user" if user is not None else None
    target_id = user.id if user is not None else None
    for action in ("login_failed", "login_locked") if new_lock is not None else ("login_failed",):
        audit.record(
            action,
            actor=None,
            target_type=target_type,
            target_id=target_id,
            outcome="denied",
            context=context,
        )
    if new_lock is not None:
        return LoginResult(LoginOutcome.LOCKED, locked_until=new_lock)
    return LoginResult(LoginOutcome.FAILED)


def complete_login(
    user: User, *, now: datetime | None = None, context: audit.AuditContext | None = None
) -> None:
    """Record a sign-in that passed every factor (the caller then starts the session)."""
    user.last_login_at = now or utcnow()
    audit.record("login", actor=user, target_type="user", target_id=user.id, context=context)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def start_session(user: User, *, now: datetime | None = None) -> str:
    """Open a server-side session; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = now or utcnow()
    db.session.add(
        UserSession(
            token_hash=_token_hash(token), user_id=user.id, created_at=now, last_seen_at=now
        )
    )
    db.session.flush()
    return token


def resume_session(
    settings: Settings, token: str, user_id: int, *, now: datetime | None = None
) -> User | None:
    """The user behind a live session token, or ``None`` (expired, revoked, disabled, unknown)."""
    now = now or utcnow()
    # The session and its account in one statement: every signed-in request starts here.
    found = db.session.execute(
        sa.select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == _token_hash(token))
    ).one_or_none()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or row.user_id != user_id:
        return None
    idle = timedelta(minutes=settings.SESSION_IDLE_MINUTES)
    absolute = timedelta(hours=settings.SESSION_ABSOLUTE_HOURS)
    if row.last_seen_at + idle < now or row.created_at + absolute < now:
        row.revoked_at = now
        return None
    if not user.is_enabled:
        row.revoked_at = now
        return None
    if (now - row.last_seen_at).total_seconds() > _SESSION_TOUCH_SECONDS:
        row.last_seen_at = now  # written at most once a minute per session
    return user


def end_session(token: str, *, now: datetime | None = None) -> None:
    """Revoke one session (sign-out)."""
    db.session.execute(
        sa.update(UserSession)
        .where(UserSession.token_hash == _token_hash(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )


def end_all_sessions(user: User, *, keep_token: str | None = None) -> int:
    """Revoke every live session of the user except ``keep_token``'s; returns how many."""
    query = sa.update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if keep_token is not None:
        query = query.where(UserSession.token_hash != _token_hash(keep_token))
    result = db.session.execute(query.values(revoked_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


class PasswordPolicyError(ValueError):
    """The new password breaks the policy; ``messages`` say how, in the user's language."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def set_password(
    settings: Settings, user: User, new_password: str, *, must_change: bool = False
) -> None:
    """Check the policy and store a new hash (flushes)."""
    errors = passwords.policy_errors(settings, new_password, user.username)
    if errors:
        raise PasswordPolicyError(errors)
    user.password_hash = passwords.hash_password(settings, new_password)
    user.password_changed_at = utcnow()
    user.must_change_password = must_change
    db.session.flush()


def verify_current_password(
    settings: Settings,
    user: User,
    current_password: str,
    *,
    failed_action: str,
    context: audit.AuditContext | None = None,
) -> LoginOutcome:
    """Check a signed-in user's password before a sensitive change (password, second factor).

    A wrong one counts like a failed sign-in: guessing it from a stolen session is throttled, and
    reaching the limit ends all the account's sessions (``LOCKED``). Audited as ``failed_action``.
    """
    if passwords.verify_password(settings, user.password_hash, current_password):
        return LoginOutcome.OK
    audit.record(
        failed_action,
        actor=user,
        target_type="user",
        target_id=user.id,
        outcome="denied",
        context=context,
    )
    if register_failure(settings, user.username) is not None:
        end_all_sessions(user)
        audit.record(
            "login_locked", actor=user, target_type="user", target_id=user.id,
            outcome="denied", context=context,
        )  # fmt: skip
        return LoginOutcome.LOCKED
    return LoginOutcome.FAILED


def change_own_password(
    settings: Settings,
    user: User,
    current_password: str,
    new_password: str,
    *,
    keep_token: str | None,
    context: audit.AuditContext | None = None,
) -> LoginOutcome:
    """Change one's own password; ends every other session.

    A wrong current password counts like a failed sign-in: guessing it from a stolen session is
    throttled, and reaching the limit ends all the account's sessions (``LOCKED``).
    """
    checked = verify_current_password(
        settings, user, current_password, failed_action="password_change_failed", context=context
    )
    if checked is not LoginOutcome.OK:
        return checked
    if passwords.normalise(current_password) == passwords.normalise(new_password):
        raise PasswordPolicyError([gettext("Mật khẩu mới phải khác mật khẩu hiện tại.")])
    set_password(settings, user, new_password, must_change=False)
    end_all_sessions(user, keep_token=keep_token)
    audit.record(
        "password_changed", actor=user, target_type="user", target_id=user.id, context=context
    )
    return LoginOutcome.OK
