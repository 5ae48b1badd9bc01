"""Sign-in and input rows of the security test plan not proven elsewhere: no password on disk
(A1), a 1 MB password (A6), the exact password at sign-in (A7), no default account (A9), oversized
forms (I1) and sort or filter parameters (Q2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner

from caseapp import cli
from caseapp.extensions import db
from caseapp.users.models import User
from tests.conftest import PG_URL, login
from tests.crypto.test_storage import forbidden

PASSPHRASE = "Một câu mật khẩu thật dài ở quê Thái Bình 2026"


@pytest.mark.plan("A1")
def test_password_is_nowhere_in_the_database(app, database_url, worker_c1):
    patterns = forbidden((worker_c1.password,))
    with app.app_context():
        stored = db.session.scalar(sa.select(User.password_hash).where(User.id == worker_c1.id))
        assert stored.startswith("$argon2id$")
        if PG_URL:
            with db.engine.connect() as connection:
                rows = connection.exec_driver_sql("SELECT t::text FROM users t").scalars().all()
            assert rows
            content = "\n".join(rows).encode("utf-8")
            for pattern in patterns:
                assert pattern not in content
            return
    database = Path(sa.engine.make_url(database_url).database or "")
    for path in (database, database.with_name(database.name + "-wal")):
        content = path.read_bytes() if path.exists() else b""
        for pattern in patterns:
            assert pattern not in content, path.name
    assert stored.encode() in database.read_bytes() + (
        database.with_name(database.name + "-wal").read_bytes()
    )  # the files read are the ones that hold the account


@pytest.mark.plan("A6")
def test_one_megabyte_password_refused_before_hashing(client, monkeypatch, worker_c1):
    def forbidden_call(*_args, **_kwargs):
        raise AssertionError("hashed an overlong password")

    monkeypatch.setattr(PasswordHasher, "verify", forbidden_call)
    monkeypatch.setattr(PasswordHasher, "hash", forbidden_call)
    response = client.post(
        "/login", data={"username": worker_c1.username, "password": "x" * 1024 * 1024}
    )
    # A form error (or 400/413 if a limit stops it first), the password never sent back.
    assert response.status_code in (200, 400, 413)
    html = response.get_data(as_text=True)
    assert response.status_code != 200 or "Mật khẩu quá dài." in html
    assert "x" * 100 not in html
    assert client.get("/").status_code == 302


@pytest.mark.plan("A7")
def test_the_exact_password_is_needed_no_trim_no_truncation(app, worker_c1):
    client = app.test_client()
    login(client, worker_c1)
    response = client.post(
        "/account/password",
        data={
            "current_password": worker_c1.password,
            "new_password": PASSPHRASE + "  ",  # trailing spaces are part of it
            "confirm_password": PASSPHRASE + "  ",
        },
    )
    assert response.status_code == 302
    for wrong in (PASSPHRASE, PASSPHRASE + " ", PASSPHRASE[:-1] + "  ", " " + PASSPHRASE + "  "):
        assert login(app.test_client(), worker_c1, password=wrong).status_code == 200, wrong
    assert login(app.test_client(), worker_c1, password=PASSPHRASE + "  ").status_code == 302


@pytest.mark.plan("A9")
def test_no_default_credentials(app, monkeypatch):
    with app.app_context():  # a migrated database, as `alembic upgrade head` leaves it
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
    monkeypatch.setattr(cli, "_app", lambda: app)
    passwords = []
    for username in ("quan.tri", "quan.tri.hai"):
        result = CliRunner().invoke(
            cli.main,
            ["create-user", "--username", username, "--name", "Quản trị", "--role", "admin"],
        )
        assert result.exit_code == 0, result.output
        match = re.search(r"One-time password: (\S+)", result.output)
        assert match
        passwords.append(match.group(1))
    assert passwords[0] != passwords[1]  # random, not a default
    assert all(len(p) >= 12 for p in passwords)
    with app.app_context():
        admin = db.session.scalars(sa.select(User).where(User.username == "quan.tri")).one()
        assert admin.must_change_password
        assert passwords[0] not in admin.password_hash
    client = app.test_client()
    response = client.post("/login", data={"username": "quan.tri", "password": passwords[0]})
    assert response.status_code == 302
    assert client.get("/admin/users").headers["Location"] == "/account/password"
    client.post(
        "/account/password",
        data={
            "current_password": passwords[0],
            "new_password": PASSPHRASE,
            "confirm_password": PASSPHRASE,
        },
    )
    # A new password is not enough: the administrator must enrol a second factor first.
    for path in ("/", "/admin/users", "/admin/audit"):
        assert client.get(path).headers["Location"] == "/account/two-factor", path


BOUNDARY = "caseapp-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def _multipart(fields: dict[str, str]) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


@pytest.mark.plan("I1")
def test_oversized_forms_are_413(app, worker_c1):
    client = app.test_client()
    login(client, worker_c1)
    # Werkzeug applies the field and part limits to multipart bodies (url-encoded ones are read
    # whole, bounded by MAX_CONTENT_LENGTH only, as the last case shows). The bodies are built
    # here as bytes: the test client would spool a large one to a temporary file it never closes.
    one_field = client.post(
        "/cases/search", data=_multipart({"query": "x" * (600 * 1024)}), content_type=MULTIPART
    )
    assert one_field.status_code == 413
    many_parts = client.post(
        "/cases/search",
        data=_multipart({f"field{n}": "x" for n in range(1100)} | {"query": "x"}),
        content_type=MULTIPART,
    )
    whole_body = client.post(
        "/cases/search",
        data="query=" + "x" * (17 * 1024 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    assert whole_body.status_code == 413
    for response in (one_field, many_parts, whole_body):
        assert "quá lớn" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200  # still signed in, nothing broken


QUERIES = [
    "sort=name desc;--",
    "sort=password_hash",
    "order=full_name_ct",
    "sort=1;DROP TABLE users",
    "commune=1 OR 1=1",
    "category=user' OR '1'='1",
    "worker=1;--",
    "page=1 UNION SELECT password_hash FROM users",
]


@pytest.mark.plan("Q2")
def test_sort_and_filter_parameters_are_allowlisted(app, make_account, worker_c1):
    from caseapp.users.models import Role
    from tests.cases.conftest import open_case

    client = app.test_client()
    login(client, worker_c1)
    for index in range(2):
        open_case(client, full_name=f"Người Thứ {index}", national_id="")
    default = re.findall(r"/cases/([0-9A-Z*~$=]{9})\"", client.get("/cases").get_data(as_text=True))
    assert len(set(default)) == 2
    admin = app.test_client()
    login(admin, make_account(Role.ADMIN))
    for query in QUERIES:
        response = client.get(f"/cases?{query}")
        assert response.status_code in (200, 400), query
        html = response.get_data(as_text=True)
        assert "$argon2" not in html
        if response.status_code == 200:  # the parameter is ignored: the default list and order
            assert re.findall(r"/cases/([0-9A-Z*~$=]{9})\"", html) == default, query
        users = admin.get(f"/admin/users?{query}")
        assert users.status_code in (200, 400), query
        assert "$argon2" not in users.get_data(as_text=True)
    with app.app_context():  # the tables are intact
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 2
        assert db.session.scalar(sa.text("SELECT count(*) FROM cases")) == 2
