"""Typed-name confirmation before a destructive action on a protected cluster."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from ectui.i18n import _
from ectui.widgets import ShellModal
from ectui.widgets.literal import Input, Label, Static


class TypeNameConfirmModal(ShellModal[bool]):
    """Before a destructive action on a protected (production) cluster: type the VM's name to go on."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Confirm"), id="type_name.submit")]

    def __init__(self, name: str, question: str, *, confirm_label: str) -> None:
        super().__init__()
        self.expected = name
        self.question = question
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="type-name-box"):
            yield Label(_("Production cluster: please confirm"), classes="modal-title")
            yield Static(self.question, id="type-name-question", markup=False)
            yield Static(
                _("Type the VM name {name} to confirm.").format(name=self.expected),
                id="type-name-prompt",
                markup=False,
            )
            with Horizontal(classes="form-row"):
                yield Label(_("VM name"))
                yield Input(id="type-name-input")
            yield Static(id="type-name-error", classes="modal-error")
            yield Label(_("Enter: confirm · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="type-name-cancel")
                yield Button(self.confirm_label, id="type-name-yes", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#type-name-input", Input).focus()

    @on(Input.Changed, "#type-name-input")
    def check_typed(self, event: Input.Changed) -> None:
        self.query_one("#type-name-yes", Button).disabled = event.value != self.expected

    @on(Input.Submitted)
    @on(Button.Pressed, "#type-name-yes")
    def action_submit(self) -> None:
        """Confirm only when the typed name is exactly the VM's name."""
        if self.query_one("#type-name-input", Input).value == self.expected:
            self.dismiss(True)
        else:
            self.query_one("#type-name-error", Static).update(_("The name does not match."))

    def action_cancel(self) -> None:
        """Answer no."""
        self.dismiss(False)
