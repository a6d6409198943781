"""LoginScreen: asked at start when the users module has accounts and nobody is logged in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from ectui.i18n import _, render
from ectui.services.errors import ServiceError
from ectui.widgets import ShellModal
from ectui.widgets.host import ConsoleServicesAccess
from ectui.widgets.literal import Input, Label, Static

if TYPE_CHECKING:
    from ectui.services.audit import Identity  # noqa: F401  (the modal's result type)


class LoginScreen(ConsoleServicesAccess, ShellModal["Identity | None"]):
    """User name and password; stays until a login succeeds (Ctrl+Q quits). Lock-outs say for how long."""

    CSS_PATH = "login.tcss"
    BINDINGS = [Binding("ctrl+s", "submit", _("Log in"), id="login.submit")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="login-box"):
            yield Label(_("Log in to ectui"), classes="modal-title")
            with Horizontal(classes="form-row"):
                yield Label(_("User"))
                yield Input(id="login-user")
            with Horizontal(classes="form-row"):
                yield Label(_("Password"))
                yield Input(id="login-password", password=True)
            yield Static(id="login-error", classes="modal-error")
            yield Label(_("Enter/Ctrl+S: log in · Ctrl+Q: quit"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Log in"), id="login-submit", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#login-user", Input).focus()

    def action_cancel(self) -> None:
        """Nothing to go back to: the console needs a login (Ctrl+Q quits)."""

    @on(Input.Submitted, "#login-user")
    def next_field(self) -> None:
        self.query_one("#login-password", Input).focus()

    @on(Input.Submitted, "#login-password")
    @on(Button.Pressed, "#login-submit")
    def action_submit(self) -> None:
        """Try the name and password."""
        if not self.busy:
            self.log_in(
                self.query_one("#login-user", Input).value, self.query_one("#login-password", Input).value
            )

    @work(exclusive=True, group="login", exit_on_error=False)
    async def log_in(self, name: str, password: str) -> None:
        """Check the password; on success close and refresh the app, else show why (and clear the password)."""
        error = self.query_one("#login-error", Static)
        error.update("")
        self.busy = True
        try:
            who = await self.services.users.login(name, password)
        except ServiceError as err:
            error.update(render(err))
            field = self.query_one("#login-password", Input)
            field.value = ""
            field.focus()
            return
        finally:
            self.busy = False
        self.dismiss(who)
