"""Concurrency rows of the security test plan: parallel writers on one database never see
"database is locked" (K2), and a request that fails before its commit leaves nothing (K4)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from caseapp.audit import AuditEvent
from caseapp.cases import services
from caseapp.cases.models import Case
from caseapp.extensions import db
from tests.cases.conftest import case_form, open_case
from tests.conftest import login

THREADS, UPDATES = 8, 25


@pytest.mark.plan("K2")
def test_parallel_writes_no_lock_errors(app, worker_c1):
    client = app.test_client()
    login(client, worker_c1)
    codes = [open_case(client, full_name=f"Người Song Song {n}", national_id="") for n in range(8)]
    with app.app_context():
        ids = list(db.session.scalars(sa.select(Case.id).where(Case.code.in_(codes))))
        versions = {
            row.id: row.version for row in db.session.execute(sa.select(Case.id, Case.version))
        }
        if db.engine.dialect.name == "sqlite":
            pragma = db.session.connection().exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() > 0
        db.session.commit()
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer(case_id: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for n in range(UPDATES):
                    case = db.session.get(Case, case_id)
                    case.notes = f"Lần cập nhật {n}"
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported below, with its message
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(case_id,)) for case_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [], [str(e)[:200] for e in errors]
    with app.app_context():
        for case in db.session.scalars(sa.select(Case).where(Case.id.in_(ids))):
            assert case.version == versions[case.id] + UPDATES
            assert case.notes == f"Lần cập nhật {UPDATES - 1}"


def _counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
            for t in db.metadata.sorted_tables
        }


@pytest.mark.plan("K4")
def test_request_is_atomic(app, worker_c1, monkeypatch):
    real = services.create_case
    inserted: list[int] = []

    def failing_after_insert(data, **kwargs):
        case, _duplicates = real(data, **kwargs)
        db.session.flush()
        inserted.append(case.id)  # the row, its audit event and its follow-ups were written
        raise RuntimeError("failure after the insert, before the commit")

    client = app.test_client()
    login(client, worker_c1)
    before = _counts(app)
    monkeypatch.setattr(services, "create_case", failing_after_insert)
    response = client.post("/cases/new", data=case_form())
    assert response.status_code == 500
    assert inserted  # the failure really came after the insert
    assert _counts(app) == before  # no case, no audit row, no reminder or follow-up row
    with app.app_context():
        assert db.session.get(Case, inserted[0]) is None
        assert (
            db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "case_created"))
            == 0
        )
