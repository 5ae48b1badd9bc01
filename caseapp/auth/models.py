"""Server-side sessions (revocable), the per-account login throttle and the second factor (TOTP
authenticators, recovery codes, the per-role policy), all in the database."""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from caseapp.crypto import EncryptedField
from caseapp.db import UTCDateTime, allowed_values, utcnow
from caseapp.extensions import Model
from caseapp.users.models import Role


class UserSession(Model):
    """One signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<UserSession {self.id} user={self.user_id}>"


class LoginThrottle(Model):
    """Failed sign-ins per typed username (known or not), shared by every web worker."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # HMAC of the username
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<LoginThrottle failures={self.failures}>"


class TotpCredential(Model):
    """A user's TOTP authenticator; a row not confirmed yet is an enrolment in progress.

    The shared secret is encrypted (AES-GCM bound to this table, column and the row's UUID).
    ``last_step`` is the newest 30-second time step accepted: a code for it or an earlier one is a
    replay, refused in every web worker alike.
    """

    __tablename__ = "totp_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(
        sa.String(36), unique=True, default=lambda: str(uuid_module.uuid4())
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret_ct: Mapped[str] = mapped_column(sa.Text)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    secret = EncryptedField("secret_ct")

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    def __repr__(self) -> str:  # never the secret
        return f"<TotpCredential {self.id} user={self.user_id}>"


class RecoveryCode(Model):
    """A single-use recovery code, stored as a keyed hash (HMAC, its key outside the database)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (sa.UniqueConstraint("user_id", "code_hash", name="uq_recovery_codes_code"),)

    def __repr__(self) -> str:
        return f"<RecoveryCode {self.id} user={self.user_id}>"


class TwoFactorPolicy(Model):
    """Whether a role must use two-factor sign-in; a role without a row keeps the default."""

    __tablename__ = "two_factor_policies"

    role: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    is_required: Mapped[bool] = mapped_column(sa.Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (allowed_values("role", Role),)

    def __repr__(self) -> str:
        return f"<TwoFactorPolicy {self.role} required={self.is_required}>"
