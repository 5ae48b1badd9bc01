"""The audit trail: ids only, hash-chained, append-only, verified by a command."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from caseapp import audit
from caseapp.extensions import db
from tests.conftest import login


def _events(app) -> list[audit.AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(sa.select(audit.AuditEvent).order_by(audit.AuditEvent.id)))


@pytest.mark.plan("L3")
def test_chain_verifies_and_links(app, client, worker_c1):
    login(client, worker_c1)
    client.post("/logout")
    events = _events(app)
    assert [e.action for e in events][-2:] == ["login", "logout"]
    assert events[0].prev_hash == audit.GENESIS
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    with app.app_context():
        report = audit.verify_chain()
    assert report.ok
    assert report.checked == len(events)


@pytest.mark.plan("L1")
def test_events_hold_ids_not_values(app, client, worker_c1):
    login(client, worker_c1, password="wrong password typed here")
    login(client, worker_c1)
    for event in _events(app):
        text = json.dumps(
            [event.actor_id, event.action, event.target_id, event.details], ensure_ascii=False
        )
        assert worker_c1.password not in text
        assert "wrong password typed here" not in text
        assert worker_c1.username not in text
        if event.action.startswith("login"):  # web events carry the request id
            assert event.request_id
            assert len(event.request_id) == 16


@pytest.mark.plan("L5")
def test_details_cannot_forge_lines(app):
    with app.app_context():
        event = audit.record(
            "test", actor=None, details={"note": "ok\r\nFAKE line\x1b[31m", "n": 3}
        )
        db.session.commit()
        assert "\n" not in event.details
        assert "\x1b" not in event.details
        assert json.loads(event.details)["n"] == 3


@pytest.mark.plan("L3")
def test_orm_update_and_delete_refused(app, client, worker_c1):
    login(client, worker_c1)
    with app.app_context():
        event = db.session.scalars(sa.select(audit.AuditEvent)).first()
        event.action = "changed"
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.commit()
        db.session.rollback()
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.delete(audit.AuditEvent))
        db.session.rollback()


@contextlib.contextmanager
def _guards_dropped(app) -> Iterator[sa.Connection]:
    """What someone with raw database access could do; the chain still gives them away.
    The triggers come back afterwards (the PostgreSQL test database is shared by the session)."""
    pg = db.engine.dialect.name == "postgresql"
    on = " ON audit_events" if pg else ""
    with db.engine.begin() as conn:
        for event in ("update", "delete"):
            conn.exec_driver_sql(f"DROP TRIGGER audit_events_no_{event}{on}")
        yield conn
    with db.engine.begin() as conn:
        for event in ("UPDATE", "DELETE"):
            body = (
                "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
                if pg
                else "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} "
                f"ON audit_events {body}"
            )


@pytest.mark.plan("L3")
def test_tampering_is_found_at_the_first_broken_link(app, client, worker_c1):
    for _ in range(3):
        login(client, worker_c1)
        client.post("/logout")
    events = _events(app)
    target = events[2]
    with app.app_context():
        with _guards_dropped(app) as conn:
            conn.execute(
                sa.update(audit.AuditEvent)
                .where(audit.AuditEvent.id == target.id)
                .values(outcome="denied")
            )
        report = audit.verify_chain()
        db.session.rollback()
    assert not report.ok
    assert report.first_broken_id == target.id
    assert report.checked == 2


@pytest.mark.plan("L3")
def test_deleting_the_newest_event_is_found(app, client, worker_c1):
    login(client, worker_c1)
    client.post("/logout")
    last = _events(app)[-1]
    with app.app_context():
        with _guards_dropped(app) as conn:
            conn.execute(sa.delete(audit.AuditEvent).where(audit.AuditEvent.id == last.id))
        report = audit.verify_chain()
    assert not report.ok


@pytest.mark.plan("L4")
def test_audit_failure_fails_the_action(app, client, worker_c1, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit, "record", broken)
    response = login(client, worker_c1)
    assert response.status_code == 500
    monkeypatch.undo()
    with app.app_context():
        from caseapp.auth.models import UserSession

        assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 0
