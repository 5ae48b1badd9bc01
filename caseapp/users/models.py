"""Staff accounts. Roles and scopes follow DESIGN §2; ``caseapp.authz`` decides what they allow."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.db import UTCDateTime, allowed_values, utcnow
from caseapp.extensions import Model, db
from caseapp.geo.models import Commune, FormerDistrict

if TYPE_CHECKING:
    from caseapp.auth.models import TotpCredential, TwoFactorPolicy

USERNAME_MAX = 64
DISPLAY_NAME_MAX = 120
EMAIL_MAX = 254
LOCALES = ("vi", "en")


class Role(StrEnum):
    WORKER = "worker"
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class ScopeKind(StrEnum):
    COMMUNES = "communes"
    FORMER_DISTRICT = "former_district"
    PROVINCE = "province"
    NONE = "none"  # administrators manage the system, not cases


# Which scopes each role may be given (DESIGN §2).
ROLE_SCOPES: dict[Role, tuple[ScopeKind, ...]] = {
    Role.WORKER: (ScopeKind.COMMUNES,),
    Role.OFFICER: (ScopeKind.COMMUNES, ScopeKind.FORMER_DISTRICT, ScopeKind.PROVINCE),
    Role.SUPERVISOR: (ScopeKind.PROVINCE,),
    Role.ADMIN: (ScopeKind.NONE,),
}

user_communes = sa.Table(
    "user_communes",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("commune_code", sa.ForeignKey("communes.code"), primary_key=True),
    # The sweep finds a commune's workers: the primary key leads with the user.
    sa.Index("ix_user_communes_commune_code", "commune_code"),
)


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(USERNAME_MAX), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(DISPLAY_NAME_MAX))
    email: Mapped[str | None] = mapped_column(sa.String(EMAIL_MAX))
    role: Mapped[str] = mapped_column(sa.String(16))
    scope_kind: Mapped[str] = mapped_column(sa.String(16))
    former_district_code: Mapped[int | None] = mapped_column(sa.ForeignKey("former_districts.code"))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    must_change_password: Mapped[bool] = mapped_column(default=True)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str] = mapped_column(sa.String(8), default="vi")
    # A daily e-mail of the follow-ups due and overdue (case codes and counts only).
    wants_digest: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # Loaded when asked for (the signed-in worker's scope), not with every account a page shows
    # (a case's worker, a timeline's authors): listings of accounts that show them selectinload.
    communes: Mapped[list[Commune]] = relationship(secondary=user_communes, order_by=Commune.name)
    former_district: Mapped[FormerDistrict | None] = relationship()
    # The TOTP authenticator and the role's two-factor policy (caseapp.auth), loaded with the user:
    # the per-request check "must this account enrol first?" then costs no query. Written only
    # through caseapp.auth.two_factor.
    totp: Mapped[TotpCredential | None] = relationship(lazy="joined", viewonly=True)
    two_factor_policy: Mapped[TwoFactorPolicy | None] = relationship(
        primaryjoin="foreign(User.role) == TwoFactorPolicy.role", lazy="joined", viewonly=True
    )

    __table_args__ = (
        allowed_values("role", Role),
        allowed_values("scope_kind", ScopeKind),
        sa.CheckConstraint("locale IN ('vi', 'en')", name="locale_allowed"),
        # A former-district scope always names its district (and only that scope names one).
        sa.CheckConstraint(
            "(scope_kind = 'former_district') = (former_district_code IS NOT NULL)",
            name="former_district_scope",
        ),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses disabled accounts
        return self.is_enabled

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def scope_enum(self) -> ScopeKind:
        return ScopeKind(self.scope_kind)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"
