"""The CSV export dialog: a path (with completion), written by the screen's service; refusals stay on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from ectui.i18n import _, render
from ectui.services.errors import ServiceError
from ectui.widgets.literal import Input, Label, Static
from ectui.widgets.modals import ShellModal
from ectui.widgets.path_input import PathInput


class CsvExportModal(ShellModal["Path | None"]):
    """Ask for the CSV path and write it; stays open with the reason when refused, and cannot be closed while
    writing. Returns the path written.

    Subclasses only name their Ctrl+S binding (`BINDINGS = [Binding("ctrl+s", "submit", …, id=…)]`), so
    that keymap.toml keeps one id per export.
    """

    def __init__(
        self, title: str, write: Callable[[str], Awaitable[Path]], default: Path, *, prefix: str
    ) -> None:
        """Args: title: the dialog's title; write: writes the CSV to a path, returns the path written (raises
        ServiceError when refused); default: the path offered; prefix: of the widget ids ('bill' →
        #bill-export-path, #bill-export-error, …)."""
        super().__init__()
        self.title_text = title
        self.write = write
        self.default = default
        self.prefix = prefix

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id=f"{self.prefix}-export-box"):
            yield Label(self.title_text, classes="modal-title")
            with Horizontal(classes="form-row"):
                yield Label(_("File"))
                yield PathInput(str(self.default), id=f"{self.prefix}-export-path")
            yield Static(id=f"{self.prefix}-export-error", classes="modal-error")
            yield Label(_("Tab/→: complete · Enter/Ctrl+S: export · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id=f"{self.prefix}-export-cancel")
                yield Button(
                    _("Export"), id=f"{self.prefix}-export-save", variant="primary", classes="export-save"
                )

    def on_mount(self) -> None:
        self.path_input.focus()

    @property
    def path_input(self) -> PathInput:
        """The path field."""
        return self.query_one(f"#{self.prefix}-export-path", PathInput)

    @on(Input.Submitted)
    @on(Button.Pressed, ".export-save")
    def action_submit(self) -> None:
        """Write the file."""
        if not self.busy:
            self.export(self.path_input.value)

    @work(exclusive=True, group="csv-export", exit_on_error=False)
    async def export(self, path: str) -> None:
        """Write the CSV; the modal cannot be closed meanwhile."""
        error = self.query_one(f"#{self.prefix}-export-error", Static)
        error.update("")
        self.busy = True
        try:
            written = await self.write(path)
        except ServiceError as err:
            error.update(render(err))
            return
        finally:
            self.busy = False
        self.dismiss(written)
