"""Secrets at rest: SecretBox, the 0600 master key file, private writes, scrypt."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ectui.services.secrets import (
    KEY_BYTES,
    SecretBox,
    SecretBoxError,
    derive_key,
    load_or_create_key_file,
    write_private,
)

KEY = bytes(range(32))


def test_seal_and_open() -> None:
    box = SecretBox(KEY)
    sealed = box.seal(b"private key bytes", purpose=b"p")
    assert b"private key bytes" not in sealed
    assert box.open(sealed, purpose=b"p") == b"private key bytes"


def test_each_seal_is_fresh() -> None:
    box = SecretBox(KEY)
    assert box.seal(b"x") != box.seal(b"x")


def test_wrong_key_cannot_open() -> None:
    sealed = SecretBox(KEY).seal(b"secret")
    with pytest.raises(SecretBoxError):
        SecretBox(bytes(32)).open(sealed)


def test_purpose_is_bound() -> None:
    box = SecretBox(KEY)
    sealed = box.seal(b"secret", purpose=b"license-private-key")
    with pytest.raises(SecretBoxError):
        box.open(sealed, purpose=b"issuer-signing-key")


@pytest.mark.parametrize("pos", [0, 5, 10, 17, -1])
def test_damaged_box_is_refused(pos: int) -> None:
    box = SecretBox(KEY)
    sealed = bytearray(box.seal(b"secret"))
    sealed[pos] ^= 0x01
    with pytest.raises(SecretBoxError):
        box.open(bytes(sealed))


@pytest.mark.parametrize("data", [b"", b"ECSB1", b"ECSB1" + bytes(27), b"garbage" * 10])
def test_not_a_box(data: bytes) -> None:
    with pytest.raises(SecretBoxError):
        SecretBox(KEY).open(data)


def test_key_length_is_checked_and_repr_hides_it() -> None:
    with pytest.raises(ValueError):
        SecretBox(b"short")
    assert KEY.hex() not in repr(SecretBox(KEY))
    assert "hidden" in repr(SecretBox(KEY))


def test_key_file_is_made_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "master.key"
    key = load_or_create_key_file(path)
    assert len(key) == KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key_file(path) == key
    assert load_or_create_key_file(tmp_path / "other.key") != key


def test_key_file_too_open_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = load_or_create_key_file(path)
    path.chmod(0o644)
    assert load_or_create_key_file(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_damaged_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"too short")
    with pytest.raises(SecretBoxError) as err:
        load_or_create_key_file(path)
    assert str(path) in str(err.value)


def test_write_private_is_0600_even_with_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "deep" / "constant.properties"
        write_private(path, b"private_key=...")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"private_key=..."
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_private(path, b"v2")  # replaces atomically
    assert path.read_bytes() == b"v2"
    assert [p.name for p in path.parent.iterdir()] == ["constant.properties"]


def test_write_private_tightens_an_existing_open_file(tmp_path: Path) -> None:
    path = tmp_path / "constant.properties"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_private(path, b"new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_derive_key_is_deterministic_per_salt() -> None:
    salt = b"0123456789abcdef"
    key = derive_key("pass phrase", salt)
    assert len(key) == KEY_BYTES
    assert derive_key("pass phrase", salt) == key
    assert derive_key("pass phrase", b"fedcba9876543210") != key
    assert derive_key("pass phrasE", salt) != key
