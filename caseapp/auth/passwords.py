"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l

from caseapp.config import Settings

# Passwords people pick first; the length rule stops most others.
COMMON_PASSWORDS = frozenset(
    {
        "matkhau123456",
        "matkhaumoi123",
        "123456789012",
        "1234567890123",
        "password1234",
        "passwordpassword",
        "qwertyuiop12",
        "qwertyuiopas",
        "abc123456789",
        "admin1234567",
        "administrator",
        "caseapp12345",
        "vietnam12345",
        "hungyen12345",
        "thaibinh1234",
        "iloveyou1234",
    }
)


def normalise(password: str) -> str:
    """NFC, so the same passphrase typed on two keyboards (NFC or NFD) is the same password."""
    return unicodedata.normalize("NFC", password)


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hasher(settings: Settings) -> PasswordHasher:
    """The Argon2id hasher with the configured cost."""
    return _hasher(
        settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_COST, settings.ARGON2_PARALLELISM
    )


def hash_password(settings: Settings, password: str) -> str:
    """An Argon2id hash of the password."""
    return hasher(settings).hash(normalise(password))


def verify_password(settings: Settings, stored_hash: str, password: str) -> bool:
    """Does the password match? Never raises for a wrong password or a damaged hash."""
    try:
        return hasher(settings).verify(stored_hash, normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(settings: Settings, stored_hash: str) -> bool:
    """True when the hash was made with other parameters than the configured ones."""
    try:
        return hasher(settings).check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def policy_errors(settings: Settings, password: str, username: str = "") -> list[str]:
    """Everything wrong with a new password, in the user's language (empty: acceptable)."""
    errors: list[str] = []
    text = normalise(password)
    if len(text) < settings.PASSWORD_MIN_LENGTH:
        errors.append(
            str(_l("Mật khẩu phải có ít nhất %(n)d ký tự.", n=settings.PASSWORD_MIN_LENGTH))
        )
    if len(text) > settings.PASSWORD_MAX_LENGTH:
        errors.append(
            str(_l("Mật khẩu không được dài quá %(n)d ký tự.", n=settings.PASSWORD_MAX_LENGTH))
        )
    folded = text.casefold()
    if folded in COMMON_PASSWORDS or len(set(folded)) <= 2:
        errors.append(str(_l("Mật khẩu này quá dễ đoán, hãy chọn mật khẩu khác.")))
    if username and len(username) >= 3 and username.casefold() in folded:
        errors.append(str(_l("Mật khẩu không được chứa tên đăng nhập.")))
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        errors.append(str(_l("Mật khẩu không được chứa ký tự điều khiển.")))
    return errors
