"""Access rows of the security test plan: headers on every kind of response (S4), forged cookies
(S5), lists and totals scoped (Z4), read-only roles cannot change a case (Z7), and no state
change through GET (C3)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from caseapp.audit import AuditEvent
from caseapp.cases.models import Case
from caseapp.extensions import db
from caseapp.users.models import Role
from tests.cases.conftest import ADDR, NAME, case_form, open_case
from tests.conftest import C2, login

COOKIE = "caseapp_session"  # the local-HTTP name the tests run with (S4 checks __Host- apart)


def _check_headers(response, path: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp, path
    assert "frame-ancestors 'none'" in csp, path
    assert "unsafe-inline" not in csp, path
    assert "unsafe-eval" not in csp, path
    assert response.headers.get("X-Content-Type-Options") == "nosniff", path
    assert response.headers.get("Referrer-Policy") == "same-origin", path


@pytest.mark.plan("S4")
def test_every_kind_of_response_carries_the_security_headers(app_factory, make_account):
    app = app_factory(LOCAL_HTTP=False)
    base = "https://caseapp.example"
    worker = make_account(Role.WORKER)
    client = app.test_client()
    assert (
        client.post(
            "/login",
            base_url=base,
            data={"username": worker.username, "password": worker.password},
        ).status_code
        == 302
    )
    code = open_case_https(client, base)
    responses = {
        "login page (anonymous)": app.test_client().get("/login", base_url=base),
        "health": app.test_client().get("/healthz", base_url=base),
        "static": app.test_client().get("/static/css/app.css", base_url=base),
        "redirect": app.test_client().get("/cases", base_url=base),
        "case detail": client.get(f"/cases/{code}", base_url=base),
        "case list": client.get("/cases", base_url=base),
        "search": client.post("/cases/search", base_url=base, data={"query": "Zzyzx"}),
        "edit form": client.get(f"/cases/{code}/edit", base_url=base),
        "404": client.get("/no/such/page", base_url=base),
        "405": client.get("/logout", base_url=base),
        "403": client.get("/admin/users", base_url=base),
    }
    for name, response in responses.items():
        _check_headers(response, name)
        assert response.headers["Strict-Transport-Security"].startswith("max-age="), name
        response.close()
    for name in ("case detail", "case list", "search", "edit form"):  # pages with identities
        assert responses[name].headers["Cache-Control"] == "no-store", name
    assert NAME in responses["case detail"].get_data(as_text=True)


def open_case_https(client, base: str) -> str:
    response = client.post("/cases/new", base_url=base, data=case_form())
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    return response.headers["Location"].rsplit("/", 1)[1]


def _flip(value: str, index: int) -> str:
    return value[:index] + ("A" if value[index] != "A" else "B") + value[index + 1 :]


@pytest.mark.plan("S5")
def test_tampered_or_foreign_signed_cookie_is_anonymous(app_factory, worker_c1):
    app = app_factory()
    client = app.test_client()
    login(client, worker_c1)
    cookie = client.get_cookie(COOKIE).value
    assert client.get("/").status_code == 200
    # Not the very last character: it carries only the signature's last bits plus unused padding
    # bits, so some replacements decode to the same bytes (a flaky test, not a weak signature).
    for index in (0, len(cookie) // 2, len(cookie) - 2):
        forged = app.test_client()
        forged.set_cookie(COOKIE, _flip(cookie, index))
        response = forged.get("/")
        assert response.status_code == 302, index
        assert response.headers["Location"].startswith("/login")
    # A cookie signed with a key this installation does not hold (nor among SECRET_KEY_FALLBACKS).
    other = app_factory(SECRET_KEY="another installation's secret key, long enough")
    foreign = other.test_client()
    login(foreign, worker_c1)
    assert foreign.get("/").status_code == 200
    stranger = app.test_client()
    stranger.set_cookie(COOKIE, foreign.get_cookie(COOKIE).value)
    assert stranger.get("/").headers["Location"].startswith("/login")
    # The same cookie is accepted once its key is listed as a fallback (key rotation works).
    rotated = app_factory(
        SECRET_KEY="the new secret key of this installation, long",
        SECRET_KEY_FALLBACKS=["another installation's secret key, long enough"],
    )
    accepted = rotated.test_client()
    accepted.set_cookie(COOKIE, foreign.get_cookie(COOKIE).value)
    assert accepted.get("/").status_code == 200


@pytest.mark.plan("Z4")
def test_lists_and_totals_leave_out_other_communes(app, worker_c1, worker_c2):
    other = app.test_client()
    login(other, worker_c2)
    for index in range(3):
        open_case(other, commune_code=str(C2), full_name=f"Người Xã Khác {index}", national_id="")
    mine = app.test_client()
    login(mine, worker_c1)
    listing = mine.get("/cases").get_data(as_text=True)
    assert "0 hồ sơ" in listing
    assert "Người Xã Khác" not in listing
    assert mine.get(f"/cases?commune={C2}").get_data(as_text=True).count("Người Xã Khác") == 0
    assert "0 hồ sơ" in mine.get(f"/cases?commune={C2}&status=").get_data(as_text=True)
    assert "Người Xã Khác" not in mine.get("/cases?page=2").get_data(as_text=True)
    found = mine.post("/cases/search", data={"query": "Người Xã Khác"}).get_data(as_text=True)
    assert "Kết quả: 0 hồ sơ" in found
    assert "3 hồ sơ" in other.get("/cases").get_data(as_text=True)


def _state(app, code: str) -> tuple:
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.code == code)).one()
        return (case.address, case.status, case.commune_code, case.version, case.full_name)


@pytest.mark.plan("Z7")
@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_read_only_roles_cannot_change_a_case(app, make_account, worker_c1, role):
    """CaseApp's read-only roles for case files are the supervisor (figures only) and the
    administrator (accounts only); officers are case managers and may edit."""
    worker = app.test_client()
    login(worker, worker_c1)
    code = open_case(worker)
    before = _state(app, code)
    client = app.test_client()
    login(client, make_account(role))
    attempts = {
        f"/cases/{code}/edit": case_form(address="Nhà khác", version="1"),
        f"/cases/{code}/close": {"reason": "moved_away", "note": "x"},
        f"/cases/{code}/reopen": {"note": "x"},
        f"/cases/{code}/transfer": {"commune_code": str(C2), "note": "x"},
        f"/cases/{code}/assign": {"assigned_worker_id": ""},
        "/cases/new": case_form(full_name="Người Mới Thêm"),
    }
    for path, data in attempts.items():
        assert client.post(path, data=data).status_code == 403, path
    assert _state(app, code) == before
    assert before[0] == ADDR
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def _counts(app) -> dict[str, int]:
    with app.app_context():
        tables = [t for t in db.metadata.sorted_tables if t.name != AuditEvent.__tablename__]
        return {
            t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in tables
        }


@pytest.mark.plan("C3")
@pytest.mark.parametrize("role", [Role.WORKER, Role.ADMIN])
def test_no_state_change_via_get(app, make_account, role):
    account = make_account(role)
    client = app.test_client()
    login(client, account)
    if role is Role.WORKER:
        code = open_case(client)
    before = _counts(app)
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods or not rule.methods & {"POST", "PUT", "DELETE", "PATCH"}:
            continue
        url = re.sub(r"<(?:int|id):\w+>", "1", rule.rule)
        url = re.sub(r"<(?:\w+:)?\w+>", code if role is Role.WORKER else "x", url)
        response = client.get(url)
        # 405, or 404/403 where a GET page's pattern (/cases/<code>) takes the URL first.
        assert response.status_code in (403, 404, 405), (rule.endpoint, response.status_code)
        checked += 1
    assert checked >= 10
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200  # still signed in
    assert _counts(app) == before
