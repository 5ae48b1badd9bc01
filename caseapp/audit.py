"""The audit trail: append-only, hash-chained, written in the same transaction as the action.

Rows hold ids, action names and field names only: never a decrypted value. If writing the audit row
fails, the caller's transaction fails with it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from caseapp.db import UTCDateTime, utcnow
from caseapp.extensions import Model, db

if TYPE_CHECKING:
    from caseapp.users.models import User

GENESIS = "0" * 64
DETAIL_VALUE_MAX = 200


class AuditEvent(Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    actor_role: Mapped[str | None] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(sa.String(32))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(16), default="ok")
    request_id: Mapped[str | None] = mapped_column(sa.String(32))
    details: Mapped[str] = mapped_column(sa.Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    __table_args__ = (sa.Index("ix_audit_events_target", "target_type", "target_id"),)

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action}>"


class AuditChainHead(Model):
    """One row holding the newest hash; locking it serialises appends to the chain."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_hash: Mapped[str] = mapped_column(sa.String(64))


def _clean(value: Any) -> Any:
    """Keep details small and printable: control characters cannot forge log lines."""
    if isinstance(value, str):
        return "".join(ch if ch.isprintable() else "\ufffd" for ch in value)[:DETAIL_VALUE_MAX]
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return value


def _digest(prev_hash: str, event: AuditEvent) -> str:
    payload = json.dumps(
        [
            prev_hash,
            event.occurred_at.isoformat(),
            event.actor_id,
            event.actor_role,
            event.action,
            event.target_type,
            event.target_id,
            event.outcome,
            event.request_id,
            event.details,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditContext:
    """What the web layer knows about the request (the CLI and jobs pass none)."""

    request_id: str | None = None


def record(
    action: str,
    *,
    actor: User | None,
    target_type: str | None = None,
    target_id: object = None,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
    context: AuditContext | None = None,
) -> AuditEvent:
    """Append one event to the chain in the current transaction (flushes, never commits)."""
    session = db.session
    head = session.execute(
        sa.select(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:  # the migration creates it; its absence means tampering: fail closed
        raise RuntimeError("the audit chain head is missing")
    event = AuditEvent(
        occurred_at=utcnow().replace(microsecond=0),
        actor_id=actor.id if actor is not None else None,
        actor_role=actor.role if actor is not None else None,
        action=action,
        target_type=target_type,
        # Ids in practice; cleaned like details all the same, so no caller can forge a line.
        target_id=None if target_id is None else _clean(str(target_id))[:64],
        outcome=outcome,
        request_id=context.request_id if context else None,
        details=json.dumps(_clean(details or {}), ensure_ascii=False, sort_keys=True),
        prev_hash=head.last_hash,
    )
    event.hash = _digest(head.last_hash, event)
    head.last_hash = event.hash
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_broken_id: int | None

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


def verify_chain(batch_size: int = 5000) -> ChainReport:
    """Walk the chain in id order up to the head read at the start (events appended meanwhile
    are left for the next run); report the first event whose link or hash does not hold."""
    head = db.session.get(AuditChainHead, 1)
    head_hash = head.last_hash if head is not None else None
    db.session.rollback()  # short read; the walk below does not hold the write lock throughout
    prev = GENESIS
    checked = 0
    last_id = 0
    while prev != head_hash:
        events = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.id > last_id)
            .order_by(AuditEvent.id)
            .limit(batch_size)
        ).all()
        if not events:
            break
        for event in events:
            if event.prev_hash != prev or _digest(prev, event) != event.hash:
                return ChainReport(checked=checked, first_broken_id=event.id)
            prev = event.hash
            checked += 1
            last_id = event.id
            if prev == head_hash:
                break
        db.session.rollback()
    if prev != head_hash:  # the newest events are gone, or the head itself
        return ChainReport(checked=checked, first_broken_id=last_id + 1)
    return ChainReport(checked=checked, first_broken_id=None)
