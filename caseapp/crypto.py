"""Field encryption (SECURITY decision 1): AES-256-GCM tokens bound to their table, column, row and
data key; keyed blind indexes for exact search; model attributes that encrypt on assignment.

A token is ``v1.<data key id>.<base64url(12-byte nonce + ciphertext + 16-byte tag)>`` with the
associated data ``table|column|row_uuid|data key id``: a token copied to another row or column, or
altered in any byte, does not decrypt. Honest scope: this protects a stolen database file or backup,
not a compromised application server, which holds the keys.

On a model, declare ``full_name = EncryptedField("full_name_ct")`` beside
``full_name_ct: Mapped[str | None] = mapped_column(sa.Text)``. Name ciphertext columns ``*_ct``:
rotation refuses to run while such a column belongs to no loaded model. The model needs a string
``uuid`` column, set before the first encrypted assignment and never changed: every token is bound
to it. Reading decrypts (cached per token), assigning encrypts (NFC), assigning the same value again
writes nothing. Encrypted attributes cannot be queried: search a blind index instead.

The key ring and the data keys are in ``caseapp.keys`` (re-exported here where older code wants).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import unicodedata
import weakref
from datetime import date, datetime
from pathlib import Path
from typing import Any, Generic, Self, TypeVar, overload

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from caseapp.keys import (
    DEK_ID,
    KEY_BYTES,
    NONCE_BYTES,
    TOKEN_VERSION,
    DataKeys,
    DecryptionError,
    KeyRing,
    b64url,
    from_b64url,
    generate_keyring,
    load_keyring,
    register_encrypted_column,
    write_private_file,
)

__all__ = [
    "KEY_BYTES",
    "DecryptionError",
    "EncryptedDateField",
    "EncryptedField",
    "FieldCipher",
    "KeyRing",
    "blind_index",
    "current_cipher",
    "generate_keyring",
    "key_id_of",
    "load_keyring",
    "name_dob_key",
    "normalise_cccd",
    "normalise_name",
    "write_private_file",
]

TAG_BYTES = 16
BLIND_INDEX_INFO = b"caseapp blind index|"


def _split(token: str) -> tuple[str, str]:
    version, _, rest = token.partition(".")
    dek_id, _, payload = rest.partition(".")
    if version != TOKEN_VERSION or not DEK_ID.fullmatch(dek_id) or not payload:
        raise DecryptionError("not a CaseApp v1 token")
    return dek_id, payload


def key_id_of(token: str) -> str:
    """The id of the data key that encrypted ``token`` (``DecryptionError`` if malformed)."""
    return _split(token)[0]


def _aad(table: str, column: str, row_uuid: str, dek_id: str) -> bytes:
    if not row_uuid:
        raise ValueError(f"{table}.{column}: the row UUID is needed to encrypt or decrypt")
    return f"{table}|{column}|{row_uuid}|{dek_id}".encode()


class FieldCipher:
    """Encrypts and decrypts field values and computes blind indexes; one per app."""

    def __init__(self, keyring: KeyRing, *, keyring_path: Path | None = None) -> None:
        self.keys = DataKeys(keyring, keyring_path)
        self._aeads: dict[str, AESGCM] = {}
        self._index_keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<FieldCipher {self.keys.keyring!r}>"

    def _aead(self, dek_id: str, dek: bytes | None = None) -> AESGCM:
        aead = self._aeads.get(dek_id)
        if aead is None:
            aead = AESGCM(dek if dek is not None else self.keys.get(dek_id))
            with self._lock:
                self._aeads[dek_id] = aead
        return aead

    def encrypt(self, value: str | None, *, table: str, column: str, row_uuid: str) -> str | None:
        """A fresh token for ``value`` (NFC-normalised) under the primary data key."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"{table}.{column}: only text can be encrypted")
        return self.encrypt_under(
            self.keys.primary(), value, table=table, column=column, row_uuid=row_uuid
        )

    def encrypt_under(
        self, key: tuple[str, bytes], value: str | None, *, table: str, column: str, row_uuid: str
    ) -> str | None:
        """As ``encrypt``, under ``key`` as ``keys.primary()`` answered it in the caller's
        transaction: for work that must not touch the session (the synthetic generator's worker
        processes). A fresh nonce per value all the same."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"{table}.{column}: only text can be encrypted")
        dek_id, dek = key
        nonce = secrets.token_bytes(NONCE_BYTES)
        plaintext = unicodedata.normalize("NFC", value).encode("utf-8")
        sealed = self._aead(dek_id, dek).encrypt(
            nonce, plaintext, _aad(table, column, row_uuid, dek_id)
        )
        return f"{TOKEN_VERSION}.{dek_id}.{b64url(nonce + sealed)}"

    def decrypt(self, token: str | None, *, table: str, column: str, row_uuid: str) -> str | None:
        """The value in ``token``; ``DecryptionError`` unless it was made for this row, column."""
        if token is None:
            return None
        try:
            dek_id, payload = _split(token)
        except DecryptionError:
            raise DecryptionError(f"{table}.{column}: not a CaseApp v1 token") from None
        raw = from_b64url(payload)
        if raw is None or len(raw) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(f"{table}.{column}: malformed token (data key {dek_id})")
        aead = self._aead(dek_id)
        try:
            plaintext = aead.decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(table, column, row_uuid, dek_id)
            )
        except InvalidTag:
            raise DecryptionError(
                f"{table}.{column}: integrity check failed (data key {dek_id}): the value was "
                "altered or belongs to another row or column"
            ) from None
        return plaintext.decode("utf-8")

    def blind_index(self, column: str, normalised: str) -> str:
        """HMAC-SHA256 (hex) of an already normalised value, with a key of its own per column."""
        key = self._index_keys.get(column)
        if key is None:
            key = HKDF(
                algorithm=hashes.SHA256(),
                length=KEY_BYTES,
                salt=None,
                info=BLIND_INDEX_INFO + column.encode("utf-8"),
            ).derive(self.keys.keyring.blind_index_key)
            with self._lock:
                self._index_keys[column] = key
        return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def current_cipher() -> FieldCipher:
    """The current app's cipher."""
    cipher: FieldCipher = current_app.extensions["caseapp.cipher"]
    return cipher


