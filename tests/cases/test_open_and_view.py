"""Opening a case file, seeing it, finding it; what lists show to whom; timeline and audit."""

from __future__ import annotations

import unicodedata

import pytest
import sqlalchemy as sa

from caseapp.audit import AuditEvent
from caseapp.cases import codes
from caseapp.cases.models import Case, CaseEvent
from caseapp.extensions import db
from caseapp.users.models import Role
from tests.cases.conftest import CCCD, NAME, case_form, open_case
from tests.conftest import C1, C2, login
from tests.test_pages import check_page


def _page(response) -> str:
    return response.get_data(as_text=True)


def _case(app, code: str) -> Case:
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.code == code)).one()
        db.session.expunge(case)
        return case


def test_worker_opens_case_and_sees_it(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    form_page = client.get("/cases/new")
    check_page(_page(form_page))
    code = open_case(client)
    assert codes.canonical(code) == code
    html = _page(client.get(f"/cases/{code}"))
    check_page(html)
    assert NAME in html
    assert CCCD in html
    assert "0912 345 678" in html
    assert "Ma túy đá (methamphetamine)" in html
    assert "Mở hồ sơ" in html  # the timeline
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.code == code)).one()
        assert case.phone == "+84912345678"
        assert case.guardian_phone == "+84987654321"
        assert case.birth_year == 2008
        assert case.commune_code == C1
        assert sorted(d.drug_type for d in case.drug_types) == ["cannabis", "methamphetamine"]
        actions = set(db.session.scalars(sa.select(AuditEvent.action)))
        assert {"case_created", "case_viewed"} <= actions


@pytest.mark.plan("I4")
def test_names_stored_nfc_whatever_was_typed(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    code = open_case(client, full_name=unicodedata.normalize("NFD", "Trần Thị Ánh Tuyết"))
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.code == code)).one()
        assert case.full_name == unicodedata.normalize("NFC", "Trần Thị Ánh Tuyết")


def test_list_shows_names_only_to_the_communes_workers(app, make_account, worker_c1):
    worker = app.test_client()
    login(worker, worker_c1)
    code = open_case(worker)
    listing = _page(worker.get("/cases"))
    check_page(listing)
    assert NAME in listing
    assert codes.display(code) in listing
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    listing = _page(officer.get("/cases"))
    assert codes.display(code) in listing
    assert NAME not in listing
    assert NAME in _page(officer.get(f"/cases/{code}"))  # identities on the detail page


@pytest.mark.plan("Z1", "Z3", "L6")
def test_out_of_scope_case_is_404_and_audited(app, worker_c1, worker_c2):
    first = app.test_client()
    login(first, worker_c1)
    code = open_case(first)
    other = app.test_client()
    login(other, worker_c2)
    for path in (f"/cases/{code}", f"/cases/{code}/edit"):
        response = other.get(path)
        assert response.status_code == 404
        assert NAME not in _page(response)
    assert NAME not in _page(other.get("/cases"))
    with app.app_context():
        denied = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "case_access_denied")
        ).all()
        assert len(denied) == 2
        assert all(e.outcome == "denied" for e in denied)


@pytest.mark.plan("Z6")
def test_supervisor_and_admin_reach_no_case(app, make_account, worker_c1):
    worker = app.test_client()
    login(worker, worker_c1)
    code = open_case(worker)
    for role in (Role.SUPERVISOR, Role.ADMIN):
        client = app.test_client()
        login(client, make_account(role))
        for path in ("/cases", f"/cases/{code}", "/cases/new"):
            assert client.get(path).status_code == 403, (role, path)
        assert client.post("/cases/search", data={"query": NAME}).status_code == 403


@pytest.mark.plan("I7")
def test_bad_case_paths_are_404(logged_in, worker_c1):
    client = logged_in(worker_c1)
    for path in ("/cases/abc", "/cases/-1", "/cases/99999999999999999999", "/cases/0000-0000-0"):
        assert client.get(path).status_code == 404


@pytest.mark.plan("Z4", "E9")
def test_search_by_code_cccd_and_name_within_scope(app, worker_c1, worker_c2):
    first = app.test_client()
    login(first, worker_c1)
    code = open_case(first)
    # Code, typed loosely: lower case with dashes.
    response = first.post("/cases/search", data={"query": codes.display(code).lower()})
    assert response.headers["Location"] == f"/cases/{code}"
    # CCCD with spaces, by POST (never in a URL).
    html = _page(first.post("/cases/search", data={"query": "034 208 012345"}))
    assert codes.display(code) in html
    # Part of the name without diacritics.
    html = _page(first.post("/cases/search", data={"query": "van zzyzx"}))
    assert codes.display(code) in html
    check_page(html)
    other = app.test_client()
    login(other, worker_c2)
    for query in ("034208012345", "Zzyzx", code):
        html = _page(other.post("/cases/search", data={"query": query}))
        assert codes.display(code) not in html
        assert "Kết quả: 0 hồ sơ" in html
    with app.app_context():
        searches = db.session.scalars(
            sa.select(AuditEvent.details).where(AuditEvent.action == "case_search")
        ).all()
        assert searches
        assert all("034208012345" not in d and "zzyzx" not in d.lower() for d in searches)


@pytest.mark.plan("Q1")
def test_search_treats_wildcards_and_injection_literally(logged_in, worker_c1):
    client = logged_in(worker_c1)
    code = open_case(client)
    for query in ("' OR 1=1 --", "%", "_", "\\", '"; DROP TABLE cases;--'):
        response = client.post("/cases/search", data={"query": query})
        assert response.status_code == 200
        assert codes.display(code) not in _page(response)
    assert codes.display(code) in _page(client.get("/cases"))


def test_list_filters_and_paging(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    for index in range(3):
        open_case(
            client,
            full_name=f"Người Thử {index}",
            national_id="",
            category="addicted" if index else "user",
        )
    assert "3 hồ sơ" in _page(client.get("/cases"))
    assert "2 hồ sơ" in _page(client.get("/cases?category=addicted"))
    assert "1 hồ sơ" in _page(client.get("/cases?category=user"))
    assert "3 hồ sơ" in _page(client.get("/cases?category=nonsense"))  # ignored, not an error
    assert "0 hồ sơ" in _page(client.get("/cases?status=closed"))
    response = client.get("/cases?page=99")
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent)) == 3


@pytest.mark.plan("X1")
def test_stored_markup_is_escaped(logged_in, worker_c1):
    client = logged_in(worker_c1)
    code = open_case(
        client,
        full_name='<script>alert(1)</script>"><img src=x onerror=alert(1)>',
        national_id="",
        notes="javascript:alert(1)",
    )
    html = _page(client.get(f"/cases/{code}"))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "<img src=x" not in html
    listing = _page(client.get("/cases"))
    assert "<script>alert(1)</script>" not in listing


def test_officer_sees_cases_of_all_their_communes(app, make_account, worker_c1, worker_c2):
    for worker, commune in ((worker_c1, C1), (worker_c2, C2)):
        client = app.test_client()
        login(client, worker)
        open_case(client, commune_code=str(commune), national_id="")
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    assert "2 hồ sơ" in _page(officer.get("/cases"))
    assert "1 hồ sơ" in _page(officer.get(f"/cases?commune={C2}"))


def test_worker_cannot_open_case_in_another_commune(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    html = _page(client.post("/cases/new", data=case_form(commune_code=str(C2))))
    assert "Lựa chọn không hợp lệ." in html  # not among the worker's communes
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
