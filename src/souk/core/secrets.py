"""Encryption of secrets at rest, with key rotation.

Keys are Fernet keys (AES-128-CBC + HMAC-SHA256, authenticated). The keyring is a :class:`MultiFernet`: the first
key encrypts, all keys decrypt, so rotation is "put the new key first, re-encrypt everything, drop the old key".
The master key comes from ``SOUK_SECRET_KEY`` (comma-separated, newest first) or from ``<data_dir>/secret.key``,
generated with mode 0600 on first run.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "enc:v1:"
KEY_FILE = "secret.key"


class SecretsError(RuntimeError):
    pass


class Keyring:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretsError("no encryption key")
        try:
            self._fernets = [Fernet(k.strip().encode()) for k in keys]
        except (ValueError, TypeError) as exc:
            raise SecretsError(
                "SOUK_SECRET_KEY (or secret.key) is not a valid key: generate one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            ) from exc
        self.keys = [k.strip() for k in keys]
        self._multi = MultiFernet(self._fernets)

    def encrypt(self, plaintext: str) -> str:
        return PREFIX + self._multi.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            raise SecretsError("value is not encrypted")
        try:
            return self._multi.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SecretsError("cannot decrypt a stored secret: wrong or rotated-away master key") from exc

    def reencrypt(self, stored: str) -> str:
        """The same plaintext under the primary key."""
        return PREFIX + self._multi.rotate(stored[len(PREFIX) :].encode()).decode()


_keyring: Keyring | None = None


def generate_key() -> str:
    return Fernet.generate_key().decode()


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def load_keys(secret_key: str | None, data_dir: Path, *, create: bool = True) -> list[str]:
    """The keys in force: from the setting if given, else from the key file (created when missing)."""
    if secret_key:
        return [k for k in secret_key.split(",") if k.strip()]
    path = key_file(data_dir)
    if not path.exists():
        if not create:
            raise SecretsError(f"no master key: set SOUK_SECRET_KEY or create {path}")
        data_dir.mkdir(parents=True, exist_ok=True)
        write_key_file(path, [generate_key()])
    return [line for line in path.read_text().splitlines() if line.strip()]


def write_key_file(path: Path, keys: list[str]) -> None:
    """Write keys atomically with mode 0600."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(keys) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def install_keyring(keys: list[str]) -> Keyring:
    global _keyring
    _keyring = Keyring(keys)
    return _keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise SecretsError("keyring not initialised: the application did not load its master key")
    return _keyring


def mask(value: str | None) -> str | None:
    """``"EAAx…4f2c"``: enough to recognise a secret, never enough to use it."""
    if value is None:
        return None
    if len(value) <= 10:
        return "…" if value else ""
    return f"{value[:4]}…{value[-4:]}"