def blind_index(column: str, normalised: str) -> str:
    """The current app's blind index of ``normalised`` for ``column`` (64 hex characters)."""
    return current_cipher().blind_index(column, normalised)


# Separators people type inside a CCCD: spaces, dashes of every kind, dots, invisible marks.
_CCCD_SEPARATORS = {"-", ".", "\u2212"}


def normalise_cccd(text: str) -> str:
    """A CCCD as ASCII digits: Unicode digits converted, separators dropped, leading zeros kept."""
    # Anything else (a letter, say) is left in place, so that the caller's validation refuses it
    # instead of a silently shortened number being accepted.
    out = []
    for char in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(char)
        if category == "Nd":
            out.append(str(unicodedata.digit(char)))
        elif char.isspace() or category in {"Pd", "Cf"} or char in _CCCD_SEPARATORS:
            continue
        else:
            out.append(char)
    return "".join(out)


def normalise_name(text: str) -> str:
    """A name for matching: case-folded, without diacritics (đ → d), single spaces."""
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFC", text).casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    # đ has no decomposition; legacy Vietnamese encodings often give Đ as the look-alike Ð (eth).
    bare = bare.replace("đ", "d").replace("ð", "d")
    return unicodedata.normalize("NFC", " ".join(bare.split()))


def name_dob_key(full_name: str, date_of_birth: date) -> str:
    """The value behind the name + date-of-birth blind index: ``normalised name|YYYY-MM-DD``."""
    return f"{normalise_name(full_name)}|{date_of_birth.isoformat()}"


T = TypeVar("T")


class _EncryptedAttribute(Generic[T]):
    """A model attribute stored encrypted in ``ciphertext_attr`` (see ``EncryptedField``)."""

    def __init__(self, ciphertext_attr: str) -> None:
        self.ciphertext_attr = ciphertext_attr
        self.name = ""
        self.table = ""
        # Decrypted values, per instance and keyed by their token, kept off the instance itself so
        # that they are never pickled, copied or shown with it.
        self._plain: weakref.WeakKeyDictionary[object, tuple[str, T]] = weakref.WeakKeyDictionary()

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name
        self.table = str(owner.__tablename__)
        register_encrypted_column(owner, name, self.ciphertext_attr)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.table}.{self.name}>"

    def __eq__(self, other: object) -> bool:
        # ``Model.full_name == x`` in a query would otherwise compare nothing and match nothing.
        raise TypeError(f"{self.table}.{self.name} is encrypted: query its blind index instead")

    __hash__ = object.__hash__

    def _row_uuid(self, obj: object) -> str:
        row_uuid = getattr(obj, "uuid", None)
        if not row_uuid:
            raise ValueError(
                f"{type(obj).__name__}.uuid must be set before {self.name} is assigned or read"
            )
        return str(row_uuid)

    def _to_text(self, value: T) -> str:
        raise NotImplementedError

    def _from_text(self, text: str) -> T:
        raise NotImplementedError

    @overload
    def __get__(self, obj: None, objtype: type[Any] | None = None) -> Self: ...
    @overload
    def __get__(self, obj: object, objtype: type[Any] | None = None) -> T | None: ...
    def __get__(self, obj: object | None, objtype: type[Any] | None = None) -> Self | T | None:
        if obj is None:
            return self
        token: str | None = getattr(obj, self.ciphertext_attr)
        if token is None:
            return None
        cached = self._plain.get(obj)
        if cached is not None and cached[0] == token:
            return cached[1]
        text = current_cipher().decrypt(
            token, table=self.table, column=self.name, row_uuid=self._row_uuid(obj)
        )
        value = self._from_text(text or "")
        self._plain[obj] = (token, value)
        return value

    def __set__(self, obj: object, value: T | None) -> None:
        if value is None:
            setattr(obj, self.ciphertext_attr, None)
            return
        text = self._to_text(value)
        if getattr(obj, self.ciphertext_attr) is not None:
            try:
                unchanged = self._to_text(self.__get__(obj)) == text  # type: ignore[arg-type]
            except DecryptionError:
                unchanged = False  # an unreadable value may be overwritten
            if unchanged:  # no new token, so no spurious UPDATE or version bump
                return
        token = current_cipher().encrypt(
            text, table=self.table, column=self.name, row_uuid=self._row_uuid(obj)
        )
        setattr(obj, self.ciphertext_attr, token)
        if token is not None:
            self._plain[obj] = (token, self._from_text(text))


class EncryptedField(_EncryptedAttribute[str]):
    """Encrypted text attribute over a ciphertext column (see the module docstring)."""

    def _to_text(self, value: str) -> str:
        if not isinstance(value, str):
            raise TypeError(f"{self.table}.{self.name} takes text")
        return unicodedata.normalize("NFC", value)

    def _from_text(self, text: str) -> str:
        return text


class EncryptedDateField(_EncryptedAttribute[date]):
    """Encrypted ``datetime.date`` attribute, stored as ``YYYY-MM-DD``."""

    def _to_text(self, value: date) -> str:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise TypeError(f"{self.table}.{self.name} takes a date")
        return value.isoformat()

    def _from_text(self, text: str) -> date:
        return date.fromisoformat(text)
