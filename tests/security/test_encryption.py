"""Encryption rows of the security test plan, through the real case pages: two files with one CCCD
(E2), an altered ciphertext seen by a user (E3), and what an error or a search leaves in the page,
the logs and the URL (E9)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from caseapp.audit import AuditEvent
from caseapp.cases import services
from caseapp.cases.models import Case
from caseapp.extensions import db
from tests.cases.conftest import ADDR, CCCD, NAME, case_form, open_case
from tests.conftest import login


def _raw(app, code: str) -> sa.Row:
    """The stored columns of a case, read through Core: what is in the database."""
    with app.app_context():
        table = Case.__table__
        return db.session.execute(sa.select(table).where(table.c.code == code)).one()


@pytest.mark.plan("E2")
def test_same_cccd_in_two_cases_differs_in_ciphertext_not_in_blind_index(app, worker_c1):
    client = app.test_client()
    login(client, worker_c1)
    first = open_case(client)
    second = open_case(client, full_name="Lê Văn Khác")  # same CCCD, flagged as a duplicate
    a, b = _raw(app, first), _raw(app, second)
    assert a.national_id_ct != b.national_id_ct
    assert CCCD not in a.national_id_ct
    assert a.national_id_bidx == b.national_id_bidx
    assert a.national_id_bidx is not None


@pytest.mark.plan("E3")
def test_altered_ciphertext_gives_a_generic_error_page_and_is_audited(app, worker_c1, caplog):
    client = app.test_client()
    login(client, worker_c1)
    code = open_case(client)
    stored = _raw(app, code).address_ct
    head, body = stored.rsplit(".", 1)
    flipped = body[:5] + ("A" if body[5] != "A" else "B") + body[6:]
    with app.app_context():
        db.session.execute(
            sa.update(Case.__table__)
            .where(Case.__table__.c.code == code)
            .values(address_ct=f"{head}.{flipped}")
        )
        db.session.commit()
    response = client.get(f"/cases/{code}")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Hệ thống gặp lỗi" in html
    for value in (NAME, CCCD, ADDR, "Ngõ", "Quỳnh"):  # not even the fields that still decrypt
        assert value not in html
        assert value not in caplog.text
    with app.app_context():
        failure = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "integrity_failure")
        ).one()
        assert failure.actor_id == worker_c1.id
        assert failure.outcome == "error"
        assert failure.target_id == "cases.detail"
        # The view itself was not recorded as a successful read.
        views = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "case_viewed")
        )
    assert views == 1  # the one open_case made before the change


@pytest.mark.plan("E9")
def test_failed_case_save_leaks_nothing_to_page_or_logs(app, worker_c1, monkeypatch, caplog):
    real = services.create_case

    def failing(data, **kwargs):
        real(data, **kwargs)
        raise sa.exc.IntegrityError(
            "INSERT INTO cases (full_name_ct, national_id_bidx) VALUES (?, ?)",
            {"full_name": NAME, "national_id": CCCD, "address": ADDR},
            Exception(f"duplicate key value {CCCD}"),
        )

    client = app.test_client()
    login(client, worker_c1)
    monkeypatch.setattr(services, "create_case", failing)
    caplog.clear()
    response = client.post("/cases/new", data=case_form())
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "IntegrityError" in caplog.text  # the failure is logged, for whoever debugs it
    for text in (html, caplog.text):
        for marker in (NAME, CCCD, ADDR, "INSERT INTO", "national_id_bidx"):
            assert marker not in text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


@pytest.mark.plan("E9")
def test_cccd_search_is_never_in_a_url(app, worker_c1):
    client = app.test_client()
    login(client, worker_c1)
    open_case(client)
    by_get = client.get(f"/cases/search?query={CCCD}")  # /cases/<code>: no such file
    assert by_get.status_code in (404, 405)
    assert CCCD not in by_get.get_data(as_text=True)
    listing = client.get(f"/cases?query={CCCD}").get_data(as_text=True)
    assert "<form" in listing
    forms = listing.split("<form")[1:]
    search = [f for f in forms if "/cases/search" in f.split(">", 1)[0]]
    assert search
    assert all('method="post"' in f.split(">", 1)[0].lower() for f in search)
