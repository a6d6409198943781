"""The FTP client layer (aioftp, on the event loop) for the clusters' ISO shares.

Works with any standard FTP server (vsftpd, pure-ftpd, pyftpdlib, aioftp): MLSD with a LIST
fallback (unix `ls -l` and DOS listings parsed here), SIZE in binary mode, REST+STOR (APPE when
REST is refused) to resume, RNFR/RNTO, DELE.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aioftp

from ectui.i18n import N_
from ectui.services.errors import ServiceError, register_messages

if TYPE_CHECKING:
    from ectui.services.clusters import FtpDraft

log = logging.getLogger("ectui.ftp")

BLOCK_SIZE = 1 << 20
"""Bytes read from the file and written to the data connection at a time (aioftp's 8 KiB costs 3x the CPU)."""
MAX_SIZE = (1 << 63) - 1
"""The largest file size a listing may claim (a signed 64-bit integer, what the database stores)."""
MAX_NAME_BYTES = 255
"""The longest file name (in UTF-8 bytes) a listing entry may have; longer ones are skipped."""
REPLY_TEXT_MAX = 500
"""Characters of an FTP server's reply text kept in an error message (the rest is cut)."""
REPLY_MAX_BYTES = 64 << 10
"""The most bytes one control-connection reply may have, all its lines together (a multi-line flood ends)."""
LISTING_CHUNK = 64 << 10
"""Bytes read from a listing's data connection at a time."""
SKIPPED_LOGGED = 20
"""Skipped listing entries logged one by one in a listing; the rest are counted in one line."""

register_messages(
    {
        "ftp.refused": N_("The FTP server refused {command}: {reason}"),
        "ftp.connection_lost": N_("The connection to the FTP server was lost: {reason}"),
        "ftp.bad_listing": N_("The FTP server sent a directory listing this console cannot read."),
    }
)


class FtpError(ServiceError):
    """An FTP failure; `transient` when trying again later may work (a lost connection, a 4xx reply)."""

    def __init__(self, key: str, *, transient: bool = False, **params: Any) -> None:
        super().__init__(key, **params)
        self.transient = transient


@dataclass(frozen=True)
class RemoteFile:
    """One plain file of a listing."""

    name: str
    size: int
    modified: str
    """'YYYY-MM-DD HH:MM:SS' as the server tells it ('' when unknown)."""


@dataclass(frozen=True)
class ListingLimits:
    """Bounds on one directory listing, so that a broken or hostile FTP server cannot hold the console."""

    deadline: float = 30.0
    """Seconds the whole listing may take: the command, the data connection, every byte, the final reply."""
    max_entries: int = 10_000
    """The most lines (entries) a listing may have."""
    max_line: int = 4096
    """The most bytes one listing line may have."""
    max_bytes: int = 8 << 20
    """The most bytes the whole listing may have."""


SKIP_REASONS = ("bad_size", "bad_encoding", "control_chars", "name_too_long", "path", "duplicate")
"""Why a listing entry was left out: a size outside 0..2**63-1 or not a number, a name that is not UTF-8,
has control characters, is longer than MAX_NAME_BYTES, is a path ('/', '\\', '..') or came twice."""


@dataclass(frozen=True)
class SkippedEntry:
    """A listing entry left out of a listing: its name as received (cut to 300 characters) and why."""

    name: str
    reason: str
    """One of SKIP_REASONS."""

    @property
    def printable(self) -> str:
        """The name with control and other unprintable characters shown as escapes (\\x1b, \\r), on one line."""
        from ectui.text import visible

        return visible(self.name)


@dataclass(frozen=True)
class Listing:
    """The plain files of a directory and the entries left out (bad name or size)."""

    files: tuple[RemoteFile, ...]
    skipped: tuple[SkippedEntry, ...] = ()


class BadEntry(ValueError):
    """A listing line of a plain file with a value out of bounds (its size); the parsers raise it."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(reason)
        self.name = name
        self.reason = reason


# ------------------------------------------------------------------ listings


def _chomp(line: str) -> str:
    """The line without one line ending ('\\r\\n', '\\n' or '\\r'); a name's own trailing CR stays."""
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


_DIGITS = re.compile(r"[0-9]{1,40}")


def _size(text: str, name: str) -> int:
    """A listed size in 0..MAX_SIZE; BadEntry for anything else (negative, huge, not a plain number)."""
    if not _DIGITS.fullmatch(text):
        raise BadEntry(name, "bad_size")
    value = int(text)
    if value > MAX_SIZE:
        raise BadEntry(name, "bad_size")
    return value


def parse_mlsd_line(line: str) -> RemoteFile | None:
    """A plain file from an MLSD line ('type=file;size=12;modify=20240101120000; name'), else None.

    Raises BadEntry for a plain file whose size is not a whole number in 0..2**63-1.
    """
    facts_text, sep, name = _chomp(line).partition(" ")
    if not sep or not name:
        return None
    facts: dict[str, str] = {}
    for fact in facts_text.split(";"):
        key, eq, value = fact.partition("=")
        if eq:
            facts[key.strip().lower()] = value.strip()
    if facts.get("type", "").lower() != "file":
        return None
    size = _size(facts["size"], name) if "size" in facts else 0
    return RemoteFile(name, size, _mlsd_time(facts.get("modify", "")))


def _mlsd_time(value: str) -> str:
    match = re.match(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})", value, re.ASCII)
    if not match:
        return ""
    y, mo, d, h, mi, s = match.groups()
    return f"{y}-{mo}-{d} {h}:{mi}:{s}"


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
    )
}
_UNIX = re.compile(
    r"^(?P<kind>[-dlbcps])[-rwxsStTl+.@]{9}\S*\s+"
    r"(?:.*?\s)?(?P<size>-?[0-9]+)\s+(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+"
    r"(?P<when>\d{1,2}:\d{2}|\d{4})\s(?P<name>.+)$"
)
_DOS = re.compile(
    r"^(?P<mo>\d{2})-(?P<d>\d{2})-(?P<y>\d{2,4})\s+(?P<h>\d{1,2}):(?P<mi>\d{2})\s*(?P<ampm>[AaPp][Mm])?\s+"
    r"(?P<size><DIR>|-?[0-9]+)\s+(?P<name>.+)$"
)


