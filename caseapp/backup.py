"""Encrypted backups and verified restores (SQLite online backup API or pg_dump).

A backup file is ``MAGIC``, a JSON header (format, time, database kind, migration revision, row
counts, the key-encryption key ids the data needs, the SHA-256 of the dump) and the dump encrypted
with AES-256-GCM under the backup key, the header bound as associated data. The backup key lives in
``instance/backup-key.json`` (0600), apart from the data keys: keep it in escrow with ``keys.json``.

The dump is held in memory: fine for a commune or a province on SQLite; a national PostgreSQL
deployment should stream ``pg_dump`` through the same format (not done yet).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from caseapp.extensions import db
from caseapp.keys import KeyRing, write_private_file

MAGIC = b"CASEAPP-BACKUP-1\n"
BACKUP_KEY_FILE = "backup-key.json"


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class BackupKey:
    key_id: str
    key: bytes


def ensure_backup_key(instance: Path) -> BackupKey:
    """The backup key, created (0600) on first use."""
    path = instance / BACKUP_KEY_FILE
    if not path.exists():
        key = BackupKey(f"b{secrets.token_hex(4)}", secrets.token_bytes(32))
        write_private_file(
            path,
            json.dumps({"id": key.key_id, "key": base64.b64encode(key.key).decode()}, indent=2),
        )
        return key
    return load_backup_key(instance)


def load_backup_key(instance: Path) -> BackupKey:
    """Read the backup key; a missing or damaged file is a ``BackupError``."""
    path = instance / BACKUP_KEY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        key = base64.b64decode(data["key"], validate=True)
        key_id = str(data["id"])
    except FileNotFoundError:
        raise BackupError(
            f"The backup key {path} is missing: copy it from your key escrow."
        ) from None
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"The backup key {path} is damaged.") from None
    if len(key) != 32:
        raise BackupError(f"The backup key {path} is damaged.")
    return BackupKey(key_id, key)


def _table_counts(connection: sa.Connection) -> dict[str, int]:
    names = sorted(sa.inspect(connection).get_table_names())
    return {
        name: connection.execute(
            sa.select(sa.func.count()).select_from(sa.table(name))
        ).scalar_one()
        for name in names
    }


def _revision(connection: sa.Connection) -> str | None:
    if "alembic_version" not in sa.inspect(connection).get_table_names():
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _kek_ids(connection: sa.Connection) -> list[str]:
    if "data_keys" not in sa.inspect(connection).get_table_names():
        return []
    return sorted(connection.execute(sa.text("SELECT DISTINCT kek_id FROM data_keys")).scalars())


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (PostgreSQL client tools are needed).")
    return path


def _pg_command(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment carrying it (so it
    never shows in the process list)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _dump(engine: sa.Engine) -> tuple[bytes, dict[str, int]]:
    """The dump and the row counts of exactly that dump (not of a later moment)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(url.database or "")
        with tempfile.TemporaryDirectory() as tmp:
            target_path = Path(tmp) / "copy.db"
            target = sqlite3.connect(target_path)
            try:
                source.backup(target)  # consistent online copy, even under concurrent writes
            finally:
                target.close()
                source.close()
            copy = sa.create_engine(f"sqlite:///{target_path}")
            try:
                with copy.connect() as connection:
                    counts = _table_counts(connection)
            finally:
                copy.dispose()
            return target_path.read_bytes(), counts
    if url.get_backend_name() == "postgresql":
        dsn, env = _pg_command(url)
        with engine.connect() as connection:
            # One snapshot for the counts and for pg_dump: writes meanwhile are in neither.
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                snapshot: str = connection.execute(
                    sa.text("SELECT pg_export_snapshot()")
                ).scalar_one()
                counts = _table_counts(connection)
                result = subprocess.run(  # noqa: S603 -- fixed program, our own database
                    [
                        _program("pg_dump"),
                        "--format=custom",
                        "--no-owner",
                        "--no-privileges",
                        f"--snapshot={snapshot}",
                        f"--dbname={dsn}",
                    ],
                    capture_output=True,
                    check=False,
                    env=env,
                )
        if result.returncode != 0:
            raise BackupError("pg_dump failed: " + result.stderr.decode(errors="replace")[:500])
        return result.stdout, counts
    raise BackupError(f"Backups of {url.get_backend_name()} databases are not supported.")


