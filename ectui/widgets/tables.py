"""Helpers for DataTable-based lists: the key under the cursor and the rows as shown."""

from __future__ import annotations

from typing import Any

from ectui.widgets.literal import DataTable


def cursor_key(table: DataTable[Any]) -> str | None:
    """The row key under the cursor, or None when the table is empty or refilling."""
    if table.row_count == 0:
        return None
    try:
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
    except Exception:  # cursor outside the rows while the table refills
        return None


def table_rows(table: DataTable[Any]) -> list[list[str]]:
    """The cells of every row in display order, as text (for tests and exports)."""
    return [[str(cell) for cell in table.get_row(row.key)] for row in table.ordered_rows]
