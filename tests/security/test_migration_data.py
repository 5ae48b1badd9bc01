"""Migration rows of the security test plan: data survives the migrations and still decrypts with
the audit chain intact (M3), and neither the SQL the migrations run (statements and parameters, as
the database receives them) nor the logs hold identities or keys (M4).

The SQL is captured from a real run rather than rendered with ``alembic upgrade --sql``: the data
migrations read rows through the connection, which offline mode cannot do.
"""

from __future__ import annotations

import base64
import logging
from datetime import date

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from caseapp import MIGRATIONS_DIR, audit, create_app
from caseapp.cases.models import Case, Category, Sex
from caseapp.cases.services import CaseData, create_case
from caseapp.extensions import db
from caseapp.keys import load_keyring
from caseapp.users.models import Role, ScopeKind
from caseapp.users.services import UserInput, create_user
from tests.cases.conftest import ADDR, CCCD, NAME
from tests.conftest import C1, base_overrides, fresh_database, make_instance, migrate_and_load

# The last revision before the data migration that rewrites the encrypted cases table (0009).
BEFORE_DATA_MIGRATION = "0008"


def _seed(app) -> dict[str, object]:
    """A worker and a case file written through the services, as the application writes them."""
    with app.app_context():
        settings = app.extensions["caseapp.settings"]
        worker, _ = create_user(
            settings,
            UserInput(
                username="worker.migration",
                display_name="Cán bộ Thử",
                role=Role.WORKER.value,
                scope_kind=ScopeKind.COMMUNES.value,
                commune_codes=[C1],
                former_district_code=None,
            ),
            actor=None,
            password="Mật khẩu thử nghiệm dài 2026",
        )
        data = CaseData(
            full_name=NAME, date_of_birth=date(2008, 9, 5), sex=Sex.MALE, national_id=CCCD,
            phone="+84912345678", address=ADDR, guardian_name="Nguyễn Thị Mẹ",
            guardian_relation="Mẹ", guardian_phone=None, notes="Ghi chú", commune_code=C1,
            category=Category.USER, education=None, occupation=None, drug_types=[],
            assigned_worker_id=None, intake_on=date(2026, 1, 5),
        )  # fmt: skip
        case, _ = create_case(data, actor=worker)
        db.session.commit()
        return {
            "code": case.code,
            "category": case.declared_category,
            "national_id_ct": case.national_id_ct,
            "events": db.session.scalar(sa.select(sa.func.count()).select_from(audit.AuditEvent)),
        }


@pytest.mark.plan("M3", "M4")
def test_upgrade_with_data_keeps_it_readable_and_chained(tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    with fresh_database(tmp_path) as url:
        app = create_app(base_overrides(url), instance_path=make_instance(tmp_path / "instance"))
        try:
            migrate_and_load(app)
            before = _seed(app)
            statements: list[str] = []

            def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:
                statements.append(f"{statement} {parameters!r}")

            with app.app_context():
                sa.event.listen(db.engine, "before_cursor_execute", capture)
                downgrade(directory=str(MIGRATIONS_DIR), revision=BEFORE_DATA_MIGRATION)
                db.session.remove()
                # The case as it was stored before the data migration: still there, still sealed.
                row = db.session.execute(
                    sa.text("SELECT national_id_ct FROM cases WHERE code = :code"),
                    {"code": before["code"]},
                ).one()
                assert row.national_id_ct == before["national_id_ct"]
                db.session.commit()
                upgrade(directory=str(MIGRATIONS_DIR))
                sa.event.remove(db.engine, "before_cursor_execute", capture)
                db.session.remove()
                case = db.session.scalars(sa.select(Case).where(Case.code == before["code"])).one()
                assert (case.full_name, case.national_id, case.address) == (NAME, CCCD, ADDR)
                assert case.declared_category == before["category"]
                assert case.national_id_ct == before["national_id_ct"]  # not re-encrypted
                report = audit.verify_chain()
                assert report.ok
                assert report.checked == before["events"]
                db.session.remove()
                db.engine.dispose()
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    sql = "\n".join(statements)
    assert "declared_category" in sql  # the data migration's statements were captured
    output = caplog.text + capsys.readouterr().out + capsys.readouterr().err
    keyring = load_keyring(tmp_path / "instance" / "keys.json")
    forbidden = [NAME, CCCD, ADDR, "Nguyễn Thị Mẹ", "0912345678"]
    for secret in [*keyring.keks.values(), keyring.blind_index_key]:
        forbidden += [secret.hex(), base64.b64encode(secret).decode()[:40]]
        forbidden += [base64.urlsafe_b64encode(secret).decode()[:40], repr(secret)[2:40]]
    for text in forbidden:
        assert text not in sql
        assert text not in output
