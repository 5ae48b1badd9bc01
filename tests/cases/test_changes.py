"""Editing (with optimistic locking), duplicates across communes, transfer, assignment, closing."""

from __future__ import annotations

import re
import unicodedata

import pytest
import sqlalchemy as sa

from caseapp.audit import AuditEvent
from caseapp.cases.models import Case, CaseEvent, DuplicatePair
from caseapp.extensions import db
from caseapp.users.models import Role, ScopeKind
from tests.cases.conftest import CCCD, NAME, case_form, open_case
from tests.conftest import C1, C2, login


def _page(response) -> str:
    return response.get_data(as_text=True)


def _version(html: str) -> str:
    match = re.search(r'id="version" name="version" type="hidden" value="(\d+)"', html)
    assert match
    return match.group(1)


def _get(app, code: str) -> dict[str, object]:
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.code == code)).one()
        return {
            "name": case.full_name,
            "address": case.address,
            "version": case.version,
            "commune": case.commune_code,
            "status": case.status,
            "worker": case.assigned_worker_id,
        }


def test_edit_records_changed_fields_not_values(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    code = open_case(client)
    version = _version(_page(client.get(f"/cases/{code}/edit")))
    response = client.post(
        f"/cases/{code}/edit", data=case_form(address="Thôn Mới", version=version)
    )
    assert response.status_code == 302
    assert _get(app, code)["address"] == "Thôn Mới"
    with app.app_context():
        event = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.kind == "updated")).one()
        assert event.details == {"fields": ["address"]}
        audit_row = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "case_updated")
        ).one()
        assert "Thôn Mới" not in audit_row.details
    html = _page(client.get(f"/cases/{code}"))
    assert "Cập nhật hồ sơ" in html
    assert "Nơi ở hiện tại" in html


@pytest.mark.plan("K1")
def test_stale_form_gets_409_and_loses_nothing(app, worker_c1, make_account):
    a, b = app.test_client(), app.test_client()
    login(a, worker_c1)
    login(b, make_account(Role.WORKER, communes=(C1,)))
    code = open_case(a)
    version_a = _version(_page(a.get(f"/cases/{code}/edit")))
    version_b = _version(_page(b.get(f"/cases/{code}/edit")))
    assert version_a == version_b
    assert (
        a.post(
            f"/cases/{code}/edit", data=case_form(address="Nhà A", version=version_a)
        ).status_code
        == 302
    )
    response = b.post(
        f"/cases/{code}/edit", data=case_form(address="Nhà B", notes="ghi chú B", version=version_b)
    )
    assert response.status_code == 409
    html = _page(response)
    assert "Hồ sơ vừa được người khác lưu trước bạn" in html
    assert "Nơi ở hiện tại" in html  # what changed
    assert 'value="Nhà B"' in html  # B's input is kept
    state = _get(app, code)
    assert state["address"] == "Nhà A"
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).where(AuditEvent.action == "case_edit_conflict")
            )
            == 1
        )
    # Saving again from the conflict page is a deliberate overwrite.
    again = b.post(f"/cases/{code}/edit", data=case_form(address="Nhà B", version=_version(html)))
    assert again.status_code == 302
    assert _get(app, code)["address"] == "Nhà B"


def test_duplicate_across_communes_warns_without_showing(app, make_account, worker_c1, worker_c2):
    first = app.test_client()
    login(first, worker_c1)
    code_1 = open_case(first)
    second = app.test_client()
    login(second, worker_c2)
    # Same person typed differently: NFD, upper case, extra spaces, no CCCD.
    response = second.post(
        "/cases/new",
        data=case_form(
            full_name=unicodedata.normalize("NFD", "  NGUYỄN  VĂN   ZZYZX "),
            national_id="",
            commune_code=str(C2),
        ),
        follow_redirects=True,
    )
    html = _page(response)
    assert "Có thể người này đã có một hồ sơ khác" in html
    assert code_1 not in html
    with app.app_context():
        pair = db.session.scalars(sa.select(DuplicatePair)).one()
        assert pair.matched_on == "name_dob"
    # A CCCD match is found too.
    third = app.test_client()
    login(third, make_account(Role.WORKER, communes=(C2,)))
    third.post(
        "/cases/new",
        data=case_form(full_name="Tên Khác Hẳn", national_id=CCCD, commune_code=str(C2)),
    )
    with app.app_context():
        kinds = sorted(db.session.scalars(sa.select(DuplicatePair.matched_on)))
        assert kinds == ["name_dob", "national_id"]


