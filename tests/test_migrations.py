"""Migrations: head equals the models, and every revision upgrades and downgrades, on SQLite and
(with CASEAPP_TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from caseapp import MIGRATIONS_DIR, create_app
from caseapp.extensions import db
from tests.conftest import base_overrides, fresh_database, make_instance


@pytest.fixture
def empty_app(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(base_overrides(url), instance_path=make_instance(tmp_path / "instance"))
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _revisions() -> list[str]:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _tables(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


@pytest.mark.plan("M1")
def test_single_head():
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    assert len(script.get_heads()) == 1


@pytest.mark.plan("M1")
def test_head_matches_the_models(empty_app):
    with empty_app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
    assert diff == []
    assert _tables(empty_app) == set(db.metadata.tables)


@pytest.mark.plan("M1", "M2")
def test_each_revision_upgrades_and_downgrades(empty_app):
    revisions = _revisions()
    assert revisions
    with empty_app.app_context():
        for revision in revisions:
            upgrade(directory=str(MIGRATIONS_DIR), revision=revision)
            downgrade(directory=str(MIGRATIONS_DIR), revision="base")
            assert _tables(empty_app) == set()
            upgrade(directory=str(MIGRATIONS_DIR), revision=revision)
        downgrade(directory=str(MIGRATIONS_DIR), revision="base")
    assert _tables(empty_app) == set()


def test_audit_guards_come_and_go_with_the_schema(empty_app):
    with empty_app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO audit_events (occurred_at, action, outcome, details, prev_hash, hash) "
                "VALUES (CURRENT_TIMESTAMP, 'x', 'ok', '{}', 'a', 'b')"
            )
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_events")
        downgrade(directory=str(MIGRATIONS_DIR), revision="base")
