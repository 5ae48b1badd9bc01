"""Two-factor sign-in (SECURITY decision 4, A5): TOTP codes (RFC 6238, pyotp) with replay
rejection, single-use recovery codes, and the per-role policy.

* The shared secret is stored encrypted (``TotpCredential.secret``), never logged or audited.
* The newest accepted 30-second step is kept per user; a code for that step or an earlier one is a
  replay (``otp_replay``). The check-and-set is one conditional UPDATE, so two web workers cannot
  both accept the same code. ±1 step of clock drift is accepted.
* Recovery codes are random, shown once, stored as keyed hashes (HMAC under a key derived from the
  key file's blind-index key: the database alone cannot be brute-forced) and used at most once.
* Wrong codes count toward the same per-account throttle as wrong passwords.

Services take the actor and settings explicitly and flush, never commit (CONVENTIONS).
"""

from __future__ import annotations

import hmac
import secrets
import string
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import pyotp
import sqlalchemy as sa
from flask_babel import gettext as _

from caseapp import audit
from caseapp.auth import services
from caseapp.auth.models import RecoveryCode, TotpCredential, TwoFactorPolicy
from caseapp.config import Settings
from caseapp.crypto import blind_index
from caseapp.db import insert_or_skip, utcnow
from caseapp.errors import FieldError
from caseapp.extensions import db
from caseapp.users.models import Role, User

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1  # a phone whose clock is up to 30 seconds off still signs in
ISSUER = "CaseApp"
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_LENGTH = 12  # 12 symbols out of 31: about 59 bits each
# Lower case and digits without look-alikes (0/o, 1/l/i): recovery codes are copied from paper.
RECOVERY_ALPHABET = "".join(
    ch for ch in string.ascii_lowercase + string.digits if ch not in "01oil"
)
# The purpose label of the keyed hash of recovery codes (a key of its own, derived by HKDF).
RECOVERY_HASH_PURPOSE = "recovery_codes.code"
# Roles that always need the second factor. Others follow their policy row (no row: not required).
ALWAYS_REQUIRED = frozenset({Role.OFFICER, Role.SUPERVISOR, Role.ADMIN})
CONFIGURABLE_ROLES = (Role.WORKER,)


class TwoFactorOutcome(StrEnum):
    OK = "ok"
    WRONG_CODE = "wrong_code"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 -- an outcome's name, not a password
    LOCKED = "locked"  # too many failures: every session of the account has ended


@dataclass(frozen=True)
class ChangeResult:
    """What an enrolment or a change of the second factor did; codes are shown once."""

    outcome: TwoFactorOutcome
    recovery_codes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SecondFactorResult:
    """The sign-in's second step: ``LoginOutcome.OK`` (then start the session), FAILED or LOCKED."""

    outcome: services.LoginOutcome
    user: User | None = None
    locked_until: datetime | None = None
    recovery_codes_left: int | None = None  # set when a recovery code was used


# --- policy -----------------------------------------------------------------------------------


def required_for(role: Role) -> bool:
    """Must accounts of ``role`` use the second factor?"""
    if role in ALWAYS_REQUIRED:
        return True
    return bool(
        db.session.scalar(
            sa.select(TwoFactorPolicy.is_required).where(TwoFactorPolicy.role == role.value)
        )
    )


def is_enrolled(user: User) -> bool:
    """Has the user a confirmed authenticator?"""
    return user.totp is not None and user.totp.is_confirmed


def enrolment_required(user: User) -> bool:
    """Must the user enrol before anything else? (No query: both facts are loaded with the user.)"""
    if is_enrolled(user):
        return False
    if user.role_enum in ALWAYS_REQUIRED:
        return True
    return user.two_factor_policy is not None and user.two_factor_policy.is_required


def set_required(
    role: Role, required: bool, *, actor: User, context: audit.AuditContext | None = None
) -> bool:
    """Set the policy of a configurable role (workers); returns whether it changed."""
    if role not in CONFIGURABLE_ROLES:
        raise FieldError(None, _("Vai trò này luôn bắt buộc xác thực hai lớp."))
    if required_for(role) == required:
        return False
    now = utcnow()
    db.session.execute(
        insert_or_skip(db.session, TwoFactorPolicy)
        .values(role=role.value, is_required=required, updated_at=now)
        .on_conflict_do_nothing(index_elements=["role"])
    )
    db.session.execute(
        sa.update(TwoFactorPolicy)
        .where(TwoFactorPolicy.role == role.value)
        .values(is_required=required, updated_at=now)
    )
    audit.record(
        "two_factor_policy_changed",
        actor=actor,
        target_type="role",
        target_id=role.value,
        details={"required": required},
        context=context,
    )
    return True


