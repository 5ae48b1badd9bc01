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


@pytest.mark.plan("L1")
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


def _shown_ua(html: str) -> int:
    import re

    found = re.search(r'data-indicator="ua">([\d.]+)<', html)
    assert found is not None
    return int(found.group(1).replace(".", ""))


def test_dashboard_reuses_its_figures_until_refreshed(app, logged_in, supervisor, worker_c1):
    from datetime import date

    from caseapp.cases.models import Category, Sex
    from caseapp.cases.services import CaseData, create_case
    from caseapp.extensions import db
    from caseapp.users.models import User

    client = logged_in(supervisor)
    first = client.get("/indicators/?period=2026").get_data(as_text=True)
    assert _shown_ua(first) == 0
    assert "Số liệu tính lúc" in first
    with app.app_context():
        actor = db.session.get(User, worker_c1.id)
        create_case(
            CaseData(
                full_name="Người Thử Bộ Nhớ", date_of_birth=date(2005, 1, 1), sex=Sex.MALE,
                national_id=None, phone=None, address=None, guardian_name=None,
                guardian_relation=None, guardian_phone=None, notes=None, commune_code=C1,
                category=Category.USER, education=None, occupation=None, drug_types=[],
                assigned_worker_id=None, intake_on=date(2026, 1, 10),
            ),
            actor=actor,
        )  # fmt: skip
        db.session.commit()
    again = client.get("/indicators/?period=2026").get_data(as_text=True)
    assert _shown_ua(again) == 0  # reused for INDICATOR_CACHE_MINUTES
    refreshed = client.post("/indicators/refresh", data={"period": "2026", "commune": ""})
    assert refreshed.status_code == 302
    assert _shown_ua(client.get("/indicators/?period=2026").get_data(as_text=True)) == 1
    assert client.post("/indicators/refresh", data={"period": "x"}).status_code == 400


def test_the_nightly_job_fills_the_dashboard_figures(app):
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from caseapp.extensions import db
    from caseapp.indicators.models import IndicatorCache
    from caseapp.scheduler.jobs import run_job

    assert run_job(app, "snapshot", datetime(2026, 11, 28, 19, 0, tzinfo=UTC), force=True)
    with app.app_context():
        rows = set(db.session.scalars(sa.select(IndicatorCache.period_key)))
    keys = {row.partition(":")[0] for row in rows}
    # The dashboard's trends: six reporting years and six half years up to today (each kept as
    # totals, per-commune counts and per-commune activity); open files by phase today.
    assert {"2026", "2021", "2026-H2", "2024-H1", "now"} <= keys
    assert len(keys) == 13
    assert {"2026", "2026:c", "2026:a"} <= rows


def test_an_english_user_downloads_the_report_in_vietnamese(make_account, logged_in):
    from caseapp.users.models import Role

    client = logged_in(make_account(Role.SUPERVISOR, locale="en"))
    assert "Indicators" in client.get("/indicators/?period=2026").get_data(as_text=True)
    book = load_workbook(io.BytesIO(client.get("/indicators/report.xlsx?period=2026").data))
    assert book.sheetnames[0] == "Tổng hợp"
    names = [row[1] for row in book["1. Quản lý"].iter_rows(values_only=True)]
    assert "Huyện Thái Thụy (cũ)" in names
    assert "Tỉnh Hưng Yên" in names


def test_a_large_scope_lists_the_communes_needing_help_most(supervisor_client, monkeypatch):
    from caseapp.indicators import views

    monkeypatch.setattr(views, "DASHBOARD_COMMUNES", 10)
    html = supervisor_client.get("/indicators/?period=2026").get_data(as_text=True)
    assert "Phạm vi có 104 xã, phường" in html
    table = html.split('id="communes-table"')[1].split("</table>")[0]
    assert table.count("data-commune=") == 10
    full = supervisor_client.get("/indicators/report?period=2026").get_data(as_text=True)
    assert full.split('id="communes-table"')[1].count("data-commune=") == 104


def test_figures_rendered_once_are_shown_in_each_language(make_account, app):
    """The dashboard keeps its rendered figures per language: a Vietnamese view does not serve
    an English-speaking supervisor, and the kept page is what the next view shows."""
    import sqlalchemy as sa

    from caseapp.extensions import db
    from caseapp.indicators.models import IndicatorCache
    from caseapp.users.models import Role
    from tests.conftest import login

    vi_client, en_client = app.test_client(), app.test_client()
    assert login(vi_client, make_account(Role.SUPERVISOR)).status_code == 302
    assert login(en_client, make_account(Role.SUPERVISOR, locale="en")).status_code == 302
    vi = vi_client.get("/indicators/?period=2026")
    en = en_client.get("/indicators/?period=2026").get_data(as_text=True)
    assert "Xếp hạng xã, phường theo tỷ lệ được hỗ trợ" in vi.get_data(as_text=True)
    assert "Communes ranked by share supported" in en
    assert "Xếp hạng xã, phường theo tỷ lệ được hỗ trợ" not in en
    with app.app_context():
        pages = set(
            db.session.scalars(
                sa.select(IndicatorCache.period_key).where(
                    IndicatorCache.period_key.contains(":h-")
                )
            )
        )
    assert pages == {"2026:h-vi", "2026:h-en"}
    again = en_client.get("/indicators/?period=2026").get_data(as_text=True)
    assert "Communes ranked by share supported" in again
    assert again.count('data-indicator="ua"') == 1
