"""Shared pieces of the command modules: the one-line-error parser, tables, and result helpers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
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


MAX_ID = 2**63 - 1
"""The largest id a database integer column holds (SQLite and PostgreSQL BIGINT)."""
MAX_PASSWORD_BYTES = 4096
"""--password-stdin reads at most this much (up to the first line end); more is refused at once."""


def positive_id(value: str) -> int:
    """An id given on the command line: ASCII digits only, 1 to MAX_ID; anything else is a usage error (exit 2)."""
    from ectui.services.errors import ValidationError
    from ectui.text import one_line

    text = value.strip()
    digits = text[1:] if text.startswith(("+", "-")) else text
    shown = one_line(value, 40)  # echoed in a one-line error: escapes visible, shortened
    if not (digits.isascii() and digits.isdigit()):  # int() would take '١٢' or '１' as numbers
        raise ValidationError("validation.int", field="ID", value=shown)
    significant = digits.lstrip("0")
    if text.startswith("-") and significant:
        raise ValidationError("validation.positive", field="ID", value=shown)
    if len(significant) > len(str(MAX_ID)) or int(digits) > MAX_ID:  # no int() of a million digits
        raise ValidationError("validation.too_large", field="ID", max=MAX_ID, value=shown)
    number = int(digits)
    if number < 1:
        raise ValidationError("validation.positive", field="ID", value=number)
    return number


def read_password() -> str:
    """One line from standard input, without its line end (for --password-stdin); bounded to MAX_PASSWORD_BYTES."""
    from ectui.services.boundedio import read_stdin_line_bounded

    return read_stdin_line_bounded(MAX_PASSWORD_BYTES, "--password-stdin")


CELL_LIMIT = 80
"""A table cell shows at most this many characters (then '…'); --json gives every value whole."""


class TextTable:
    """Rows as aligned text columns, made only when printed and written line by line.

    Every cell is foreign text shown literally on one line (`ectui.text.one_line`): a newline or an
    escape sequence in a name never splits a row or reaches the terminal, and a cell is cut to
    CELL_LIMIT characters so the padding of every row does not grow with the longest name.
    """

    def __init__(self, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        self.headers = [str(h) for h in headers]
        self.rows = rows

    def lines(self) -> Iterator[str]:
        """The header line and one line per row."""
        from ectui.text import one_line

        cells = [[one_line(c, CELL_LIMIT) for c in row] for row in self.rows]
        widths = [width(h) for h in self.headers]
        for row in cells:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], width(cell))
        for row in (self.headers, *cells):
            yield "  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths, strict=True)).rstrip()

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __add__(self, other: object) -> str:
        return str(self) + str(other)

    def __radd__(self, other: object) -> str:
        return str(other) + str(self)

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __contains__(self, part: str) -> bool:
        return part in str(self)

    def __getattr__(self, name: str) -> Any:  # str methods (splitlines, startswith …) on the printed text
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(str(self), name)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> Any:
    """Rows as aligned text columns (wide CJK characters count double), built when printed."""
    return TextTable(headers, rows)


def width(text: str) -> int:
    """Display width of a string in a terminal."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def describe(data: dict[str, Any]) -> str:
    """A JSON-ready dict as aligned key/value lines (values shown literally, each on its line)."""
    from ectui.text import visible

    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        lines.append(f"{key:<16} {'-' if value is None else visible(value)}")
    return "\n".join(lines)


def write_text(text: object) -> None:
    """Print a command's text result: a table line by line, anything else with its controls escaped."""
    from ectui.text import visible

    if isinstance(text, TextTable):
        for line in text.lines():
            sys.stdout.write(line + "\n")
        return
    sys.stdout.write(visible(text, newlines=True) + "\n")


def write_json(data: object) -> None:
    """Print a command's data as JSON, streamed; the exact value, with nothing a terminal would obey.

    `ensure_ascii=False` keeps names readable; json escapes C0 controls itself, and C1 controls,
    bidirectional overrides and line separators are escaped here as \\uXXXX (still the same JSON value).
    """
    import json

    from ectui.text import json_safe

    for chunk in json.JSONEncoder(ensure_ascii=False).iterencode(data):
        sys.stdout.write(json_safe(chunk))
    sys.stdout.write("\n")
