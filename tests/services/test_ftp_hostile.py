"""The FTP client side against a hostile FTP server: a listing is bounded, bad entries are left out.

Every operation runs under GUARD so that most regressions fail in seconds instead of hanging; the
elapsed times are measured around the operation itself (no sleeps).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ectui.config import Settings
from ectui.i18n import render
from ectui.services import ConsoleServices
from ectui.services.clusters import FtpDraft
from ectui.services.ftp import (
    MAX_SIZE,
    REPLY_MAX_BYTES,
    REPLY_TEXT_MAX,
    FtpError,
    FtpSession,
    Listing,
    ListingLimits,
)
from tests.hostile.ftp_server import (
    BAD_PASSIVE,
    BAD_SIZE_NAMES,
    BAD_SIZES,
    BINARY_REPLY,
    DRIP,
    DRIP_REPLY,
    ENDLESS,
    GOOD_NAMES,
    GOOD_SIZES,
    LONG_LINE,
    MANY,
    NORMAL,
    REFUSE_LONG,
    REPLY_FLOOD,
    SKIPPED_NAMES,
    HostileFtpServer,
)
from tests.kit import build_licensed_console
from tests.kit.isos import add_cluster

DEADLINE = 1.0
MARGIN = 1.5
"""Login, closing and a loaded machine: the most a bounded operation may take past its deadline."""
GUARD = 10.0
"""The most any operation here may take before the test fails (instead of hanging)."""
FAST = ListingLimits(deadline=DEADLINE)

Start = Callable[..., Awaitable[HostileFtpServer]]


@pytest.fixture
async def hostile() -> AsyncIterator[Start]:
    """Start hostile FTP servers (mode, options); all closed at the end of the test."""
    servers: list[HostileFtpServer] = []

    async def start(mode: str = NORMAL, **options: Any) -> HostileFtpServer:
        server = await HostileFtpServer(mode, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


def draft(server: HostileFtpServer) -> FtpDraft:
    return FtpDraft(server.host, server.port, server.user, server.password, "/")


async def list_on(server: HostileFtpServer, limits: ListingLimits = FAST) -> Listing:
    async with asyncio.timeout(GUARD), FtpSession.open(draft(server)) as ftp:
        return await ftp.listing(limits)


async def refused(server: HostileFtpServer, limits: ListingLimits = FAST) -> tuple[FtpError, float]:
    """The FtpError a listing ends with, and the seconds it took (login and close included)."""
    started = time.monotonic()
    with pytest.raises(FtpError) as caught:
        await list_on(server, limits)
    return caught.value, time.monotonic() - started


def one_line(err: FtpError) -> str:
    text = render(err)
    assert "\n" not in text and "\r" not in text
    return text


# ------------------------------------------------------------------ the deadline


async def test_a_slow_drip_listing_ends_at_the_deadline(hostile: Start) -> None:
    server = await hostile(DRIP)  # one byte a second: each read would meet any per-read timeout
    err, elapsed = await refused(server)
    assert err.key == "ftp.listing_timeout" and err.transient
    assert elapsed < DEADLINE + MARGIN
    assert "1 s listing deadline" in one_line(err)
    async with asyncio.timeout(GUARD):
        await server.cut.wait()  # the client dropped the data connection


async def test_a_reply_dripping_on_the_control_connection_ends_at_the_deadline(hostile: Start) -> None:
    server = await hostile(DRIP_REPLY, drip_interval=0.05)
    err, elapsed = await refused(server)
    assert err.key == "ftp.listing_timeout"
    assert elapsed < DEADLINE + MARGIN


async def test_an_endless_listing_ends_at_the_entry_cap(hostile: Start) -> None:
    server = await hostile(ENDLESS)
    err, elapsed = await refused(server)
    assert err.key == "ftp.listing_too_many"
    assert elapsed < DEADLINE + MARGIN
    assert "more than 10000 entries (the entry cap)" in one_line(err)
    async with asyncio.timeout(GUARD):
        await server.cut.wait()


async def test_an_endless_listing_under_the_caps_ends_at_the_deadline(hostile: Start) -> None:
    server = await hostile(ENDLESS, pace=0.02)
    roomy = ListingLimits(deadline=DEADLINE, max_entries=10**9, max_bytes=10**12)
    err, elapsed = await refused(server, roomy)
    assert err.key == "ftp.listing_timeout"
    assert elapsed < DEADLINE + MARGIN


# ------------------------------------------------------------------ the caps


async def test_a_too_long_line_is_refused_without_reading_it_all(hostile: Start) -> None:
    server = await hostile(LONG_LINE)  # a 1 MiB line
    err, elapsed = await refused(server)
    assert err.key == "ftp.listing_line_too_long"
    assert "longer than 4096 bytes (the line cap)" in one_line(err)
    assert elapsed < DEADLINE + MARGIN


async def test_the_entry_cap_counts_lines(hostile: Start) -> None:
    at_cap = await hostile(MANY, count=10_000)
    listing = await list_on(at_cap)
    assert len(listing.files) == 10_000 and listing.skipped == ()
    over = await hostile(MANY, count=10_001)
    err, _elapsed = await refused(over)
    assert err.key == "ftp.listing_too_many"


async def test_the_listing_size_cap(hostile: Start) -> None:
    server = await hostile(MANY, count=500)  # about 28 KB
    err, _elapsed = await refused(server, ListingLimits(deadline=DEADLINE, max_bytes=10_000))
    assert err.key == "ftp.listing_too_large"
    assert "larger than 10000 bytes (the listing size cap)" in one_line(err)


async def test_an_endless_multi_line_reply_is_capped(hostile: Start) -> None:
    server = await hostile(REPLY_FLOOD)
    err, elapsed = await refused(server)
    assert err.key == "ftp.bad_reply"
    assert f"longer than {REPLY_MAX_BYTES} bytes (the reply cap)" in one_line(err)
    assert elapsed < DEADLINE + MARGIN


async def test_a_reply_that_is_not_utf8_is_a_clear_error(hostile: Start) -> None:
    server = await hostile(BINARY_REPLY)
    err, _elapsed = await refused(server)
    assert err.key == "ftp.bad_reply"


async def test_a_garbled_passive_reply_is_a_clear_error(hostile: Start) -> None:
    server = await hostile(BAD_PASSIVE)
    err, _elapsed = await refused(server)
    assert err.key == "ftp.bad_listing"


async def test_a_refusal_text_is_kept_as_data_and_cut(hostile: Start) -> None:
    server = await hostile(REFUSE_LONG)
    err, _elapsed = await refused(server)
    assert err.key == "ftp.refused" and err.params["command"] == "MLSD"
    reason = err.params["reason"]
    assert reason.startswith("550 [bold]no[/bold] \x1b[2J")  # literally: the UI escapes it
    assert len(reason) == REPLY_TEXT_MAX


# ------------------------------------------------------------------ entries


async def test_bad_names_are_skipped_and_the_others_kept_literally(
    hostile: Start, caplog: pytest.LogCaptureFixture
) -> None:
    server = await hostile(NORMAL)
    with caplog.at_level(logging.WARNING, logger="ectui.ftp"):
        listing = await list_on(server)
    assert {f.name: f.size for f in listing.files} == GOOD_SIZES  # the first good.iso, not its duplicate
    skipped = {(e.name, e.reason) for e in listing.skipped}
    assert skipped == {*SKIPPED_NAMES.items(), ("good.iso", "duplicate")}
    evil = next(e for e in listing.skipped if e.name.endswith("evil.iso"))
    assert evil.printable == "\\x1b[2Jevil.iso"
    logged = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(logged) == len(listing.skipped)
    assert any("\\x1b[2Jevil.iso" in m for m in logged) and not any("\x1b" in m for m in logged)


@pytest.mark.parametrize("mlsd", [True, False], ids=["MLSD", "LIST"])
async def test_bad_sizes_are_rejected_entry_by_entry(hostile: Start, mlsd: bool) -> None:
    server = await hostile(BAD_SIZES, mlsd=mlsd)
    listing = await list_on(server)
    assert {f.name: f.size for f in listing.files} == {"zero.iso": 0, "largest.iso": MAX_SIZE, "ok.iso": 10}
    rejected = {e.name for e in listing.skipped if e.reason == "bad_size"}
    # an `ls -l` line without a number where the size goes is not a file line at all
    assert rejected == (set(BAD_SIZE_NAMES) if mlsd else {"negative.iso", "huge.iso"})
    assert {e.reason for e in listing.skipped} == {"bad_size"}


# ------------------------------------------------------------------ the ISO sync


@pytest.fixture
async def console(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> AsyncIterator[ConsoleServices]:
    services = await build_licensed_console(tmp_path)
    services.isos.listing_limits = FAST
    yield services
    services.close()


async def test_the_iso_sync_reports_skipped_entries_and_syncs_the_rest(
    console: ConsoleServices, hostile: Start
) -> None:
    names = await hostile(NORMAL)
    sizes = await hostile(BAD_SIZES)
    await add_cluster(console, draft(names), "dc1")
    await add_cluster(console, draft(sizes), "dc2")
    async with asyncio.timeout(GUARD):
        first = await console.isos.sync("dc1")
        second = await console.isos.sync("dc2")
    by_file = {i.file_name: i for i in first.isos}
    assert set(by_file) == {n for n in GOOD_NAMES if n.endswith(".iso")}
    quit_iso = by_file["[@click=app.quit]quit.iso"]  # markup-like names are data, kept as they are
    assert (quit_iso.name, quit_iso.size) == ("[@click=app.quit]quit", 2)
    assert by_file["good.iso"].size == 1048576
    assert len(first.skipped) == len(SKIPPED_NAMES) + 1 == len(first.to_json()["skipped"])
    assert first.added == len(by_file)
    assert {i.file_name: i.size for i in second.isos} == {
        "zero.iso": 0,
        "largest.iso": MAX_SIZE,
        "ok.iso": 10,
    }
    assert len(second.skipped) == len(BAD_SIZE_NAMES)
    again = await console.isos.sync("dc1")  # the duplicate and the skipped ones change nothing
    assert (again.added, again.updated, again.gone) == (0, 0, 0)


async def test_an_iso_sync_of_a_slow_drip_ends_at_the_deadline_with_one_line(
    console: ConsoleServices, hostile: Start
) -> None:
    server = await hostile(DRIP)
    await add_cluster(console, draft(server))
    started = time.monotonic()
    with pytest.raises(FtpError) as err:
        async with asyncio.timeout(GUARD):
            await console.isos.sync("dc1")
    assert time.monotonic() - started < DEADLINE + MARGIN
    assert err.value.key == "ftp.listing_timeout"
    assert one_line(err.value).startswith("The FTP server did not finish the directory listing")
    assert await console.isos.list_all("dc1") == []
