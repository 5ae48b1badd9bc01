"""E1: what reaches the disk holds no plaintext, in any usual encoding, and no key material."""

from __future__ import annotations

import base64
import unicodedata
from pathlib import Path

import pytest
import sqlalchemy as sa

from caseapp.extensions import db
from caseapp.keys import DataKey, load_keyring
from tests.conftest import PG_URL
from tests.crypto.models import ADDR, CCCD, DOB, NAME, make_sample

MARKERS = (NAME, CCCD, ADDR)


def _base64_cores(data: bytes) -> list[bytes]:
    """The part of ``data``'s base64 that is the same wherever it starts in a longer stream."""
    cores = []
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + data).rstrip(b"=")
            cores.append(encoded[4 if shift else 0 : -4])
    return cores


def forbidden(texts: tuple[str, ...], secrets: tuple[bytes, ...] = ()) -> list[bytes]:
    """Each text in UTF-8 NFC and NFD, raw and base64; each secret raw, hex and base64."""
    found: list[bytes] = []
    for text in texts:
        for form in ("NFC", "NFD"):
            encoded = unicodedata.normalize(form, text).encode("utf-8")
            found += [encoded, *_base64_cores(encoded)]
    for secret in secrets:
        found += [secret, secret.hex().encode(), *_base64_cores(secret)]
    return found


def _store_markers(app) -> tuple[bytes, ...]:
    """Save two rows with the markers; return every key that must not be on disk."""
    with app.app_context():
        for _ in range(2):
            db.session.add(
                make_sample(full_name=NAME, national_id=CCCD, address=ADDR, date_of_birth=DOB)
            )
        db.session.commit()
        cipher = app.extensions["caseapp.cipher"]
        (data_key,) = db.session.scalars(sa.select(DataKey)).all()
        keyring = load_keyring(app.extensions["caseapp.settings"].keyring_path)
        return (cipher.keys.get(data_key.id), *keyring.keks.values(), keyring.blind_index_key)


@pytest.mark.plan("E1")
def test_raw_storage_has_no_plaintext(samples, database_url):
    keys = _store_markers(samples)
    patterns = forbidden((*MARKERS, DOB.isoformat()), keys)
    assert all(len(p) >= 6 for p in patterns)  # long enough not to match by chance
    if PG_URL:
        _check_postgres(samples, patterns)
        return
    database = Path(sa.engine.make_url(database_url).database or "")
    wal = database.with_name(database.name + "-wal")
    with samples.app_context():  # the engine still holds its connection: the WAL is not merged
        assert wal.stat().st_size > 0
        for path in (database, wal):
            content = path.read_bytes()
            for pattern in patterns:
                assert pattern not in content, (path.name, pattern)
        raw = db.engine.raw_connection()  # outside a transaction: checkpoints need that
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        assert wal.stat().st_size == 0
    content = database.read_bytes()
    for pattern in patterns:
        assert pattern not in content, ("after checkpoint", pattern)


def _check_postgres(app, patterns: list[bytes]) -> None:
    """No file access on a server: every stored value, read back raw as text, is clean."""
    with app.app_context(), db.engine.connect() as connection:
        for table in ("crypto_samples", "data_keys"):
            query = f"SELECT t::text FROM {table} t"  # noqa: S608 -- two fixed table names
            rows = connection.exec_driver_sql(query).scalars().all()
            assert rows
            for row in rows:
                for pattern in patterns:
                    assert pattern not in row.encode("utf-8"), (table, pattern)


def test_markers_are_in_the_patterns():
    """The check above would see plaintext if it were there."""
    patterns = forbidden((NAME,))
    stream = b"xx" + base64.b64encode(b"prefix " + NAME.encode()) + b"yy"
    assert any(p in stream for p in patterns)
    assert any(p in unicodedata.normalize("NFD", NAME).encode() for p in patterns)
