"""CSV cells a spreadsheet will not run as formulas (OWASP "CSV injection"); every CSV writer of ectui uses this.

A text cell that starts with '=', '+', '-', '@', a tab or a carriage return is a formula (or the start of
one) to Excel, LibreOffice and Google Sheets: a VM, project or user name such as `=HYPERLINK(...)` in an
audit, billing or statistics export would run when the file is opened. Such a cell gets a leading
apostrophe, which the spreadsheet shows as text and hides.

Only text is touched. Numbers the services write as numbers (int, float, Decimal: counts, rates, sizes)
are left alone, negative ones too: a number cannot hold a formula, and an apostrophe would turn it into
text that no longer adds up. A negative amount written as *text* is neutralised like any other text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""


def safe_cell(value: object) -> object:
    """The value to write: text starting like a formula gets a leading apostrophe; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable[object]) -> list[object]:
    """A row with every cell passed through `safe_cell`."""
    return [safe_cell(value) for value in row]


class _RowWriter(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...


class SafeWriter:
    """A `csv.writer` whose rows are made safe first (same writerow/writerows)."""

    def __init__(self, writer: _RowWriter) -> None:
        self._writer = writer

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row."""
        self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write several rows."""
        for row in rows:
            self.writerow(row)


def safe_writer(writer: _RowWriter) -> SafeWriter:
    """Wrap a `csv.writer(...)`: `safe_writer(csv.writer(fh)).writerows(rows)`."""
    return SafeWriter(writer)
