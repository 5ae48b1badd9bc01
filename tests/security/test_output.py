"""X1 of the security test plan: stored markup is escaped on every page that shows it (detail,
timeline and "who viewed", list, search, the audit trail, the printable report), and no link
takes a ``javascript:`` URL."""

from __future__ import annotations

import re

import pytest

from caseapp.extensions import db
from caseapp.users.models import Role, User
from tests.cases.conftest import case_form, open_case
from tests.conftest import login

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PAYLOAD = f"Nguyễn {SCRIPT}{IMG}"
LINK = re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def _check(html: str, where: str, *, shown: bool = True) -> None:
    assert SCRIPT not in html, where
    assert "<img src=x" not in html, where
    assert "onerror=alert(1)>" not in html, where
    assert not LINK.search(html), where
    if shown:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, where


@pytest.mark.plan("X1")
def test_stored_markup_escaped_on_every_page(app, make_account):
    worker = make_account(Role.WORKER, username="worker.xss")
    with app.app_context():  # a staff name typed by an administrator, shown in histories
        db.session.get(User, worker.id).display_name = PAYLOAD
        db.session.commit()
    client = app.test_client()
    login(client, worker)
    code = open_case(
        client, full_name=PAYLOAD, address=PAYLOAD, notes="javascript:alert(1)", national_id=""
    )
    edit = client.get(f"/cases/{code}/edit").get_data(as_text=True)
    _check(edit, "edit form")
    version = re.search(r'name="version" type="hidden" value="(\d+)"', edit).group(1)
    response = client.post(
        f"/cases/{code}/edit",
        data=case_form(full_name=PAYLOAD, address="Nhà mới", notes=PAYLOAD, national_id="",
                       version=version),
    )  # fmt: skip
    assert response.status_code == 302
    pages = {
        "detail with timeline": client.get(f"/cases/{code}"),
        "list": client.get("/cases"),
        "search": client.post("/cases/search", data={"query": "Nguyễn"}),
    }
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    pages["officer's detail with who viewed"] = officer.get(f"/cases/{code}")
    pages["printable report"] = officer.get("/indicators/report")
    admin = app.test_client()
    login(admin, make_account(Role.ADMIN))
    pages["audit trail"] = admin.get("/admin/audit")
    pages["account list"] = admin.get("/admin/users")
    for name, page in pages.items():
        assert page.status_code == 200, name
        html = page.get_data(as_text=True)
        _check(html, name, shown=name not in {"printable report", "audit trail"})
    assert "Ai đã xem hồ sơ này" in pages["officer's detail with who viewed"].get_data(as_text=True)
