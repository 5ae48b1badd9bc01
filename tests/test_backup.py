"""Backup and restore drills (SECURITY B1–B3): encrypted, verified, and honest about keys."""

from __future__ import annotations

import base64
import shutil

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL, fresh_database
from tests.test_cli import run


def _instances(tmp_path, source_url: str | None, target_url: str | None):
    source, target = tmp_path / "source", tmp_path / "target"
    env_source = {"CASEAPP_DATABASE_URL": source_url} if source_url else {}
    env_target = {"CASEAPP_DATABASE_URL": target_url} if target_url else {}
    run(source, "init", env=env_source)
    run(source, "demo", "--if-empty", env=env_source)
    # The target installation has the same keys (from escrow) but a new, empty database.
    target.mkdir(mode=0o700)
    for name in ("config.py", "keys.json"):
        shutil.copy2(source / name, target / name)
    return source, target, env_source, env_target


def _drill(tmp_path, source_url=None, target_url=None):
    source, target, env_source, env_target = _instances(tmp_path, source_url, target_url)
    made = run(source, "backup", "--output", str(tmp_path / "b.backup"), env=env_source)
    assert "Backup written" in made.stdout
    blob = (tmp_path / "b.backup").read_bytes()
    for marker in (b"demo.canbo", "Thôn".encode(), b"SECRET_KEY"):
        assert marker not in blob
        assert base64.b64encode(marker) not in blob
    # Without the backup key: a clear refusal, nothing written.
    refused = run(target, "restore", str(tmp_path / "b.backup"), env=env_target, check=False)
    assert refused.returncode != 0
    assert "backup key" in refused.stderr
    assert "Traceback" not in refused.stderr
    shutil.copy2(source / "backup-key.json", target / "backup-key.json")
    restored = run(target, "restore", str(tmp_path / "b.backup"), env=env_target)
    assert "audit chain intact" in restored.stdout
    # A second restore into the now full database is refused.
    again = run(target, "restore", str(tmp_path / "b.backup"), env=env_target, check=False)
    assert "not empty" in again.stderr
    return source, target, env_target


def _sample_decrypts(target, env_target) -> None:
    import os

    from caseapp import create_app
    from caseapp.cases.models import Case
    from caseapp.extensions import db

    os.environ.update(env_target)
    try:
        overrides = {} if env_target else {"DATABASE_URL": f"sqlite:///{target / 'caseapp.db'}"}
        app = create_app(overrides, instance_path=target)
        with app.app_context():
            cases = db.session.scalars(sa.select(Case).limit(5)).all()
            assert len(cases) == 5
            assert all(c.full_name for c in cases)
            db.session.remove()
            db.engine.dispose()
    finally:
        for name in env_target:
            os.environ.pop(name, None)


@pytest.mark.plan("B1", "B2")
def test_backup_restore_roundtrip_sqlite(tmp_path):
    _source, target, env_target = _drill(tmp_path)
    _sample_decrypts(target, env_target)


@pytest.mark.plan("B1", "B2")
@pytest.mark.skipif(not PG_URL, reason="PostgreSQL run only (CASEAPP_TEST_DATABASE_URL)")
def test_backup_restore_roundtrip_postgresql(tmp_path):
    with fresh_database(tmp_path / "a") as source_url, fresh_database(tmp_path / "b") as target_url:
        _source, target, env_target = _drill(tmp_path, source_url, target_url)
        _sample_decrypts(target, env_target)


@pytest.mark.plan("B2")
def test_tampered_backup_refused(tmp_path):
    source, target, env_source, env_target = _instances(tmp_path, None, None)
    run(source, "backup", "--output", str(tmp_path / "b.backup"), env=env_source)
    data = bytearray((tmp_path / "b.backup").read_bytes())
    data[-40] ^= 0x01
    (tmp_path / "b.backup").write_bytes(bytes(data))
    shutil.copy2(source / "backup-key.json", target / "backup-key.json")
    result = run(target, "restore", str(tmp_path / "b.backup"), env=env_target, check=False)
    assert result.returncode != 0
    assert "does not verify" in result.stderr
    assert not (target / "caseapp.db").exists() or (target / "caseapp.db").stat().st_size == 0


@pytest.mark.plan("B3")
def test_restore_names_a_missing_key_encryption_key(tmp_path):
    source, target, env_source, env_target = _instances(tmp_path, None, None)
    run(source, "rotate-keys", "--new-kek", env=env_source)
    run(source, "keys", "retire-kek", "k1", env=env_source)
    run(source, "backup", "--output", str(tmp_path / "b.backup"), env=env_source)
    # The target still holds only the old key file (k1): the backup needs k2.
    shutil.copy2(source / "backup-key.json", target / "backup-key.json")
    result = run(target, "restore", str(tmp_path / "b.backup"), env=env_target, check=False)
    assert result.returncode != 0
    assert "k2" in result.stderr
    assert "key escrow" in result.stderr
    shutil.copy2(source / "keys.json", target / "keys.json")
    assert "audit chain intact" in run(target, "restore", str(tmp_path / "b.backup")).stdout


@pytest.mark.plan("B4")
def test_hot_backup_consistent_under_writes(tmp_path):
    """A writer keeps adding rows during the backup: the restore still verifies (SECURITY B4)."""
    import threading

    source, target, env_source, env_target = _instances(tmp_path, None, None)
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            run(source, "demo", "--cases", "20", env=env_source)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for index in range(3):
            run(source, "backup", "--output", str(tmp_path / f"b{index}.backup"), env=env_source)
    finally:
        stop.set()
        thread.join()
    shutil.copy2(source / "backup-key.json", target / "backup-key.json")
    restored = run(target, "restore", str(tmp_path / "b2.backup"), env=env_target)
    assert "audit chain intact" in restored.stdout
