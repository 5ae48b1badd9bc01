"""Sign-in: one message for every failure, a throttle per account shared by all workers,
fresh server-side sessions, and safe redirects."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from argon2 import PasswordHasher

from caseapp.audit import AuditEvent
from caseapp.auth.models import LoginThrottle, UserSession
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.users.models import User
from tests.conftest import login

GENERIC = "Tên đăng nhập hoặc mật khẩu không đúng."
LOCKED = "Đăng nhập sai quá nhiều lần"


def _page(response) -> str:
    return response.get_data(as_text=True)


def _actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.mark.plan("L2")
def test_login_success_lands_on_home(client, worker_c1, app):
    response = login(client, worker_c1)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Xin chào" in _page(client.get("/"))
    assert "login" in _actions(app)


@pytest.mark.plan("A2")
@pytest.mark.parametrize("case", ["unknown user", "wrong password", "disabled account"])
def test_login_errors_indistinguishable(client, app, worker_c1, case):
    username, password = worker_c1.username, worker_c1.password
    if case == "unknown user":
        username = "nobody.here"
    elif case == "wrong password":
        password = "this is not the password"
    else:
        with app.app_context():
            db.session.get(User, worker_c1.id).is_enabled = False
            db.session.commit()
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 200
    html = _page(response)
    assert GENERIC in html
    # The form keeps the username but never sends a password back.
    assert f'value="{username}"' in html
    assert password not in html
    assert "Xin chào" not in _page(client.get("/", follow_redirects=True))


@pytest.mark.plan("A2")
def test_unknown_user_costs_one_password_verification(client, monkeypatch, worker_c1):
    calls: list[str] = []
    original = PasswordHasher.verify

    def counting(self, stored_hash, password):
        calls.append(stored_hash[:9])
        return original(self, stored_hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    client.post("/login", data={"username": "ghost", "password": "whatever it is"})
    assert calls == ["$argon2id"]


@pytest.mark.plan("A3", "L2")
def test_lockout_per_account_says_until_when(client, app, worker_c1, worker_c2):
    for _ in range(5):
        login(client, worker_c1, password="wrong password here")
    response = login(client, worker_c1)  # even the right password is refused now
    html = _page(response)
    assert LOCKED in html
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", html), "the message says until when"
    assert "Xin chào" not in _page(client.get("/", follow_redirects=True))
    # Another account is not affected.
    other = app.test_client()
    assert login(other, worker_c2).status_code == 302
    actions = _actions(app)
    assert actions.count("login_failed") == 5
    assert "login_locked" in actions
    assert "login_refused_locked" in actions
    # After the lock, the right password works again.
    with time_machine.travel(utcnow() + timedelta(minutes=16), tick=False):
        assert login(app.test_client(), worker_c1).status_code == 302


@pytest.mark.plan("A2")
def test_unknown_username_locks_the_same_way(client):
    for _ in range(5):
        client.post("/login", data={"username": "ghost", "password": "guess number x"})
    html = _page(client.post("/login", data={"username": "ghost", "password": "another guess"}))
    assert LOCKED in html  # no difference between known and unknown accounts


@pytest.mark.plan("A4")
def test_throttle_shared_between_app_instances(app_factory, worker_c1):
    first, second = app_factory(), app_factory()
    for app in (first, second, first, second, first):
        login(app.test_client(), worker_c1, password="wrong password here")
    assert LOCKED in _page(login(second.test_client(), worker_c1))
    with first.app_context():
        assert db.session.scalar(sa.select(sa.func.max(LoginThrottle.failures))) == 5


@pytest.mark.plan("A6")
def test_overlong_password_rejected_before_hashing(client, monkeypatch, worker_c1):
    def forbidden(*_args, **_kwargs):
        raise AssertionError("hashed an overlong password")

    monkeypatch.setattr(PasswordHasher, "verify", forbidden)
    monkeypatch.setattr(PasswordHasher, "hash", forbidden)
    response = client.post(
        "/login", data={"username": worker_c1.username, "password": "x" * 100_000}
    )
    assert response.status_code == 200
    assert "Mật khẩu quá dài." in _page(response)


@pytest.mark.plan("A7")
def test_login_is_case_insensitive_on_username_but_exact_on_password(client, worker_c1):
    assert login(client, worker_c1, password=worker_c1.password + " ").status_code == 200
    response = client.post(
        "/login",
        data={"username": worker_c1.username.upper(), "password": worker_c1.password},
    )
    assert response.status_code == 302


@pytest.mark.plan("S1")
def test_session_regenerated_on_login(client, worker_c1):
    client.post("/language", data={"locale": "en"})  # something in the anonymous session
    before = client.get_cookie("caseapp_session").value
    login(client, worker_c1)
    after = client.get_cookie("caseapp_session").value
    assert before != after
    with client.session_transaction() as session:
        assert "lang" not in session  # nothing from before sign-in carries over
        first_sid = session["sid"]
    client.post("/logout")
    login(client, worker_c1)
    with client.session_transaction() as session:
        assert session["sid"] != first_sid


@pytest.mark.plan("S2", "L2")
def test_old_cookie_invalid_after_logout(app, client, worker_c1):
    login(client, worker_c1)
    saved = client.get_cookie("caseapp_session").value
    response = client.post("/logout")
    assert response.status_code == 302
    replay = app.test_client()
    replay.set_cookie("caseapp_session", saved)
    response = replay.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert "logout" in _actions(app)


@pytest.mark.plan("C3")
def test_logout_needs_post(client, worker_c1):
    login(client, worker_c1)
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


@pytest.mark.plan("S3")
def test_idle_timeout(app, client, worker_c1):
    login(client, worker_c1)
    assert client.get("/").status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=31), tick=False):
        response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.plan("S3")
def test_active_session_ends_after_twelve_hours(app, client, worker_c1):
    login(client, worker_c1)
    start = utcnow()
    for minutes in range(20, 12 * 60, 20):  # active every 20 minutes
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert client.get("/").status_code == 200
    with time_machine.travel(start + timedelta(hours=12, minutes=1), tick=False):
        assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/account", "/account"),
        ("/admin/users?role=worker", "/admin/users?role=worker"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("http:/evil.example", "/"),
    ],
)
def test_next_redirect_is_safe(client, worker_c1, target, expected):
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"username": worker_c1.username, "password": worker_c1.password},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_login_required_redirect_carries_next(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Faccount"


@pytest.mark.plan("S6")
def test_disabling_ends_live_session(app, client, worker_c1):
    login(client, worker_c1)
    with app.app_context():
        db.session.get(User, worker_c1.id).is_enabled = False
        db.session.commit()
    assert client.get("/").status_code == 302


def test_session_token_stored_hashed(app, client, worker_c1):
    login(client, worker_c1)
    with app.app_context():
        row = db.session.scalars(sa.select(UserSession)).one()
        assert len(row.token_hash) == 64
        with client.session_transaction() as session:
            assert session["sid"] != row.token_hash
            assert session["sid"] not in row.token_hash


def test_sign_out_everywhere_ends_every_session(app, worker_c1, worker_c2):
    phone, laptop, colleague = app.test_client(), app.test_client(), app.test_client()
    for client, account in ((phone, worker_c1), (laptop, worker_c1), (colleague, worker_c2)):
        login(client, account)
    assert "Đăng xuất khỏi mọi thiết bị" in laptop.get("/account").get_data(as_text=True)
    response = laptop.post("/account/sign-out-everywhere")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    for client in (phone, laptop):  # both of worker_c1's sessions are over
        assert client.get("/").headers["Location"].startswith("/login")
    assert colleague.get("/").status_code == 200  # nobody else is signed out
    assert "sessions_ended_everywhere" in _actions(app)
