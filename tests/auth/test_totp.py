"""Two-factor sign-in (SECURITY A5, A2, L2): no session before the code, each code accepted once
(replays refused and audited), ±1 step of drift, recovery codes used once, wrong codes throttled
like wrong passwords with the same messages."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
import time_machine

from caseapp.audit import AuditEvent
from caseapp.auth import two_factor
from caseapp.auth.models import LoginThrottle, RecoveryCode, UserSession
from caseapp.extensions import db
from caseapp.users.models import User
from tests.conftest import login
from tests.test_pages import check_page

GENERIC = "Tên đăng nhập hoặc mật khẩu không đúng."
WRONG_CODE = "Mã không đúng hoặc đã dùng rồi."
LOCKED = "Đăng nhập sai quá nhiều lần"
# A fixed moment 10 seconds into a 30-second step: codes depend on the clock.
MOMENT = datetime(2026, 3, 2, 2, 0, 10, tzinfo=UTC)


def _page(response) -> str:
    return response.get_data(as_text=True)


def code_at(secret: str, moment: datetime, steps: int = 0) -> str:
    return pyotp.TOTP(secret).generate_otp(two_factor.time_step(moment) + steps)


def events(app, *actions: str) -> list[AuditEvent]:
    with app.app_context():
        query = sa.select(AuditEvent).order_by(AuditEvent.id)
        if actions:
            query = query.where(AuditEvent.action.in_(actions))
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


def actions(app) -> list[str]:
    return [e.action for e in events(app)]


def password_step(client, account, password: str | None = None):
    return client.post(
        "/login", data={"username": account.username, "password": password or account.password}
    )


def sessions_of(app, account) -> int:
    with app.app_context():
        return int(
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(UserSession)
                .where(UserSession.user_id == account.id, UserSession.revoked_at.is_(None))
            )
            or 0
        )


def recovery_codes_for(app, account) -> list[str]:
    with app.app_context():
        codes = two_factor.replace_recovery_codes(db.session.get(User, account.id))
        db.session.commit()
    return codes


@pytest.mark.plan("A5", "L2")
@time_machine.travel(MOMENT, tick=False)
def test_totp_required_and_single_use(app, officer):
    """A5: the right password alone opens no session; a valid code does, once."""
    client = app.test_client()
    response = password_step(client, officer)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/code"
    assert sessions_of(app, officer) == 0
    assert client.get("/").headers["Location"].startswith("/login")  # no session yet
    page = client.get("/login/code")
    assert page.status_code == 200
    check_page(_page(page))

    code = code_at(officer.totp_secret, MOMENT)
    response = client.post("/login/code", data={"code": code})
    assert response.headers["Location"] == "/"
    assert "Xin chào" in _page(client.get("/"))
    assert sessions_of(app, officer) == 1

    # The same code again, within its 30 seconds, from another browser: refused and audited.
    other = app.test_client()
    assert password_step(other, officer).status_code == 302
    replay = other.post("/login/code", data={"code": code})
    assert replay.status_code == 200
    assert WRONG_CODE in _page(replay)
    assert other.get("/").headers["Location"].startswith("/login")
    assert sessions_of(app, officer) == 1
    (refused,) = events(app, "otp_replay")
    assert refused.target_id == str(officer.id)
    assert refused.outcome == "denied"
    assert json.loads(refused.details) == {"method": "totp"}
    assert actions(app).count("login") == 1


@pytest.mark.plan("L2")
@time_machine.travel(MOMENT, tick=False)
def test_audit_trail_of_a_two_factor_sign_in(app, officer):
    """L2: the password step, the code and the session each leave a row; no code in them."""
    login(app.test_client(), officer)
    trail = events(app)
    names = [e.action for e in trail]
    assert names[-3:] == ["login_password_ok", "otp_ok", "login"]
    assert trail[-3].actor_id is None  # not signed in yet after the password
    assert trail[-1].actor_id == officer.id
    for event in trail:
        assert officer.totp_secret not in event.details


@time_machine.travel(MOMENT, tick=False)
@pytest.mark.parametrize(("steps", "accepted"), [(-2, False), (-1, True), (1, True), (2, False)])
def test_clock_drift_of_one_step_accepted(app, officer, steps, accepted):
    client = app.test_client()
    password_step(client, officer)
    response = client.post(
        "/login/code", data={"code": code_at(officer.totp_secret, MOMENT, steps)}
    )
    assert (response.status_code == 302) is accepted
    if not accepted:
        assert events(app, "otp_failed")


def test_earlier_step_after_a_later_one_is_a_replay(app, officer):
    with time_machine.travel(MOMENT, tick=False):
        later = code_at(officer.totp_secret, MOMENT, 1)
        earlier = code_at(officer.totp_secret, MOMENT)
        assert login(app.test_client(), officer, code=later).status_code == 302
        response = login(app.test_client(), officer, code=earlier)
    assert WRONG_CODE in _page(response)
    assert len(events(app, "otp_replay")) == 1
    # The next step's code works as soon as it is current.
    with time_machine.travel(MOMENT + timedelta(seconds=60), tick=False):
        code = code_at(officer.totp_secret, MOMENT, 2)
        assert login(app.test_client(), officer, code=code).status_code == 302


def test_code_typed_with_spaces_or_full_width_digits(app, officer):
    with time_machine.travel(MOMENT, tick=False):
        code = code_at(officer.totp_secret, MOMENT)
        full_width = "".join(chr(ord(d) + 0xFEE0) for d in code)
        spaced = f" {full_width[:3]} {full_width[3:]} "
        assert login(app.test_client(), officer, code=spaced).status_code == 302


@pytest.mark.plan("A2", "L2")
@time_machine.travel(MOMENT, tick=False)
@pytest.mark.parametrize(
    "case",
    ["wrong code", "replayed code", "used recovery code", "unknown recovery code", "disabled"],
)
def test_otp_errors_indistinguishable(app, officer, case):
    """A2 for the second step: one status and one message, whatever went wrong; never echoed."""
    codes = recovery_codes_for(app, officer)
    current = code_at(officer.totp_secret, MOMENT)
    typed = {
        "wrong code": f"{(int(current) + 1) % 1_000_000:06d}",
        "replayed code": current,
        "used recovery code": codes[0],
        "unknown recovery code": "abcd-efgh-jkmn",
        "disabled": current,
    }[case]
    if case == "replayed code":
        login(app.test_client(), officer, code=current)
    if case == "used recovery code":
        login(app.test_client(), officer, code=codes[0])
    client = app.test_client()
    password_step(client, officer)
    if case == "disabled":
        with app.app_context():
            db.session.get(User, officer.id).is_enabled = False
            db.session.commit()
    response = client.post("/login/code", data={"code": typed})
    assert response.status_code == 200
    html = _page(response)
    assert WRONG_CODE in html
    assert typed not in html  # the code is never sent back
    assert 'aria-invalid="true"' not in html  # no field singled out
    check_page(html)
    assert client.get("/").headers["Location"].startswith("/login")
    expected = "otp_replay" if case in {"replayed code", "used recovery code"} else "otp_failed"
    last = events(app)[-1]
    assert last.action == expected
    assert last.target_id == str(officer.id)
    assert last.outcome == "denied"


@time_machine.travel(MOMENT, tick=False)
def test_wrong_codes_count_toward_the_password_throttle(app, officer):
    """Three wrong passwords and two wrong codes lock the account; entering the right password
    again does not reset the count; the lock message is the password step's."""
    client = app.test_client()
    for _ in range(3):
        assert GENERIC in _page(password_step(client, officer, "not the password at all"))
    assert password_step(client, officer).headers["Location"] == "/login/code"
    assert WRONG_CODE in _page(client.post("/login/code", data={"code": "000000"}))
    assert password_step(client, officer).headers["Location"] == "/login/code"  # no reset
    response = client.post("/login/code", data={"code": "000001"})
    html = _page(response)
    assert response.status_code == 200
    assert LOCKED in html
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", html)
    check_page(html)
    # Locked: even the right password and a valid code now get the same lock message.
    locked = password_step(app.test_client(), officer)
    assert LOCKED in _page(locked)
    assert locked.status_code == 200
    assert "login_locked" in actions(app)
    with app.app_context():
        assert db.session.scalar(sa.select(LoginThrottle.failures)) == 5
    assert sessions_of(app, officer) == 0