def parse_list_line(line: str, *, now: dt.datetime | None = None) -> RemoteFile | None:
    """A plain file from a LIST line (unix `ls -l` or DOS style), else None (directories, links, totals).

    Raises BadEntry for a plain file whose size is out of 0..2**63-1.
    """
    line = _chomp(line)
    match = _UNIX.match(line)
    if match:
        if match["kind"] != "-":
            return None
        month = _MONTHS.get(match["mon"].lower())
        if month is None:
            return None
        day, when = int(match["day"]), match["when"]
        if ":" in when:  # recent files: 'Jan 02 12:34', the year is the latest one not in the future
            hour, minute = (int(p) for p in when.split(":"))
            now = now or dt.datetime.now()
            year = now.year
            try:
                if dt.datetime(year, month, day, hour, minute) > now + dt.timedelta(days=1):
                    year -= 1
                stamp = dt.datetime(year, month, day, hour, minute)
            except ValueError:
                return None
        else:
            try:
                stamp = dt.datetime(int(when), month, day)
            except ValueError:
                return None
        return RemoteFile(
            match["name"], _size(match["size"], match["name"]), stamp.strftime("%Y-%m-%d %H:%M:%S")
        )
    match = _DOS.match(line)
    if match:
        if match["size"] == "<DIR>":
            return None
        year = int(match["y"])
        if year < 100:
            year += 2000 if year < 70 else 1900
        hour = int(match["h"]) % 12 if match["ampm"] else int(match["h"])
        if match["ampm"] and match["ampm"].lower() == "pm":
            hour += 12
        try:
            stamp = dt.datetime(year, int(match["mo"]), int(match["d"]), hour, int(match["mi"]))
        except ValueError:
            return None
        return RemoteFile(
            match["name"], _size(match["size"], match["name"]), stamp.strftime("%Y-%m-%d %H:%M:%S")
        )
    return None


