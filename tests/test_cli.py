"""The `caseapp` command, run as a real process: init twice changes nothing, demo once, users."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL

CASEAPP = str(Path(sys.executable).with_name("caseapp"))


def run(instance: Path, *args: str, env: dict[str, str] | None = None, check: bool = True):
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("CASEAPP_") and k != "FLASK_APP"
    }
    environment.update({"CASEAPP_INSTANCE": str(instance), **(env or {})})
    result = subprocess.run(  # noqa: S603 -- our own console script
        [CASEAPP, *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _counts(db_file: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {
                n: conn.execute(sa.select(sa.func.count()).select_from(sa.table(n))).scalar()
                for n in names
            }
    finally:
        engine.dispose()


def test_init_then_demo_then_init_again_changes_nothing(tmp_path):
    instance = tmp_path / "instance"
    first = run(instance, "init")
    assert "104 communes" in first.stdout
    for name in ("config.py", "keys.json", "caseapp.db"):
        assert os.stat(instance / name).st_mode & 0o777 == 0o600, name
    assert os.stat(instance).st_mode & 0o777 == 0o700

    demo = run(instance, "demo", "--if-empty")
    for username in ("demo.canbo", "demo.phutrach", "demo.lanhdao", "demo.quantri"):
        assert username in demo.stdout
    logins = instance / "demo-logins.txt"
    assert os.stat(logins).st_mode & 0o777 == 0o600

    before = {n: _digest(instance / n) for n in ("config.py", "keys.json", "demo-logins.txt")}
    counts = _counts(instance / "caseapp.db")
    second = run(instance, "init")
    assert "Created" not in second.stdout
    again = run(instance, "demo", "--if-empty")
    assert "already exist" in again.stdout
    assert "demo.quantri" in again.stdout  # the saved logins are shown again
    after = {n: _digest(instance / n) for n in ("config.py", "keys.json", "demo-logins.txt")}
    assert before == after
    assert _counts(instance / "caseapp.db") == counts
    assert counts["users"] == 4
    assert counts["communes"] == 104
    assert counts["cases"] == 60  # synthetic files for a first look

    more = run(instance, "demo", "--cases", "300", "--seed", "7")
    assert "300 synthetic case files" in more.stdout
    assert _counts(instance / "caseapp.db")["cases"] == 360

    refused = run(instance, "demo", check=False)
    assert refused.returncode != 0
    assert "empty system" in refused.stderr


def test_init_refuses_new_keys_for_an_existing_database(tmp_path):
    instance = tmp_path / "instance"
    run(instance, "init")
    (instance / "keys.json").unlink()
    counts = _counts(instance / "caseapp.db")
    result = run(instance, "init", check=False)
    assert result.returncode != 0
    assert "key escrow" in result.stderr
    assert not (instance / "keys.json").exists()
    assert _counts(instance / "caseapp.db") == counts


def test_corrupt_key_file_stops_every_command(tmp_path):
    instance = tmp_path / "instance"
    run(instance, "init")
    (instance / "keys.json").write_text("garbage")
    for command in ("init", "serve", "audit-verify"):
        result = run(instance, command, check=False)
        assert result.returncode != 0
        assert "is corrupt" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.plan("A9", "L3")
def test_create_user_and_audit_verify(tmp_path):
    instance = tmp_path / "instance"
    run(instance, "init")
    created = run(
        instance,
        "create-user",
        "--username",
        "tran.van.b",
        "--name",
        "Trần Văn B",
        "--role",
        "worker",
        "--commune",
        "12452",
    )
    assert "One-time password:" in created.stdout
    assert "must be changed" in created.stdout
    refused = run(
        instance,
        "create-user",
        "--username",
        "x.y",
        "--name",
        "X",
        "--role",
        "worker",
        check=False,
    )
    assert refused.returncode != 0
    assert "commune_codes" in refused.stderr
    verified = run(instance, "audit-verify")
    assert "Audit trail intact: 1 events verified." in verified.stdout


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL run only (CASEAPP_TEST_DATABASE_URL)")
def test_init_on_postgresql(tmp_path):
    from tests.conftest import fresh_database

    with fresh_database(tmp_path) as url:
        instance = tmp_path / "instance"
        env = {"CASEAPP_DATABASE_URL": url}
        assert "104 communes" in run(instance, "init", env=env).stdout
        assert "104 communes" in run(instance, "init", env=env).stdout
        assert "demo.canbo" in run(instance, "demo", "--if-empty", env=env).stdout


def test_synthetic_cases_are_encrypted_and_readable(tmp_path):
    instance = tmp_path / "instance"
    run(instance, "init")
    run(instance, "demo", "--if-empty")
    from caseapp import create_app
    from caseapp.cases.models import Case
    from caseapp.extensions import db

    app = create_app(
        {"DATABASE_URL": f"sqlite:///{instance / 'caseapp.db'}"}, instance_path=instance
    )
    with app.app_context():
        cases = db.session.scalars(sa.select(Case)).all()
        assert len(cases) == 60
        assert all(12 <= c.age_on(c.intake_on) <= 30 for c in cases)
        assert all(c.full_name and c.national_id for c in cases)
        assert all(c.guardian_name for c in cases if c.age_on(c.intake_on) < 18)
        # Opened as users, addicts or after prison; the recorded steps move some of them on.
        assert {c.declared_category for c in cases} <= {"user", "addicted", "post_prison"}
        assert {c.phase for c in cases} - {"intake", "screening"}  # files have histories
        raw = db.session.execute(sa.text("SELECT full_name_ct FROM cases")).scalars().all()
        assert all(value.startswith("v1.") for value in raw)
        db.session.remove()
        db.engine.dispose()