@time_machine.travel(MOMENT, tick=False)
def test_lock_reached_at_the_code_step_ends_the_pending_sign_in(app, officer):
    client = app.test_client()
    for _ in range(4):
        password_step(client, officer, "not the password at all")
    password_step(client, officer)
    assert LOCKED in _page(client.post("/login/code", data={"code": "000000"}))
    # The pending sign-in is gone: even a valid code goes back to the password page.
    response = client.post("/login/code", data={"code": code_at(officer.totp_secret, MOMENT)})
    assert response.headers["Location"] == "/login"


def test_pending_sign_in_expires_after_five_minutes(app, officer):
    client = app.test_client()
    with time_machine.travel(MOMENT, tick=False):
        password_step(client, officer)
    later = MOMENT + timedelta(minutes=6)
    with time_machine.travel(later, tick=False):
        response = client.post("/login/code", data={"code": code_at(officer.totp_secret, later)})
        assert response.headers["Location"] == "/login"
        assert client.get("/").headers["Location"].startswith("/login")


def test_code_page_without_the_password_step_goes_back(client):
    response = client.get("/login/code")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_forged_pending_sign_in_is_ignored(app, officer):
    """The pending state lives in the signed cookie: another key's signature is not accepted."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["pending_login"] = {"user_id": officer.id, "since": "yesterday", "next": None}
    assert client.get("/login/code").headers["Location"] == "/login"


def test_next_target_survives_the_code_step(app, officer):
    client = app.test_client()
    with time_machine.travel(MOMENT, tick=False):
        client.post(
            "/login",
            query_string={"next": "/account"},
            data={"username": officer.username, "password": officer.password},
        )
        response = client.post("/login/code", data={"code": code_at(officer.totp_secret, MOMENT)})
    assert response.headers["Location"] == "/account"


@time_machine.travel(MOMENT, tick=False)
def test_recovery_codes_single_use_and_counted(app, officer):
    codes = recovery_codes_for(app, officer)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    client = app.test_client()
    response = login(client, officer, code=codes[3].upper())
    assert response.headers["Location"] == "/"
    assert "còn 9 mã chưa dùng" in _page(client.get("/"))
    (used,) = events(app, "recovery_code_used")
    assert used.actor_id == officer.id
    assert json.loads(used.details) == {"remaining": 9}
    again = login(app.test_client(), officer, code=codes[3])
    assert WRONG_CODE in _page(again)
    (replay,) = events(app, "otp_replay")
    assert json.loads(replay.details) == {"method": "recovery_code"}
    assert login(app.test_client(), officer, code=codes[4]).status_code == 302


def test_recovery_codes_stored_as_keyed_hashes(app, officer):
    codes = recovery_codes_for(app, officer)
    with app.app_context():
        stored = set(db.session.scalars(sa.select(RecoveryCode.code_hash)))
    assert len(stored) == 10
    for code in codes:
        bare = code.replace("-", "")
        assert code not in stored
        assert hashlib.sha256(bare.encode()).hexdigest() not in stored  # keyed, not plain SHA-256


@time_machine.travel(MOMENT, tick=False)
def test_worker_without_second_factor_signs_in_with_the_password(app, worker_c1):
    response = password_step(app.test_client(), worker_c1)
    assert response.headers["Location"] == "/"
    assert "login_password_ok" not in actions(app)
