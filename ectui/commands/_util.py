"""Shared pieces of the command modules: the one-line-error parser, tables, and result helpers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

EXIT_REFUSED = 1
EXIT_USAGE = 2

Handler = Callable[[Any, argparse.Namespace], Coroutine[Any, Any, "tuple[object, str] | None"]]
"""A command: gets the started services and the parsed arguments, returns (JSON data, text)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one clear line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        from ectui.i18n import _

        hint = _("try '{prog} --help'").format(prog=self.prog)
        label = _("error")
        self.exit(EXIT_USAGE, f"{self.prog}: {label}: {message} ({hint})\n")


def command(parser: argparse.ArgumentParser, handler: Handler, *, app: str = "console") -> None:
    """Bind a leaf parser to its handler and to the services it needs ('console' or 'issuer')."""
    parser.set_defaults(handler=handler, services=app)


class Refused(Exception):
    """A command that ran but reports failure (exit 1) after printing its result."""

    def __init__(self, data: object, text: str) -> None:
        super().__init__(text)
        self.data, self.text = data, text


def positive_id(value: str) -> int:
    from ectui.services.errors import ValidationError

    try:
        number = int(value)
    except ValueError:
        raise ValidationError("validation.int", field="ID", value=value) from None
    if number < 1:
        raise ValidationError("validation.positive", field="ID", value=number)
    return number


def read_password() -> str:
    """One line from standard input, without its line end (for --password-stdin)."""
    return sys.stdin.readline().rstrip("\r\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows as aligned text columns (wide CJK characters count double)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def width(text: str) -> int:
    """Display width of a string in a terminal."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def describe(data: dict[str, Any]) -> str:
    """A JSON-ready dict as aligned key/value lines."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        lines.append(f"{key:<16} {'-' if value is None else value}")
    return "\n".join(lines)
