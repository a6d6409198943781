"""Widgets that show text literally: never as markup, never as raw control characters.

Textual reads a plain `str` given to Static, Label, DataTable cells, options and notifications as
markup, so a name like `[/]x` crashes a screen and `[@click=app.quit]x[/]` quits the app when clicked.
Screens and widgets take these classes from here, never from `textual.widgets` (a test checks), so
every string that reaches the terminal passes `ectui.text.visible` and is shown as the characters it
holds. Styling is done with Rich `Text` objects built in code, which these classes pass through as is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from rich.text import Text
from textual import widgets as _textual
from textual.widgets.option_list import Option as _Option

from ectui.text import visible

CellT = TypeVar("CellT")


def literal(value: object, *, style: str = "") -> Text:
    """A Rich Text that shows `value` exactly (control characters as escapes), in one line."""
    if isinstance(value, Text):
        return value
    return Text(visible(value), style=style, end="")


def _content(content: Any) -> Any:
    """A plain string becomes literal text (line breaks kept); Text, Content and renderables pass."""
    if isinstance(content, str):
        return Text(visible(content, newlines=True), end="")
    return content


def _cell(value: Any) -> Any:
    """A table cell: strings (and numbers, dates …) as literal one-line text; renderables pass."""
    if isinstance(value, Text) or value is None:
        return value
    if isinstance(value, str | int | float):
        return Text(visible(value), end="")
    if hasattr(value, "__rich__") or hasattr(value, "__rich_console__"):
        return value
    return Text(visible(value), end="")


class _LiteralContent:
    """Mixin for Static-like widgets: markup off, strings shown literally (line breaks kept)."""

    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        kwargs["markup"] = False
        super().__init__(_content(content), **kwargs)  # type: ignore[call-arg]

    def update(self, content: Any = "", *, layout: bool = True) -> None:
        super().update(_content(content), layout=layout)  # type: ignore[misc]


class Static(_LiteralContent, _textual.Static):
    """Static that shows strings literally."""


class Label(_LiteralContent, _textual.Label):
    """Label that shows strings literally."""


class DataTable(_textual.DataTable[CellT]):
    """DataTable whose string cells are literal text (a name like `[/]` is shown, not parsed)."""

    def add_row(self, *cells: Any, **kwargs: Any) -> Any:
        return super().add_row(*(_cell(cell) for cell in cells), **kwargs)

    def add_rows(self, rows: Iterable[Iterable[Any]]) -> Any:
        return super().add_rows([[_cell(cell) for cell in row] for row in rows])

    def update_cell(self, row_key: Any, column_key: Any, value: Any, **kwargs: Any) -> None:
        super().update_cell(row_key, column_key, _cell(value), **kwargs)

    def update_cell_at(self, coordinate: Any, value: Any, **kwargs: Any) -> None:
        super().update_cell_at(coordinate, _cell(value), **kwargs)


class Input(_textual.Input):
    """Input whose value never holds a raw control character (a prefilled name, a paste).

    Textual draws an Input's value as is, so an escape sequence in a prefilled foreign name would reach
    the terminal. No field takes control characters, so they are kept as their visible escapes (and the
    field's validation then names what is wrong). Password fields are drawn masked and left untouched.
    """

    def validate_value(self, value: str) -> str:
        return value if self.password else visible(value)


class Option(_Option):
    """An option-list entry whose prompt is literal text."""

    def __init__(self, prompt: Any, id: str | None = None, disabled: bool = False) -> None:  # noqa: A002
        super().__init__(_cell(prompt), id=id, disabled=disabled)


class Select(_textual.Select[Any]):
    """Select whose option prompts are literal text."""

    def __init__(self, options: Iterable[tuple[Any, Any]], **kwargs: Any) -> None:
        super().__init__([(_cell(prompt), value) for prompt, value in options], **kwargs)

    def set_options(self, options: Iterable[tuple[Any, Any]]) -> None:
        super().set_options([(_cell(prompt), value) for prompt, value in options])


def safe_notify_text(message: object) -> str:
    """A notification's text: literal (the app sends it with markup off), line breaks kept."""
    return visible(message, newlines=True)
