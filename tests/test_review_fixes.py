"""Regressions for findings of the foundation review: scopes, throttles, CLI, audit guards."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from caseapp import authz
from caseapp.extensions import db
from caseapp.users.models import Role, User
from tests.conftest import C1, PG_URL, login
from tests.test_cli import run


def test_former_district_scope_without_district_sees_nothing(app, make_account):
    from caseapp.users.models import ScopeKind

    account = make_account(Role.OFFICER, scope=ScopeKind.FORMER_DISTRICT, former_district=336)
    with app.app_context():
        user = db.session.get(User, account.id)
        user.former_district_code = None  # what the check constraint refuses to store
        with db.session.no_autoflush:
            assert not authz.in_scope(user, 11953)  # a former-Hưng Yên commune has no district
            assert list(db.session.scalars(authz.scope_commune_codes(user))) == []
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_wrong_current_password_is_throttled(app, client, worker_c1):
    login(client, worker_c1)
    for _ in range(4):
        response = client.post(
            "/account/password",
            data={
                "current_password": "not it",
                "new_password": "x" * 12,
                "confirm_password": "x" * 12,
            },
        )
        assert response.status_code == 200
    response = client.post(
        "/account/password",
        data={"current_password": "not it", "new_password": "x" * 12, "confirm_password": "x" * 12},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302  # signed out
    assert "Đăng nhập sai quá nhiều lần" in login(app.test_client(), worker_c1).get_data(
        as_text=True
    )


def test_password_reset_lifts_a_lock(app, logged_in, admin, worker_c1):
    stranger = app.test_client()
    for _ in range(5):
        login(stranger, worker_c1, password="wrong password here")
    client = logged_in(admin)
    html = client.post(f"/admin/users/{worker_c1.id}/password").get_data(as_text=True)
    import re

    password = re.search(r'class="password-issued[^"]*">([^<]+)<', html).group(1).strip()
    response = app.test_client().post(
        "/login", data={"username": worker_c1.username, "password": password}
    )
    assert response.status_code == 302


def test_last_administrator_cannot_be_disabled_or_demoted(app, logged_in, admin, make_account):
    client = logged_in(admin)
    other = make_account(Role.ADMIN, username="second.admin")
    assert client.post(f"/admin/users/{other.id}/enabled").status_code == 302  # fine: one left
    with app.app_context():
        from caseapp.errors import FieldError
        from caseapp.users.services import UserInput, update_user

        me = db.session.get(User, admin.id)
        with pytest.raises(FieldError, match="ít nhất một quản trị viên"):
            update_user(
                me,
                UserInput(me.username, me.display_name, "worker", "communes", [C1]),
                actor=me,
            )


@pytest.mark.parametrize("typed", ["12,5", "1.2345", "1,234.5", "12 34"])
def test_population_needs_groups_of_three(app, logged_in, admin, typed):
    client = logged_in(admin)
    html = client.post(f"/admin/communes/{C1}", data={"population": typed}).get_data(as_text=True)
    assert "Dân số phải là số nguyên" in html


def test_cli_refusal_is_a_message_not_a_crash(tmp_path):
    instance = tmp_path / "instance"
    run(instance, "init")
    result = run(
        instance, "create-user", "--username", "ab", "--name", "X", "--role", "admin", check=False
    )
    assert result.returncode != 0
    assert "Tên đăng nhập gồm 3–64 ký tự" in result.stderr
    assert "Traceback" not in result.stderr


def test_local_http_refuses_a_public_address(tmp_path):
    instance = tmp_path / "instance"
    run(instance, "init")
    result = run(
        instance, "serve", "--host", "192.0.2.10", env={"CASEAPP_LOCAL_HTTP": "1"}, check=False
    )
    assert result.returncode != 0
    assert "only for 127.0.0.1" in result.stderr


@pytest.mark.plan("L3")
@pytest.mark.skipif(not PG_URL, reason="PostgreSQL run only (CASEAPP_TEST_DATABASE_URL)")
def test_audit_trail_cannot_be_truncated(app, client, worker_c1):
    login(client, worker_c1)
    with app.app_context():
        for table in ("audit_events", "audit_chain_head"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
                conn.exec_driver_sql(f"TRUNCATE {table} CASCADE")
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_chain_head")
