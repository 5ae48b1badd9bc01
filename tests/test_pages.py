"""Every page: valid HTML in Vietnamese, labelled fields, unique ids, local assets, strict headers,
friendly error pages that leak nothing, and the English alternative."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import html5lib
import pytest
import time_machine

from caseapp import authz
from caseapp.users.models import Role
from tests.conftest import C1, login, next_totp_code

PAGES = ["/", "/account", "/account/password", "/admin/users", "/admin/users/new",
         "/admin/communes", f"/admin/communes/{C1}", "/admin/audit", "/cases", "/cases/new",
         "/cases/duplicates", "/cases/import", "/approvals", "/admin/rules", "/todo",
         "/follow-ups/overdue", "/notifications", "/account/reminders",
         "/admin/scheduler", "/indicators/", "/indicators/report?period=2026-H1",
         "/indicators/export", "/account/two-factor"]  # fmt: skip


class _Audit(HTMLParser):
    """Collects ids, labels, form controls and resource URLs of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.urls: list[str] = []
        self.inline_script = False
        self.style_attr = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"] or "")
        if tag in {"input", "select", "textarea"} and a.get("type") not in {"hidden", "submit"}:
            self.controls.append(a)
        for attr in ("src", "href", "action"):
            if a.get(attr):
                self.urls.append(a[attr] or "")
        if tag == "script" and not a.get("src"):
            self.inline_script = True
        if "style" in a:
            self.style_attr = True


def check_page(html: str) -> None:
    """Valid HTML5, lang set, every control labelled, ids unique, nothing loaded from elsewhere."""
    html5lib.HTMLParser(strict=True).parse(html)
    title = re.search(r"<title>(.*?)</title>", html, re.DOTALL)
    assert title, "every page has a title"
    assert "<" not in title.group(1), "the title is plain text"
    assert re.search(r'<html lang="(vi|en)">', html)
    audit = _Audit()
    audit.feed(html)
    duplicates = {i for i in audit.ids if audit.ids.count(i) > 1}
    assert not duplicates, f"duplicate ids: {duplicates}"
    for control in audit.controls:
        labelled = control.get("id") in audit.label_for or control.get("aria-label")
        assert labelled, f"control without a label: {control}"
    external = [u for u in audit.urls if re.match(r"^(https?:)?//", u)]
    assert not external, f"external resources: {external}"
    assert not audit.inline_script, "inline scripts are blocked by the CSP"
    assert not audit.style_attr, "style attributes are blocked by the CSP"


@pytest.mark.parametrize("role", list(Role))
def test_every_page_is_valid_and_accessible(app, make_account, role):
    client = app.test_client()
    check_page(client.get("/login").get_data(as_text=True))
    login(client, make_account(role))
    for path in PAGES:
        response = client.get(path)
        if response.status_code == 200:
            check_page(response.get_data(as_text=True))
        else:
            assert response.status_code == 403
            check_page(response.get_data(as_text=True))


def test_pages_with_errors_are_valid(app, logged_in, admin):
    client = logged_in(admin)
    html = client.post("/admin/users/new", data={"username": "x"}).get_data(as_text=True)
    assert 'aria-invalid="true"' in html
    check_page(html)
    html = client.post(f"/admin/communes/{C1}", data={"population": "abc"}).get_data(as_text=True)
    check_page(html)
    html = (
        app.test_client()
        .post("/login", data={"username": "a", "password": "b"})
        .get_data(as_text=True)
    )
    check_page(html)


@pytest.mark.plan("S4")
def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # plain-HTTP local mode


