"""A break-glass grant: who may read which file outside their scope, why, and until when.

The reason is free text that may name someone, so it is encrypted like a case's identity and never
copied into the audit trail, a URL, an e-mail or a log line (the audit rows hold the grant's id).
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.cases.models import Case
from caseapp.crypto import EncryptedField
from caseapp.db import UTCDateTime, utcnow
from caseapp.extensions import Model
from caseapp.users.models import User

REASON_MIN = 20  # characters: "xem hồ sơ" is not a reason
REASON_MAX = 1000
# The purpose recorded on each view of a file under a grant (audit details).
PURPOSE = "break_glass"


class GrantState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    ENDED = "ended"  # ended early by the person who asked
    REVOKED = "revoked"  # ended early by a reviewer


STATE_LABELS = {
    GrantState.ACTIVE: _l("Đang hiệu lực"),
    GrantState.EXPIRED: _l("Đã hết hạn"),
    GrantState.ENDED: _l("Đã kết thúc sớm"),
    GrantState.REVOKED: _l("Đã bị thu hồi"),
}


class BreakGlassGrant(Model):
    __tablename__ = "break_glass_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(
        sa.String(36), unique=True, default=lambda: str(uuid_module.uuid4())
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    reason_ct: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    views: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    reason = EncryptedField("reason_ct")

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined", innerjoin=True)
    ended_by: Mapped[User | None] = relationship(foreign_keys=[ended_by_id], lazy="joined")
    case: Mapped[Case] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        sa.CheckConstraint("expires_at > created_at", name="expires_after_created"),
        sa.CheckConstraint("views >= 0", name="views_not_negative"),
        # Ended early: by someone, at a time; or neither.
        sa.CheckConstraint("(ended_at IS NULL) = (ended_by_id IS NULL)", name="ended_by_someone"),
    )

    def is_active(self, now: datetime) -> bool:
        return self.ended_at is None and self.expires_at > now

    def state(self, now: datetime) -> GrantState:
        if self.ended_at is not None:
            return GrantState.ENDED if self.ended_by_id == self.user_id else GrantState.REVOKED
        return GrantState.ACTIVE if self.expires_at > now else GrantState.EXPIRED

    def __repr__(self) -> str:
        return f"<BreakGlassGrant {self.id} user={self.user_id} case={self.case_id}>"
