"""Passwords (argon2) and random tokens (API keys, session cookies)."""

from __future__ import annotations

import functools
import hashlib
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_hasher = PasswordHash((Argon2Hasher(),))

API_KEY_PREFIX = "souk_"
PREFIX_LEN = 12


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    if not hashed:
        # spend the same time so a missing account is not told apart by timing
        _hasher.verify(password, _dummy_hash())
        return False
    try:
        return _hasher.verify(password, hashed)
    except Exception:
        return False


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: hashing costs a good part of a second, and most processes never need it."""
    return _hasher.hash("not-a-real-password")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_api_key() -> tuple[str, str, str]:
    """A new key: ``(full key, visible prefix, stored hash)``."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:PREFIX_LEN], sha256_hex(key)


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