# --- codes ------------------------------------------------------------------------------------


def _normalise_code(text: str) -> str:
    """What people type, compared: full-width digits made ASCII, spaces and dashes dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and unicodedata.category(ch) != "Pd")


def _is_totp_shape(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def time_step(now: datetime) -> int:
    """The 30-second step ``now`` falls in (RFC 6238's T)."""
    return int(now.timestamp()) // STEP_SECONDS


def _matching_steps(secret: str, code: str, now: datetime) -> list[int]:
    """The steps within the drift window whose code is ``code``, newest first."""
    if not _is_totp_shape(code):
        return []
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = time_step(now)
    window = range(current + DRIFT_STEPS, current - DRIFT_STEPS - 1, -1)
    return [step for step in window if hmac.compare_digest(totp.generate_otp(step), code)]


def _claim_step(credential_id: int, step: int) -> bool:
    """Record ``step`` as the newest accepted one, unless it (or a later one) already is."""
    result = db.session.execute(
        sa.update(TotpCredential)
        .where(
            TotpCredential.id == credential_id,
            sa.or_(TotpCredential.last_step.is_(None), TotpCredential.last_step < step),
        )
        .values(last_step=step)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def _recovery_hash(normalised: str) -> str:
    return blind_index(RECOVERY_HASH_PURPOSE, normalised)


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4))


@dataclass(frozen=True)
class _CodeCheck:
    ok: bool
    method: str  # "totp" or "recovery_code"
    replay: bool = False
    remaining: int | None = None


