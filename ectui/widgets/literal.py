"""Widgets that show text literally: never as markup, never as raw control characters.

Textual reads a plain `str` given to Static, Label, DataTable cells, options and notifications as
markup, so a name like `[/]x` crashes a screen and `[@click=app.quit]x[/]` quits the app when clicked.
Screens and widgets take these classes from here, never from `textual.widgets` (a test checks), so
every string that reaches the terminal passes `ectui.text.visible` and is shown as the characters it
holds. Styling is done with Rich `Text` objects built in code, which these classes pass through as is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import widgets as _textual
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets.option_list import Option as _Option

from ectui.i18n import _
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


def list_bindings() -> list[BindingType]:
    """The vi-style keys of every list (DataTable and the image table); ids `list.*` (keymap.toml)."""
    return [
        Binding("j", "list_down", _("Next row"), show=False, id="list.down"),
        Binding("k", "list_up", _("Previous row"), show=False, id="list.up"),
        Binding("g", "list_first", _("First row"), show=False, id="list.first"),
        Binding("G", "list_last", _("Last row"), show=False, id="list.last"),
        Binding("ctrl+d", "list_half_down", _("Half a page down"), show=False, id="list.half_page_down"),
        Binding("ctrl+u", "list_half_up", _("Half a page up"), show=False, id="list.half_page_up"),
    ]


def list_key_taken(widget: Widget, action: str) -> bool:
    """Whether a key of one of the list's own actions is also bound above it (screen, modal, app).

    The binding above wins: Ctrl+D stays "delete" on screens that delete, `k` stays a modal's key.
    Keys are compared as in force (after keymap.toml).
    """
    if not action.startswith("list_"):
        return False
    chain = widget.screen._modal_binding_chain
    mine = next((bindings for node, bindings in chain if node is widget), None)
    if mine is None:
        return False
    keys = {key for key, found in mine.key_to_bindings.items() if any(b.action == action for b in found)}
    return any(keys & bindings.key_to_bindings.keys() for node, bindings in chain if node is not widget)


class DataTable(_textual.DataTable[CellT]):
    """DataTable whose string cells are literal text (a name like `[/]` is shown, not parsed).

    Also takes the vi-style list keys (j/k/g/G, Ctrl+D/Ctrl+U), unless the screen binds the same key.
    """

    BINDINGS: ClassVar[list[BindingType]] = list_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if list_key_taken(self, action):
            return False
        return super().check_action(action, parameters)

    def action_list_down(self) -> None:
        self.action_cursor_down()

    def action_list_up(self) -> None:
        self.action_cursor_up()

    def action_list_first(self) -> None:
        self.action_scroll_top()

    def action_list_last(self) -> None:
        self.action_scroll_bottom()

    def _half_page(self) -> int:
        height = self.scrollable_content_region.height - (self.header_height if self.show_header else 0)
        return max(height // 2, 1)

    def action_list_half_down(self) -> None:
        if self.row_count:
            self.move_cursor(row=min(self.cursor_row + self._half_page(), self.row_count - 1))

    def action_list_half_up(self) -> None:
        if self.row_count:
            self.move_cursor(row=max(self.cursor_row - self._half_page(), 0))

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
