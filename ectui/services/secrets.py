"""Secrets at rest: AES-256-GCM boxes keyed by a 0600 master key file or a passphrase (scrypt)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

_MAGIC = b"ECSB1"
KEY_BYTES = 32


class SecretBoxError(Exception):
    """A box could not be opened (wrong key or damaged data); carries no secret."""


class SecretBox:
    """Encrypts small secrets (private keys, passwords) with one 256-bit key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("a SecretBox key is 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: bytes, *, purpose: bytes = b"") -> bytes:
        """Encrypt; `purpose` is bound as associated data so a box cannot be moved to another use."""
        nonce = os.urandom(12)
        return _MAGIC + nonce + self._aead.encrypt(nonce, plaintext, _MAGIC + purpose)

    def open(self, box: bytes, *, purpose: bytes = b"") -> bytes:
        """Decrypt a box made by :meth:`seal` with the same key and purpose."""
        if not box.startswith(_MAGIC) or len(box) < len(_MAGIC) + 12 + 16:
            raise SecretBoxError("not a secret box")
        nonce = box[len(_MAGIC) : len(_MAGIC) + 12]
        try:
            return self._aead.decrypt(nonce, box[len(_MAGIC) + 12 :], _MAGIC + purpose)
        except InvalidTag as err:
            raise SecretBoxError("wrong key or damaged data") from err


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable only by its owner (0600), created that way (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_or_create_key_file(path: Path) -> bytes:
    """Read the master key file, making a new random one (0600) on first use."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, 0o600)
        data = path.read_bytes()
        if len(data) != KEY_BYTES:
            raise SecretBoxError(f"master key file {path} is damaged (expected {KEY_BYTES} bytes)")
        return data
    key = secrets.token_bytes(KEY_BYTES)
    write_private(path, key)
    return key


def derive_key(passphrase: str, salt: bytes) -> bytes:
    """Derive a 256-bit key from a passphrase with scrypt (n=2**15, r=8, p=1)."""
    return Scrypt(salt=salt, length=KEY_BYTES, n=2**15, r=8, p=1).derive(passphrase.encode("utf-8"))


class LazyKeyFileBox:
    """A SecretBox whose key file is read (or made, 0600) on first use, not at construction."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._box: SecretBox | None = None

    def __repr__(self) -> str:
        return f"LazyKeyFileBox({self._path})"

    def _get(self) -> SecretBox:
        if self._box is None:
            self._box = SecretBox(load_or_create_key_file(self._path))
        return self._box

    def seal(self, plaintext: bytes, *, purpose: bytes = b"") -> bytes:
        """Encrypt with the key file's key."""
        return self._get().seal(plaintext, purpose=purpose)

    def open(self, box: bytes, *, purpose: bytes = b"") -> bytes:
        """Decrypt with the key file's key."""
        return self._get().open(box, purpose=purpose)
