"""Setting up the second factor (QR code, secret stored encrypted, confirmed by a code), the
per-role policy, forced enrolment, the administrator's reset, and sessions ended by any change of
the second factor (SECURITY A5, A8, A9, L2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
import time_machine

from caseapp.audit import AuditEvent
from caseapp.auth import two_factor
from caseapp.auth.models import RecoveryCode, TotpCredential, TwoFactorPolicy
from caseapp.crypto import DecryptionError, current_cipher, key_id_of
from caseapp.demo import create_demo_accounts
from caseapp.extensions import db
from caseapp.keys import rotate_keys
from caseapp.users.models import Role, User
from tests.conftest import Account, login
from tests.test_pages import check_page

MOMENT = datetime(2026, 3, 2, 2, 0, 10, tzinfo=UTC)
SECRET_TEXT = re.compile(r"<code>((?:[A-Z2-7]{4} ){7}[A-Z2-7]{4})</code>")
RECOVERY = re.compile(r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>")


def _page(response) -> str:
    return response.get_data(as_text=True)


def actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def start(client) -> str:
    """Begin enrolment in the browser; returns the secret the page shows (groups of four)."""
    assert client.post("/account/two-factor/start").headers["Location"] == "/account/two-factor"
    html = _page(client.get("/account/two-factor"))
    match = SECRET_TEXT.search(html)
    assert match, html
    return match.group(1).replace(" ", "")


def confirm(client, account: Account, code: str, password: str | None = None):
    return client.post(
        "/account/two-factor/confirm",
        data={"code": code, "current_password": password or account.password},
    )


def enrol_in_browser(client, account: Account, moment: datetime) -> tuple[str, list[str]]:
    secret = start(client)
    response = confirm(client, account, pyotp.TOTP(secret).at(moment))
    assert response.status_code == 200
    codes = RECOVERY.findall(_page(response))
    assert len(codes) == 10
    return secret, codes


@time_machine.travel(MOMENT, tick=False)
def test_enrolment_shows_a_qr_code_and_the_secret_then_needs_a_code(app, client, worker_c1):
    login(client, worker_c1)
    page = _page(client.get("/account/two-factor"))
    assert "Bắt đầu cài đặt" in page
    secret = start(client)
    html = _page(client.get("/account/two-factor"))
    check_page(html)  # inline SVG, no script, no style attribute, every field labelled
    assert '<svg width="' in html
    assert 'class="qr-code"' in html
    assert "data:image" not in html

    wrong = f"{(int(pyotp.TOTP(secret).at(MOMENT)) + 1) % 1_000_000:06d}"
    response = confirm(client, worker_c1, wrong)
    html = _page(response)
    assert response.status_code == 200
    assert "Mã xác thực không đúng." in html
    check_page(html)
    # The form keeps nothing secret: no typed code, no password, no secret in a field.
    assert f'value="{wrong}"' not in html
    assert worker_c1.password not in html
    assert not re.search(r'<input[^>]+type="hidden"[^>]+value="[A-Z2-7]{32}"', html)
    with app.app_context():
        credential = db.session.scalars(sa.select(TotpCredential)).one()
        assert credential.confirmed_at is None
    assert "otp_enrolment_failed" in actions(app)

    response = confirm(client, worker_c1, pyotp.TOTP(secret).at(MOMENT), password="wrong one!!")
    assert "Mật khẩu hiện tại không đúng." in _page(response)

    response = confirm(client, worker_c1, pyotp.TOTP(secret).at(MOMENT))
    html = _page(response)
    check_page(html)
    assert len(set(RECOVERY.findall(html))) == 10
    assert "Đã bật xác thực hai lớp" in html
    assert "otp_enrolled" in actions(app)
    # The code that confirmed enrolment cannot be replayed to sign in.
    other = app.test_client()
    other.post("/login", data={"username": worker_c1.username, "password": worker_c1.password})
    replay = other.post("/login/code", data={"code": pyotp.TOTP(secret).at(MOMENT)})
    assert "Mã không đúng hoặc đã dùng rồi." in _page(replay)
    assert "otp_replay" in actions(app)


def test_secret_stored_encrypted_and_bound_to_its_row(app, make_account, caplog):
    first = make_account(Role.OFFICER)
    second = make_account(Role.OFFICER)
    with app.app_context():
        rows = {r.user_id: r for r in db.session.execute(sa.select(TotpCredential.__table__)).all()}
        token = rows[first.id].secret_ct
        assert first.totp_secret not in token
        assert token.startswith("v1.")
        cipher = current_cipher()
        assert cipher.decrypt(
            token, table="totp_credentials", column="secret", row_uuid=rows[first.id].uuid
        ) == (first.totp_secret)
        with pytest.raises(DecryptionError):  # copied to another row: does not decrypt
            cipher.decrypt(
                token, table="totp_credentials", column="secret", row_uuid=rows[second.id].uuid
            )
        assert "TotpCredential" in repr(db.session.get(TotpCredential, rows[first.id].id))
        assert first.totp_secret not in repr(db.session.get(TotpCredential, rows[first.id].id))
    login(app.test_client(), first)
    assert first.totp_secret not in caplog.text


@pytest.mark.plan("A8", "L2")
@time_machine.travel(MOMENT, tick=False)
def test_enabling_and_disabling_end_other_sessions(app, worker_c1):
    """A8: a worker turns the second factor on, then off: each time the other browser is out."""
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, worker_c1)
    login(phone, worker_c1)
    secret, codes = enrol_in_browser(laptop, worker_c1, MOMENT)
    assert laptop.get("/").status_code == 200
    assert phone.get("/").headers["Location"].startswith("/login")

    login(phone, worker_c1, code=codes[0])
    wrong = laptop.post(
        "/account/two-factor/disable",
        data={"disable_password": worker_c1.password, "disable_code": "000000"},
    )
    assert "Mã không đúng hoặc đã dùng rồi." in _page(wrong)
    response = laptop.post(
        "/account/two-factor/disable",
        data={
            "disable_password": worker_c1.password,
            "disable_code": pyotp.TOTP(secret).at(MOMENT, counter_offset=1),
        },
    )
    assert response.headers["Location"] == "/account/two-factor"
    assert laptop.get("/").status_code == 200
    assert phone.get("/").headers["Location"].startswith("/login")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TotpCredential)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0
    names = actions(app)
    assert "otp_disabled" in names
    assert "otp_failed" in names


@time_machine.travel(MOMENT, tick=False)
def test_regenerating_recovery_codes_invalidates_the_old_ones(app, officer):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, officer)
    login(phone, officer)
    old = two_factor_codes(app, officer)
    page = _page(laptop.get("/account/two-factor"))
    check_page(page)
    assert "Còn 10 mã khôi phục chưa dùng." in page
    assert "không thể tắt" in page  # officers must keep it
    refused = laptop.post("/account/two-factor/recovery-codes", data={"codes_password": "nope"})
    assert "Mật khẩu hiện tại không đúng." in _page(refused)
    response = laptop.post(
        "/account/two-factor/recovery-codes", data={"codes_password": officer.password}
    )
    new = RECOVERY.findall(_page(response))
    assert len(new) == 10
    assert not set(new) & set(old)
    assert phone.get("/").headers["Location"].startswith("/login")  # A8
    assert "Mã không đúng" in _page(login(app.test_client(), officer, code=old[0]))
    assert login(app.test_client(), officer, code=new[0]).status_code == 302
    assert "recovery_codes_regenerated" in actions(app)


def two_factor_codes(app, account: Account) -> list[str]:
    with app.app_context():
        codes = two_factor.replace_recovery_codes(db.session.get(User, account.id))
        db.session.commit()
    return codes


def test_officer_cannot_turn_the_second_factor_off(app, client, officer):
    login(client, officer)
    response = client.post(
        "/account/two-factor/disable",
        data={"disable_password": officer.password, "disable_code": "123456"},
    )
    assert response.headers["Location"] == "/account/two-factor"
    assert "không thể tắt" in _page(client.get("/account/two-factor"))
    with app.app_context():
        assert db.session.scalars(sa.select(TotpCredential)).one().confirmed_at is not None


@pytest.mark.plan("A9")
@time_machine.travel(MOMENT, tick=False)
def test_role_that_requires_it_must_enrol_before_any_other_page(app, client, make_account):
    """A9: an officer without a second factor gets a session after the password, but only the
    enrolment pages answer until it is set up."""
    account = make_account(Role.OFFICER, two_factor_on=False)
    response = login(client, account)
    assert response.headers["Location"] == "/"
    for path in ("/", "/cases", "/account", "/account/password", "/todo"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/account/two-factor"
    assert client.post("/account/sign-out-everywhere").headers["Location"] == "/account/two-factor"
    page = _page(client.get("/account/two-factor"))
    assert "Vai trò của bạn bắt buộc xác thực hai lớp" in page
    check_page(page)
    enrol_in_browser(client, account, MOMENT)
    assert client.get("/cases").status_code == 200


@pytest.mark.plan("A9")
def test_password_change_comes_before_enrolment(app, client, make_account):
    account = make_account(Role.ADMIN, two_factor_on=False, must_change_password=True)
    login(client, account)
    assert client.get("/").headers["Location"] == "/account/password"
    assert client.get("/account/two-factor").headers["Location"] == "/account/password"
    new = "một câu mật khẩu mới thật dài"
    client.post(
        "/account/password",
        data={"current_password": account.password, "new_password": new, "confirm_password": new},
    )
    assert client.get("/").headers["Location"] == "/account/two-factor"


@time_machine.travel(MOMENT, tick=False)
def test_admin_requires_it_for_workers(app, admin, worker_c1, make_account):
    """The policy for workers is in the database, set from the accounts page, audited; a
    signed-in worker must enrol at their next request."""
    worker = app.test_client()
    login(worker, worker_c1)
    assert worker.get("/cases").status_code == 200
    administrator = app.test_client()
    login(administrator, admin)
    page = _page(administrator.get("/admin/users"))
    check_page(page)
    assert "Bắt buộc xác thực hai lớp với cán bộ cấp xã" in page
    response = administrator.post("/admin/users/two-factor-policy", data={"workers_required": "y"})
    assert response.headers["Location"] == "/admin/users"
    assert "checked" in _page(administrator.get("/admin/users"))
    with app.app_context():
        policy = db.session.get(TwoFactorPolicy, Role.WORKER.value)
        assert policy is not None
        assert policy.is_required
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "two_factor_policy_changed")
        ).one()
        assert event.actor_id == admin.id
        assert event.target_id == "worker"
    assert worker.get("/cases").headers["Location"] == "/account/two-factor"
    enrolled = make_account(Role.WORKER, two_factor_on=True)
    assert login(app.test_client(), enrolled).status_code == 302
    # Switched off again: the worker may go on without it.
    administrator.post("/admin/users/two-factor-policy", data={})
    assert worker.get("/cases").status_code == 200
    assert actions(app).count("two_factor_policy_changed") == 2


def test_policy_of_other_roles_cannot_be_lowered(app, admin):
    with app.app_context():
        actor = db.session.get(User, admin.id)
        for role in (Role.OFFICER, Role.SUPERVISOR, Role.ADMIN):
            with pytest.raises(ValueError, match="luôn bắt buộc"):
                two_factor.set_required(role, False, actor=actor)
            assert two_factor.required_for(role)


def test_policy_is_for_administrators_only(app, officer, worker_c1):
    for account in (officer, worker_c1):
        client = app.test_client()
        login(client, account)
        response = client.post("/admin/users/two-factor-policy", data={"workers_required": "y"})
        assert response.status_code == 403
        assert client.post(f"/admin/users/{officer.id}/two-factor/reset").status_code == 403
    with app.app_context():
        assert not two_factor.required_for(Role.WORKER)
        assert db.session.get(User, officer.id).totp is not None


def test_admin_resets_a_lost_phone(app, admin, officer):
    phone = app.test_client()
    login(phone, officer)
    administrator = app.test_client()
    login(administrator, admin)
    page = _page(administrator.get(f"/admin/users/{officer.id}"))
    assert "Đặt lại xác thực hai lớp" in page
    check_page(page)
    response = administrator.post(f"/admin/users/{officer.id}/two-factor/reset")
    assert response.headers["Location"] == f"/admin/users/{officer.id}"
    assert phone.get("/").headers["Location"].startswith("/login")  # every session ended
    with app.app_context():
        assert db.session.get(User, officer.id).totp is None
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "otp_reset")
        ).one()
        assert (event.actor_id, event.target_id) == (admin.id, str(officer.id))
    # The password alone now opens a session that can only set the second factor up again.
    client = app.test_client()
    response = client.post(
        "/login", data={"username": officer.username, "password": officer.password}
    )
    assert response.headers["Location"] == "/"
    assert client.get("/cases").headers["Location"] == "/account/two-factor"


def test_pending_enrolment_is_not_a_second_factor(app, client, worker_c1):
    login(client, worker_c1)
    start(client)
    client.post("/logout")
    response = client.post(
        "/login", data={"username": worker_c1.username, "password": worker_c1.password}
    )
    assert response.headers["Location"] == "/"  # not enrolled: no code asked


def test_demo_accounts_can_sign_in_with_printed_secret(app, tmp_path):
    with app.app_context():
        text = create_demo_accounts(app.extensions["caseapp.settings"])
        db.session.commit()
    rows = {
        parts[0]: parts
        for parts in (line.split() for line in text.splitlines())
        if parts and parts[0] in {r.value for r in Role}
    }
    assert rows["worker"][3] == "-"
    for role in ("officer", "supervisor", "admin"):
        _, username, password, secret = rows[role][:4]
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        client = app.test_client()
        with time_machine.travel(MOMENT + timedelta(minutes=1), tick=False):
            client.post("/login", data={"username": username, "password": password})
            code = pyotp.TOTP(secret).at(MOMENT + timedelta(minutes=1))
            assert client.post("/login/code", data={"code": code}).headers["Location"] == "/"


def test_key_rotation_reencrypts_the_secret(app, officer):
    """The secret is a field like any identity field: rotation moves it to the new data key and
    the officer still signs in with the same authenticator."""
    with app.app_context():
        before = db.session.scalars(sa.select(TotpCredential.secret_ct)).one()
        report = rotate_keys(app.extensions["caseapp.cipher"])
        after = db.session.scalars(sa.select(TotpCredential.secret_ct)).one()
    assert report.finished
    assert key_id_of(after) == report.primary_dek_id != key_id_of(before)
    assert login(app.test_client(), officer).headers["Location"] == "/"
