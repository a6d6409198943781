"""The FTP client layer against pyftpdlib (with and without MLSD) and the listing parsers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from ectui.services.clusters import FtpDraft
from ectui.services.ftp import FtpError, FtpSession, RemoteFile, parse_list_line, parse_mlsd_line
from tests.kit.ftp import USER, PyFtpd


@pytest.fixture
def pyftpd(tmp_path: Path) -> Iterator[PyFtpd]:
    root = tmp_path / "ftp-root"
    root.mkdir()
    server = PyFtpd(root)
    yield server
    server.stop()


# ------------------------------------------------------------------ parsers


def test_mlsd_lines() -> None:
    assert parse_mlsd_line("type=file;size=65536;modify=20240102030405.123; a b.iso") == RemoteFile(
        "a b.iso", 65536, "2024-01-02 03:04:05"
    )
    assert parse_mlsd_line("Type=File;Size=1; x.ISO") == RemoteFile("x.ISO", 1, "")
    assert parse_mlsd_line("type=dir;modify=20240102030405; isos") is None
    assert parse_mlsd_line("type=cdir; .") is None
    assert parse_mlsd_line("garbage") is None


def test_unix_and_dos_list_lines() -> None:
    now = dt.datetime(2026, 3, 1, 12, 0)
    vsftpd = "-rw-r--r--    1 1000     1000      4194304 Feb 27 09:15 ubuntu server.iso"
    assert parse_list_line(vsftpd, now=now) == RemoteFile("ubuntu server.iso", 4194304, "2026-02-27 09:15:00")
    # a date 'in the future' is last year's
    assert parse_list_line("-rw-r--r-- 1 ftp ftp 10 Dec 31 23:59 old.iso", now=now).modified.startswith(
        "2025-12-31"
    )
    # pure-ftpd style with the year, no group column
    assert parse_list_line("-rw-r--r--  1 owner  123 Jan  5  2021 w.iso", now=now) == RemoteFile(
        "w.iso", 123, "2021-01-05 00:00:00"
    )
    assert parse_list_line("drwxr-xr-x 2 ftp ftp 4096 Jan 01 10:00 sub", now=now) is None
    assert parse_list_line("lrwxrwxrwx 1 ftp ftp 9 Jan 01 10:00 l.iso -> x.iso", now=now) is None
    assert parse_list_line("total 12", now=now) is None
    assert parse_list_line("02-27-26  09:15PM              1048576 win.iso") == RemoteFile(
        "win.iso", 1048576, "2026-02-27 21:15:00"
    )
    assert parse_list_line("02-27-26  09:15AM       <DIR>          folder") is None


# ------------------------------------------------------------------ against pyftpdlib


async def test_list_with_mlsd_and_with_the_list_fallback(tmp_path: Path) -> None:
    for mlsd in (True, False):
        root = tmp_path / f"root-{mlsd}"
        (root / "sub").mkdir(parents=True)
        (root / "a.iso").write_bytes(b"x" * 100)
        (root / "B.ISO").write_bytes(b"y" * 7)
        server = PyFtpd(root, mlsd=mlsd)
        try:
            async with FtpSession.open(server.settings()) as ftp:
                files = {f.name: f for f in (await ftp.listing()).files}
            assert set(files) == {"a.iso", "B.ISO"}
            assert files["a.iso"].size == 100 and files["B.ISO"].size == 7
            assert files["a.iso"].modified[:4].isdigit()
        finally:
            server.stop()


async def test_upload_resume_rename_size_delete(pyftpd: PyFtpd, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    data = bytes(range(256)) * 12_000  # ~3 MiB
    src.write_bytes(data)
    positions: list[int] = []
    async with FtpSession.open(pyftpd.settings()) as ftp:
        assert await ftp.size("nope.iso") is None
        pyftpd.drop_after = 1 << 20
        with pytest.raises(FtpError) as cut:
            await ftp.upload(".t.part", src, on_sent=positions.append)
        assert cut.value.transient
    async with FtpSession.open(pyftpd.settings()) as ftp:
        have = await ftp.size(".t.part")
        assert have is not None and 0 < have < len(data)
        pyftpd.received = 0
        sent = await ftp.upload(".t.part", src, offset=have)
        assert sent == len(data) - have == pyftpd.received
        assert await ftp.size(".t.part") == len(data)
        await ftp.rename(".t.part", "done.iso")
        assert (pyftpd.root / "done.iso").read_bytes() == data
        assert await ftp.delete("done.iso") is True
        assert await ftp.delete("done.iso") is False
    assert positions and positions[0] == 1 << 20


async def test_append_when_rest_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    server = PyFtpd(root, rest=False)
    src = tmp_path / "s.bin"
    src.write_bytes(b"0123456789" * 1000)
    (root / ".p").write_bytes(b"0123456789" * 300)
    try:
        async with FtpSession.open(server.settings()) as ftp:
            await ftp.upload(".p", src, offset=3000)
        assert (root / ".p").read_bytes() == src.read_bytes()
    finally:
        server.stop()


async def test_session_errors_are_clear(pyftpd: PyFtpd) -> None:
    from ectui.i18n import render

    bad = FtpDraft("127.0.0.1", pyftpd.port, USER, "wrong", "/")
    with pytest.raises(Exception) as denied:
        async with FtpSession.open(bad):
            pass
    assert "FTP login failed" in render(denied.value)
    with pytest.raises(Exception) as nodir:
        async with FtpSession.open(pyftpd.settings("/missing")):
            pass
    assert "no directory /missing" in render(nodir.value)