def test_officer_merges_or_dismisses(app, make_account, worker_c1, worker_c2):
    first = app.test_client()
    login(first, worker_c1)
    code_1 = open_case(first)
    second = app.test_client()
    login(second, worker_c2)
    code_2 = open_case(second, commune_code=str(C2))
    district_officer = app.test_client()
    login(
        district_officer,
        make_account(Role.OFFICER, scope=ScopeKind.FORMER_DISTRICT, former_district=336),
    )
    assert "Không có cặp hồ sơ nào" in _page(district_officer.get("/cases/duplicates"))
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    html = _page(officer.get("/cases/duplicates"))
    assert "Trùng số CCCD" in html
    with app.app_context():
        pair = db.session.scalars(sa.select(DuplicatePair)).one()
    response = officer.post(f"/cases/duplicates/{pair.id}", data={"decision": "keep_a"})
    assert response.status_code == 302
    with app.app_context():
        pair = db.session.scalars(sa.select(DuplicatePair)).one()
        assert pair.status == "merged"
        kept, closed = pair.case_a, pair.case_b
        assert kept.status == "open"
        assert closed.status == "closed"
        assert closed.close_reason == "merged"
    assert {code_1, code_2} == {kept.code, closed.code}
    assert "Không có cặp hồ sơ nào" in _page(officer.get("/cases/duplicates"))
    assert (
        officer.post(f"/cases/duplicates/{pair.id}", data={"decision": "dismiss"}).status_code
        == 404
    )


def test_transfer_moves_access(app, make_account, worker_c1, worker_c2):
    worker = app.test_client()
    login(worker, worker_c1)
    code = open_case(worker)
    assert worker.get(f"/cases/{code}/transfer").status_code == 403  # officers only
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    html = _page(
        officer.post(f"/cases/{code}/transfer", data={"commune_code": str(C2), "reason": ""})
    )
    assert "Nhập lý do chuyển hồ sơ." in html
    response = officer.post(
        f"/cases/{code}/transfer", data={"commune_code": str(C2), "reason": "Chuyển nơi ở"}
    )
    assert response.status_code == 302
    assert _get(app, code)["commune"] == C2
    assert worker.get(f"/cases/{code}").status_code == 404
    other = app.test_client()
    login(other, worker_c2)
    assert NAME in _page(other.get(f"/cases/{code}"))
    assert "Chuyển xã, phường" in _page(other.get(f"/cases/{code}"))


def test_assign_worker(app, make_account, worker_c1, worker_c2):
    worker = app.test_client()
    login(worker, worker_c1)
    code = open_case(worker)
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    officer.post(f"/cases/{code}/assign", data={"worker_id": str(worker_c1.id)})
    assert _get(app, code)["worker"] == worker_c1.id
    response = officer.post(
        f"/cases/{code}/assign", data={"worker_id": str(worker_c2.id)}, follow_redirects=True
    )
    assert _get(app, code)["worker"] == worker_c1.id  # c2's worker does not cover C1
    assert response.status_code == 200


def test_close_and_reopen_need_reasons_and_an_officer(app, make_account, worker_c1):
    worker = app.test_client()
    login(worker, worker_c1)
    code = open_case(worker)
    assert worker.post(f"/cases/{code}/close", data={"reason": "moved_away"}).status_code == 403
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    html = _page(officer.post(f"/cases/{code}/close", data={"reason": "other", "note": ""}))
    assert "Ghi rõ lý do khác." in html
    assert _get(app, code)["status"] == "open"
    officer.post(f"/cases/{code}/close", data={"reason": "moved_away", "note": ""})
    assert _get(app, code)["status"] == "closed"
    assert "0 hồ sơ" in _page(worker.get("/cases"))
    assert "1 hồ sơ" in _page(worker.get("/cases?status=closed"))
    html = _page(officer.post(f"/cases/{code}/reopen", data={"note": ""}))
    assert "Nhập lý do mở lại hồ sơ." in html
    officer.post(f"/cases/{code}/reopen", data={"note": "Quay lại địa phương"})
    assert _get(app, code)["status"] == "open"


@pytest.mark.plan("L6")
def test_who_viewed_panel_for_officers(app, make_account, worker_c1):
    worker = app.test_client()
    login(worker, worker_c1)
    code = open_case(worker)
    worker.get(f"/cases/{code}")
    assert "Ai đã xem hồ sơ này" not in _page(worker.get(f"/cases/{code}"))
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    html = _page(officer.get(f"/cases/{code}"))
    assert "Ai đã xem hồ sơ này" in html
    assert "Cán bộ worker.c1" in html
