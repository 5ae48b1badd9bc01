"""Administrators create, edit, disable accounts and reset passwords, through the real forms."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from caseapp.audit import AuditEvent
from caseapp.extensions import db
from caseapp.users.models import User
from tests.conftest import C1, C2, Account, login


def _page(response) -> str:
    return response.get_data(as_text=True)


def _issued_password(html: str) -> str:
    match = re.search(r'class="password-issued[^"]*"[^>]*>([^<]+)<', html)
    assert match, "the page shows the temporary password"
    return match.group(1).strip()


FORM = {
    "username": "Nguyen.Thi.Demo",
    "display_name": "Cán bộ Thử Nghiệm",
    "email": "",
    "role": "worker",
    "scope_kind": "communes",
    "commune_codes": [str(C1), str(C2)],
    "former_district_code": "",
    "locale": "vi",
}


def test_admin_creates_worker_who_must_change_password(app, logged_in, admin):
    client = logged_in(admin)
    response = client.post("/admin/users/new", data=FORM)
    assert response.status_code == 200
    password = _issued_password(_page(response))
    assert response.headers["Cache-Control"] == "no-store"
    with app.app_context():
        user = db.session.scalars(sa.select(User).where(User.username == "nguyen.thi.demo")).one()
        assert sorted(c.code for c in user.communes) == sorted([C1, C2])
        assert user.must_change_password
        event = db.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.action == "user_created", AuditEvent.target_id == str(user.id)
            )
        ).one()
        assert event.actor_id == admin.id
        assert password not in event.details
    newcomer = app.test_client()
    login(newcomer, Account(user.id, "nguyen.thi.demo", password, "worker"))
    assert newcomer.get("/").headers["Location"] == "/account/password"


def test_create_form_errors_keep_input(app, logged_in, admin):
    client = logged_in(admin)
    data = {**FORM, "commune_codes": [], "email": "not-an-address"}
    html = _page(client.post("/admin/users/new", data=data))
    assert "Địa chỉ thư điện tử không hợp lệ." in html
    assert 'value="Cán bộ Thử Nghiệm"' in html
    data = {**FORM, "commune_codes": []}
    html = _page(client.post("/admin/users/new", data=data))
    assert "Chọn ít nhất một xã, phường." in html
    assert 'value="Nguyen.Thi.Demo"' in html
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_role_and_scope_must_fit(app, logged_in, admin):
    client = logged_in(admin)
    html = _page(client.post("/admin/users/new", data={**FORM, "role": "supervisor"}))
    assert "Phạm vi này không dùng được cho vai trò đã chọn." in html
    html = _page(
        client.post(
            "/admin/users/new",
            data={**FORM, "role": "officer", "scope_kind": "former_district"},
        )
    )
    assert "Chọn một huyện cũ." in html
    response = client.post(
        "/admin/users/new",
        data={
            **FORM,
            "role": "officer",
            "scope_kind": "former_district",
            "former_district_code": "341",
        },
    )
    _issued_password(_page(response))
    with app.app_context():
        officer = db.session.scalars(sa.select(User).where(User.role == "officer")).one()
        assert officer.former_district_code == 341
        assert officer.communes == []


def test_duplicate_username_refused(logged_in, admin, worker_c1):
    client = logged_in(admin)
    html = _page(client.post("/admin/users/new", data={**FORM, "username": "WORKER.C1"}))
    assert "Tên đăng nhập này đã có người dùng." in html


def test_unknown_commune_refused(logged_in, admin):
    client = logged_in(admin)
    response = client.post("/admin/users/new", data={**FORM, "commune_codes": ["99999"]})
    assert response.status_code == 200
    assert "Lựa chọn “99999” không hợp lệ." in _page(response)


@pytest.mark.plan("S6", "L2")
def test_edit_role_ends_users_sessions(app, logged_in, admin, worker_c1):
    worker = app.test_client()
    login(worker, worker_c1)
    client = logged_in(admin)
    page = _page(client.get(f"/admin/users/{worker_c1.id}"))
    assert 'value="worker.c1"' in page
    response = client.post(
        f"/admin/users/{worker_c1.id}",
        data={**FORM, "username": "worker.c1", "role": "officer", "scope_kind": "province"},
    )
    assert response.status_code == 302
    assert worker.get("/").status_code == 302
    with app.app_context():
        user = db.session.get(User, worker_c1.id)
        assert user.role == "officer"
        assert user.communes == []
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "user_updated")
        ).one()
        assert "role" in event.details


def test_disable_and_enable(app, logged_in, admin, worker_c1):
    worker = app.test_client()
    login(worker, worker_c1)
    client = logged_in(admin)
    assert client.post(f"/admin/users/{worker_c1.id}/enabled").status_code == 302
    assert worker.get("/").status_code == 302
    assert login(app.test_client(), worker_c1).status_code == 200  # refused, generic message
    assert client.post(f"/admin/users/{worker_c1.id}/enabled").status_code == 302
    assert login(app.test_client(), worker_c1).status_code == 302


def test_admin_cannot_disable_themselves(app, logged_in, admin):
    client = logged_in(admin)
    response = client.post(f"/admin/users/{admin.id}/enabled", follow_redirects=True)
    assert "Bạn không thể tự khóa tài khoản của mình." in _page(response)
    with app.app_context():
        assert db.session.get(User, admin.id).is_enabled


def test_reset_password(app, logged_in, admin, worker_c1):
    client = logged_in(admin)
    password = _issued_password(_page(client.post(f"/admin/users/{worker_c1.id}/password")))
    assert login(app.test_client(), worker_c1).status_code == 200  # old one refused
    fresh = app.test_client()
    login(fresh, Account(worker_c1.id, worker_c1.username, password, "worker"))
    assert fresh.get("/").headers["Location"] == "/account/password"


def test_unknown_user_is_404(logged_in, admin):
    client = logged_in(admin)
    assert client.get("/admin/users/999999").status_code == 404
    assert client.get("/admin/users/abc").status_code == 404


def test_user_list_filters_by_role(logged_in, admin, worker_c1, officer):
    client = logged_in(admin)
    html = _page(client.get("/admin/users?role=officer"))
    assert "officer" in html
    assert "worker.c1" not in html
    html = _page(client.get("/admin/users?role=nonsense"))
    assert "worker.c1" in html