# ------------------------------------------------------------------ the session


def _codes(err: aioftp.StatusCodeError) -> list[str]:
    return [str(c) for c in getattr(err, "received_codes", ())]


def _refused(command: str, err: aioftp.StatusCodeError) -> FtpError:
    codes = _codes(err)
    info = " ".join(str(i).strip() for i in getattr(err, "info", ()) if str(i).strip())
    reason = f"{codes[-1] if codes else '?'} {info}".strip()[:REPLY_TEXT_MAX]
    transient = bool(codes) and codes[-1].startswith("4")
    return FtpError("ftp.refused", transient=transient, command=command, reason=reason)


def _lost(err: BaseException) -> FtpError:
    reason = type(err).__name__ if isinstance(err, TimeoutError) else (str(err) or type(err).__name__)
    return FtpError("ftp.connection_lost", transient=True, reason=reason[:REPLY_TEXT_MAX])


class _DeadlinePassed(Exception):
    """The deadline of the current operation passed (checked between reads, whatever aioftp's wait_for did)."""


class _Client(aioftp.Client):
    """aioftp's client with bounded replies and an optional deadline for the operation under way.

    aioftp reads a reply's lines until the last one, however many a server sends, each with its own
    socket timeout: a multi-line flood or a slow drip would hold the console. Here a reply has at most
    REPLY_MAX_BYTES, and no line is read once `deadline_at` (loop time) has passed.
    """

    deadline_at: float | None = None
    broken: bool = False
    """The connection is in an unknown state (a cap or deadline cut a transfer): close it, no QUIT."""

    def drop(self) -> None:
        """Mark the connection broken and close it."""
        self.broken = True
        self.close()

    async def parse_response(self) -> tuple[aioftp.Code, list[str]]:
        """aioftp's reply parser, bounded in size and by `deadline_at`."""
        size = 0

        async def next_line() -> tuple[aioftp.Code, str]:
            nonlocal size
            if self.deadline_at is not None and asyncio.get_running_loop().time() >= self.deadline_at:
                raise _DeadlinePassed
            try:
                code, rest = await self.parse_line()
            except ValueError:  # longer than the reader's line limit (64 KiB), or not in the encoding
                self.drop()
                raise FtpError("ftp.bad_reply", max=REPLY_MAX_BYTES) from None
            size += len(code) + len(rest) + 2
            if size > REPLY_MAX_BYTES:
                self.drop()
                raise FtpError("ftp.bad_reply", max=REPLY_MAX_BYTES)
            return code, rest

        code, rest = await next_line()
        info = [rest]
        current = code
        while rest.startswith("-") or not current.isdigit():
            current, rest = await next_line()
            if current.isdigit():
                info.append(rest)
                if current != code:
                    raise aioftp.StatusCodeError(code, current, info)
            else:
                info.append(current + rest)
        return code, info


