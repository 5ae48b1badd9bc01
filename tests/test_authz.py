"""Authorization: every endpoint declares a decision, anonymous users are sent to sign in, and the
role × endpoint matrix holds. Driven by the app's own URL map, so a new route is covered at once."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from caseapp import authz
from caseapp.audit import AuditEvent
from caseapp.extensions import db
from caseapp.users.models import Role
from tests.conftest import C1, C2, login

PUBLIC = {
    "static",
    "bootstrap.static",
    "auth.login",
    "auth.login_code",  # the second step of sign-in: it needs the first step, not a session
    "auth.choose_language",
    "main.health",
}


def _concrete(rule) -> str:
    """A URL for the rule, with placeholder values for its arguments."""
    url = rule.rule.replace("<path:filename>", "x.css")
    url = re.sub(r"<(?:int|id):\w+>", "1", url)  # numeric ids
    return re.sub(r"<(?:\w+:)?\w+>", "x", url)  # anything else (case codes…)


@pytest.mark.plan("Z2")
def test_every_endpoint_has_an_authorization_decision(app):
    missing = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if authz.endpoint_decision(app, rule.endpoint) is None
    ]
    assert missing == []


@pytest.mark.plan("Z2")
def test_only_the_allow_list_is_public(app):
    public = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if authz.endpoint_decision(app, rule.endpoint) == "public"
    }
    assert public == PUBLIC


@pytest.mark.plan("Z2")
def test_every_non_public_endpoint_requires_login(app, client):
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        url = _concrete(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            assert response.status_code == 302, (rule.endpoint, method, response.status_code)
            assert response.headers["Location"].startswith("/login"), rule.endpoint
            checked += 1
    assert checked >= 10


@pytest.mark.plan("Z2")
def test_endpoint_without_a_decision_is_refused(app_factory, make_account):
    app = app_factory()

    @app.route("/forgotten")
    def forgotten():  # a developer forgot @requires
        return "secret"

    account = make_account(Role.ADMIN, username="root.like")
    client = app.test_client()
    login(client, account)
    assert client.get("/forgotten").status_code == 403


# role -> endpoint -> expected status for a GET
MATRIX = {
    "main.index": {"worker": 200, "officer": 200, "supervisor": 200, "admin": 200},
    "auth.account": {"worker": 200, "officer": 200, "supervisor": 200, "admin": 200},
    "auth.change_password": {"worker": 200, "officer": 200, "supervisor": 200, "admin": 200},
    "auth.two_factor": {"worker": 200, "officer": 200, "supervisor": 200, "admin": 200},
    "admin.users": {"worker": 403, "officer": 403, "supervisor": 403, "admin": 200},
    "admin.create_user": {"worker": 403, "officer": 403, "supervisor": 403, "admin": 200},
    "admin.communes": {"worker": 403, "officer": 403, "supervisor": 403, "admin": 200},
    "admin.audit_trail": {"worker": 403, "officer": 403, "supervisor": 403, "admin": 200},
    "admin.retention": {"worker": 403, "officer": 403, "supervisor": 403, "admin": 200},
    "cases.index": {"worker": 200, "officer": 200, "supervisor": 403, "admin": 403},
    "cases.create": {"worker": 200, "officer": 200, "supervisor": 403, "admin": 403},
    "cases.duplicates": {"worker": 403, "officer": 200, "supervisor": 403, "admin": 403},
    "workflow.approvals": {"worker": 403, "officer": 200, "supervisor": 403, "admin": 403},
    "workflow.rule_sets": {"worker": 403, "officer": 403, "supervisor": 403, "admin": 200},
    "imports.upload": {"worker": 200, "officer": 200, "supervisor": 403, "admin": 403},
    "imports.template_xlsx": {"worker": 200, "officer": 200, "supervisor": 403, "admin": 403},
    "imports.template_csv": {"worker": 200, "officer": 200, "supervisor": 403, "admin": 403},
    "followups.todo": {"worker": 200, "officer": 200, "supervisor": 403, "admin": 403},
    "followups.overdue": {"worker": 403, "officer": 200, "supervisor": 403, "admin": 403},
    "followups.notifications": {"worker": 200, "officer": 200, "supervisor": 200, "admin": 200},
    "followups.preferences": {"worker": 200, "officer": 200, "supervisor": 200, "admin": 200},
    "scheduler.status": {"worker": 403, "officer": 403, "supervisor": 403, "admin": 200},
    "indicators.dashboard": {"worker": 403, "officer": 200, "supervisor": 200, "admin": 403},
    "indicators.printable": {"worker": 403, "officer": 200, "supervisor": 200, "admin": 403},
    "indicators.report_xlsx": {"worker": 403, "officer": 200, "supervisor": 200, "admin": 403},
    "indicators.report_docx": {"worker": 403, "officer": 200, "supervisor": 200, "admin": 403},
    "indicators.export_statistics": {
        "worker": 403,
        "officer": 403,
        "supervisor": 200,
        "admin": 403,
    },
    # Break glass: officers and administrators ask; supervisors and administrators review.
    "break_glass.start": {"worker": 403, "officer": 200, "supervisor": 403, "admin": 200},
    "break_glass.review": {"worker": 403, "officer": 403, "supervisor": 200, "admin": 200},
}
URLS = {
    "main.index": "/",
    "auth.account": "/account",
    "auth.change_password": "/account/password",
    "auth.two_factor": "/account/two-factor",
    "admin.users": "/admin/users",
    "admin.create_user": "/admin/users/new",
    "admin.communes": "/admin/communes",
    "admin.audit_trail": "/admin/audit",
    "admin.retention": "/admin/retention",
    "cases.index": "/cases",
    "cases.create": "/cases/new",
    "cases.duplicates": "/cases/duplicates",
    "workflow.approvals": "/approvals",
    "workflow.rule_sets": "/admin/rules",
    "imports.upload": "/cases/import",
    "imports.template_xlsx": "/cases/import/template.xlsx",
    "imports.template_csv": "/cases/import/template.csv",
    "followups.todo": "/todo",
    "followups.overdue": "/follow-ups/overdue",
    "followups.notifications": "/notifications",
    "followups.preferences": "/account/reminders",
    "scheduler.status": "/admin/scheduler",
    "indicators.dashboard": "/indicators/",
    "indicators.printable": "/indicators/report",
    "indicators.report_xlsx": "/indicators/report.xlsx",
    "indicators.report_docx": "/indicators/report.docx",
    "indicators.export_statistics": "/indicators/export",
    "break_glass.start": "/break-glass/",
    "break_glass.review": "/break-glass/review",
}


@pytest.mark.plan("Z1")
def test_matrix_covers_every_get_page(app):
    pages = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and rule.endpoint not in PUBLIC
    }
    assert pages == set(MATRIX)


@pytest.mark.plan("Z1", "Z6", "L2")
@pytest.mark.parametrize("role", [r.value for r in Role])
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_authz_matrix(app, make_account, role, endpoint):
    account = make_account(Role(role))
    client = app.test_client()
    login(client, account)
    response = client.get(URLS[endpoint])
    assert response.status_code == MATRIX[endpoint][role]
    if response.status_code == 403:
        assert "Không có quyền truy cập" in response.get_data(as_text=True)
        with app.app_context():
            denied = db.session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == "access_denied")
            ).one()
            assert denied.actor_id == account.id
            assert denied.target_id == endpoint
            assert denied.outcome == "denied"


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/admin/users/1", "POST"),
        ("/admin/users/1/enabled", "POST"),
        ("/admin/users/1/password", "POST"),
        ("/admin/communes/12452", "POST"),
    ],
)
def test_non_admins_cannot_change_accounts_or_communes(app, make_account, path, method):
    for role in (Role.WORKER, Role.OFFICER, Role.SUPERVISOR):
        client = app.test_client()
        login(client, make_account(role))
        assert client.open(path, method=method, data={"population": "5"}).status_code == 403


@pytest.mark.plan("Z1")
def test_scope_of_each_role(app, make_account):
    from caseapp.users.models import ScopeKind, User

    worker = make_account(Role.WORKER, communes=(C1,))
    district_officer = make_account(
        Role.OFFICER, scope=ScopeKind.FORMER_DISTRICT, former_district=344
    )
    province_officer = make_account(Role.OFFICER)
    admin = make_account(Role.ADMIN)
    with app.app_context():
        get = db.session.get
        assert authz.can(get(User, worker.id), authz.Action.EDIT_CASES, C1)
        assert not authz.can(get(User, worker.id), authz.Action.EDIT_CASES, C2)
        # C2 (13279, Xã Vũ Tiên) comes from former Vũ Thư (344); C1 from Thái Bình city (336).
        assert authz.can(get(User, district_officer.id), authz.Action.VIEW_CASES, C2)
        assert not authz.can(get(User, district_officer.id), authz.Action.VIEW_CASES, C1)
        assert authz.can(get(User, province_officer.id), authz.Action.APPROVE_STEPS, C1)
        assert not authz.can(get(User, admin.id), authz.Action.VIEW_IDENTITIES, C1)
        assert not authz.can(get(User, worker.id), authz.Action.MANAGE_USERS)
        codes = set(db.session.scalars(authz.scope_commune_codes(get(User, district_officer.id))))
        assert C2 in codes
        assert C1 not in codes
        assert len(set(db.session.scalars(authz.scope_commune_codes(get(User, admin.id))))) == 0


@pytest.mark.plan("S6")
def test_scope_change_takes_effect_on_next_request(app, make_account):
    from caseapp.users.models import User

    worker = make_account(Role.WORKER, communes=(C1,))
    client = app.test_client()
    login(client, worker)
    assert "Phường Trần Hưng Đạo" in client.get("/").get_data(as_text=True)
    with app.app_context():
        from caseapp.geo.models import Commune

        user = db.session.get(User, worker.id)
        user.communes = [db.session.get(Commune, C2)]
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert "Phường Trần Hưng Đạo" not in page
    assert "Xã Vũ Tiên" in page
