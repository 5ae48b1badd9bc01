"""``python -m bench.crypto``: field encryption and key rotation timings.

Prints ``BENCH <name> ...`` lines: encrypt, decrypt and blind index per value (µs, median of
rounds), and ``rotate-keys --new-kek`` over ``--rows`` rows of four encrypted fields (rows/s). The
database is a fresh SQLite file (or ``CASEAPP_BENCH_DATABASE_URL``); the table is a bench-only one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from caseapp import create_app
from caseapp.crypto import (
    EncryptedDateField,
    EncryptedField,
    FieldCipher,
    generate_keyring,
    normalise_cccd,
    write_private_file,
)
from caseapp.extensions import db
from caseapp.keys import DataKey, rotate_keys


class BenchBase(DeclarativeBase):
    metadata = sa.MetaData()


class BenchPerson(BenchBase):
    __tablename__ = "bench_crypto_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    full_name_ct: Mapped[str | None] = mapped_column(sa.Text)
    national_id_ct: Mapped[str | None] = mapped_column(sa.Text)
    address_ct: Mapped[str | None] = mapped_column(sa.Text)
    date_of_birth_ct: Mapped[str | None] = mapped_column(sa.Text)

    full_name = EncryptedField("full_name_ct")
    national_id = EncryptedField("national_id_ct")
    address = EncryptedField("address_ct")
    date_of_birth = EncryptedDateField("date_of_birth_ct")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 -- SQLAlchemy's own convention


def per_value(name: str, call: Callable[[int], object], n: int, rounds: int = 15) -> None:
    """Median over ``rounds`` of the mean time per call, in µs."""
    call(n)  # warm-up: keys unwrapped, caches filled
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call(n)
        times.append((time.perf_counter() - start) / n * 1e6)
    print(f"BENCH {name} p50_us={statistics.median(times):.2f} n={n}x{rounds}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000, help="rows to rotate")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("-n", type=int, default=2000, help="values per timing round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        write_private_file(instance / "keys.json", generate_keyring().to_json())
        url = os.environ.get("CASEAPP_BENCH_DATABASE_URL") or f"sqlite:///{instance / 'b.db'}"
        app = create_app(
            {"SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": url}, instance_path=instance
        )
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
            if db.session.scalar(sa.select(sa.func.count()).select_from(DataKey)):
                # Its key file is temporary: keys it made would be unreadable by anyone else.
                raise SystemExit("bench.crypto needs a database without data keys.")
            db.session.commit()
            BenchBase.metadata.create_all(db.engine)
            try:
                run(app.extensions["caseapp.cipher"], args)
            finally:  # leave a shared database as it was found
                db.session.rollback()
                BenchBase.metadata.drop_all(db.engine)
                db.session.execute(sa.delete(DataKey))
                db.session.commit()
                db.session.remove()
                db.engine.dispose()


def run(cipher: FieldCipher, args: argparse.Namespace) -> None:
    where = {"table": "bench", "column": "full_name", "row_uuid": str(uuid.uuid4())}
    name = "Nguyễn Thị Thanh Hương"
    token = cipher.encrypt(name, **where) or ""
    db.session.commit()

    def encrypt(n: int) -> None:
        for _ in range(n):
            cipher.encrypt(name, **where)
        db.session.commit()  # the primary key is checked once per transaction

    def decrypt(n: int) -> None:
        for _ in range(n):
            cipher.decrypt(token, **where)

    def index(n: int) -> None:
        for _ in range(n):
            cipher.blind_index("cases.national_id", normalise_cccd("034 208-012345"))

    per_value("encrypt_value", encrypt, args.n)
    per_value("decrypt_value", decrypt, args.n)
    per_value("blind_index_cccd", index, args.n)

    start = time.perf_counter()
    born = date(2000, 1, 1)
    for first in range(0, args.rows, 1000):
        db.session.add_all(
            [
                BenchPerson(
                    uuid=str(uuid.uuid4()),
                    full_name=f"{name} {i}",
                    national_id=f"034208{i:06d}",
                    address=f"Thôn {i % 12}, xã Thụy Trường",
                    date_of_birth=born + timedelta(days=i % 5000),
                )
                for i in range(first, min(first + 1000, args.rows))
            ]
        )
        db.session.commit()
    seeded = time.perf_counter() - start
    print(f"BENCH seed_rows rows_per_s={args.rows / seeded:.0f} rows={args.rows}", flush=True)

    start = time.perf_counter()
    report = rotate_keys(cipher, new_kek=True, batch_size=args.batch_size)
    took = time.perf_counter() - start
    assert report.finished
    assert report.reencrypted == args.rows
    print(
        f"BENCH rotate_keys rows_per_s={args.rows / took:.0f} "
        f"values_per_s={4 * args.rows / took:.0f} rows={args.rows} batch={args.batch_size} "
        f"s={took:.2f} {db.engine.dialect.name}",
        flush=True,
    )


if __name__ == "__main__":
    main()
