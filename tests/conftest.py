"""Fixtures: a migrated database per session (SQLite file, or PostgreSQL when
``CASEAPP_TEST_DATABASE_URL`` is set), a clean copy of it for each test, accounts per role and a
sign-in helper. Password hashing is cheap here; everything else runs with production settings.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from caseapp import create_app
from caseapp.auth import two_factor
from caseapp.auth.models import TotpCredential
from caseapp.crypto import generate_keyring, write_private_file
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.geo.services import load_communes
from caseapp.users.models import Role, ScopeKind
from caseapp.users.services import UserInput, create_user
from caseapp.workflow.models import RuleSet
from caseapp.workflow.rules import SEEDED

PG_URL = os.environ.get("CASEAPP_TEST_DATABASE_URL", "")
TEST_PASSWORD_COST = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}
PROVINCE = 33
# Two communes of former Thái Bình in different former districts, and one of former Hưng Yên.
C1, C2, C3 = 12452, 13279, 11953
GEO_TABLES = ("communes", "former_districts", "former_units")


def base_overrides(database_url: str) -> dict[str, Any]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": database_url,
        "LOCAL_HTTP": True,
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        **TEST_PASSWORD_COST,
    }


def make_instance(path: Path) -> Path:
    """An instance folder with a fresh key ring (tests never use real keys)."""
    path.mkdir(parents=True, exist_ok=True)
    write_private_file(path / "keys.json", generate_keyring().to_json())
    return path


@contextlib.contextmanager
def fresh_database(tmp: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new database on the PostgreSQL server."""
    if not PG_URL:
        yield f"sqlite:///{tmp / 'caseapp.db'}"
        return
    name = f"caseapp_test_{secrets.token_hex(6)}"
    server = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


def migrate_and_load(app: Flask) -> None:
    """Bring a database to head and load the province's communes, as `caseapp init` does."""
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        load_communes(PROVINCE)
        db.session.commit()


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrated once per session; each test gets a clean copy (SQLite) or clean tables (PG)."""
    tmp = tmp_path_factory.mktemp("template")
    with fresh_database(tmp) as url:
        app = create_app(base_overrides(url), instance_path=make_instance(tmp / "instance"))
        migrate_and_load(app)
        with app.app_context():
            db.engine.dispose()
        yield url


def _clean_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            names = [
                n
                for n in sa.inspect(conn).get_table_names()
                if n not in (*GEO_TABLES, "alembic_version")
            ]
            # Tests run as a superuser: replica mode lets the clean-up past the audit guards,
            # which the application itself can never do.
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            if names:
                quoted = ", ".join(f'"{n}"' for n in names)
                conn.exec_driver_sql(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
            conn.execute(
                sa.text("INSERT INTO audit_chain_head (id, last_hash) VALUES (1, :genesis)"),
                {"genesis": "0" * 64},
            )
            # The rule sets are seeded by a migration, like the audit chain head: put them back
            # as seeded (tests edit them), or every workflow step after the first test finds none.
            conn.execute(
                RuleSet.__table__.insert(),
                [{**seed, "version": 1, "updated_at": utcnow()} for seed in SEEDED],
            )
            conn.exec_driver_sql(
                "UPDATE communes SET population = NULL, population_updated_at = NULL"
            )
            # The communes stay as loaded for the province; another province's, loaded by a
            # test (as `caseapp demo --national` does), must not reach the next test.
            other = {"province": PROVINCE}
            conn.execute(
                sa.text(
                    "DELETE FROM former_units WHERE commune_code IN "
                    "(SELECT code FROM communes WHERE province_code <> :province)"
                ),
                other,
            )
            conn.execute(sa.text("DELETE FROM communes WHERE province_code <> :province"), other)
            conn.exec_driver_sql(  # (their province_code is the pre-2025 province's)
                "DELETE FROM former_districts WHERE code NOT IN "
                "(SELECT former_district_code FROM former_units)"
            )
    finally:
        engine.dispose()


@pytest.fixture
def database_url(template_database: str, tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        yield template_database
        _clean_postgres(template_database)
        return
    source = Path(sa.engine.make_url(template_database).database or "")
    target = tmp_path / "caseapp.db"
    shutil.copyfile(source, target)
    yield f"sqlite:///{target}"


@pytest.fixture
def instance_path(tmp_path: Path) -> Path:
    return make_instance(tmp_path / "instance")


@pytest.fixture
def app_factory(database_url: str, instance_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test database (several may share it, like several web workers)."""
    apps: list[Flask] = []
    secret = secrets.token_urlsafe(32)

    def build(**overrides: Any) -> Flask:
        app = create_app(
            {**base_overrides(database_url), "SECRET_KEY": secret, **overrides},
            instance_path=instance_path,
        )
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory()


