"""Keys: the key ring file outside the database, and the data keys wrapped inside it.

The key file (instance folder, mode 0600) holds the key-encryption keys (KEKs, one primary) and the
blind-index master key. Data-encryption keys (DEKs) live in ``data_keys``, each wrapped with
AES-256-GCM under a KEK. A missing, unreadable or malformed key ring stops start-up before anything
touches the database: CaseApp fails closed. Rotation and KEK retirement live here too.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Mapped, mapped_column

from caseapp.config import ConfigError
from caseapp.db import UTCDateTime, utcnow
from caseapp.extensions import Model, db

if TYPE_CHECKING:
    from caseapp.crypto import FieldCipher

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_VERSION = 1
TOKEN_VERSION = "v1"  # noqa: S105 -- a format tag, not a secret
DEK_ID = re.compile(r"[0-9a-f]{8}")
CIPHERTEXT_SUFFIX = "_ct"  # ciphertext columns end so; rotation refuses any it does not know


class DecryptionError(Exception):
    """A value or data key cannot be decrypted; the message names keys and columns, never values."""


class KeyManagementError(RuntimeError):
    """A key operation was refused; the message tells the operator what to do."""


@dataclass(frozen=True)
class KeyRing:
    """Key-encryption keys by id (one primary) and the blind-index master key."""

    primary_kek_id: str
    keks: dict[str, bytes]
    blind_index_key: bytes

    @property
    def primary_kek(self) -> bytes:
        return self.keks[self.primary_kek_id]

    def with_new_kek(self) -> KeyRing:
        """A copy with one more random key-encryption key, which becomes the primary."""
        numbers = [int(k[1:]) for k in self.keks if re.fullmatch(r"k[0-9]+", k)]
        new_id = f"k{max(numbers, default=0) + 1}"
        keks = {**self.keks, new_id: secrets.token_bytes(KEY_BYTES)}
        return replace(self, primary_kek_id=new_id, keks=keks)

    def without_kek(self, kek_id: str) -> KeyRing:
        """A copy without ``kek_id`` (never the primary)."""
        if kek_id == self.primary_kek_id:
            raise KeyManagementError(
                f"{kek_id} is the primary key-encryption key: run "
                "`caseapp rotate-keys --new-kek` first."
            )
        return replace(self, keks={k: v for k, v in self.keks.items() if k != kek_id})

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT_VERSION,
                "kek": {
                    "primary": self.primary_kek_id,
                    "keys": {k: _b64(v) for k, v in self.keks.items()},
                },
                "blind_index": _b64(self.blind_index_key),
            },
            indent=2,
        )

    def __repr__(self) -> str:  # never show key material
        return f"KeyRing(primary={self.primary_kek_id!r}, keks={sorted(self.keks)!r})"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def b64url(value: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes | None:
    """Strict inverse of ``b64url``: None unless ``text`` is exactly what ``b64url`` would write."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        return None
    value = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # A changed padding bit decodes to the same bytes: only the canonical spelling is accepted.
    return value if b64url(value) == text else None


def _key(raw: Any, what: str, path: Path) -> bytes:
    if not isinstance(raw, str):
        raise ConfigError(f"Key file {path} is corrupt: {what} is not a base64 string.")
    try:
        value = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"Key file {path} is corrupt: {what} is not valid base64.") from None
    if len(value) != KEY_BYTES:
        raise ConfigError(f"Key file {path} is corrupt: {what} must be {KEY_BYTES} bytes.")
    return value


def generate_keyring() -> KeyRing:
    """A new key ring with one random key-encryption key and a random blind-index key."""
    return KeyRing(
        primary_kek_id="k1",
        keks={"k1": secrets.token_bytes(KEY_BYTES)},
        blind_index_key=secrets.token_bytes(KEY_BYTES),
    )