class FtpSession:
    """One logged-in control connection, in binary mode, inside the ISO directory."""

    def __init__(self, client: aioftp.Client, directory: str) -> None:
        self.client = client
        self.directory = directory

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: FtpDraft, *, timeout: float = 30.0) -> AsyncIterator[FtpSession]:
        """Connect, log in, switch to binary and into the ISO directory; always closed on exit."""
        from ectui.services.clusters import ClusterError

        client = _Client(socket_timeout=timeout, connection_timeout=timeout, path_timeout=timeout)
        try:
            try:
                await client.connect(settings.host, settings.port)
            except (OSError, TimeoutError) as err:
                reason = type(err).__name__ if isinstance(err, TimeoutError) else (err.strerror or str(err))
                raise ClusterError(
                    "ftp.unreachable", host=settings.host, port=settings.port, reason=reason
                ) from None
            try:
                await client.login(settings.username, settings.password)
            except aioftp.StatusCodeError as err:
                if set(_codes(err)) & {"530", "331", "332"}:
                    raise ClusterError("ftp.auth_failed", user=settings.username) from None
                raise _refused("USER", err) from None
            session = cls(client, settings.iso_dir)
            await session.command("TYPE I", "200")
            try:
                await client.change_directory(settings.iso_dir)
            except aioftp.StatusCodeError:
                raise ClusterError("ftp.no_dir", dir=settings.iso_dir) from None
            yield session
        except (OSError, TimeoutError, ConnectionError) as err:
            raise _lost(err) from None
        except aioftp.StatusCodeError as err:
            raise _refused("FTP", err) from None
        finally:
            await session_close(client)

    async def command(self, line: str, expected: str | tuple[str, ...]) -> list[str]:
        """Send one command; FtpError unless the reply matches `expected`."""
        try:
            _code, info = await self.client.command(line, expected)
        except aioftp.StatusCodeError as err:
            raise _refused(line.split(" ", 1)[0], err) from None
        except (OSError, TimeoutError) as err:
            raise _lost(err) from None
        return [str(i) for i in info]

    async def listing(self, limits: ListingLimits | None = None) -> Listing:
        """Plain files of the ISO directory: MLSD, or LIST when the server has no MLSD; within `limits`.

        An entry with a bad size or name is left out, logged and returned in `skipped`; a listing past
        a cap or the deadline raises FtpError (one line naming the cap) and closes the connection, whose
        state is then unknown.
        """
        limits = limits or ListingLimits()
        client = self.client
        loop = asyncio.get_running_loop()
        deadline_at = loop.time() + limits.deadline
        if isinstance(client, _Client):
            client.deadline_at = deadline_at
        timer = asyncio.timeout_at(deadline_at)
        try:
            async with timer:
                lines, parse = await self._raw_listing(limits, deadline_at)
        except (_DeadlinePassed, TimeoutError) as err:
            _drop(client)
            if isinstance(err, _DeadlinePassed) or timer.expired() or loop.time() >= deadline_at:
                raise FtpError(
                    "ftp.listing_timeout", transient=True, seconds=f"{limits.deadline:g}"
                ) from None
            raise _lost(err) from None
        except OSError as err:
            _drop(client)
            raise _lost(err) from None
        except (ValueError, LookupError, OverflowError):  # aioftp's PASV/EPSV parsers on a garbled reply
            _drop(client)
            raise FtpError("ftp.bad_listing") from None
        except FtpError as err:
            if err.key != "ftp.refused":
                _drop(client)
            raise
        finally:
            if isinstance(client, _Client):
                client.deadline_at = None
        return _entries(lines, parse, client.encoding)

    async def _raw_listing(
        self, limits: ListingLimits, deadline_at: float
    ) -> tuple[list[bytes], Callable[[str], RemoteFile | None]]:
        try:
            return await self._read_listing("MLSD", limits, deadline_at), parse_mlsd_line
        except aioftp.StatusCodeError as err:
            codes = _codes(err)
            if not codes or not codes[-1].startswith("50"):
                raise _refused("MLSD", err) from None
        try:
            return await self._read_listing("LIST", limits, deadline_at), parse_list_line
        except aioftp.StatusCodeError as err:
            raise _refused("LIST", err) from None

    async def _read_listing(self, command: str, limits: ListingLimits, deadline_at: float) -> list[bytes]:
        """The listing's lines (without '\\n'), read in chunks within the caps (aioftp's readline has none).

        The data connection is opened and always closed here (aioftp's get_stream leaves it open when
        the command is refused or cut).
        """
        reader, writer = await self.client.get_passive_connection("I")
        loop = asyncio.get_running_loop()
        lines: list[bytes] = []
        total = 0
        pending = b""

        def add(raw: bytes) -> None:
            if len(raw) > limits.max_line:
                raise FtpError("ftp.listing_line_too_long", max=limits.max_line)
            if raw.strip():
                lines.append(raw)
                if len(lines) > limits.max_entries:
                    raise FtpError("ftp.listing_too_many", max=limits.max_entries)

        try:
            await self.client.command(command, "1xx")
            while True:
                if loop.time() >= deadline_at:
                    raise _DeadlinePassed
                chunk = await reader.read(LISTING_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > limits.max_bytes:
                    raise FtpError("ftp.listing_too_large", max=limits.max_bytes)
                *complete, pending = (pending + chunk).split(b"\n")
                for raw in complete:
                    add(raw)
                if len(pending) > limits.max_line:
                    raise FtpError("ftp.listing_line_too_long", max=limits.max_line)
            if pending:
                add(pending)
        finally:
            writer.close()
        await self.client.command(None, "2xx", "1xx")
        return lines

    async def size(self, name: str) -> int | None:
        """The size of a plain file (SIZE, in binary mode), or None when there is no such file."""
        try:
            _code, info = await self.client.command(f"SIZE {name}", "213")
        except aioftp.StatusCodeError as err:
            codes = _codes(err)
            if codes and codes[-1] in ("550", "450", "553"):
                return None
            raise _refused("SIZE", err) from None
        except (OSError, TimeoutError) as err:
            raise _lost(err) from None
        text = " ".join(info).strip().split()
        try:
            return int(text[-1])
        except (ValueError, IndexError):
            raise FtpError("ftp.refused", command="SIZE", reason=" ".join(info)[:REPLY_TEXT_MAX]) from None

    async def upload(
        self,
        name: str,
        path: Path,
        *,
        offset: int = 0,
        on_sent: Callable[[int], Awaitable[None] | None] | None = None,
        block_size: int = BLOCK_SIZE,
    ) -> int:
        """Send `path` from `offset` to the remote `name` (REST+STOR, APPE when REST is refused).

        `on_sent(position)` runs after each block (it may raise to stop: the data connection is
        closed without a clean end). Returns the bytes sent. Reads the next block in a thread while
        the current one goes out, so memory holds two blocks whatever the file size.
        """
        stream = await self._open_write(name, offset)
        sent = 0
        position = offset
        fh = await asyncio.to_thread(path.open, "rb")
        try:
            await asyncio.to_thread(fh.seek, offset)
            pending = asyncio.ensure_future(asyncio.to_thread(fh.read, block_size))
            try:
                while True:
                    block = await pending
                    if not block:
                        break
                    pending = asyncio.ensure_future(asyncio.to_thread(fh.read, block_size))
                    await stream.write(block)
                    sent += len(block)
                    position += len(block)
                    if on_sent is not None:
                        result = on_sent(position)
                        if result is not None:
                            await result
            finally:
                if not pending.done():
                    pending.cancel()
                    await asyncio.gather(pending, return_exceptions=True)
        except BaseException as err:
            stream.close()
            if isinstance(err, (OSError, TimeoutError)):
                raise _lost(err) from None
            raise
        finally:
            await asyncio.to_thread(fh.close)
        try:
            await stream.finish()
        except aioftp.StatusCodeError as err:
            raise _refused("STOR", err) from None
        except (OSError, TimeoutError) as err:
            raise _lost(err) from None
        return sent

    async def _open_write(self, name: str, offset: int) -> Any:
        try:
            if offset <= 0:
                return await self.client.upload_stream(name)
            try:
                return await self.client.upload_stream(name, offset=offset)
            except aioftp.StatusCodeError as err:
                codes = _codes(err)
                if not codes or not codes[-1].startswith("50"):
                    raise
            # REST refused for STOR: append at the end, which is `offset` (checked by the caller)
            return await self.client.append_stream(name)
        except aioftp.StatusCodeError as err:
            raise _refused("STOR", err) from None
        except (OSError, TimeoutError) as err:
            raise _lost(err) from None

    async def rename(self, source: str, destination: str) -> None:
        """RNFR/RNTO."""
        await self.command(f"RNFR {source}", "350")
        await self.command(f"RNTO {destination}", "2xx")

    async def delete(self, name: str, *, missing_ok: bool = True) -> bool:
        """DELE a file; False when it was not there (and `missing_ok`)."""
        try:
            await self.client.command(f"DELE {name}", "2xx")
        except aioftp.StatusCodeError as err:
            codes = _codes(err)
            if missing_ok and codes and codes[-1] in ("550", "450"):
                return False
            raise _refused("DELE", err) from None
        except (OSError, TimeoutError) as err:
            raise _lost(err) from None
        return True


def _drop(client: aioftp.Client) -> None:
    if isinstance(client, _Client):
        client.drop()
    else:
        client.close()


_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional controls: they reorder the text shown around them (a name that looks like another)."""


def name_problem(name: str) -> str | None:
    """Why a listed file name cannot be used (a SKIP_REASONS code), or None when it is fine."""
    categories = {unicodedata.category(c) for c in name}
    if "Cs" in categories:  # bytes that are not UTF-8, kept as surrogates by the decoder
        return "bad_encoding"
    if "Cc" in categories or not _BIDI.isdisjoint(name):
        return "control_chars"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return "name_too_long"
    if "/" in name or "\\" in name or name in (".", ".."):
        return "path"
    return None


def _entries(lines: list[bytes], parse: Callable[[str], RemoteFile | None], encoding: str) -> Listing:
    """Parse the listing's lines; leave out (and log) the entries with a bad size or name."""
    files: list[RemoteFile] = []
    skipped: list[SkippedEntry] = []
    seen: set[str] = set()
    texts = [raw.decode(encoding, errors="surrogateescape") for raw in lines]
    for text in texts:
        try:
            found = parse(text)
        except BadEntry as bad:
            skipped.append(_skipped(bad.name, bad.reason, len(skipped)))
            continue
        if found is None:
            continue
        reason = name_problem(found.name) or ("duplicate" if found.name in seen else None)
        if reason is not None:
            skipped.append(_skipped(found.name, reason, len(skipped)))
            continue
        seen.add(found.name)
        files.append(found)
    if len(skipped) > SKIPPED_LOGGED:
        log.warning("FTP listing: %d more entries skipped", len(skipped) - SKIPPED_LOGGED)
    if texts and not files and not skipped and not any(_looks_like_dir_or_total(t) for t in texts):
        raise FtpError("ftp.bad_listing")
    return Listing(tuple(files), tuple(skipped))


def _skipped(name: str, reason: str, before: int) -> SkippedEntry:
    if before < SKIPPED_LOGGED:
        log.warning("FTP listing: entry skipped (%s): %r", reason, name[:300])
    shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:300]
    return SkippedEntry(shown, reason)


def _looks_like_dir_or_total(line: str) -> bool:
    lowered = line.lower()
    return (
        lowered.startswith(("total", "d", "l"))
        or "type=dir" in lowered
        or "type=cdir" in lowered
        or "type=pdir" in lowered
        or "<dir>" in lowered
    )


async def session_close(client: aioftp.Client) -> None:
    """QUIT politely when the connection still works, else just close the socket."""
    if getattr(client, "broken", False):
        client.close()
        return
    try:
        async with asyncio.timeout(2):
            await client.quit()
    except BaseException as err:  # the connection may already be broken; closing is all that is left
        client.close()
        if not isinstance(err, Exception):
            raise