def _check_code(credential: TotpCredential, code: str, now: datetime) -> _CodeCheck:
    """Accept a current TOTP code (once) or an unused recovery code (once)."""
    text = _normalise_code(code)
    if _is_totp_shape(text):
        steps = _matching_steps(credential.secret or "", text, now)
        if not steps:
            return _CodeCheck(ok=False, method="totp")
        # The conditional UPDATE decides: another worker may have accepted the same code just now.
        if _claim_step(credential.id, steps[0]):
            db.session.expire(credential, ["last_step"])
            return _CodeCheck(ok=True, method="totp")
        return _CodeCheck(ok=False, method="totp", replay=True)
    method = "recovery_code"
    if len(text) != RECOVERY_CODE_LENGTH or not set(text) <= set(RECOVERY_ALPHABET):
        return _CodeCheck(ok=False, method=method)
    digest = _recovery_hash(text)
    mine = sa.and_(RecoveryCode.user_id == credential.user_id, RecoveryCode.code_hash == digest)
    used = db.session.execute(
        sa.update(RecoveryCode)
        .where(mine, RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(used.rowcount) == 1:  # type: ignore[attr-defined]
        return _CodeCheck(ok=True, method=method, remaining=recovery_codes_left(credential.user_id))
    reused = db.session.scalar(sa.select(sa.literal(1)).where(mine)) is not None
    return _CodeCheck(ok=False, method=method, replay=reused)


def recovery_codes_left(user_id: int) -> int:
    """How many unused recovery codes the user has."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


# --- enrolment --------------------------------------------------------------------------------


def _credential(user: User) -> TotpCredential | None:
    return db.session.scalars(
        sa.select(TotpCredential)
        .where(TotpCredential.user_id == user.id)
        .execution_options(populate_existing=True)
    ).one_or_none()


def _refresh(user: User) -> None:
    db.session.flush()
    db.session.expire(user, ["totp"])


def pending_secret(user: User) -> str | None:
    """The secret of an enrolment in progress (to show as a QR code and text), if any."""
    credential = user.totp
    if credential is None or credential.is_confirmed:
        return None
    return credential.secret


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.username, issuer_name=ISSUER
    )


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def start_enrolment(user: User, *, context: audit.AuditContext | None = None) -> None:
    """A new secret to scan, replacing any enrolment in progress; refused once enrolled."""
    credential = _credential(user)
    if credential is not None and credential.is_confirmed:
        raise FieldError(None, _("Xác thực hai lớp đã được bật."))
    if credential is None:
        credential = TotpCredential(uuid=str(uuid.uuid4()), user_id=user.id)
        db.session.add(credential)
    credential.secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
    credential.last_step = None
    _refresh(user)
    audit.record(
        "otp_enrolment_started", actor=user, target_type="user", target_id=user.id, context=context
    )


def replace_recovery_codes(user: User, *, now: datetime | None = None) -> list[str]:
    """Ten new recovery codes, invalidating the old ones; returns them (shown once)."""
    now = now or utcnow()
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes: list[str] = []
    while len(codes) < RECOVERY_CODE_COUNT:
        code = _new_recovery_code()
        if code not in codes:
            codes.append(code)
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_recovery_hash(_normalise_code(c)), created_at=now)
        for c in codes
    )
    db.session.flush()
    return codes


def confirm_enrolment(
    settings: Settings,
    user: User,
    code: str,
    current_password: str,
    *,
    keep_token: str | None,
    context: audit.AuditContext | None = None,
    now: datetime | None = None,
) -> ChangeResult:
    """Turn the second factor on once the user types a current code (and their password).

    Returns the recovery codes; ends every other session of the account (SECURITY A8).
    """
    now = now or utcnow()
    credential = _credential(user)
    if credential is None or credential.is_confirmed:
        raise FieldError(None, _("Không có việc cài đặt xác thực hai lớp nào đang chờ."))
    checked = services.verify_current_password(
        settings, user, current_password, failed_action="otp_enrolment_failed", context=context
    )
    if checked is services.LoginOutcome.LOCKED:
        return ChangeResult(TwoFactorOutcome.LOCKED)
    if checked is not services.LoginOutcome.OK:
        return ChangeResult(TwoFactorOutcome.WRONG_PASSWORD)
    steps = _matching_steps(credential.secret or "", _normalise_code(code), now)
    if not steps:
        audit.record(
            "otp_enrolment_failed",
            actor=user,
            target_type="user",
            target_id=user.id,
            outcome="denied",
            details={"reason": "code"},
            context=context,
        )
        return ChangeResult(TwoFactorOutcome.WRONG_CODE)
    credential.confirmed_at = now
    credential.last_step = steps[0]  # the code just typed cannot be replayed at sign-in
    codes = replace_recovery_codes(user, now=now)
    services.end_all_sessions(user, keep_token=keep_token)
    _refresh(user)
    audit.record("otp_enrolled", actor=user, target_type="user", target_id=user.id, context=context)
    return ChangeResult(TwoFactorOutcome.OK, recovery_codes=codes)


def enrol_with_secret(
    user: User,
    *,
    secret: str | None = None,
    actor: User | None = None,
    context: audit.AuditContext | None = None,
) -> str:
    """Enrol at once, no code asked (the demo accounts, tests); returns the secret."""
    credential = _credential(user)
    if credential is None:
        credential = TotpCredential(uuid=str(uuid.uuid4()), user_id=user.id)
        db.session.add(credential)
    secret = secret or pyotp.random_base32()
    credential.secret = secret
    credential.confirmed_at = utcnow()
    credential.last_step = None
    _refresh(user)
    audit.record(
        "otp_enrolled",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"direct": True},
        context=context,
    )
    return secret


def regenerate_recovery_codes(
    settings: Settings,
    user: User,
    current_password: str,
    *,
    keep_token: str | None,
    context: audit.AuditContext | None = None,
) -> ChangeResult:
    """New recovery codes (the old ones stop working); needs the password; ends other sessions."""
    if not is_enrolled(user):
        raise FieldError(None, _("Xác thực hai lớp chưa được bật."))
    checked = services.verify_current_password(
        settings,
        user,
        current_password,
        failed_action="recovery_codes_regenerate_failed",
        context=context,
    )
    if checked is services.LoginOutcome.LOCKED:
        return ChangeResult(TwoFactorOutcome.LOCKED)
    if checked is not services.LoginOutcome.OK:
        return ChangeResult(TwoFactorOutcome.WRONG_PASSWORD)
    codes = replace_recovery_codes(user)
    services.end_all_sessions(user, keep_token=keep_token)
    audit.record(
        "recovery_codes_regenerated",
        actor=user,
        target_type="user",
        target_id=user.id,
        context=context,
    )
    return ChangeResult(TwoFactorOutcome.OK, recovery_codes=codes)


def _remove(user: User) -> None:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(sa.delete(TotpCredential).where(TotpCredential.user_id == user.id))
    _refresh(user)


def disable(
    settings: Settings,
    user: User,
    current_password: str,
    code: str,
    *,
    keep_token: str | None,
    context: audit.AuditContext | None = None,
    now: datetime | None = None,
) -> ChangeResult:
    """Turn one's own second factor off (only where the role does not require it).

    Needs the password and a current code (or a recovery code); a wrong code counts like a failed
    sign-in. Ends every other session of the account.
    """
    now = now or utcnow()
    credential = _credential(user)
    if credential is None or not credential.is_confirmed:
        raise FieldError(None, _("Xác thực hai lớp chưa được bật."))
    if required_for(user.role_enum):
        raise FieldError(None, _("Vai trò của bạn bắt buộc xác thực hai lớp: không thể tắt."))
    checked = services.verify_current_password(
        settings, user, current_password, failed_action="otp_disable_failed", context=context
    )
    if checked is services.LoginOutcome.LOCKED:
        return ChangeResult(TwoFactorOutcome.LOCKED)
    if checked is not services.LoginOutcome.OK:
        return ChangeResult(TwoFactorOutcome.WRONG_PASSWORD)
    check = _check_code(credential, code, now)
    if not check.ok:
        audit.record(
            "otp_replay" if check.replay else "otp_failed",
            actor=user,
            target_type="user",
            target_id=user.id,
            outcome="denied",
            details={"method": check.method, "during": "disable"},
            context=context,
        )
        if services.register_failure(settings, user.username, now=now) is not None:
            services.end_all_sessions(user)
            audit.record(
                "login_locked", actor=user, target_type="user", target_id=user.id,
                outcome="denied", context=context,
            )  # fmt: skip
            return ChangeResult(TwoFactorOutcome.LOCKED)
        return ChangeResult(TwoFactorOutcome.WRONG_CODE)
    _remove(user)
    services.end_all_sessions(user, keep_token=keep_token)
    audit.record("otp_disabled", actor=user, target_type="user", target_id=user.id, context=context)
    return ChangeResult(TwoFactorOutcome.OK)


def reset(user: User, *, actor: User, context: audit.AuditContext | None = None) -> None:
    """An administrator removes a user's second factor (a lost phone): every session of the user
    ends, and a role that requires it must enrol again at the next sign-in."""
    _remove(user)
    services.end_all_sessions(user)
    audit.record("otp_reset", actor=actor, target_type="user", target_id=user.id, context=context)


# --- sign-in ----------------------------------------------------------------------------------


def verify_second_factor(
    settings: Settings,
    user_id: int,
    code: str,
    *,
    context: audit.AuditContext | None = None,
    now: datetime | None = None,
) -> SecondFactorResult:
    """The sign-in's second step, after the right password. Wrong, replayed or used-up codes look
    the same to the user, count toward the account's throttle and are audited."""
    now = now or utcnow()
    user = db.session.get(User, user_id)
    if user is None:
        return SecondFactorResult(services.LoginOutcome.FAILED)
    locked_until = services.current_lock(settings, user.username, now=now)
    if locked_until is not None:
        audit.record(
            "login_refused_locked",
            actor=None,
            target_type="user",
            target_id=user.id,
            outcome="denied",
            context=context,
        )
        return SecondFactorResult(services.LoginOutcome.LOCKED, locked_until=locked_until)
    credential = user.totp
    if credential is not None and credential.is_confirmed and user.is_enabled:
        check = _check_code(credential, code, now)
    else:  # disabled or reset since the password step: the same refusal
        check = _CodeCheck(ok=False, method="none")
    if check.ok:
        services.clear_failures(settings, user.username)
        if check.method == "recovery_code":
            audit.record(
                "recovery_code_used",
                actor=user,
                target_type="user",
                target_id=user.id,
                details={"remaining": check.remaining},
                context=context,
            )
        else:
            audit.record(
                "otp_ok", actor=user, target_type="user", target_id=user.id, context=context
            )
        services.complete_login(user, now=now, context=context)
        return SecondFactorResult(
            services.LoginOutcome.OK, user=user, recovery_codes_left=check.remaining
        )
    audit.record(
        "otp_replay" if check.replay else "otp_failed",
        actor=None,
        target_type="user",
        target_id=user.id,
        outcome="denied",
        details={"method": check.method},
        context=context,
    )
    new_lock = services.register_failure(settings, user.username, now=now)
    if new_lock is not None:
        audit.record(
            "login_locked",
            actor=None,
            target_type="user",
            target_id=user.id,
            outcome="denied",
            context=context,
        )
        return SecondFactorResult(services.LoginOutcome.LOCKED, locked_until=new_lock)
    return SecondFactorResult(services.LoginOutcome.FAILED)