def write_private_file(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (never readable by others, even for an instant)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def replace_private_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically by a 0600 file: readers see the old or the new, never half."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself must survive a crash
    finally:
        os.close(folder)


def load_keyring(path: Path) -> KeyRing:
    """Read and check the key ring; any problem is a ``ConfigError`` naming the file."""
    if not path.exists():
        raise ConfigError(
            f"Key file {path} is missing. Restore it from your key escrow, or run "
            "`caseapp init` for a new installation."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Key file {path} is corrupt: {type(exc).__name__}.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise ConfigError(f"Key file {path} is corrupt: unknown format.")
    kek = data.get("kek")
    if not isinstance(kek, dict) or not isinstance(kek.get("keys"), dict) or not kek["keys"]:
        raise ConfigError(f"Key file {path} is corrupt: no key-encryption keys.")
    keks = {str(kid): _key(raw, f"key {kid}", path) for kid, raw in kek["keys"].items()}
    primary = kek.get("primary")
    if primary not in keks:
        raise ConfigError(f"Key file {path} is corrupt: the primary key is not in the ring.")
    return KeyRing(
        primary_kek_id=str(primary),
        keks=keks,
        blind_index_key=_key(data.get("blind_index"), "blind_index", path),
    )


class DataKey(Model):
    """A data-encryption key, stored wrapped under a key-encryption key from the key file."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    wrapped: Mapped[str] = mapped_column(sa.Text)
    kek_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    is_primary: Mapped[bool] = mapped_column(default=False)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.CheckConstraint("NOT (is_primary AND retired_at IS NOT NULL)", name="primary_live"),
        # At most one primary: two processes creating one at once cannot both succeed.
        sa.Index(
            "uq_data_keys_one_primary",
            "is_primary",
            unique=True,
            sqlite_where=sa.text("is_primary"),
            postgresql_where=sa.text("is_primary"),
        ),
    )

    def __repr__(self) -> str:  # never show key material
        return f"<DataKey {self.id} kek={self.kek_id}{' primary' if self.is_primary else ''}>"


DATA_KEYS_TABLE = cast(sa.Table, DataKey.__table__)
DATA_KEYS = DATA_KEYS_TABLE.c


def _wrap_aad(dek_id: str, kek_id: str) -> bytes:
    return f"caseapp data key|{dek_id}|{kek_id}".encode()


def wrap_dek(kek: bytes, kek_id: str, dek_id: str, dek: bytes) -> str:
    """AES-256-GCM of ``dek`` under ``kek``, bound to both ids: base64url(nonce + ciphertext)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return b64url(nonce + AESGCM(kek).encrypt(nonce, dek, _wrap_aad(dek_id, kek_id)))


def unwrap_dek(kek: bytes, kek_id: str, dek_id: str, wrapped: str) -> bytes:
    """The data key; ``DecryptionError`` if the KEK is wrong or the row was altered."""
    raw = from_b64url(wrapped)
    try:
        if raw is None:
            raise InvalidTag
        dek = AESGCM(kek).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _wrap_aad(dek_id, kek_id))
    except (InvalidTag, ValueError):
        raise DecryptionError(
            f"data key {dek_id} cannot be unwrapped with key-encryption key {kek_id}: "
            "wrong key file or altered row"
        ) from None
    if len(dek) != KEY_BYTES:
        raise DecryptionError(f"data key {dek_id} has the wrong length")
    return dek


_PRIMARY_SEEN = "caseapp.primary_data_key"


class DataKeys:
    """One app's data keys: unwrapped on first use and cached; the primary is created on demand."""

    def __init__(self, keyring: KeyRing, keyring_path: Path | None = None) -> None:
        self.keyring = keyring
        self.keyring_path = keyring_path
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<DataKeys {self.keyring!r} cached={len(self._cache)}>"

    def get(self, dek_id: str) -> bytes:
        """The data key ``dek_id``, from the cache or the database (current transaction)."""
        cached = self._cache.get(dek_id)
        if cached is not None:
            return cached
        row = (
            db.session.connection()
            .execute(sa.select(DATA_KEYS.kek_id, DATA_KEYS.wrapped).where(DATA_KEYS.id == dek_id))
            .one_or_none()
        )
        if row is None:
            raise DecryptionError(f"data key {dek_id} is not in the database")
        return self._remember(dek_id, self.unwrap(dek_id, row.kek_id, row.wrapped))

    def check(self) -> int:
        """Unwrap every live data key now (start-up check); returns how many, or raises."""
        rows = (
            db.session.connection()
            .execute(
                sa.select(DATA_KEYS.id, DATA_KEYS.kek_id, DATA_KEYS.wrapped).where(
                    DATA_KEYS.retired_at.is_(None)
                )
            )
            .all()
        )
        for row in rows:
            self._remember(row.id, self.unwrap(row.id, row.kek_id, row.wrapped))
        return len(rows)

    def primary(self) -> tuple[str, bytes]:
        """The primary data key, checked once per transaction and created if there is none."""
        session = db.session()
        # Checked again in every (sub)transaction: a rolled-back savepoint or a rotation in another
        # process must never leave us writing with a key that is not the live primary.
        transaction = session.get_nested_transaction() or session.get_transaction()
        seen = session.info.get(_PRIMARY_SEEN)
        if (
            seen is not None
            and transaction is not None
            and seen[0] is self
            and seen[1] is transaction
        ):
            return seen[2], self._cache[seen[2]]
        connection = session.connection()
        transaction = session.get_nested_transaction() or session.get_transaction()
        row = connection.execute(
            sa.select(DATA_KEYS.id, DATA_KEYS.kek_id, DATA_KEYS.wrapped).where(DATA_KEYS.is_primary)
        ).one_or_none()
        if row is None:
            dek_id = self.create_primary(demote=False)
        else:
            dek_id = row.id
            if dek_id not in self._cache:
                self._remember(dek_id, self.unwrap(dek_id, row.kek_id, row.wrapped))
        session.info[_PRIMARY_SEEN] = (self, transaction, dek_id)
        return dek_id, self._cache[dek_id]

    def create_primary(self, *, demote: bool) -> str:
        """Insert a new primary data key in the current transaction (demoting the old one)."""
        session = db.session()
        connection = session.connection()
        dek, dek_id = secrets.token_bytes(KEY_BYTES), secrets.token_hex(4)
        kek_id = self.keyring.primary_kek_id
        try:
            with connection.begin_nested():
                if demote:
                    connection.execute(
                        sa.update(DATA_KEYS_TABLE)
                        .where(DATA_KEYS.is_primary)
                        .values(is_primary=False)
                    )
                connection.execute(
                    sa.insert(DATA_KEYS_TABLE).values(
                        id=dek_id,
                        wrapped=wrap_dek(self.keyring.primary_kek, kek_id, dek_id, dek),
                        kek_id=kek_id,
                        created_at=utcnow(),
                        is_primary=True,
                    )
                )
        except sa.exc.IntegrityError:
            if demote:
                raise
            # Another process created the first primary just now: use that one.
            row = connection.execute(
                sa.select(DATA_KEYS.id, DATA_KEYS.kek_id, DATA_KEYS.wrapped).where(
                    DATA_KEYS.is_primary
                )
            ).one()
            dek_id, dek = row.id, self.unwrap(row.id, row.kek_id, row.wrapped)
        self._remember(dek_id, dek)
        transaction = session.get_nested_transaction() or session.get_transaction()
        session.info[_PRIMARY_SEEN] = (self, transaction, dek_id)
        return dek_id

    def unwrap(self, dek_id: str, kek_id: str, wrapped: str) -> bytes:
        """Unwrap with the named KEK, re-reading the key file once if it is not known yet."""
        kek = self.keyring.keks.get(kek_id)
        if kek is None:
            kek = self._reload().keks.get(kek_id)
        if kek is None:
            raise DecryptionError(
                f"data key {dek_id} is wrapped by key-encryption key {kek_id}, "
                "which is not in the key file"
            )
        return unwrap_dek(kek, kek_id, dek_id, wrapped)

    def _reload(self) -> KeyRing:
        # Another process (rotate-keys --new-kek) may have added a KEK since start-up. Keys we
        # already hold are kept; the blind-index key never changes under a running app.
        if self.keyring_path is None:
            return self.keyring
        try:
            loaded = load_keyring(self.keyring_path)
        except ConfigError:
            return self.keyring
        with self._lock:
            self.keyring = replace(
                self.keyring,
                primary_kek_id=loaded.primary_kek_id,
                keks={**loaded.keks, **self.keyring.keks},
            )
        return self.keyring

    def _remember(self, dek_id: str, dek: bytes) -> bytes:
        with self._lock:
            self._cache[dek_id] = dek
        return dek

    def set_keyring(self, keyring: KeyRing) -> None:
        with self._lock:
            self.keyring = keyring


@dataclass(frozen=True)
class EncryptedColumn:
    """One encrypted attribute: ``model.field`` stored in ``model.ciphertext_attr``."""

    model: type[Any]
    field: str
    ciphertext_attr: str

    @property
    def table_name(self) -> str:  # the ``table`` of the associated data
        return str(self.model.__tablename__)

    @cached_property
    def column(self) -> sa.Column[Any]:
        return sa.inspect(self.model).get_property(self.ciphertext_attr).columns[0]  # type: ignore[no-any-return]


ENCRYPTED_COLUMNS: list[EncryptedColumn] = []


def register_encrypted_column(model: type[Any], name: str, ciphertext_attr: str) -> None:
    """Record an encrypted attribute so that rotation re-encrypts it (called by the descriptors)."""
    ENCRYPTED_COLUMNS.append(EncryptedColumn(model, name, ciphertext_attr))


def encrypted_columns(connection: sa.Connection) -> list[EncryptedColumn]:
    """Registered columns whose table exists; refuses a ``*_ct`` column that no model declares."""
    # Tokens in a column no loaded model declares would be missed by rotation and their key retired
    # under them: that must stop the operation, not lose data.
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    known: dict[tuple[str, str], EncryptedColumn] = {}
    for entry in ENCRYPTED_COLUMNS:  # a later definition of the same column wins
        if entry.column.table.name in tables:
            known[(entry.column.table.name, entry.column.name)] = entry
    for table in sorted(tables):
        for column in inspector.get_columns(table):
            if column["name"].endswith(CIPHERTEXT_SUFFIX) and (table, column["name"]) not in known:
                raise KeyManagementError(
                    f"Column {table}.{column['name']} looks encrypted but no loaded model declares "
                    "it: import the module that defines it. Nothing was changed."
                )
    return list(known.values())


def _prefix(dek_id: str) -> str:
    if not DEK_ID.fullmatch(dek_id):  # ids go into LIKE patterns: hex only
        raise DecryptionError(f"data key id {dek_id!r} is malformed")
    return f"{TOKEN_VERSION}.{dek_id}.%"


def _referenced(connection: sa.Connection, columns: list[EncryptedColumn], dek_id: str) -> bool:
    return any(
        connection.execute(
            sa.select(sa.literal(1)).where(c.column.like(_prefix(dek_id))).limit(1)
        ).first()
        for c in columns
    )


def _stale_count(connection: sa.Connection, columns: list[EncryptedColumn], primary: str) -> int:
    return sum(
        connection.execute(
            sa.select(sa.func.count()).where(c.column.not_like(_prefix(primary)))
        ).scalar_one()
        for c in columns
    )


@dataclass
class RotationReport:
    """What ``rotate_keys`` did: counts and key ids only."""

    new_kek_id: str | None = None
    rewrapped: int = 0
    primary_dek_id: str = ""
    resumed: bool = False
    batches: int = 0
    reencrypted: int = 0
    conflicts: int = 0  # rows changed by someone else meanwhile: left for a rerun
    unreadable: list[str] = field(default_factory=list)  # "table.field <primary key>"
    retired: list[str] = field(default_factory=list)
    remaining: int = 0  # tokens not yet under the primary data key
    stopped_early: bool = False

    @property
    def finished(self) -> bool:
        return not self.stopped_early and self.remaining == 0


def add_kek(keys: DataKeys) -> str:
    """Generate a KEK, write it to the key file as primary (atomically, 0600), keep the old ones."""
    if keys.keyring_path is None:
        raise KeyManagementError("No key file to add a key-encryption key to.")
    keyring = load_keyring(keys.keyring_path).with_new_kek()
    replace_private_file(keys.keyring_path, keyring.to_json())
    keys.set_keyring(keyring)
    return keyring.primary_kek_id


def rewrap_data_keys(keys: DataKeys) -> int:
    """Wrap every live data key under the primary KEK (commits); returns how many changed."""
    connection = db.session.connection()
    kek_id = keys.keyring.primary_kek_id
    rows = connection.execute(
        sa.select(DATA_KEYS.id, DATA_KEYS.kek_id, DATA_KEYS.wrapped).where(
            DATA_KEYS.retired_at.is_(None), DATA_KEYS.kek_id != kek_id
        )
    ).all()
    for row in rows:
        dek = keys.unwrap(row.id, row.kek_id, row.wrapped)
        connection.execute(
            sa.update(DATA_KEYS_TABLE)
            .where(DATA_KEYS.id == row.id, DATA_KEYS.kek_id == row.kek_id)
            .values(wrapped=wrap_dek(keys.keyring.primary_kek, kek_id, row.id, dek), kek_id=kek_id)
        )
    db.session.commit()
    return len(rows)


def _start_or_resume(keys: DataKeys) -> tuple[str, bool]:
    """The data key to rotate to: a new primary, or the current one if a rotation is unfinished."""
    connection = db.session.connection()
    live = connection.execute(
        sa.select(DATA_KEYS.id, DATA_KEYS.is_primary).where(DATA_KEYS.retired_at.is_(None))
    ).all()
    primary = next((r.id for r in live if r.is_primary), None)
    if primary is not None and len(live) > 1:
        db.session.commit()
        return primary, True
    dek_id = keys.create_primary(demote=primary is not None)
    db.session.commit()
    return dek_id, False


class _Table:
    """The encrypted columns of one model, with what rotation needs to rewrite them safely."""

    def __init__(self, columns: list[EncryptedColumn]) -> None:
        mapper = sa.inspect(columns[0].model)
        self.columns = columns
        self.table: sa.Table = columns[0].column.table
        (self.pk,) = self.table.primary_key.columns  # one-column primary keys only
        self.uuid: sa.Column[Any] = mapper.get_property("uuid").columns[0]
        self.version: sa.Column[Any] | None = mapper.version_id_col
        self._updates: dict[frozenset[str], sa.Update] = {}

    def update(self, keys: frozenset[str]) -> sa.Update:
        """The compare-and-swap UPDATE re-encrypting the columns ``keys`` of one row (cached)."""
        statement = self._updates.get(keys)
        if statement is None:
            conditions = [self.pk == sa.bindparam("pk_")]
            if self.version is not None:
                conditions.append(self.version == sa.bindparam("version_"))
            values: dict[str, Any] = {}
            for key in sorted(keys):
                conditions.append(self.table.c[key] == sa.bindparam(f"old_{key}"))
                values[key] = sa.bindparam(f"new_{key}")
            # Re-encryption is not an edit: the version is not bumped (no spurious conflict for
            # a user with the form open) and ``updated_at``-style columns keep their value.
            for column in self.table.c:
                if column.onupdate is not None and column.key not in keys:
                    values[column.key] = column
            statement = sa.update(self.table).where(*conditions).values(values)
            self._updates[keys] = statement
        return statement


def _read_batch(group: _Table, primary: str, after: Any, limit: int) -> list[sa.Row[Any]]:
    """The next rows (by primary key) holding a token not under ``primary``; commits at once."""
    selected = [group.pk, group.uuid, *(c.column for c in group.columns)]
    if group.version is not None:
        selected.append(group.version)
    stale = sa.or_(*(c.column.not_like(_prefix(primary)) for c in group.columns))
    query = sa.select(*selected).where(stale).order_by(group.pk).limit(limit)
    if after is not None:
        query = query.where(group.pk > after)
    rows = list(db.session.connection().execute(query).all())
    db.session.commit()  # hold no lock while decrypting: SQLite writers would wait on it
    return rows


def _rotate_batch(
    cipher: FieldCipher,
    group: _Table,
    rows: list[sa.Row[Any]],
    primary: str,
    report: RotationReport,
) -> tuple[int, int]:
    """Re-encrypt one batch in one transaction (commits); returns rows done and rows skipped."""
    done = conflicts = 0
    current = _prefix(primary).rstrip("%")
    for row in rows:
        mapping = row._mapping
        row_uuid = str(mapping[group.uuid])
        params: dict[str, Any] = {"pk_": mapping[group.pk]}
        if group.version is not None:
            params["version_"] = mapping[group.version]
        keys = []
        for entry in group.columns:
            token, key = mapping[entry.column], entry.column.key
            if token is None or token.startswith(current):
                continue
            where = {"table": entry.table_name, "column": entry.field, "row_uuid": row_uuid}
            try:
                value = cipher.decrypt(token, **where)
            except DecryptionError:
                report.unreadable.append(f"{group.table.name}.{entry.field} {mapping[group.pk]}")
                continue
            params[f"old_{key}"] = token  # unchanged since we read it, or no write
            params[f"new_{key}"] = cipher.encrypt(value, **where)
            keys.append(key)
        if not keys:
            continue
        result = db.session.connection().execute(group.update(frozenset(keys)), params)
        if result.rowcount == 1:
            done += 1
        else:
            conflicts += 1
    db.session.commit()
    return done, conflicts


def _reencrypt(
    cipher: FieldCipher,
    columns: list[EncryptedColumn],
    report: RotationReport,
    batch_size: int,
    stop_after_batches: int | None,
    say: Callable[[str], None],
) -> None:
    """Re-encrypt, batch by batch, every token not under the primary data key."""
    groups: dict[type[Any], list[EncryptedColumn]] = {}
    for entry in columns:
        groups.setdefault(entry.model, []).append(entry)
    for group in (_Table(c) for c in groups.values()):
        after: Any = None
        while True:
            if stop_after_batches is not None and report.batches >= stop_after_batches:
                report.stopped_early = True
                say(f"Stopped after {report.batches} batch(es), as asked.")
                return
            rows = _read_batch(group, report.primary_dek_id, after, batch_size)
            if not rows:
                break
            done, conflicts = _rotate_batch(cipher, group, rows, report.primary_dek_id, report)
            after = rows[-1]._mapping[group.pk]
            report.batches += 1
            report.reencrypted += done
            report.conflicts += conflicts
            say(
                f"{group.table.name}: batch {report.batches}: {done} row(s) re-encrypted, "
                f"{conflicts} changed meanwhile (left for a rerun)."
            )


def rotate_keys(
    cipher: FieldCipher,
    *,
    new_kek: bool = False,
    batch_size: int = 500,
    stop_after_batches: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> RotationReport:
    """Re-wrap DEKs, move to a new primary DEK and re-encrypt every field under it; resumable."""
    say = progress or (lambda _message: None)
    report = RotationReport()
    keys = cipher.keys
    columns = encrypted_columns(db.session.connection())
    db.session.commit()
    if new_kek:
        report.new_kek_id = add_kek(keys)
        say(f"Key-encryption key {report.new_kek_id} added to the key file as primary.")
    report.rewrapped = rewrap_data_keys(keys)
    say(f"{report.rewrapped} data key(s) re-wrapped under {keys.keyring.primary_kek_id}.")
    report.primary_dek_id, report.resumed = _start_or_resume(keys)
    say(f"{'Resuming with' if report.resumed else 'New'} primary data key {report.primary_dek_id}.")
    _reencrypt(cipher, columns, report, batch_size, stop_after_batches, say)
    if not report.stopped_early:
        report.retired = retire_unreferenced_data_keys(columns, report.primary_dek_id)
    report.remaining = _stale_count(db.session.connection(), columns, report.primary_dek_id)
    db.session.commit()
    return report


def retire_unreferenced_data_keys(columns: list[EncryptedColumn], primary: str) -> list[str]:
    """Mark retired every live, non-primary data key that no token uses any more (commits)."""
    connection = db.session.connection()
    candidates: list[str] = list(
        connection.execute(
            sa.select(DATA_KEYS.id).where(DATA_KEYS.retired_at.is_(None), DATA_KEYS.id != primary)
        ).scalars()
    )
    retired = []
    for dek_id in candidates:
        if not _referenced(connection, columns, dek_id):
            connection.execute(
                sa.update(DATA_KEYS_TABLE)
                .where(DATA_KEYS.id == dek_id, ~DATA_KEYS.is_primary)
                .values(retired_at=utcnow())
            )
            retired.append(dek_id)
    db.session.commit()
    return retired


def retire_kek(cipher: FieldCipher, kek_id: str) -> None:
    """Remove ``kek_id`` from the key file, only if no data key still needs it."""
    keys = cipher.keys
    if keys.keyring_path is None:
        raise KeyManagementError("No key file to remove a key-encryption key from.")
    connection = db.session.connection()
    columns = encrypted_columns(connection)
    keyring = load_keyring(keys.keyring_path)
    if kek_id not in keyring.keks:
        raise KeyManagementError(f"{kek_id} is not in the key file.")
    remaining = keyring.without_kek(kek_id)
    wrapped = connection.execute(
        sa.select(DATA_KEYS.id, DATA_KEYS.retired_at).where(DATA_KEYS.kek_id == kek_id)
    ).all()
    live = sorted(r.id for r in wrapped if r.retired_at is None)
    # A retired key should be unused; a late write by a process that had not seen the rotation
    # could still have used it, and removing its KEK would make that value unreadable forever.
    used = sorted(r.id for r in wrapped if r.retired_at and _referenced(connection, columns, r.id))
    db.session.commit()
    if live or used:
        raise KeyManagementError(
            f"{kek_id} still protects data key(s) {', '.join(live + used)}: "
            "run `caseapp rotate-keys` until it reports every value re-encrypted. "
            "The key file was not changed."
        )
    replace_private_file(keys.keyring_path, remaining.to_json())
