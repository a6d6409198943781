"""Users (console): operator accounts and roles, lock-outs, logout. Admins change; auditors read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, OptionList

from ectui.i18n import N_, _, render
from ectui.screens._base import ConsoleDomainScreen, opens_screen
from ectui.services.errors import ServiceError
from ectui.widgets import ConfirmModal, ShellModal
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import DataTable, Input, Label, Option, Static
from ectui.widgets.tables import cursor_key, move_to_key

if TYPE_CHECKING:
    from ectui.services.users import UserDraft, UserInfo

ROLE_LABELS = {"admin": N_("admin"), "operator": N_("operator"), "auditor": N_("auditor")}
USER_FIELDS = {
    "name": "user-name",
    "role": "user-role",
    "password": "user-password",
    "confirm": "user-confirm",
}
"""ValidationError.field_id → the widget to mark and focus."""


class NewUserModal(ShellModal["UserDraft | None"]):
    """Name, role and password (twice) of a new account."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Save"), id="user_form.submit")]

    def __init__(self, *, first: bool = False) -> None:
        super().__init__()
        self.first = first

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="user-form-box"):
            yield Label(_("New account"), classes="modal-title")
            if self.first:
                yield Static(_("The first account must be an admin; after it, everyone logs in."))
            with Horizontal(classes="form-row"):
                yield Label(_("Name"))
                yield Input(id="user-name")
            with Horizontal(classes="form-row"):
                yield Label(_("Role"))
                yield Input(
                    "admin" if self.first else "operator",
                    id="user-role",
                    placeholder="admin|operator|auditor",
                )
            with Horizontal(classes="form-row"):
                yield Label(_("Password"))
                yield Input(id="user-password", password=True)
            with Horizontal(classes="form-row"):
                yield Label(_("Confirm"))
                yield Input(id="user-confirm", password=True)
            yield Static(id="user-error", classes="modal-error")
            yield Label(_("Ctrl+S: save · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="user-cancel")
                yield Button(_("Save"), id="user-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#user-name", Input).focus()

    @on(Input.Submitted, "#user-confirm")
    @on(Button.Pressed, "#user-save")
    def action_submit(self) -> None:
        """Validate and return the draft."""
        from ectui.services.users import UserDraft

        def value(input_id: str) -> str:
            return self.query_one(f"#{input_id}", Input).value

        try:
            draft = UserDraft.parse(
                name=value("user-name"),
                role=value("user-role"),
                password=value("user-password"),
                confirm=value("user-confirm"),
            )
        except ServiceError as err:
            mark_field(self, USER_FIELDS, "user-error", err)
            return
        self.dismiss(draft)


class PasswordModal(ShellModal["tuple[str, str] | None"]):
    """A new password, twice (checked by the service)."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Save"), id="user_password.submit")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.account = name

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="user-password-box"):
            yield Label(_("New password of {name}").format(name=self.account), classes="modal-title")
            with Horizontal(classes="form-row"):
                yield Label(_("Password"))
                yield Input(id="user-password", password=True)
            with Horizontal(classes="form-row"):
                yield Label(_("Confirm"))
                yield Input(id="user-confirm", password=True)
            yield Label(_("Ctrl+S: save · Esc: cancel"), classes="modal-hint")

    def on_mount(self) -> None:
        self.query_one("#user-password", Input).focus()

    @on(Input.Submitted, "#user-confirm")
    def action_submit(self) -> None:
        """Return both values."""
        self.dismiss(
            (self.query_one("#user-password", Input).value, self.query_one("#user-confirm", Input).value)
        )


class PickRoleModal(ShellModal["str | None"]):
    """Choose a role."""

    def __init__(self, name: str, current: str) -> None:
        super().__init__()
        self.account = name
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="user-role-box"):
            yield Label(_("Role of {name}").format(name=self.account), classes="modal-title")
            yield OptionList(
                *[
                    Option(("● " if r == self.current else "  ") + _(label), id=r)
                    for r, label in ROLE_LABELS.items()
                ],
                id="user-role-list",
            )
            yield Label(_("Enter: choose · Esc: cancel"), classes="modal-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        options.highlighted = list(ROLE_LABELS).index(self.current) if self.current in ROLE_LABELS else 0

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class UsersScreen(ConsoleDomainScreen):
    """Operator accounts: admins add, change roles and passwords, unlock, disable and delete; auditors read."""

    DOMAIN = "users"
    CSS_PATH = "users.tcss"
    BINDINGS = [
        Binding("n", "new_user", _("New"), id="users.new"),
        Binding("o", "change_role", _("Role"), id="users.role"),
        Binding("w", "change_password", _("Password"), id="users.password"),
        Binding("u", "unlock", _("Unlock"), id="users.unlock"),
        Binding("e", "toggle_enabled", _("Enable/disable"), id="users.toggle"),
        Binding("ctrl+d", "delete_user", _("Delete"), id="users.delete"),
        Binding("L", "log_out", _("Log out"), id="users.logout"),
        Binding("r", "refresh", _("Refresh"), id="users.refresh", show=False),
    ]

    def compose_content(self) -> ComposeResult:
        yield Label(_("Operator accounts"), classes="section-title", id="users-title")
        yield Static(id="users-status")
        yield DataTable(id="users-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.table
        table.add_column(_("Name"), key="name")
        table.add_column(_("Role"), key="role")
        table.add_column(_("Enabled"), key="enabled")
        table.add_column(_("Locked until"), key="locked")
        table.add_column(_("Last login"), key="last")
        table.add_column(_("Created by"), key="by")
        table.focus()
        self.refresh_users()

    def on_screen_resume(self) -> None:
        self.refresh_users()

    @property
    def table(self) -> DataTable[str]:
        """The accounts table."""
        return self.query_one("#users-table", DataTable)

    def selected_name(self) -> str | None:
        """The account under the cursor."""
        return cursor_key(self.table)

    @work(exclusive=True, group="users-refresh", exit_on_error=False)
    async def refresh_users(self, select: str | None = None) -> None:
        """Reload the accounts and who is logged in."""
        status = self.query_one("#users-status", Static)
        who = await self.services.users.refresh_identity()
        if who.source == "os":
            status.update(
                _("No login in use: acting as the OS user {user} with full rights.").format(user=who.user)
            )
        else:
            status.update(
                _("Logged in as {user} ({role}).").format(
                    user=who.user, role=_(ROLE_LABELS.get(who.role, who.role))
                )
            )
        try:
            users = await self.services.users.list_all()
        except ServiceError as err:
            self.table.clear()
            status.update(render(err))
            return
        self.show_users(users, select=select)

    def show_users(self, users: Sequence[UserInfo], *, select: str | None = None) -> None:
        """Fill the table."""
        table = self.table
        keep = select or self.selected_name()
        now = self.services.users.now()
        table.clear()
        for u in users:
            table.add_row(
                u.name,
                _(ROLE_LABELS.get(u.role, u.role)),
                _("yes") if u.enabled else _("no"),
                u.locked_until.strftime("%Y-%m-%d %H:%M")
                if u.locked_until is not None and u.locked(now)
                else "—",
                u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "—",
                u.created_by,
                key=u.name,
            )
        move_to_key(table, keep)

    def action_refresh(self) -> None:
        """Reload."""
        self.refresh_users()

    def action_new_user(self) -> None:
        """Open the new-account form."""
        self.open_new_form()

    @opens_screen
    @work(exclusive=True, group="users-form", exit_on_error=False)
    async def open_new_form(self) -> None:
        first = self.services.users.current_identity().source == "os" and self.table.row_count == 0

        def submitted(draft: UserDraft | None) -> None:
            if draft is not None:
                self.add_user(draft)

        self.app.push_screen(NewUserModal(first=first), callback=submitted)

    @work(group="users-save", exit_on_error=False)
    async def add_user(self, draft: UserDraft) -> None:
        """Create the account; the first one starts the logins."""
        try:
            info = await self.services.users.add(draft)
        except ServiceError as err:
            self.notify(render(err), title=_("Account not created"), severity="error", timeout=10)
            return
        self.notify(_("Account {name} ({role}) created.").format(name=info.name, role=info.role))
        self.refresh_users(select=info.name)
        await self.console.require_login()

    def action_change_role(self) -> None:
        """Choose another role for the account under the cursor."""
        name = self.selected_name()
        if name is None:
            return
        role = next(
            (r for r, label in ROLE_LABELS.items() if _(label) == self.table.get_row(name)[1]), "operator"
        )

        def chosen(new: str | None) -> None:
            if new and new != role:
                self.run_change(_("Role not changed"), "set_role", name, new)

        self.app.push_screen(PickRoleModal(name, role), callback=chosen)

    def action_change_password(self) -> None:
        """Set a new password for the account under the cursor."""
        name = self.selected_name()
        if name is None:
            return

        def given(values: tuple[str, str] | None) -> None:
            if values is not None:
                self.run_change(_("Password not changed"), "set_password", name, *values)

        self.app.push_screen(PasswordModal(name), callback=given)

    def action_unlock(self) -> None:
        """Clear the lock-out of the account under the cursor."""
        name = self.selected_name()
        if name is not None:
            self.run_change(_("Not unlocked"), "unlock", name)

    def action_toggle_enabled(self) -> None:
        """Disable an enabled account, enable a disabled one."""
        name = self.selected_name()
        if name is not None:
            enabled = self.table.get_row(name)[2] == _("yes")
            self.run_change(_("Not changed"), "set_enabled", name, not enabled)

    def action_delete_user(self) -> None:
        """Delete the account under the cursor, after confirmation."""
        name = self.selected_name()
        if name is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_change(_("Account not deleted"), "delete", name)

        self.app.push_screen(ConfirmModal(_("Delete account {name}?").format(name=name)), callback=confirmed)

    @work(group="users-save", exit_on_error=False)
    async def run_change(self, failure_title: str, method: str, name: str, *args: object) -> None:
        """Call one admin method of UserService; refusals are shown."""
        try:
            await getattr(self.services.users, method)(name, *args)
        except ServiceError as err:
            self.notify(render(err), title=failure_title, severity="error", timeout=10)
            return
        self.notify(_("Account {name} updated.").format(name=name))
        self.refresh_users(select=name)

    def action_log_out(self) -> None:
        """End the session and ask for a login."""
        self.log_out()

    @work(group="users-save", exit_on_error=False)
    async def log_out(self) -> None:
        who = await self.services.users.logout()
        if who:
            self.notify(_("Logged out {user}.").format(user=who))
        self.refresh_users()
        await self.console.require_login()
