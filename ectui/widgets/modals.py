"""Modal base and the shared modals: ConfirmModal (yes/no before destructive work) and HelpModal (key list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList
from textual.worker import Worker

from ectui.i18n import _
from ectui.messages import forward_worker_error
from ectui.widgets.host import ConsoleAccess
from ectui.widgets.literal import Input, Label, Option, Static

ResultT = TypeVar("ResultT")


class ShellModal(ConsoleAccess, ModalScreen[ResultT]):
    """Base of ectui modals: Escape or a button with an id ending in '-cancel' cancels (dismiss None) unless busy;
    worker errors reach the app."""

    DEFAULT_CSS = """
    ShellModal {
        align: center middle;
        & > .modal-box {
            width: 76;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $primary;
            background: $surface;
            padding: 0 1;
        }
        .modal-title { text-style: bold; width: 1fr; }
        .modal-hint { color: $text-muted; width: 1fr; }
        .modal-error { color: $error; text-style: bold; width: 1fr; height: auto; }
        .modal-buttons { height: auto; width: 1fr; align-horizontal: right; }
        .modal-buttons Button { margin-left: 1; min-width: 10; }
    }
    """

    BINDINGS = [Binding("escape", "cancel", _("Cancel"), id="modal.cancel")]

    busy: bool = False
    """True while the modal runs work it must outlive; escape is refused then."""

    def action_cancel(self) -> None:
        """Close without a result."""
        if not self.busy:
            self.dismiss(None)

    @on(Button.Pressed)
    def cancel_pressed(self, event: Button.Pressed) -> None:
        """A button whose id ends in '-cancel' acts as Escape."""
        if event.button.id is not None and event.button.id.endswith("-cancel"):
            event.stop()
            self.action_cancel()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        forward_worker_error(self, event)


class ConfirmModal(ShellModal[bool]):
    """Ask before a destructive action; returns True only on an explicit yes (the default button is No)."""

    BINDINGS = [
        Binding("y", "confirm", _("Yes"), id="confirm.yes"),
        Binding("n", "cancel", _("No"), id="confirm.no"),
    ]

    def __init__(self, question: str, *, confirm_label: str | None = None, title: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label or _("Delete")
        self.title_text = title or _("Please confirm")

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="confirm-box"):
            yield Label(self.title_text, classes="modal-title")
            yield Static(self.question, id="confirm-question")
            yield Label(_("y: yes · n / Esc: no"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="confirm-no")
                yield Button(self.confirm_label, id="confirm-yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_confirm(self) -> None:
        """Answer yes."""
        self.dismiss(True)

    def action_cancel(self) -> None:
        """Answer no."""
        self.dismiss(False)

    @on(Button.Pressed, "#confirm-yes")
    def press_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def press_no(self) -> None:
        self.dismiss(False)


class HelpModal(ShellModal[None]):
    """Lists the keys of the screen it was opened from and the global keys."""

    BINDINGS = [Binding("question_mark", "cancel", _("Close"), show=False, id="help.close")]

    def __init__(self, sections: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> None:
        """Args: sections: (title, [(key, description)]) in display order; empty sections are skipped."""
        super().__init__()
        self.sections = [(title, list(rows)) for title, rows in sections if rows]

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="help-box"):
            yield Label(_("Keys"), classes="modal-title")
            with VerticalScroll(id="help-scroll"):
                for title, rows in self.sections:
                    yield Label(title, classes="help-section")
                    width = max(len(key) for key, _desc in rows)
                    lines = "\n".join(f"  {key.ljust(width)}  {desc}" for key, desc in rows)
                    yield Static(lines, classes="help-rows", markup=False)
            yield Label(_("Esc or ?: close"), classes="modal-hint", id="help-hint")

    def on_mount(self) -> None:
        """The hint names the closing keys in force (keymap.toml may have moved them)."""
        keys = [key for key, active in self.active_bindings.items() if active.binding.action == "cancel"]
        if keys and sorted(keys) != ["escape", "question_mark"]:
            shown = " / ".join(self.app.get_key_display(self.active_bindings[key].binding) for key in keys)
            self.query_one("#help-hint", Label).update(_("{keys}: close").format(keys=shown))

    DEFAULT_CSS = """
    HelpModal {
        #help-scroll { height: auto; max-height: 18; }
        .help-section { text-style: bold underline; margin-top: 1; }
    }
    """


class GoToModal(ShellModal["str | None"]):
    """Type part of a domain's name, Enter goes there (k9s' `:`)."""

    DEFAULT_CSS = """
    GoToModal {
        & > .modal-box { width: 40; }
        #goto-filter { height: 1; border: none; padding: 0; background: $boost; }
        #goto-list { height: auto; max-height: 16; }
    }
    """

    def __init__(self, domains: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.domains = list(domains)

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Label(_("Go to"), classes="modal-title")
            yield Input(placeholder=_("type a name"), id="goto-filter")
            yield OptionList(
                *[Option(label, id=domain_id) for domain_id, label in self.domains], id="goto-list"
            )
            yield Label(_("Enter: go · Esc: cancel"), classes="modal-hint")

    def on_mount(self) -> None:
        self.query_one("#goto-filter", Input).focus()

    def matches(self, text: str) -> list[tuple[str, str]]:
        """The domains whose name contains `text` (case-insensitive)."""
        needle = text.strip().lower()
        return [(i, label) for i, label in self.domains if needle in label.lower() or needle in i]

    def on_input_changed(self, event: Input.Changed) -> None:
        options = self.query_one("#goto-list", OptionList)
        options.clear_options()
        options.add_options(
            [Option(label, id=i) for i, label in self.matches(self.query_one("#goto-filter", Input).value)]
        )
        if options.option_count:
            options.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        options = self.query_one("#goto-list", OptionList)
        if options.option_count:
            option = options.get_option_at_index(options.highlighted or 0)
            self.dismiss(option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
