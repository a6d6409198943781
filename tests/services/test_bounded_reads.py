"""Operator-given files and stdin are read bounded: FIFOs, devices, directories and huge files are refused at once."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ectui.i18n import render
from ectui.services import ConsoleServices, boundedio, build_issuer_services, licfile
from ectui.services.boundedio import BoundedReadError, read_file_bounded, read_stdin_line_bounded
from ectui.services.errors import ServiceError, ValidationError
from ectui.services.keypairs import MAX_PUBLIC_KEY_FILE_BYTES, read_public_key_file
from ectui.services.license import MAX_PROPERTIES_BYTES

FAST = pytest.mark.timeout(10)  # a FIFO that made open() or read() wait would hang here, not pass slowly
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl op@host\n"


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe nobody writes to."""
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The byte counts returned by every os.read the helper makes."""
    counts: list[int] = []
    real = os.read

    def read(fd: int, n: int) -> bytes:
        data = real(fd, n)
        counts.append(len(data))
        return data

    monkeypatch.setattr(boundedio.os, "read", read)
    return counts


# ------------------------------------------------------------------ read_file_bounded


def test_a_file_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    assert read_file_bounded(path, 1000, "File") == b"x" * 1000
    (tmp_path / "empty").write_bytes(b"")
    assert read_file_bounded(tmp_path / "empty", 10, "File") == b""


def test_a_file_one_byte_over_is_refused_after_limit_plus_one_bytes(
    tmp_path: Path, counted_reads: list[int]
) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 1_000_000)
    with pytest.raises(BoundedReadError) as err:
        read_file_bounded(path, 100_000, "License file")
    assert err.value.key == "validation.file_too_large"
    assert err.value.exit_code == 2
    assert sum(counted_reads) == 100_001
    text = render(err.value)
    assert str(path) in text and "100000" in text and "\n" not in text


def test_just_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"y" * 4097)
    with pytest.raises(BoundedReadError) as err:
        read_file_bounded(path, 4096, "File")
    assert err.value.key == "validation.file_too_large"


@FAST
def test_dev_zero_is_refused_without_reading(counted_reads: list[int]) -> None:
    with pytest.raises(BoundedReadError) as err:
        read_file_bounded("/dev/zero", 1024, "File")
    assert err.value.key == "validation.not_regular_file"
    assert counted_reads == []


@FAST
def test_a_fifo_without_writer_is_refused_at_once(fifo: Path) -> None:
    with pytest.raises(BoundedReadError) as err:
        read_file_bounded(fifo, 1024, "File")
    assert err.value.key == "validation.not_regular_file"
    assert str(fifo) in render(err.value)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BoundedReadError) as err:
        read_file_bounded(tmp_path, 1024, "File")
    assert err.value.key == "validation.not_regular_file"


def test_a_missing_file_raises_oserror_for_the_callers_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_file_bounded(tmp_path / "nowhere", 1024, "File")


def test_refusals_are_validation_errors_with_a_translated_line() -> None:
    from ectui.i18n import set_language

    err = BoundedReadError("validation.file_too_large", field="License file", path="/x.ec", max=10)
    assert isinstance(err, ValidationError)
    set_language("zh_CN")
    try:
        text = render(err)
    finally:
        set_language("en")
    assert "/x.ec" in text and "License file" not in text


# ------------------------------------------------------------------ read_stdin_line_bounded


@pytest.fixture
def stdin_from(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Any], None]]:
    """Point sys.stdin at a binary file object (a real descriptor, as for `< file`)."""
    opened: list[Any] = []

    def use(raw: Any) -> None:
        opened.append(raw)
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(raw, encoding="utf-8"))

    yield use
    for raw in opened:
        raw.close()


def _pipe_with(data: bytes) -> Any:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    os.close(write_fd)
    return os.fdopen(read_fd, "rb", buffering=0)


@FAST
def test_stdin_from_dev_zero_is_refused_at_once(
    stdin_from: Callable[[Any], None], counted_reads: list[int]
) -> None:
    stdin_from(open("/dev/zero", "rb", buffering=0))  # noqa: SIM115 - closed by the fixture
    with pytest.raises(BoundedReadError) as err:
        read_stdin_line_bounded(4096)
    assert err.value.key == "validation.line_too_long"
    assert "--password-stdin" in render(err.value)
    assert sum(counted_reads) == 4097


def test_stdin_gives_the_first_line_only(stdin_from: Callable[[Any], None]) -> None:
    stdin_from(_pipe_with("sécret\r\nsecond line\n".encode()))
    assert read_stdin_line_bounded(4096) == "sécret"


def test_stdin_line_of_exactly_the_limit(stdin_from: Callable[[Any], None]) -> None:
    stdin_from(_pipe_with(b"p" * 16 + b"\n"))
    assert read_stdin_line_bounded(16) == "p" * 16


def test_stdin_line_one_over_the_limit(stdin_from: Callable[[Any], None]) -> None:
    stdin_from(_pipe_with(b"p" * 17 + b"\n"))
    with pytest.raises(BoundedReadError) as err:
        read_stdin_line_bounded(16)
    assert err.value.key == "validation.line_too_long"


def test_stdin_without_line_end_and_empty(stdin_from: Callable[[Any], None]) -> None:
    stdin_from(_pipe_with(b"pw"))
    assert read_stdin_line_bounded(16) == "pw"
    stdin_from(_pipe_with(b""))
    assert read_stdin_line_bounded(16) == ""


def test_stdin_not_utf8_is_refused(stdin_from: Callable[[Any], None]) -> None:
    stdin_from(_pipe_with(b"\xff\xfe\n"))
    with pytest.raises(BoundedReadError) as err:
        read_stdin_line_bounded(16)
    assert err.value.key == "validation.not_text"


def test_stdin_replaced_by_a_string_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\nmore\n"))
    assert read_stdin_line_bounded(16) == "pw"
    monkeypatch.setattr("sys.stdin", io.StringIO("x" * 100))
    with pytest.raises(BoundedReadError):
        read_stdin_line_bounded(16)


# ------------------------------------------------------------------ key pair files


@FAST
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "over-limit"])
def test_public_key_file_refusals(tmp_path: Path, fifo: Path, kind: str) -> None:
    big = tmp_path / "big.pub"
    big.write_bytes(b"ssh-ed25519 " + b"A" * MAX_PUBLIC_KEY_FILE_BYTES)
    path = {"fifo": fifo, "dev-zero": Path("/dev/zero"), "directory": tmp_path, "over-limit": big}[kind]
    with pytest.raises(ValidationError) as err:
        read_public_key_file(str(path))
    assert err.value.key in ("validation.not_regular_file", "validation.file_too_large")


def test_public_key_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "id.pub"
    path.write_text(KEY)
    assert read_public_key_file(path) == KEY
    with pytest.raises(ValidationError) as err:
        read_public_key_file(tmp_path / "missing.pub")
    assert err.value.key == "keypair.no_file"


# ------------------------------------------------------------------ license import (CLI and TUI share it)


@pytest.fixture(scope="module")
def issued(
    tmp_path_factory: pytest.TempPathFactory, settings_for: Callable[..., Any], make_license: Any
) -> Any:
    root = tmp_path_factory.mktemp("bounded-issued")

    async def make() -> Any:
        issuer = build_issuer_services(settings_for(root / "issuer"))
        await issuer.start()
        try:
            return await make_license(issuer.issuer, root / "out")
        finally:
            issuer.close()

    return asyncio.run(make())


def _hostile(kind: str, tmp_path: Path, limit: int) -> Path:
    if kind == "fifo":
        path = tmp_path / f"pipe-{limit}"
        os.mkfifo(path)
        return path
    if kind == "dev-zero":
        return Path("/dev/zero")
    if kind == "directory":
        return tmp_path
    path = tmp_path / f"big-{limit}"
    path.write_bytes(b"#" * (limit + 1))
    return path


KINDS = ["fifo", "dev-zero", "directory", "over-limit"]


@FAST
@pytest.mark.parametrize("kind", KINDS)
async def test_license_file_refusals_leave_nothing_installed(
    console_services: ConsoleServices, issued: Any, tmp_path: Path, kind: str
) -> None:
    ec = _hostile(kind, tmp_path, licfile.MAX_FILE_BYTES)
    with pytest.raises(ServiceError) as err:
        await console_services.license.import_license(ec, issued.properties_path)
    assert err.value.key in ("validation.not_regular_file", "validation.file_too_large")
    assert str(ec) in render(err.value)
    assert (await console_services.license.status()).state == "none"
    status = await console_services.license.import_license(issued.ec_path, issued.properties_path)
    assert status.state == "valid"


@FAST
@pytest.mark.parametrize("kind", KINDS)
async def test_properties_file_refusals(
    console_services: ConsoleServices, issued: Any, tmp_path: Path, kind: str
) -> None:
    props = _hostile(kind, tmp_path, MAX_PROPERTIES_BYTES)
    with pytest.raises(ServiceError) as err:
        await console_services.license.import_license(issued.ec_path, props)
    assert err.value.key in ("validation.not_regular_file", "validation.file_too_large")
    assert str(props) in render(err.value)
    assert (await console_services.license.status()).state == "none"