@pytest.mark.plan("S4")
def test_production_cookie_and_hsts(app_factory, make_account):
    app = app_factory(LOCAL_HTTP=False)
    account = make_account(Role.WORKER)
    client = app.test_client()
    response = client.post(
        "/login",
        base_url="https://caseapp.example",
        data={"username": account.username, "password": account.password},
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-caseapp_session=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in cookie
    assert "Domain" not in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_static_assets_served_locally(client):
    for path in ("/static/css/app.css", "/bootstrap/static/css/bootstrap.min.css",
                 "/bootstrap/static/js/bootstrap.min.js"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()


def test_not_found_page(client, worker_c1):
    login(client, worker_c1)
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Không tìm thấy trang" in html
    check_page(html)


def test_method_not_allowed_page(client, worker_c1):
    login(client, worker_c1)
    response = client.get("/logout")
    assert response.status_code == 405
    assert "Thao tác không được phép" in response.get_data(as_text=True)


@pytest.mark.plan("I1")
def test_oversized_request_is_413(client, worker_c1):
    login(client, worker_c1)
    response = client.post("/account", data={"locale": "x" * (17 * 1024 * 1024)})
    assert response.status_code == 413
    assert "quá lớn" in response.get_data(as_text=True)


@pytest.mark.plan("E9")
def test_server_error_page_leaks_nothing(app_factory, make_account, caplog):
    app = app_factory()

    @app.route("/boom")
    @authz.requires(authz.Action.SIGNED_IN)
    def boom():
        raise RuntimeError("secret value 001099012345 in the message")

    client = app.test_client()
    login(client, make_account(Role.WORKER))
    response = client.get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Hệ thống gặp lỗi" in html
    assert "001099012345" not in html
    assert "Traceback" not in html
    assert "RuntimeError" in caplog.text
    assert "test_pages.py" in caplog.text  # where it happened, for whoever debugs it
    assert "001099012345" not in caplog.text


def test_csrf_failure_is_a_friendly_page(app_csrf, make_account):
    account = make_account(Role.WORKER)
    client = app_csrf.test_client()
    response = client.post("/login", data={"username": account.username, "password": "x"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "mã bảo vệ CSRF" in html
    check_page(html)


def _csrf_token(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match
    return match.group(1)


@pytest.mark.plan("C1")
def test_all_mutating_routes_require_csrf(app_csrf, make_account):
    admin = make_account(Role.ADMIN)
    client = app_csrf.test_client()
    token = _csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"username": admin.username, "password": admin.password, "csrf_token": token},
    )
    assert response.headers["Location"] == "/login/code"
    code = next_totp_code(app_csrf, admin)
    response = client.post(
        "/login/code", data={"code": code, "csrf_token": _csrf_token(client, "/login/code")}
    )
    assert response.headers["Location"] == "/"
    checked = 0
    for rule in app_csrf.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        url = re.sub(r"<(?:\w+:)?\w+>", str(C1) if "communes" in rule.rule else "1", rule.rule)
        assert client.post(url, data={}).status_code == 400, rule.endpoint
        checked += 1
    assert checked >= 8
    # With a valid token the same kind of request goes through.
    token = _csrf_token(client, "/account")
    assert client.post("/account", data={"locale": "vi", "csrf_token": token}).status_code == 302


@pytest.mark.plan("C2")
def test_csrf_token_bound_to_session(app_csrf, make_account):
    account = make_account(Role.WORKER)
    first, second = app_csrf.test_client(), app_csrf.test_client()
    token = _csrf_token(first, "/login")
    _csrf_token(second, "/login")
    response = second.post(
        "/login",
        data={"username": account.username, "password": account.password, "csrf_token": token},
    )
    assert response.status_code == 400


def test_english_for_users_who_choose_it(app, make_account):
    account = make_account(Role.ADMIN, locale="en")
    client = app.test_client()
    login(client, account)
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Audit trail" in html
    assert "Nhật ký truy cập" not in html
    html = client.get("/admin/communes").get_data(as_text=True)
    assert "Former district" in html


def test_language_switch_on_login_page(client):
    client.post("/language", data={"locale": "en"})
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Sign in" in html
    client.post("/language", data={"locale": "klingon"})
    assert "Sign in" in client.get("/login").get_data(as_text=True)


def test_user_changes_own_language(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    assert client.post("/account", data={"locale": "en"}).status_code == 302
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    html = client.post("/account", data={"locale": "fr"}).get_data(as_text=True)
    assert "Not a valid choice" in html  # WTForms' own message, in the user's English


def test_dates_are_dd_mm_yyyy_in_vietnam_time(app, client, worker_c1):
    with time_machine.travel(datetime(2026, 3, 1, 20, 30, tzinfo=UTC), tick=False):
        login(client, worker_c1)
        html = client.get("/account").get_data(as_text=True)
    assert "02/03/2026 03:30" in html  # UTC+7


def test_numbers_use_vietnamese_separators(app, logged_in, admin):
    client = logged_in(admin)
    client.post(f"/admin/communes/{C1}", data={"population": "1234567"})
    assert "1.234.567" in client.get("/admin/communes").get_data(as_text=True)


def test_health_check_is_public_and_terse(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_csrf_over_https_with_the_referrer_policy(app_factory, make_account):
    """Browsers send a same-origin Referer under our policy; Flask-WTF requires one on HTTPS."""
    app = app_factory(LOCAL_HTTP=False, WTF_CSRF_ENABLED=True)
    account = make_account(Role.WORKER)
    client = app.test_client()
    base = "https://caseapp.example"
    page = client.get("/login", base_url=base)
    assert page.headers["Referrer-Policy"] == "same-origin"
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    )
    response = client.post(
        "/login",
        base_url=base,
        headers={"Referer": f"{base}/login"},
        data={
            "username": account.username,
            "password": account.password,
            "csrf_token": token.group(1),
        },
    )
    assert response.status_code == 302
