"""Bounded reads of files and standard input named by the operator.

A path may name a FIFO, a device such as /dev/zero, a directory or a file of many gigabytes. These
helpers never block on opening (O_NONBLOCK), read regular files only, and stop as soon as a limit is
passed: at most limit + 1 bytes are ever read, so the refusal is one line and comes at once.
"""

from __future__ import annotations

import os
import stat
import sys

from ectui.services.errors import ValidationError

_CHUNK = 64 * 1024
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO without a writer opens at once instead of hanging
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class BoundedReadError(ValidationError):
    """An operator-given file or input that cannot be read: not a regular file, or over its size limit."""


def read_file_bounded(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of the regular file at `path`, refused once they pass `limit` bytes.

    `what` names the input in the refusal (a field label marked with N_). OSError (missing file,
    permission denied) propagates unchanged so callers keep their own messages for it.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BoundedReadError("validation.not_regular_file", field=what, path=str(path))
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > limit:  # the file may grow while read: the count decides, not fstat's size
                raise BoundedReadError("validation.file_too_large", field=what, path=str(path), max=limit)
            chunks.append(chunk)
    finally:
        os.close(fd)


def read_stdin_line_bounded(limit: int, what: str = "--password-stdin") -> str:
    """The first line of standard input without its line end; refused when no line end comes within `limit` bytes.

    Reads at most limit + 1 bytes, so `< /dev/zero` is refused at once. An empty or closed input gives "".
    """
    stream = sys.stdin
    if stream is None:
        return ""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a replaced sys.stdin (tests, embedding) has no descriptor
        text = stream.readline(limit + 1)
        if len(text) > limit and not text.endswith("\n"):
            raise BoundedReadError("validation.line_too_long", field=what, max=limit) from None
        return text.rstrip("\r\n")
    buffer = bytearray()
    while len(buffer) <= limit:
        chunk = os.read(fd, limit + 1 - len(buffer))
        if not chunk:
            break
        end = chunk.find(b"\n")
        if end >= 0:
            buffer += chunk[:end]
            break
        buffer += chunk
    if len(buffer) > limit:
        raise BoundedReadError("validation.line_too_long", field=what, max=limit)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text = bytes(buffer).decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise BoundedReadError("validation.not_text", field=what, encoding=encoding) from None
    return text.rstrip("\r")
