"""Helpers for DataTable-based lists: the key under the cursor and the rows as shown."""

from __future__ import annotations

from collections.abc import Sequence
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


def cursor_id(table: DataTable[Any]) -> int | None:
    """The numeric row key under the cursor (lists keyed by database id), or None."""
    key = cursor_key(table)
    return int(key) if key is not None else None


def move_to_key(table: DataTable[Any], key: object) -> None:
    """Put the cursor on the row keyed `str(key)` if the table has one (a refill keeps the row chosen)."""
    if key is not None and str(key) in table.rows:
        table.move_cursor(row=table.get_row_index(str(key)))


def show_rows(table: DataTable[Any], rows: Sequence[tuple[str, Sequence[str]]], keep: str | None) -> None:
    """Show `rows` as (key, cells): when the table has the same keys in the same order its cells change in
    place (the cursor stays), else it is refilled and the cursor goes back to the row keyed `keep`."""
    current = [str(row.key.value) for row in table.ordered_rows]
    if current == [key for key, _cells in rows]:
        columns = [str(c.key.value) for c in table.ordered_columns]
        for key, cells in rows:
            for column, cell in zip(columns, cells, strict=True):
                if str(table.get_cell(key, column)) != cell:
                    table.update_cell(key, column, cell)
    else:
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        move_to_key(table, keep)