def create_backup(instance: Path, output: Path) -> dict[str, Any]:
    """Write an encrypted, self-describing backup of the app's database to ``output``."""
    key = ensure_backup_key(instance)
    engine = db.engine
    with engine.connect() as connection:
        revision = _revision(connection)
        kek_ids = _kek_ids(connection)
    dump, counts = _dump(engine)
    header = {
        "format": 1,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": engine.url.get_backend_name(),
        "revision": revision,
        "counts": counts,
        "kek_ids": kek_ids,
        "sha256": hashlib.sha256(dump).hexdigest(),
        "backup_key": key.key_id,
    }
    header_bytes = json.dumps(header, sort_keys=True).encode()
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key.key).encrypt(nonce, dump, header_bytes)
    if output.exists():
        raise BackupError(f"{output} already exists.")
    output.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(MAGIC + len(header_bytes).to_bytes(4, "big") + header_bytes + nonce + sealed)
    return header


def read_backup(path: Path, key: BackupKey) -> tuple[dict[str, Any], bytes]:
    """Header and decrypted dump; a damaged file or a wrong key is a ``BackupError``."""
    blob = path.read_bytes()
    if not blob.startswith(MAGIC):
        raise BackupError(f"{path} is not a CaseApp backup.")
    offset = len(MAGIC)
    size = int.from_bytes(blob[offset : offset + 4], "big")
    header_bytes = blob[offset + 4 : offset + 4 + size]
    try:
        header = json.loads(header_bytes)
    except ValueError:
        raise BackupError(f"{path} is damaged (unreadable header).") from None
    if header.get("backup_key") != key.key_id:
        raise BackupError(
            f"{path} was made with backup key {header.get('backup_key')!r}, but "
            f"{BACKUP_KEY_FILE} holds {key.key_id!r}: restore that key from escrow."
        )
    body = blob[offset + 4 + size :]
    try:
        dump = AESGCM(key.key).decrypt(body[:12], body[12:], header_bytes)
    except InvalidTag:
        raise BackupError(f"{path} is damaged or was altered: it does not verify.") from None
    if hashlib.sha256(dump).hexdigest() != header.get("sha256"):
        raise BackupError(f"{path} is damaged: its checksum does not match.")
    return header, dump


def restore_backup(instance: Path, path: Path, keyring: KeyRing) -> dict[str, Any]:
    """Restore into the app's EMPTY database, then check counts, revision and integrity."""
    header, dump = read_backup(path, load_backup_key(instance))
    missing = sorted(set(header.get("kek_ids", [])) - set(keyring.keks))
    if missing:
        raise BackupError(
            "The backup needs key-encryption key(s) "
            + ", ".join(missing)
            + " that keys.json does not hold: restore them from your key escrow first."
        )
    engine = db.engine
    with engine.connect() as connection:
        if sa.inspect(connection).get_table_names():
            raise BackupError("The target database is not empty: restore only into a new one.")
    engine.dispose()
    if header["database"] != engine.url.get_backend_name():
        raise BackupError(
            f"This is a {header['database']} backup; the target is {engine.url.get_backend_name()}."
        )
    if header["database"] == "sqlite":
        target = Path(engine.url.database or "")
        for leftover in (Path(f"{target}-wal"), Path(f"{target}-shm")):
            # The empty database's journal must not be replayed onto the restored file.
            leftover.unlink(missing_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(dump)
    else:
        dsn, env = _pg_command(engine.url)
        with tempfile.NamedTemporaryFile(suffix=".dump") as handle:
            handle.write(dump)
            handle.flush()
            result = subprocess.run(  # noqa: S603 -- fixed program, our own connection URL
                [
                    _program("pg_restore"),
                    "--no-owner",
                    "--no-privileges",
                    f"--dbname={dsn}",
                    handle.name,
                ],
                capture_output=True,
                check=False,
                env=env,
            )
        if result.returncode != 0:
            raise BackupError("pg_restore failed: " + result.stderr.decode(errors="replace")[:500])
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            status = connection.exec_driver_sql("PRAGMA integrity_check").scalar()
            if status != "ok":
                raise BackupError(f"The restored database fails its integrity check: {status}")
        counts = _table_counts(connection)
        if counts != header["counts"]:
            raise BackupError("The restored row counts differ from the backup's.")
        if _revision(connection) != header["revision"]:
            raise BackupError("The restored migration revision differs from the backup's.")
    return header
