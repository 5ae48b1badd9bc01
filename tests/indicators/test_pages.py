"""The indicator pages answer every role as the policy says, with the figures and no identity."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from caseapp.audit import AuditEvent
from tests.conftest import C1, C2


@pytest.fixture
def supervisor_client(logged_in, supervisor):
    return logged_in(supervisor)


def test_dashboard_shows_charts_and_tables(supervisor_client):
    page = supervisor_client.get("/indicators/?period=2026")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "<svg" in html
    assert "Xếp hạng xã, phường" in html
    assert "Theo huyện cũ" in html
    assert "Chưa nhập dân số" in html


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("period=2026-H3", 400, "Kỳ báo cáo “2026-H3” không hợp lệ"),
        ("period=1999", 400, "không hợp lệ"),
        ("commune=99999", 404, "Không có xã, phường mã “99999”"),
        ("commune=abc", 404, "Không có xã, phường mã “abc”"),
    ],
)
def test_bad_period_or_commune_is_a_clear_error(supervisor_client, query, status, message):
    page = supervisor_client.get(f"/indicators/?{query}")
    assert page.status_code == status
    assert message in page.get_data(as_text=True)


def test_officer_out_of_scope_commune_is_refused(make_account, logged_in):
    from caseapp.users.models import Role, ScopeKind

    officer = make_account(Role.OFFICER, scope=ScopeKind.COMMUNES, communes=(C1,))
    client = logged_in(officer)
    assert client.get(f"/indicators/?commune={C1}").status_code == 200
    page = client.get(f"/indicators/?commune={C2}")
    assert page.status_code == 404


def test_downloads_are_audited(app, supervisor_client):
    xlsx = supervisor_client.get("/indicators/report.xlsx?period=2026-H1")
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.data))
    assert "Tổng hợp" in book.sheetnames
    exported = supervisor_client.post(
        "/indicators/export", data={"period": "2026", "format": "csv"}
    )
    assert exported.status_code == 200, exported.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "Bảng"
    with app.app_context():
        import sqlalchemy as sa

        from caseapp.extensions import db

        actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"report_downloaded", "statistics_exported"} <= actions
