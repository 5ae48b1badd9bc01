"""Audit trail rows of the security test plan: reads are audited one row each, with ids only (L1);
a password change leaves a row (L2); a failing audit write fails the request (L4); hostile text
cannot forge or break rows or the audit page (L5)."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
import sqlalchemy as sa

from caseapp import audit
from caseapp.audit import AuditEvent
from caseapp.cases.models import Case
from caseapp.extensions import db
from caseapp.users.models import Role
from tests.cases.conftest import ADDR, CCCD, NAME, open_case
from tests.conftest import login

PII = (NAME, CCCD, ADDR, "Zzyzx", "034 208 012345")


def _events(app) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


@pytest.mark.plan("L1")
def test_case_view_list_and_search_are_audited_once_with_ids_only(app, worker_c1):
    client = app.test_client()
    login(client, worker_c1)
    code = open_case(client)  # open_case views the new case once, as the browser does
    with app.app_context():
        case_id = db.session.scalars(sa.select(Case.id).where(Case.code == code)).one()
    before = len(_events(app))
    assert client.get(f"/cases/{code}").status_code == 200
    assert client.get("/cases").status_code == 200
    assert client.post("/cases/search", data={"query": "034 208 012345"}).status_code == 200
    new = _events(app)[before:]
    assert [e.action for e in new] == ["case_viewed", "case_list", "case_search"]
    viewed, _listed, searched = new
    assert (viewed.target_type, viewed.target_id) == ("case", str(case_id))
    assert json.loads(searched.details) == {"kind": "national_id", "results": 1}
    request_ids = set()
    for event in new:
        assert event.actor_id == worker_c1.id
        assert event.actor_role == Role.WORKER.value
        assert event.outcome == "ok"
        assert event.occurred_at.utcoffset() == UTC.utcoffset(None)
        assert event.request_id
        request_ids.add(event.request_id)
        row = json.dumps(
            [event.action, event.target_type, event.target_id, event.details], ensure_ascii=False
        )
        for marker in PII:
            assert marker.lower() not in row.lower(), (event.action, marker)
    assert len(request_ids) == 3  # one request, one id


@pytest.mark.plan("L2")
def test_password_change_and_failed_attempt_are_audited(app, worker_c1):
    client = app.test_client()
    login(client, worker_c1)
    new = "Một câu mật khẩu mới thật dài 2026"
    client.post(
        "/account/password",
        data={"current_password": "not the password", "new_password": new, "confirm_password": new},
    )
    client.post(
        "/account/password",
        data={
            "current_password": worker_c1.password,
            "new_password": new,
            "confirm_password": new,
        },
    )
    events = [e for e in _events(app) if e.action.startswith("password_")]
    assert [(e.action, e.outcome) for e in events] == [
        ("password_change_failed", "denied"),
        ("password_changed", "ok"),
    ]
    for event in events:
        assert event.actor_id == worker_c1.id
        assert new not in event.details
        assert worker_c1.password not in event.details


def _fail_audit(monkeypatch) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError(f"audit store unavailable {NAME}")

    monkeypatch.setattr(audit, "record", broken)


@pytest.mark.plan("L4")
def test_case_view_fails_closed_when_the_audit_write_fails(app, worker_c1, monkeypatch, caplog):
    client = app.test_client()
    login(client, worker_c1)
    code = open_case(client)
    _fail_audit(monkeypatch)
    response = client.get(f"/cases/{code}")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Hệ thống gặp lỗi" in html
    for marker in PII:
        assert marker not in html
        assert marker not in caplog.text


@pytest.mark.plan("L4")
def test_case_edit_rolled_back_when_the_audit_write_fails(app, worker_c1, monkeypatch):
    from tests.cases.conftest import case_form

    client = app.test_client()
    login(client, worker_c1)
    code = open_case(client)
    edit = client.get(f"/cases/{code}/edit").get_data(as_text=True)
    version = edit.split('name="version" type="hidden" value="', 1)[1].split('"', 1)[0]
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    _fail_audit(monkeypatch)
    response = client.post(
        f"/cases/{code}/edit", data=case_form(address="Nhà mới 99", version=version)
    )
    assert response.status_code == 500
    assert NAME not in response.get_data(as_text=True)
    monkeypatch.undo()
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.code == code)).one()
        assert case.address == ADDR
        assert str(case.version) == version
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == count


HOSTILE = "Trần\r\nFAKE ok login\x1b[31m <script>alert(1)</script> Đặng"


@pytest.mark.plan("L5", "X1")
def test_hostile_text_cannot_forge_rows_or_break_the_audit_page(app, admin):
    with app.app_context():
        event = audit.record(
            "access_denied",
            actor=None,
            target_type="endpoint",
            target_id=HOSTILE[:64],
            outcome="denied",
            details={"note": HOSTILE},
        )
        db.session.commit()
        stored = db.session.get(AuditEvent, event.id)
        assert "\n" not in stored.details
        assert "\r" not in stored.details
        assert "\x1b" not in stored.details
        assert json.loads(stored.details)["note"].startswith("Trần")
        assert "Đặng" in json.loads(stored.details)["note"]  # Vietnamese kept as it is
        assert audit.verify_chain().ok
    client = app.test_client()
    login(client, admin)
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "\x1b" not in html


@pytest.mark.plan("L5")
def test_usernames_with_control_characters_are_refused(app, admin):
    client = app.test_client()
    login(client, admin)
    with app.app_context():
        users = db.session.scalar(sa.text("SELECT count(*) FROM users"))
    for username in ("ab\r\ncd", "ab\x1b[31mcd"):
        response = client.post(
            "/admin/users/new",
            data={
                "username": username,
                "display_name": "Cán bộ Thử",
                "email": "",
                "role": "supervisor",
                "scope_kind": "province",
                "former_district_code": "",
                "locale": "vi",
            },
        )
        assert response.status_code == 200  # the form again, with its error: nothing stored
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM users")) == users
