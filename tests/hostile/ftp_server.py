"""A small asyncio FTP server that misbehaves on purpose, for tests of the FTP client side.

It speaks just enough FTP for aioftp's client (USER PASS TYPE PASV EPSV LIST MLSD NLST CWD PWD SIZE
FEAT SYST OPTS NOOP QUIT) on 127.0.0.1 and a free port, and serves its listings in one of MODES::

    async with HostileFtpServer(DRIP) as server:
        settings = FtpDraft(server.host, server.port, server.user, server.password, "/")
        ...
        await server.cut.wait()  # the client dropped the endless data connection

The listing's entries are `Entry` values (a name as str or raw bytes, a size as the text sent); the
default ones of NORMAL and BAD_SIZES are HOSTILE_ENTRIES and BAD_SIZE_ENTRIES, with the names a client
must keep (GOOD_NAMES, GOOD_SIZES) and the ones it must skip (SKIPPED_NAMES, BAD_SIZE_NAMES).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

HOST = "127.0.0.1"

NORMAL = "normal"
"""A finite listing of `entries` (HOSTILE_ENTRIES by default)."""
BAD_SIZES = "bad_sizes"
"""A finite listing of `entries` (BAD_SIZE_ENTRIES by default): sizes -1, 2**64, 'abc' next to good ones."""
MANY = "many"
"""A finite listing of `count` small plain files."""
LONG_LINE = "long_line"
"""One good entry, then one line of `line_bytes` bytes."""
ENDLESS = "endless"
"""Plain files without end, as fast as the client reads (or one batch each `pace` seconds)."""
DRIP = "drip"
"""A listing without end, one byte each `drip_interval` seconds."""
REPLY_FLOOD = "reply_flood"
"""The reply to MLSD/LIST is an endless multi-line '150-' reply on the control connection."""
DRIP_REPLY = "drip_reply"
"""The reply to MLSD/LIST is a '150-' line that never ends, one byte each `drip_interval` seconds."""
REFUSE_LONG = "refuse_long"
"""MLSD and LIST are refused with '550 ' + `reply_text` (long, with markup and an escape sequence)."""
BINARY_REPLY = "binary_reply"
"""MLSD and LIST are refused with a reply that is not UTF-8."""
BAD_PASSIVE = "bad_passive"
"""EPSV and PASV are answered with a 229/227 reply that has no address in it."""
MODES = (
    NORMAL,
    BAD_SIZES,
    MANY,
    LONG_LINE,
    ENDLESS,
    DRIP,
    REPLY_FLOOD,
    DRIP_REPLY,
    REFUSE_LONG,
    BINARY_REPLY,
    BAD_PASSIVE,
)


@dataclass(frozen=True)
class Entry:
    """One listing entry: a name (str, or bytes sent as they are), the size text, file or dir."""

    name: str | bytes
    size: str = "1"
    kind: str = "file"

    @property
    def raw_name(self) -> bytes:
        return self.name if isinstance(self.name, bytes) else self.name.encode("utf-8")

    def mlsd(self) -> bytes:
        facts = f"type={self.kind};size={self.size};modify=20240102030405;".encode()
        return facts + b" " + self.raw_name + b"\r\n"

    def unix(self) -> bytes:
        mode = "-rw-r--r--" if self.kind == "file" else "drwxr-xr-x"
        return f"{mode} 1 ftp ftp {self.size} Jan 02  2024 ".encode() + self.raw_name + b"\r\n"


GOOD_SIZES = {
    "good.iso": 1048576,
    "[@click=app.quit]quit.iso": 2,
    "[bold red]loud[not a tag].iso": 3,
    "spaced name [1].iso": 4,
    "中文.iso": 5,
    "x" * 251 + ".iso": 6,  # 255 bytes: the longest name kept
    "notes.txt": 7,
}
GOOD_NAMES = frozenset(GOOD_SIZES)
SKIPPED_NAMES = {
    "[/]x.iso": "path",
    "[@click=app.quit]x[/].iso": "path",
    "../escape.iso": "path",
    "\x1b[2Jevil.iso": "control_chars",
    "cr\rname.iso": "control_chars",
    "nul\x00name.iso": "control_chars",
    "rtl\u202eosi.iso": "control_chars",
    "a" * 296 + ".iso": "name_too_long",  # 300 bytes
    "é" * 130 + ".iso": "name_too_long",  # 134 characters, 264 bytes
    "latin1-\ufffd.iso": "bad_encoding",  # sent as b'latin1-\xe9.iso'
}
"""Names a client must leave out, with the reason code (the bytes one as it shows after decoding)."""
HOSTILE_ENTRIES = (
    *(Entry(name, str(size)) for name, size in GOOD_SIZES.items()),
    *(Entry(name) for name in SKIPPED_NAMES if "\ufffd" not in name),
    Entry(b"latin1-\xe9.iso"),
    Entry("good.iso", "99"),  # listed twice: the second is a duplicate
    Entry("sub", "4096", "dir"),
)
BAD_SIZE_NAMES = {
    "negative.iso": "-1",
    "huge.iso": str(2**64),
    "letters.iso": "abc",
    "empty.iso": "",
    "plus.iso": "+5",
}
BAD_SIZE_ENTRIES = (
    *(Entry(name, size) for name, size in BAD_SIZE_NAMES.items()),
    Entry("zero.iso", "0"),
    Entry("largest.iso", str(2**63 - 1)),
    Entry("ok.iso", "10"),
)


class _Passive:
    """A data-connection listener opened by PASV/EPSV; accepts one connection."""

    def __init__(self) -> None:
        self.accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._connected, HOST, 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.accepted.done():
            writer.close()
        else:
            self.accepted.set_result((reader, writer))

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.accepted.done() and not self.accepted.cancelled():
            self.accepted.result()[1].close()
        else:
            self.accepted.cancel()


class HostileFtpServer:
    """An FTP server on 127.0.0.1 (port 0: a free one) that serves its listings in one of MODES."""

    def __init__(
        self,
        mode: str = NORMAL,
        *,
        entries: tuple[Entry, ...] | None = None,
        mlsd: bool = True,
        count: int = 10_001,
        line_bytes: int = 1 << 20,
        drip_interval: float = 1.0,
        pace: float | None = None,
        reply_text: str = "[bold]no[/bold] \x1b[2J" + "x" * 5000,
        user: str = "iso",
        password: str = "iso-secret",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        self.mode = mode
        if entries is None:
            entries = BAD_SIZE_ENTRIES if mode == BAD_SIZES else HOSTILE_ENTRIES
        self.entries = entries
        self.mlsd = mlsd
        """False: MLSD is refused with 502 (the client falls back to LIST)."""
        self.count = count
        self.line_bytes = line_bytes
        self.drip_interval = drip_interval
        self.pace = pace
        self.reply_text = reply_text
        self.user = user
        self.password = password
        self.host = HOST
        self.port = 0
        self.commands: list[str] = []
        """The command verbs received, in order (all sessions)."""
        self.cut = asyncio.Event()
        """Set when the client dropped a connection (data or control) while the server was still sending."""
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    # -- lifecycle

    async def start(self) -> HostileFtpServer:
        """Listen on 127.0.0.1 and a free port (then in `port`)."""
        self._server = await asyncio.start_server(self._session, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        """Stop listening and end the open sessions."""
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> HostileFtpServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- the control connection

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        passive: _Passive | None = None
        try:
            await _send(writer, b"220 hostile FTP ready\r\n")
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb, _sep, arg = line.partition(" ")
                verb = verb.upper()
                self.commands.append(verb)
                if verb in ("PASV", "EPSV"):
                    if passive is not None:
                        passive.close()
                    passive = _Passive()
                    port = await passive.start()
                    if self.mode == BAD_PASSIVE:
                        reply = "229 Entering Extended Passive Mode (no port here)"
                        if verb == "PASV":
                            reply = "227 Entering Passive Mode (garbage)"
                    elif verb == "PASV":
                        reply = f"227 Entering Passive Mode (127,0,0,1,{port >> 8},{port & 0xFF})"
                    else:
                        reply = f"229 Entering Extended Passive Mode (|||{port}|)"
                    await _send(writer, reply.encode() + b"\r\n")
                elif verb in ("MLSD", "LIST", "NLST"):
                    await self._listing(verb, passive, reader, writer)
                    if passive is not None:
                        passive.close()
                    passive = None
                elif verb == "QUIT":
                    await _send(writer, b"221 Bye\r\n")
                    break
                else:
                    await _send(writer, self._simple(verb, arg).encode("utf-8") + b"\r\n")
        except (ConnectionError, OSError):
            self.cut.set()
        except asyncio.CancelledError:
            pass  # close(): the session ends here (a cancelled connection task is logged as an error)
        finally:
            if passive is not None:
                passive.close()
            writer.close()
            self._sessions.discard(task)

    def _simple(self, verb: str, arg: str) -> str:
        if verb == "USER":
            return "331 Password required"
        if verb == "PASS":
            return "230 Logged in" if arg == self.password else "530 Login incorrect"
        if verb in ("TYPE", "OPTS", "NOOP", "MODE", "STRU"):
            return "200 OK"
        if verb == "SYST":
            return "215 UNIX Type: L8"
        if verb == "FEAT":
            return "211-Features:\r\n MLST type*;size*;modify*;\r\n SIZE\r\n EPSV\r\n PASV\r\n211 End"
        if verb == "PWD":
            return '257 "/" is the current directory'
        if verb == "CWD":
            return "250 Directory changed"
        if verb == "SIZE":
            for entry in self.entries:
                if entry.kind == "file" and entry.raw_name == arg.encode("utf-8", "surrogateescape"):
                    return f"213 {entry.size}"
            return "550 No such file"
        return f"502 {verb} not implemented"

    async def _listing(
        self,
        verb: str,
        passive: _Passive | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        if self.mode == REFUSE_LONG:
            await _send(writer, b"550 " + self.reply_text.encode("utf-8") + b"\r\n")
            return
        if self.mode == BINARY_REPLY:
            await _send(writer, b"550 \xff\xfe not UTF-8 \xc3\x28\r\n")
            return
        if verb == "MLSD" and not self.mlsd:
            await _send(writer, b"502 MLSD not implemented\r\n")
            return
        if passive is None:
            await _send(writer, b"425 Use PASV or EPSV first\r\n")
            return
        if self.mode == REPLY_FLOOD:
            for n in itertools.count():
                if reader.at_eof():
                    break
                await _send(writer, f"150-flood line {n} [red]markup[/red]\r\n".encode() * 64)
                await asyncio.sleep(0)
            self.cut.set()
            return
        if self.mode == DRIP_REPLY:
            for byte in itertools.cycle(b"150-slow reply that never ends\r\n"[:-2]):
                if reader.at_eof():
                    break
                await _send(writer, bytes([byte]))
                await asyncio.sleep(self.drip_interval)
            self.cut.set()
            return
        await _send(writer, b"150 Here comes the listing\r\n")
        data_reader, data_writer = await asyncio.wait_for(passive.accepted, 10)
        finished = await self._send_listing(verb, data_reader, data_writer)
        data_writer.close()
        if finished:
            await _send(writer, b"226 Transfer complete\r\n")
        else:
            self.cut.set()
            await _send(writer, b"426 Connection closed; transfer aborted\r\n")

    # -- the data connection

    def _lines(self, verb: str) -> Iterator[bytes]:
        if self.mode == MANY:
            entries: Iterator[Entry] = (Entry(f"f{n:06}.iso") for n in range(self.count))
        elif self.mode == ENDLESS:
            entries = (Entry(f"endless-{n}.iso") for n in itertools.count())
        elif self.mode == LONG_LINE:
            entries = iter((Entry("good.iso"), Entry("y" * self.line_bytes + ".iso")))
        else:
            entries = iter(self.entries)
        for entry in entries:
            if verb == "MLSD":
                yield entry.mlsd()
            elif verb == "LIST":
                yield entry.unix()
            else:
                yield entry.raw_name + b"\r\n"

    async def _send_listing(
        self, verb: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Send the listing; False when the client closed the data connection first."""
        closed = asyncio.ensure_future(reader.read())  # the client sends nothing: done = it closed
        try:
            if self.mode == DRIP:
                for byte in itertools.cycle(Entry("drip.iso").mlsd()):
                    await _send(writer, bytes([byte]))
                    done, _pending = await asyncio.wait({closed}, timeout=self.drip_interval)
                    if done:
                        return False
            lines = self._lines(verb)
            while True:
                batch = b"".join(itertools.islice(lines, 256))
                if not batch:
                    return True
                for start in range(0, len(batch), 1 << 16):
                    if closed.done():
                        return False
                    await _send(writer, batch[start : start + (1 << 16)])
                if self.pace is not None:
                    done, _pending = await asyncio.wait({closed}, timeout=self.pace)
                    if done:
                        return False
                else:
                    await asyncio.sleep(0)
        except (ConnectionError, OSError):
            return False
        finally:
            closed.cancel()
            await asyncio.gather(closed, return_exceptions=True)


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()
