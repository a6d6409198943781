"""The FTP client layer (aioftp, on the event loop) for the clusters' ISO shares.

Works with any standard FTP server (vsftpd, pure-ftpd, pyftpdlib, aioftp): MLSD with a LIST
fallback (unix `ls -l` and DOS listings parsed here), SIZE in binary mode, REST+STOR (APPE when
REST is refused) to resume, RNFR/RNTO, DELE.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
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

BLOCK_SIZE = 1 << 20
"""Bytes read from the file and written to the data connection at a time (aioftp's 8 KiB costs 3x the CPU)."""

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


# ------------------------------------------------------------------ listings


def parse_mlsd_line(line: str) -> RemoteFile | None:
    """A plain file from an MLSD line ('type=file;size=12;modify=20240101120000; name'), else None."""
    facts_text, sep, name = line.rstrip("\r\n").partition(" ")
    if not sep or not name:
        return None
    facts: dict[str, str] = {}
    for fact in facts_text.split(";"):
        key, eq, value = fact.partition("=")
        if eq:
            facts[key.strip().lower()] = value.strip()
    if facts.get("type", "").lower() != "file":
        return None
    try:
        size = int(facts.get("size", "0"))
    except ValueError:
        size = 0
    return RemoteFile(name, size, _mlsd_time(facts.get("modify", "")))


def _mlsd_time(value: str) -> str:
    match = re.match(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})", value)
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
    r"(?:.*?\s)?(?P<size>\d+)\s+(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+"
    r"(?P<when>\d{1,2}:\d{2}|\d{4})\s(?P<name>.+)$"
)
_DOS = re.compile(
    r"^(?P<mo>\d{2})-(?P<d>\d{2})-(?P<y>\d{2,4})\s+(?P<h>\d{1,2}):(?P<mi>\d{2})\s*(?P<ampm>[AaPp][Mm])?\s+"
    r"(?P<size><DIR>|\d+)\s+(?P<name>.+)$"
)


def parse_list_line(line: str, *, now: dt.datetime | None = None) -> RemoteFile | None:
    """A plain file from a LIST line (unix `ls -l` or DOS style), else None (directories, links, totals)."""
    line = line.rstrip("\r\n")
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
        return RemoteFile(match["name"], int(match["size"]), stamp.strftime("%Y-%m-%d %H:%M:%S"))
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
        return RemoteFile(match["name"], int(match["size"]), stamp.strftime("%Y-%m-%d %H:%M:%S"))
    return None


# ------------------------------------------------------------------ the session


def _codes(err: aioftp.StatusCodeError) -> list[str]:
    return [str(c) for c in getattr(err, "received_codes", ())]


def _refused(command: str, err: aioftp.StatusCodeError) -> FtpError:
    codes = _codes(err)
    info = " ".join(str(i).strip() for i in getattr(err, "info", ()) if str(i).strip())
    reason = f"{codes[-1] if codes else '?'} {info}".strip()[:200]
    transient = bool(codes) and codes[-1].startswith("4")
    return FtpError("ftp.refused", transient=transient, command=command, reason=reason)


def _lost(err: BaseException) -> FtpError:
    reason = type(err).__name__ if isinstance(err, TimeoutError) else (str(err) or type(err).__name__)
    return FtpError("ftp.connection_lost", transient=True, reason=reason[:200])


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

        client = aioftp.Client(socket_timeout=timeout, connection_timeout=timeout, path_timeout=timeout)
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

    async def list_files(self) -> list[RemoteFile]:
        """Plain files of the ISO directory: MLSD, or LIST when the server has no MLSD."""
        try:
            lines = await self._listing("MLSD")
            parse: Callable[[str], RemoteFile | None] = parse_mlsd_line
        except aioftp.StatusCodeError as err:
            codes = _codes(err)
            if not codes or not codes[-1].startswith("50"):
                raise _refused("MLSD", err) from None
            parse = parse_list_line
            try:
                lines = await self._listing("LIST")
            except aioftp.StatusCodeError as list_err:
                raise _refused("LIST", list_err) from None
        except (OSError, TimeoutError) as err:
            raise _lost(err) from None
        files = [f for f in map(parse, lines) if f is not None]
        if lines and not files and not any(_looks_like_dir_or_total(line) for line in lines):
            raise FtpError("ftp.bad_listing")
        return files

    async def _listing(self, command: str) -> list[str]:
        stream = await self.client.get_stream(command, "1xx")
        lines: list[str] = []
        try:
            while True:
                raw = await stream.readline()
                if not raw:
                    break
                text = raw.decode(self.client.encoding, errors="replace").rstrip("\r\n")
                if text:
                    lines.append(text)
        except BaseException:
            stream.close()
            raise
        await stream.finish()
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
            raise FtpError("ftp.refused", command="SIZE", reason=" ".join(info)[:200]) from None

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
    try:
        async with asyncio.timeout(2):
            await client.quit()
    except BaseException as err:  # the connection may already be broken; closing is all that is left
        client.close()
        if not isinstance(err, Exception):
            raise
