"""Scheduler fixtures: people and case files made in the test's own session, follow-ups with
chosen due dates, and a real SMTP server (aiosmtpd) on loopback that keeps what it receives.

On SQLite every transaction begins with BEGIN IMMEDIATE, so a test commits (or rolls back) its own
session before calling code that opens another one (``run_job``, ``catch_up``, a leader lock).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask

from caseapp.cases.models import Case, Category, Sex
from caseapp.cases.services import CaseData, create_case
from caseapp.dates import VIETNAM
from caseapp.extensions import db
from caseapp.followups import plans
from caseapp.followups.models import FollowUp, Kind
from caseapp.users.models import Role, ScopeKind, User
from caseapp.users.services import UserInput, create_user
from tests.conftest import C1

MAIL_FROM = "caseapp@xa.example"


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """A moment given as a local time in Asia/Ho_Chi_Minh, as the scheduler's ``now`` (UTC)."""
    return datetime.combine(day, time(hour, minute), tzinfo=VIETNAM).astimezone(UTC)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_user(
    app: Flask,
    role: Role = Role.WORKER,
    *,
    communes: tuple[int, ...] = (C1,),
    scope: ScopeKind | None = None,
    former_district: int | None = None,
    email: str | None = None,
    wants_digest: bool = False,
    locale: str = "vi",
) -> User:
    """An account in the current session (committed)."""
    scope = scope or (ScopeKind.COMMUNES if role is Role.WORKER else ScopeKind.PROVINCE)
    user, _ = create_user(
        app.extensions["caseapp.settings"],
        UserInput(
            username=f"{role.value}.{uuid.uuid4().hex[:8]}",
            display_name="Cán bộ thử",
            role=role.value,
            scope_kind=scope.value,
            commune_codes=list(communes) if scope is ScopeKind.COMMUNES else [],
            former_district_code=former_district,
            email=email,
            locale=locale,
        ),
        actor=None,
    )
    user.wants_digest = wants_digest
    db.session.commit()
    return user


def make_case(
    actor: User,
    *,
    commune: int = C1,
    assigned: User | None = None,
    intake: date = date(2025, 1, 6),
    full_name: str | None = None,
    born: date = date(2006, 3, 14),
    national_id: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    category: Category = Category.USER,
) -> Case:
    """An open case file for a synthetic youth (committed)."""
    case, _ = create_case(
        CaseData(
            full_name=full_name or f"Người Thử {uuid.uuid4().hex[:6]}",
            date_of_birth=born,
            sex=Sex.MALE,
            national_id=national_id,
            phone=phone,
            address=address,
            guardian_name=None,
            guardian_relation=None,
            guardian_phone=None,
            notes=None,
            commune_code=commune,
            category=category,
            education=None,
            occupation=None,
            drug_types=[],
            assigned_worker_id=assigned.id if assigned else None,
            intake_on=intake,
        ),
        actor=actor,
    )
    db.session.commit()
    return case


def due(case: Case, on: date) -> FollowUp:
    """A pending appointment on ``on`` (committed), inserted directly to control the date."""
    row = plans.new_row(case, Kind.MANUAL, on)
    db.session.commit()
    return row


def count(model: type, *where: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        """Headers (decoded) and body (transfer encoding undone), as a reader would see them."""
        message = self.message
        headers = "\n".join(f"{k}: {v}" for k, v in message.items())
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        return f"{headers}\n\n{body.get_content()}"


@dataclass
class Inbox:
    """The SMTP server's handler: keeps every message it accepts; from the ``refuse_from``-th
    message on (1-based) it answers 451, as a server short of resources would."""

    received: list[Received] = field(default_factory=list)
    refuse_from: int | None = None
    refuse_rcpt: set[str] = field(default_factory=set)
    attempts: int = 0

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse_rcpt:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.attempts += 1
        if self.refuse_from is not None and self.attempts >= self.refuse_from:
            return "451 4.3.0 Mailbox busy, try again later"
        raw = envelope.original_content or envelope.content
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(raw)))
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, inbox)
    finally:
        controller.stop()


def smtp_settings(port: int) -> dict[str, Any]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT_SECONDS": 5,
        "MAIL_FROM": MAIL_FROM,
        "BASE_URL": "https://caseapp.xa.example",
    }


@pytest.fixture
def mail_app(app_factory: Callable[..., Flask], smtp_server: SmtpServer) -> Flask:
    """An app whose SMTP server is the aiosmtpd server above."""
    return app_factory(**smtp_settings(smtp_server.port))


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    """An application context on the default app (no SMTP) for calling services directly."""
    with app.app_context():
        yield app
        db.session.rollback()


@pytest.fixture
def mail_ctx(mail_app: Flask) -> Iterator[Flask]:
    with mail_app.app_context():
        yield mail_app
        db.session.rollback()


def engine_of(app: Flask) -> sa.Engine:
    with app.app_context():
        return db.engine


def terminate_lock_holder(engine: sa.Engine) -> int:
    """PostgreSQL: end the session holding CaseApp's advisory lock, as if its process died, and
    wait until the server has let go of it. Returns the session's pid."""
    from caseapp.scheduler.leader import ADVISORY_KEY

    with engine.connect() as connection:
        pid = connection.execute(
            sa.text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = 0 AND objid = :key"
            ),
            {"key": ADVISORY_KEY},
        ).scalar_one()
        assert connection.execute(
            sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}
        ).scalar_one()
        connection.commit()
    return int(pid)