@pytest.fixture
def app_csrf(app_factory: Callable[..., Flask]) -> Flask:
    """The same app with CSRF protection switched on, to prove it works."""
    return app_factory(WTF_CSRF_ENABLED=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    password: str
    role: str
    totp_secret: str | None = None  # set when the account signs in with a second factor


@pytest.fixture
def make_account(app: Flask) -> Callable[..., Account]:
    """Create an account directly through the service (as an administrator would)."""
    counter = iter(range(1, 10_000))

    def make(
        role: Role = Role.WORKER,
        *,
        communes: tuple[int, ...] = (C1,),
        scope: ScopeKind | None = None,
        former_district: int | None = None,
        username: str | None = None,
        must_change_password: bool = False,
        locale: str = "vi",
        two_factor_on: bool | None = None,
    ) -> Account:
        """``two_factor_on``: enrolled in TOTP already; by default where the role requires it."""
        default_scope = {
            Role.WORKER: ScopeKind.COMMUNES,
            Role.OFFICER: ScopeKind.PROVINCE,
            Role.SUPERVISOR: ScopeKind.PROVINCE,
            Role.ADMIN: ScopeKind.NONE,
        }[role]
        scope = scope or default_scope
        name = username or f"{role.value}{next(counter)}"
        password = f"Mật khẩu thử nghiệm {secrets.token_hex(4)}"
        with app.app_context():
            user, _ = create_user(
                app.extensions["caseapp.settings"],
                UserInput(
                    username=name,
                    display_name=f"Cán bộ {name}",
                    role=role.value,
                    scope_kind=scope.value,
                    commune_codes=list(communes) if scope is ScopeKind.COMMUNES else [],
                    former_district_code=former_district,
                    locale=locale,
                ),
                actor=None,
                password=password,
            )
            user.must_change_password = must_change_password
            if two_factor_on is None:
                two_factor_on = role in two_factor.ALWAYS_REQUIRED
            secret = two_factor.enrol_with_secret(user) if two_factor_on else None
            db.session.commit()
            return Account(
                id=user.id, username=user.username, password=password, role=role, totp_secret=secret
            )

    return make


@pytest.fixture
def worker_c1(make_account: Callable[..., Account]) -> Account:
    return make_account(Role.WORKER, communes=(C1,), username="worker.c1")


@pytest.fixture
def worker_c2(make_account: Callable[..., Account]) -> Account:
    return make_account(Role.WORKER, communes=(C2,), username="worker.c2")


@pytest.fixture
def officer(make_account: Callable[..., Account]) -> Account:
    return make_account(Role.OFFICER, username="officer")


@pytest.fixture
def supervisor(make_account: Callable[..., Account]) -> Account:
    return make_account(Role.SUPERVISOR, username="supervisor")


@pytest.fixture
def admin(make_account: Callable[..., Account]) -> Account:
    return make_account(Role.ADMIN, username="admin")


def next_totp_code(app: Flask, account: Account) -> str:
    """A TOTP code the app accepts now: this step's or the next one's (drift allows both, even if
    the clock turns a step before the request arrives), newer than the last step accepted.

    Two sign-ins of one account fit in a 30-second step; a third (tests that sign in again and
    again, or under a frozen clock) forgets the last accepted step first, directly in the test
    database: a shortcut only tests take.
    """
    assert account.totp_secret, f"{account.username} has no second factor"
    current = two_factor.time_step(utcnow())
    with app.app_context():
        credential = db.session.scalars(
            sa.select(TotpCredential).where(TotpCredential.user_id == account.id)
        ).one()
        last = credential.last_step
        steps = [s for s in (current, current + 1) if last is None or s > last]
        if not steps:
            credential.last_step = None
            db.session.commit()
            steps = [current]
    return pyotp.TOTP(account.totp_secret).generate_otp(steps[0])


def login(
    client: FlaskClient, account: Account, *, password: str | None = None, code: str | None = None
) -> Any:
    """Sign in through the real forms; returns the last response (a redirect on success).

    An account with a second factor answers the code page with a current code (or ``code``).
    """
    response = client.post(
        "/login",
        data={"username": account.username, "password": password or account.password},
    )
    if response.status_code == 302 and response.headers["Location"] == "/login/code":
        code = code or next_totp_code(client.application, account)
        response = client.post("/login/code", data={"code": code})
    return response


@pytest.fixture
def logged_in(client: FlaskClient) -> Callable[[Account], FlaskClient]:
    def sign_in(account: Account) -> FlaskClient:
        response = login(client, account)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return sign_in
