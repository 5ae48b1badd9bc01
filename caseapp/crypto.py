"""The key ring: key-encryption keys and blind-index keys, kept outside the database.

The file lives in the instance folder (mode 0600). A missing, unreadable or malformed key ring stops
start-up before anything touches the database: CaseApp fails closed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caseapp.config import ConfigError

KEY_BYTES = 32
FORMAT_VERSION = 1


@dataclass(frozen=True)
class KeyRing:
    """Key-encryption keys by id (one primary) and the blind-index master key."""

    primary_kek_id: str
    keks: dict[str, bytes]
    blind_index_key: bytes

    @property
    def primary_kek(self) -> bytes:
        return self.keks[self.primary_kek_id]

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
