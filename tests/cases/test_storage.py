"""Stolen database file: no identity can be read from it (SECURITY E1), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from pathlib import Path

import pytest
import sqlalchemy as sa

from caseapp.cases.models import Case
from caseapp.extensions import db
from tests.cases.conftest import ADDR, CCCD, NAME, open_case
from tests.conftest import PG_URL

MARKERS = [
    NAME,
    CCCD,
    ADDR,
    "0912345678",
    "+84912345678",
    "Nguyễn Thị Mẹ",
    "05/09/2008",
    "2008-09-05",
]


def _forms(marker: str) -> list[bytes]:
    forms = []
    for normal in ("NFC", "NFD"):
        raw = unicodedata.normalize(normal, marker).encode()
        forms += [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw)]
    return forms


@pytest.mark.plan("E1")
def test_raw_storage_has_no_identity(app, logged_in, worker_c1, database_url):
    client = logged_in(worker_c1)
    open_case(client)
    open_case(client, commune_code=str(12452))  # same identity twice
    with app.app_context():
        rows = (
            db.session.execute(
                sa.text("SELECT * FROM cases")  # raw columns, no ORM decryption
            )
            .mappings()
            .all()
        )
        assert len(rows) == 2
        raw = repr([dict(r) for r in rows]).encode()
        assert rows[0]["national_id_ct"] != rows[1]["national_id_ct"]  # randomised
        assert rows[0]["national_id_bidx"] == rows[1]["national_id_bidx"]  # same person
        assert rows[0]["national_id_bidx"] != hashlib.sha256(CCCD.encode()).hexdigest()
        case = db.session.scalars(sa.select(Case)).first()
        assert case.full_name == NAME
    blobs = [raw]
    if not PG_URL:
        path = Path(sa.engine.make_url(database_url).database)
        blobs += [p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()]
    for blob in blobs:
        for marker in MARKERS:
            for form in _forms(marker):
                assert form not in blob, marker
