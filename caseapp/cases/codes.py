"""Case codes: random, non-identifying, with a check character that catches typing mistakes.

Nine Crockford base-32 symbols (no I, L, O, U): eight random, one check symbol (mod 37), shown as
``7K3M-9QXD-Z``. Read back leniently: lower case, dashes and spaces, O for 0, I or L for 1.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_ALPHABET = ALPHABET + "*~$=U"  # Crockford's 37 check symbols
RANDOM_LENGTH = 8
CODE_LENGTH = RANDOM_LENGTH + 1
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _value(body: str) -> int:
    number = 0
    for symbol in body:
        number = number * 32 + ALPHABET.index(symbol)
    return number


def check_symbol(body: str) -> str:
    """The check symbol of a code body."""
    return CHECK_ALPHABET[_value(body) % 37]


def new_code() -> str:
    """A fresh random case code (canonical form, no separators)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + check_symbol(body)


def canonical(text: str) -> str | None:
    """The canonical code for what someone typed, or None when it cannot be a valid code."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -.").translate(_READ_AS)
    if len(cleaned) != CODE_LENGTH:
        return None
    body, check = cleaned[:RANDOM_LENGTH], cleaned[RANDOM_LENGTH:]
    if any(ch not in ALPHABET for ch in body) or check not in CHECK_ALPHABET:
        return None
    return cleaned if check_symbol(body) == check else None


def display(code: str) -> str:
    """``7K3M9QXDZ`` → ``7K3M-9QXD-Z``."""
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"
