"""VMs (云主机, console): live list, detail, create form, start/stop/reboot/delete, console URL (SPEC V1-V3)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Button, OptionList

from ectui.i18n import N_, _, render
from ectui.jobs import Job
from ectui.screens._base import ConsoleDomainScreen, opens_screen
from ectui.screens.clusters import mark_field
from ectui.services.errors import ServiceError, ValidationError
from ectui.widgets import ConfirmModal, PathInput, PlainCheckbox, ShellModal
from ectui.widgets.literal import DataTable, Input, Label, Option, Select, Static
from ectui.widgets.password_rules import PasswordRules

if TYPE_CHECKING:
    from ectui.services import ConsoleServices
    from ectui.services.console import Tunnel
    from ectui.services.progress import CancelToken, ProgressCallback
    from ectui.services.vms import (
        FormChoices,
        MountInfo,
        OperationInfo,
        SnapshotInfo,
        TemplateChoice,
        VmDraft,
        VmInfo,
    )

TRANSITIONAL = frozenset(
    {"BUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE", "MIGRATING", "REBUILD",
     "RESCUE", "UNRESCUING", "operating", "creating"}
)  # fmt: skip
"""Statuses that change soon: the list polls fast while a VM shows one."""

STATUS_LABELS = {
    "ACTIVE": N_("running"),
    "SHUTOFF": N_("stopped"),
    "BUILD": N_("building"),
    "REBOOT": N_("rebooting"),
    "HARD_REBOOT": N_("rebooting"),
    "RESIZE": N_("resizing"),
    "VERIFY_RESIZE": N_("resizing"),
    "ERROR": N_("error"),
    "PAUSED": N_("paused"),
    "SUSPENDED": N_("suspended"),
    "RESCUE": N_("rescue (ISO)"),
    "DELETED": N_("deleted"),
    "operating": N_("operating"),
    "creating": N_("creating"),
}

SORTS: tuple[tuple[str, str], ...] = (
    ("name", N_("name")),
    ("status", N_("status")),
    ("node", N_("node")),
    ("created", N_("newest")),
)
"""Sort orders cycled with `o`: (code, label)."""

VM_FIELDS = {
    "name": "vm-name",
    "vm name": "vm-name",
    "template": "vm-template",
    "node": "vm-node",
    "placement": "vm-node",
    "login": "vm-login",
    "login method": "vm-login",
    "key pair": "vm-keypair",
    "keypair": "vm-keypair",
    "password": "vm-password",
    "password confirmation": "vm-password-confirm",
    "confirm password": "vm-password-confirm",
    "confirmation": "vm-password-confirm",
    "cpu": "vm-cpu",
    "cpu cores": "vm-cpu",
    "vcpu": "vm-cpu",
    "ram": "vm-ram",
    "ram gb": "vm-ram",
    "ram (gb)": "vm-ram",
    "description": "vm-description",
    "network": "vm-network",
    "private network": "vm-network",
    "public ip": "vm-public-ip",
}
"""ValidationError.field (lower-cased) → the widget of the create form to mark and focus."""

KEY_FIELDS = {
    "key pair name": "key-name",
    "name": "key-name",
    "public key": "key-path",
    "key file": "key-path",
}

AUTO = "auto"
"""Value of the node choice that lets the cloud place the VM."""


def status_label(status: str) -> str:
    """The status in the UI language ('ACTIVE' → 'running')."""
    label = STATUS_LABELS.get(status)
    return _(label) if label else status


def lock_text(vm: VmInfo) -> str:
    """Why a VM is locked, in the UI language ('' when it is not)."""
    if not vm.locked:
        return ""
    if vm.lock_reason == "nova":
        return _("locked in the cloud (Nova lock)")
    if vm.lock_reason.startswith("operation"):
        return _("held by {operation}; wait until it ends").format(operation=vm.lock_reason)
    return vm.lock_reason or _("locked")


def spec_text(vcpus: int, ram_gb: int) -> str:
    """'2C/4G'."""
    return f"{vcpus}C/{ram_gb}G"


def sort_key(code: str) -> Callable[[VmInfo], Any]:
    """The key function of a sort order."""
    if code == "status":
        return lambda vm: (vm.status, vm.name.lower())
    if code == "node":
        return lambda vm: (vm.node, vm.name.lower())
    if code == "created":
        return lambda vm: -vm.created_at.timestamp()
    return lambda vm: vm.name.lower()


def matches(vm: VmInfo, needle: str) -> bool:
    """Whether the filter text occurs in the name, status, node, IPs, project, cluster or template."""
    if not needle:
        return True
    fields = (vm.name, vm.status, status_label(vm.status), vm.node, vm.fixed_ip, vm.floating_ip,
              vm.project or "", vm.cluster, vm.template or "", vm.description)  # fmt: skip
    return any(needle in f.lower() for f in fields)


# ---------------------------------------------------------------------- modals


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

    @on(Button.Pressed, "#type-name-cancel")
    def press_cancel(self) -> None:
        self.dismiss(False)


class ConsoleUrlModal(ShellModal[None]):
    """The VM's console URL, shown whole so that it can be selected; `y` copies it (OSC 52).

    Without a browser on this machine: the `ssh -L` line (`t` copies it) forwards the noVNC host through a
    jump host the operator fills in, and the serial console URL (`s` copies it) is shown when the cloud has one.
    """

    BINDINGS = [
        Binding("y", "copy", _("Copy"), id="console_url.copy"),
        Binding("t", "copy_tunnel", _("Copy ssh -L"), id="console_url.copy_tunnel"),
        Binding("s", "copy_serial", _("Copy serial URL"), id="console_url.copy_serial"),
    ]

    def __init__(
        self, name: str, url: str, *, serial: str | None = None, tunnel: Tunnel | None = None
    ) -> None:
        super().__init__()
        self.vm_name = name
        self.url = url
        self.serial = serial
        self.tunnel = tunnel

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="console-url-box"):
            yield Label(_("Console of {name}").format(name=self.vm_name), classes="modal-title")
            yield Static(self.url, id="console-url", markup=False)
            if self.tunnel is not None:
                yield Label(
                    _("Without a route to the console host (replace JUMPHOST):"), classes="modal-hint"
                )
                yield Static(self.tunnel.command, id="console-tunnel", markup=False)
                yield Static(self.tunnel.local_url, id="console-local-url", markup=False)
            if self.serial:
                yield Label(_("Serial console:"), classes="modal-hint")
                yield Static(self.serial, id="console-serial", markup=False)
                from ectui.services.console import serial_attach

                yield Label(_("Attach from a terminal:"), classes="modal-hint")
                yield Static(serial_attach(self.serial), id="console-serial-attach", markup=False)
            yield Label(
                _("y: copy the URL · t: copy the ssh line · s: copy the serial URL · Esc: close"),
                classes="modal-hint",
            )

    def action_copy(self) -> None:
        """Copy the URL to the terminal's clipboard."""
        self.app.copy_to_clipboard(self.url)
        self.notify(_("Console URL copied"))

    def action_copy_tunnel(self) -> None:
        """Copy the `ssh -L` line to the terminal's clipboard."""
        if self.tunnel is not None:
            self.app.copy_to_clipboard(self.tunnel.command)
            self.notify(_("SSH tunnel line copied"))

    def action_copy_serial(self) -> None:
        """Copy the serial console URL to the terminal's clipboard."""
        if self.serial:
            self.app.copy_to_clipboard(self.serial)
            self.notify(_("Serial console URL copied"))
        else:
            self.notify(_("This cloud offers no serial console for the VM."), severity="warning")


class ConsoleLogModal(ShellModal[None]):
    """The VM's console log (boot and cloud-init messages), shown literally: escape sequences as text.

    `f` follows new lines (polls while open and following, stops on `f` again or on close); `/` searches:
    Enter jumps to the next line holding the text (highlighted), from the newest one back.
    """

    BINDINGS = [
        Binding("f", "follow", _("Follow"), id="console_log.follow"),
        Binding("slash", "search", _("Search"), id="console_log.search"),
        Binding("n", "next_match", _("Next match"), id="console_log.next", show=False),
        Binding("r", "reload", _("Reload"), id="console_log.reload", show=False),
    ]
    DEFAULT_CSS = """
    ConsoleLogModal #console-log-box { width: 100%; height: 100%; }
    ConsoleLogModal #console-log-scroll { height: 1fr; }
    ConsoleLogModal #console-log { width: auto; height: auto; }
    ConsoleLogModal #console-log-search { display: none; }
    ConsoleLogModal #console-log-search.-shown { display: block; }
    """

    FOLLOW_SECONDS: ClassVar[float] = 2.0
    """Seconds between reads while following."""
    LINES: ClassVar[int] = 200
    """Lines read when the viewer opens."""
    KEEP: ClassVar[int] = 10_000
    """The most lines kept while following (older ones drop off)."""

    def __init__(self, services: ConsoleServices, vm_id: int, name: str) -> None:
        super().__init__()
        self.services = services
        self.vm_id = vm_id
        self.vm_name = name
        self.lines: list[str] = []
        self.following = False
        self.term = ""
        self.match: int | None = None
        """Index in `lines` of the line the search shows."""
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="console-log-box"):
            yield Label(_("Console log of {name}").format(name=self.vm_name), classes="modal-title")
            with VerticalScroll(id="console-log-scroll"):
                yield Static("", id="console-log")
            yield Input(placeholder=_("Search the log"), id="console-log-search")
            yield Label("", id="console-log-status", classes="modal-hint")
            yield Label(
                _("f: follow · /: search (Enter: next) · n: next match · Esc: close"), classes="modal-hint"
            )

    def on_mount(self) -> None:
        self.reload_log()

    def on_unmount(self) -> None:
        self._stop_following()

    @work(exclusive=True, group="console-log", exit_on_error=False)
    async def reload_log(self) -> None:
        """Read the newest lines; while following, append what the log gained."""
        from ectui.services.console import new_lines

        window = min(max(self.LINES, 1000), self.KEEP) if self.lines else self.LINES
        try:
            text = await self.services.console.console_log(self.vm_id, lines=window)
        except ServiceError as err:
            self.query_one("#console-log-status", Label).update(render(err))
            return
        current = text.splitlines()
        added = new_lines(self.lines, current) if self.lines else current
        self.lines = (self.lines + added)[-self.KEEP :]
        self.show_lines(scroll=self.match is None)

    def show_lines(self, *, scroll: bool = True) -> None:
        """Draw the lines (escaped), the search match highlighted; scroll to the end or the match."""
        from rich.text import Text

        from ectui.text import visible

        text = Text(end="")
        term = self.term.lower()
        for index, line in enumerate(self.lines):
            shown = visible(line)
            style = "reverse" if index == self.match else ""
            piece = Text(shown, style=style, end="")
            if term and index != self.match:
                piece.highlight_words([self.term], style="bold underline", case_sensitive=False)
            text.append_text(piece)
            text.append("\n")
        self.query_one("#console-log", Static).update(text)
        state = _("following") if self.following else _("not following")
        status = _("{count} lines · {state}").format(count=len(self.lines), state=state)
        if self.term:
            status += " · " + (
                _("line {line} matches").format(line=self.match + 1)
                if self.match is not None
                else _("no line matches")
            )
        self.query_one("#console-log-status", Label).update(status)
        scroller = self.query_one("#console-log-scroll", VerticalScroll)
        if self.match is not None:
            self.call_after_refresh(scroller.scroll_to, y=max(self.match - 3, 0), animate=False)
        elif scroll:
            self.call_after_refresh(scroller.scroll_end, animate=False)

    def action_follow(self) -> None:
        """Start or stop following new lines."""
        if self.following:
            self._stop_following()
        else:
            self.following = True
            self._timer = self.set_interval(self.FOLLOW_SECONDS, self.reload_log)
            self.reload_log()
        self.show_lines(scroll=self.match is None)

    def _stop_following(self) -> None:
        self.following = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.workers.cancel_group(self, "console-log")

    def action_reload(self) -> None:
        """Read the log again."""
        self.reload_log()

    def action_search(self) -> None:
        """Show the search field."""
        field = self.query_one("#console-log-search", Input)
        field.add_class("-shown")
        field.focus()

    @on(Input.Submitted, "#console-log-search")
    def search_submitted(self, event: Input.Submitted) -> None:
        if event.value != self.term:
            self.term, self.match = event.value, None
        self.action_next_match()

    def action_next_match(self) -> None:
        """Jump to the next older line holding the search text (wrapping to the newest)."""
        term = self.term.lower()
        if not term:
            return
        start = len(self.lines) if self.match is None else self.match
        order = [*range(start - 1, -1, -1), *range(len(self.lines) - 1, start - 1, -1)]
        self.match = next((i for i in order if term in self.lines[i].lower()), None)
        self.show_lines(scroll=False)


class SnapshotTemplateModal(ShellModal["str | None"]):
    """The name of the custom template a VM snapshot becomes."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Snapshot"), id="snapshot_vm.submit")]

    def __init__(self, vm_name: str) -> None:
        super().__init__()
        self.vm_name = vm_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="snapshot-box"):
            yield Label(
                _("Snapshot {name} to a custom template").format(name=self.vm_name), classes="modal-title"
            )
            with Horizontal(classes="form-row"):
                yield Label(_("Template name"))
                yield Input(f"{self.vm_name}-snapshot", id="snapshot-name", max_length=255)
            yield Static(id="snapshot-error", classes="modal-error", markup=False)
            yield Label(_("Enter: snapshot · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="snapshot-cancel")
                yield Button(_("Snapshot"), id="snapshot-yes", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#snapshot-name", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#snapshot-yes")
    def action_submit(self) -> None:
        """Return the template name (required)."""
        name = self.query_one("#snapshot-name", Input).value.strip()
        if not name:
            self.query_one("#snapshot-error", Static).update(render(ValidationError("validation.required",
                                                                                    field=N_("Template name"))))  # fmt: skip
            return
        self.dismiss(name)

    @on(Button.Pressed, "#snapshot-cancel")
    def press_cancel(self) -> None:
        self.action_cancel()


class PickIsoModal(ShellModal["int | None"]):
    """Choose one of the enabled ISO files of the VM's cluster."""

    def __init__(self, vm_name: str, isos: Sequence[tuple[int, str]]) -> None:
        super().__init__()
        self.vm_name = vm_name
        self.isos = list(isos)

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="pick-iso-box"):
            yield Label(_("Mount an ISO on {name}").format(name=self.vm_name), classes="modal-title")
            if self.isos:
                yield OptionList(
                    *[Option(name, id=str(iso_id)) for iso_id, name in self.isos], id="pick-iso-list"
                )
            else:
                yield Static(_("This cluster has no enabled ISO file."), id="pick-iso-empty", markup=False)
            yield Label(_("Enter: mount · Esc: cancel"), classes="modal-hint")

    def on_mount(self) -> None:
        if self.isos:
            self.query_one("#pick-iso-list", OptionList).focus()

    @on(OptionList.OptionSelected, "#pick-iso-list")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))


class IsoMountedModal(ShellModal[None]):
    """After mounting: the command to type in the guest, shown whole; `y` copies it (OSC 52)."""

    BINDINGS = [Binding("y", "copy", _("Copy"), id="iso_mounted.copy")]

    def __init__(self, vm_name: str, iso: str, hint: str) -> None:
        super().__init__()
        self.vm_name = vm_name
        self.iso = iso
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="iso-mounted-box"):
            yield Label(
                _("ISO {iso} mounted on {name}").format(iso=self.iso, name=self.vm_name),
                classes="modal-title",
            )
            yield Static(_("In the guest, run:"), markup=False)
            yield Static(self.hint, id="iso-mount-hint", markup=False)
            yield Label(_("y: copy to the clipboard · Esc: close"), classes="modal-hint")

    def action_copy(self) -> None:
        """Copy the command to the terminal's clipboard."""
        self.app.copy_to_clipboard(self.hint)
        self.notify(_("Command copied"))


class VmDetailModal(ShellModal["str | None"]):
    """A VM's spec, node, networks, IPs, mounted ISO, lock state and its history of operations.

    Returns "resize" when the operator asks to resize the VM from here (`z`).
    """

    BINDINGS = [Binding("z", "resize", _("Resize"), id="vm_detail.resize")]

    def __init__(self, vm: VmInfo, history: Sequence[OperationInfo]) -> None:
        super().__init__()
        self.vm = vm
        self.history = list(history)

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) rows of the detail."""
        vm = self.vm
        lock = lock_text(vm) if vm.locked else _("not locked")
        login = _("key pair {name}").format(name=vm.keypair_name) if vm.login == "keypair" else _("password")
        return [
            (_("Name"), vm.name),
            (_("Status"), f"{status_label(vm.status)} ({vm.status}{' · ' + vm.task_state if vm.task_state else ''})"),
            (_("Cluster"), vm.cluster),
            (_("Project"), vm.project or "—"),
            (_("Spec"), _("{cpu} vCPU · {ram} GB RAM · {disk} GB disk").format(
                cpu=vm.vcpus, ram=vm.ram_gb, disk=vm.disk_gb)),
            (_("Template"), vm.template or "—"),
            (_("Node"), vm.node or "—"),
            (_("Network"), vm.network or "—"),
            (_("Private IP"), vm.fixed_ip or "—"),
            (_("Public IP"), vm.floating_ip or "—"),
            (_("Login"), f"{vm.user_name} · {login}"),
            (_("Mounted ISO"), vm.mounted_iso or "—"),
            (_("Lock"), lock),
            (_("Description"), vm.description or "—"),
            (_("Created"), f"{vm.created_at:%Y-%m-%d %H:%M} · {vm.created_by or '—'}"),
            (_("Cloud id"), vm.cloud_id or "—"),
        ]  # fmt: skip

    def history_lines(self) -> list[str]:
        """One line per operation, then one indented line per step."""
        out: list[str] = []
        for op in self.history:
            error = f" · {op.error}" if op.error else ""
            out.append(f"{op.created_at:%Y-%m-%d %H:%M:%S}  {op.kind}  {op.state}  {op.created_by}{error}")
            for step in op.steps:
                detail = f" · {step.detail}" if step.detail else ""
                out.append(f"    {step.state:<11} {_(step.label)}{detail}")
        return out or [_("No operations recorded.")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="vm-detail-box"):
            yield Label(_("VM {name}").format(name=self.vm.name), classes="modal-title")
            with VerticalScroll(id="vm-detail-scroll"):
                width = max(len(label) for label, _value in self.lines()) + 2
                text = "\n".join(f"{label.ljust(width)}{value}" for label, value in self.lines())
                yield Static(text, id="vm-detail-spec", markup=False)
                yield Label(_("History of operations"), classes="vm-detail-section")
                yield Static("\n".join(self.history_lines()), id="vm-detail-history", markup=False)
            yield Label(_("↑↓: scroll · Esc: close"), classes="modal-hint")

    def on_mount(self) -> None:
        self.query_one("#vm-detail-scroll").focus()

    def action_resize(self) -> None:
        """Close the detail and open the resize dialog of this VM."""
        self.dismiss("resize")

    @property
    def text(self) -> str:
        """Everything the detail shows (for tests)."""
        spec = str(self.query_one("#vm-detail-spec", Static).content)
        return spec + "\n" + str(self.query_one("#vm-detail-history", Static).content)


class ImportKeypairModal(ShellModal["tuple[str, str] | None"]):
    """Import an SSH public key file as a key pair: returns (name, path)."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Import"), id="import_key.submit")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="import-key-box"):
            yield Label(_("Import a public key"), classes="modal-title")
            with Horizontal(classes="form-row"):
                yield Label(_("Key pair name"))
                yield Input(id="key-name")
            with Horizontal(classes="form-row"):
                yield Label(_("Public key file"))
                yield PathInput("~/.ssh/", id="key-path")
            yield Static(id="key-error", classes="modal-error")
            yield Label(_("Tab: complete the path · Ctrl+S: import · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="key-cancel")
                yield Button(_("Import"), id="key-import", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#key-name", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#key-import")
    def action_submit(self) -> None:
        """Return the name and the file path (the form imports it and shows refusals)."""
        name = self.query_one("#key-name", Input).value.strip()
        path = self.query_one("#key-path", PathInput).path
        if not name:
            mark_field(
                self,
                KEY_FIELDS,
                "key-error",
                ValidationError("validation.required", field=N_("Key pair name")),
            )
            return
        if path is None or not path.is_file():
            mark_field(
                self,
                KEY_FIELDS,
                "key-error",
                ValidationError("validation.required", field=N_("Public key file")),
            )
            return
        self.dismiss((name, str(path)))

    @on(Button.Pressed, "#key-cancel")
    def press_cancel(self) -> None:
        self.action_cancel()

    def show_error(self, message: str) -> None:
        """Show a refusal (used by the form when the import fails)."""
        self.query_one("#key-error", Static).update(message)


@dataclass
class CreateRun:
    """A create job started for the form, and the refusal it ended with (if any)."""

    name: str = ""
    job: Job | None = None
    error: ServiceError | None = None
    form_waiting: bool = True
    """The form is still open and shows how the job ends (refusals before anything was made)."""


CreateStarter = Callable[["VmDraft"], CreateRun]
"""Starts the create job of a validated draft (the VMs screen does, so that it outlives the form)."""


class CreateVmModal(ShellModal["Job | None"]):
    """The create form (SPEC V1, fields in order); refusals of the flow (V2) are shown on the form."""

    BINDINGS = [
        Binding("ctrl+s", "submit", _("Create"), id="create_vm.submit"),
        Binding("ctrl+o", "import_key", _("Import key"), id="create_vm.import_key"),
    ]

    def __init__(self, services: ConsoleServices, choices: FormChoices, project: str | None,
                 start_create: CreateStarter, *, refusal: ServiceError | None = None) -> None:  # fmt: skip
        super().__init__()
        self.services = services
        self.choices = choices
        self.refusal = refusal
        """Why no VM can be created here at all (no project, no cluster): shown on the form."""
        self.project = project
        self.start_create = start_create
        self.run: CreateRun | None = None
        """The create job while the form waits for its first step (or its refusal)."""
        self.keypairs = list(choices.keypairs)

    # -- layout

    def compose(self) -> ComposeResult:
        c = self.choices
        system = [
            (f"{_('System')} · {t.name} ({t.os_type})", t.id) for t in c.templates if t.kind == "system"
        ]
        custom = [
            (f"{_('Custom')} · {t.name} ({t.os_type})", t.id) for t in c.templates if t.kind != "system"
        ]
        nodes: list[tuple[str, str]] = [(_("System placement (the cloud chooses)"), AUTO)]
        nodes += [
            (_("{name} · {zone} · {cpu} vCPU, {ram} GB free{state}").format(
                name=n.name, zone=n.zone or "—", cpu=n.vcpus_free, ram=n.ram_gb_free,
                state="" if n.state in ("", "up", "enabled") else f" · {n.state}"), n.name)
            for n in c.nodes
        ]  # fmt: skip
        networks = [(n.name, n.id) for n in c.networks if not n.external]
        with Vertical(classes="modal-box", id="vm-form-box"):
            yield Label(
                _("New VM in project {project} · cluster {cluster}").format(
                    project=self.project or "—", cluster=c.cluster or "—"
                ),
                classes="modal-title",
            )
            with VerticalScroll(id="vm-form-scroll"):
                with Horizontal(classes="form-row"):
                    yield Label(_("Name *"))
                    yield Input(id="vm-name", max_length=255)
                with Horizontal(classes="form-row"):
                    yield Label(_("Template *"))
                    yield Select(system + custom, prompt=_("choose a template"), id="vm-template")
                with Horizontal(classes="form-row"):
                    yield Label(_("Node *"))
                    yield Select(nodes, prompt=_("choose a node"), id="vm-node")
                with Horizontal(classes="form-row"):
                    yield Label(_("Login *"))
                    yield Select(
                        [(_("password"), "password"), (_("key pair"), "keypair")],
                        value="password",
                        allow_blank=False,
                        id="vm-login",
                    )
                with Horizontal(classes="form-row", id="vm-keypair-row"):
                    yield Label(_("Key pair *"))
                    yield Select(
                        [(k, k) for k in self.keypairs], prompt=_("choose a key pair"), id="vm-keypair"
                    )
                    yield Button(_("Import…"), id="vm-import-key", classes="inline-button")
                with Horizontal(classes="form-row"):
                    yield Label(_("User name"))
                    yield Static("—", id="vm-user-name", markup=False)
                with Horizontal(classes="form-row vm-password-row"):
                    yield Label(_("Password *"))
                    yield Input(id="vm-password", password=True, max_length=64)
                with Horizontal(classes="form-row vm-password-row"):
                    yield Label(_("Confirm *"))
                    yield Input(id="vm-password-confirm", password=True, max_length=64)
                yield PasswordRules(id="vm-password-rules", classes="vm-password-row")
                with Horizontal(classes="form-row"):
                    yield Label(_("CPU cores *"))
                    yield Input(id="vm-cpu", type="integer", max_length=4)
                    yield Static("", id="vm-cpu-hint", classes="vm-hint", markup=False)
                with Horizontal(classes="form-row"):
                    yield Label(_("RAM GB *"))
                    yield Input(id="vm-ram", type="integer", max_length=5)
                    yield Static("", id="vm-ram-hint", classes="vm-hint", markup=False)
                with Horizontal(classes="form-row"):
                    yield Label(_("Description"))
                    yield Input(id="vm-description")
                with Horizontal(classes="form-row"):
                    yield Label(_("Network *"))
                    yield Select(
                        networks,
                        prompt=_("choose a private network"),
                        value=networks[0][1] if len(networks) == 1 else Select.NULL,
                        id="vm-network",
                    )
                with Horizontal(classes="form-row"):
                    yield Label(_("Public IP"))
                    yield PlainCheckbox(_("attach a public IP"), False, id="vm-public-ip")
            yield Static(id="vm-error", classes="modal-error", markup=False)
            yield Label(_("Ctrl+S: create · Ctrl+O: import a key · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="vm-cancel")
                yield Button(_("Create"), id="vm-create", variant="primary")

    def on_mount(self) -> None:
        self.show_login("password")
        self.update_hints()
        self.show_password_rules("")
        if self.refusal is not None:
            self.query_one("#vm-error", Static).update(render(self.refusal))
        self.query_one("#vm-name", Input).focus()

    # -- live parts of the form

    def template(self) -> TemplateChoice | None:
        """The chosen template."""
        value = self.query_one("#vm-template", Select).value
        return next((t for t in self.choices.templates if t.id == value), None)

    def node_name(self) -> str | None:
        """The chosen node (None for system placement or nothing chosen)."""
        value = self.query_one("#vm-node", Select).value
        return value if isinstance(value, str) and value != AUTO else None

    def update_hints(self) -> None:
        """User name from the template's OS; CPU and RAM hints from the template minimums and the node's room."""
        from ectui.services.vms import user_name_for

        template = self.template()
        node = next((n for n in self.choices.nodes if n.name == self.node_name()), None)
        self.query_one("#vm-user-name", Static).update(user_name_for(template.os_type) if template else "—")
        cpu: list[str] = []
        ram: list[str] = []
        if template:
            cpu.append(_("min {n}").format(n=template.min_cpu))
            ram.append(_("min {n}").format(n=template.min_ram_gb))
        if node:
            cpu.append(_("{n} free").format(n=node.vcpus_free))
            ram.append(_("{n} free").format(n=node.ram_gb_free))
        self.query_one("#vm-cpu-hint", Static).update(" · ".join(cpu))
        self.query_one("#vm-ram-hint", Static).update(" · ".join(ram))

    def show_login(self, login: str) -> None:
        """Password rows for password login, the key pair row for key pair login."""
        self.query_one("#vm-keypair-row").display = login == "keypair"
        for row in self.query(".vm-password-row"):
            row.display = login == "password"

    def show_password_rules(self, password: str) -> None:
        """Mark each complexity rule met or not."""
        from ectui.services.vms import password_checks

        self.query_one("#vm-password-rules", PasswordRules).show(password_checks(password))

    @on(Select.Changed, "#vm-template")
    @on(Select.Changed, "#vm-node")
    def choice_changed(self) -> None:
        self.update_hints()

    @on(Select.Changed, "#vm-login")
    def login_changed(self, event: Select.Changed) -> None:
        self.show_login(str(event.value))

    @on(Input.Changed, "#vm-password")
    def password_changed(self, event: Input.Changed) -> None:
        self.show_password_rules(event.value)

    # -- key pair import

    @on(Button.Pressed, "#vm-import-key")
    def action_import_key(self) -> None:
        """Import an SSH public key file as a new key pair and choose it."""

        def chosen(result: tuple[str, str] | None) -> None:
            if result is not None:
                self.import_key(*result)

        self.app.push_screen(ImportKeypairModal(), callback=chosen)

    @work(group="vm-form-key", exit_on_error=False)
    async def import_key(self, name: str, path: str) -> None:
        try:  # read bounded by the service: a FIFO or /dev/zero is refused at once
            info = await self.services.keypairs.import_key_file(name, path, cluster=self.choices.cluster)
        except OSError as err:
            self.query_one("#vm-error", Static).update(
                _("Cannot read {path}: {reason}").format(path=path, reason=err.strerror)
            )
            return
        except ServiceError as err:
            self.query_one("#vm-error", Static).update(render(err))
            return
        if info.name not in self.keypairs:
            self.keypairs.append(info.name)
        select = self.query_one("#vm-keypair", Select)
        select.set_options([(k, k) for k in self.keypairs])
        select.value = info.name
        self.query_one("#vm-login", Select).value = "keypair"
        self.query_one("#vm-error", Static).update(_("Key pair {name} imported.").format(name=info.name))

    # -- submit

    def draft(self) -> VmDraft:
        """Validate the form (V2 step 1); then the flow's refusals that the form can see (steps 2-4)."""
        from ectui.services.vms import VmDraft

        def value(input_id: str) -> str:
            return self.query_one(f"#{input_id}", Input).value

        def choice(select_id: str) -> Any:
            v = self.query_one(f"#{select_id}", Select).value
            return None if v == Select.NULL else v

        node = choice("vm-node")
        login = choice("vm-login") or "password"
        return VmDraft.parse(
            name=value("vm-name"),
            template_id=choice("vm-template"),
            placement=AUTO if node == AUTO else "manual",
            node=None if node == AUTO else node,
            login=login,
            password=value("vm-password") if login == "password" else "",
            password_confirm=value("vm-password-confirm") if login == "password" else "",
            keypair=choice("vm-keypair") if login == "keypair" else None,
            cpu=value("vm-cpu"),
            ram_gb=value("vm-ram"),
            description=value("vm-description"),
            network=choice("vm-network"),
            public_ip=self.query_one("#vm-public-ip", PlainCheckbox).value,
        )

    @on(Input.Submitted)
    @on(Button.Pressed, "#vm-create")
    def action_submit(self) -> None:
        """Validate, then start the create job; the form closes once the job is past the flow's checks."""
        if self.run is not None:
            return
        if self.refusal is not None:  # V2 order: the fields first, then why the flow cannot go on
            try:
                self.draft()
            except ServiceError as err:
                if not isinstance(err, ValidationError) or err.field not in (
                    "Template",
                    "Node",
                    "Private network",
                ):
                    mark_field(self, VM_FIELDS, "vm-error", err)
                    return
            mark_field(self, VM_FIELDS, "vm-error", self.refusal)
            return
        try:
            draft = self.draft()
        except ServiceError as err:
            mark_field(self, VM_FIELDS, "vm-error", err)
            return
        for widget in self.query(".-invalid"):
            widget.remove_class("-invalid")
        self.query_one("#vm-error", Static).update(_("Checking…"))
        self.busy = True
        self.add_class("-busy")
        self.run = self.start_create(draft)
        self.app.jobs.signal.subscribe(self, self.job_changed)  # type: ignore[attr-defined]
        if self.run.job is not None:  # it may have ended before the subscription
            self.job_changed(self.run.job)

    def job_changed(self, job: Job) -> None:
        """Close once the quota is reserved (first step done); a refusal before that stays on the form."""
        run = self.run
        if run is None or run.job is None or job.id != run.job.id or not self.is_attached:
            return
        job = self.app.jobs.get(job.id) or job  # type: ignore[attr-defined]
        progress = job.progress
        started = progress is not None and progress.step not in ("reserve", "rollback")
        if job.state == "running" and not started:
            return
        run.form_waiting = False
        if job.state in ("failed", "cancelled"):
            self.run = None
            self.busy = False
            self.remove_class("-busy")
            self.query_one("#vm-error", Static).update(job.message)
            if run.error is not None:
                mark_field(self, VM_FIELDS, "vm-error", run.error)
            return
        self.busy = False
        self.dismiss(job)

    @on(Button.Pressed, "#vm-cancel")
    def press_cancel(self) -> None:
        self.action_cancel()


# ---------------------------------------------------------------------- the screen


class VmsScreen(ConsoleDomainScreen):
    """VMs of the current project (or of all): live status, filter, sort, detail and actions."""

    DOMAIN = "vms"
    CSS_PATH = "vms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_vm", _("New"), id="vms.new"),
        Binding("i", "show_detail", _("Detail"), id="vms.info", show=False),
        Binding("s", "start_vm", _("Start"), id="vms.start"),
        Binding("ctrl+s", "stop_vm", _("Stop"), id="vms.stop"),
        Binding("ctrl+r", "reboot_vm", _("Reboot"), id="vms.reboot"),
        Binding("ctrl+d", "delete_vm", _("Delete"), id="vms.delete"),
        Binding("c", "console_url", _("Console"), id="vms.console"),
        Binding("l", "console_log", _("Console log"), id="vms.console_log"),
        Binding("t", "snapshot_vm", _("Snapshot"), id="vms.snapshot"),
        Binding("m", "mount_iso", _("Mount ISO"), id="vms.mount_iso"),
        Binding("M", "unmount_iso", _("Unmount ISO"), id="vms.unmount_iso"),
        Binding("z", "resize_vm", _("Resize"), id="vms.resize"),
        Binding("a", "toggle_all", _("All projects"), id="vms.all", show=False),
        Binding("o", "cycle_sort", _("Sort"), id="vms.sort", show=False),
        Binding("slash", "focus_filter", _("Filter"), id="vms.filter", show=False),
        Binding("r", "refresh", _("Refresh"), id="vms.refresh", show=False),
    ]

    POLL_FAST: ClassVar[float] = 2.0
    """Seconds between refreshes while a VM is building, resizing or held by an operation."""
    POLL_STABLE: ClassVar[float] = 15.0
    """Seconds between refreshes while every VM is stable."""
    POLL_IDLE: ClassVar[float] = 60.0
    """Seconds between refreshes once the operator has been idle for IDLE_AFTER."""
    POLL_MAX: ClassVar[float] = 120.0
    """The longest wait after repeated refresh failures (backoff doubles up to this)."""
    IDLE_AFTER: ClassVar[float] = 120.0
    """Seconds without a key on this screen after which the operator counts as idle."""

    all_projects: reactive[bool] = reactive(False)
    """Show the VMs of every project and cluster, not only the current project's."""
    filter_text: reactive[str] = reactive("")
    """Lower-cased filter typed by the operator."""
    sort_index: reactive[int] = reactive(0)
    """Index in SORTS."""

    def __init__(self) -> None:
        super().__init__()
        self.vms: list[VmInfo] = []
        """The last list read from the service."""
        self.pending: dict[int, CreateRun] = {}
        """Create jobs started here and still running: job id → (VM name, job)."""
        self.production: set[str] = set()
        """Names of the protected clusters (destructive actions ask to type the name)."""
        self.polling = False
        """Whether the live refresh runs (only while the screen is shown)."""
        self.poll_delay = 0.0
        """The delay chosen for the next refresh."""
        self.failures = 0
        """Refresh failures in a row (backoff)."""
        self.last_activity = time.monotonic()
        self._poll_timer: Timer | None = None
        self.job_steps: dict[int, tuple[str | None, str]] = {}
        """The last (step, state) seen of each operation job (resize …): the list is read again when it changes."""

    # -- layout

    def compose_content(self) -> ComposeResult:
        with Horizontal(id="vms-top"):
            yield Label(_("VMs"), classes="section-title", id="vms-title")
            yield Input(placeholder=_("/ filter"), id="vms-filter")
        yield DataTable(id="vms-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="vms-status", markup=False)

    def on_mount(self) -> None:
        table = self.table
        table.add_column(_("Name"), key="name")
        table.add_column(_("Status"), key="status")
        table.add_column(_("Spec"), key="spec")
        table.add_column(_("Node"), key="node")
        table.add_column(_("IP"), key="ip")
        table.add_column(_("Project"), key="project")
        table.add_column("", key="lock")
        table.focus()
        self.app.jobs.signal.subscribe(self, self.job_changed)  # type: ignore[attr-defined]
        self.watch(self.app, "project", self._project_changed, init=False)
        self.show_title()

    def on_screen_resume(self) -> None:
        self.polling = True
        self.last_activity = time.monotonic()
        self.refresh_vms(pull=True)

    def on_screen_suspend(self) -> None:
        self.polling = False
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None

    def _project_changed(self, _project: object = None) -> None:
        self.show_title()
        self.refresh_vms(pull=False)

    @property
    def table(self) -> DataTable[str]:
        """The VMs table."""
        return self.query_one("#vms-table", DataTable)

    def show_title(self) -> None:
        """'VMs · project web' or 'VMs · all projects'."""
        scope = _("all projects") if self.all_projects else _("project {name}").format(
            name=getattr(self.app, "project", "—"))  # fmt: skip
        sort = _(SORTS[self.sort_index][1])
        self.query_one("#vms-title", Label).update(
            _("VMs · {scope} · sorted by {sort}").format(scope=scope, sort=sort)
        )

    # -- live refresh

    def note_activity(self) -> None:
        """The operator did something: leave idle polling at once."""
        idle = self.is_idle
        self.last_activity = time.monotonic()
        if idle and self.polling:
            self.schedule_poll()

    def on_key(self, _event: events.Key) -> None:
        self.note_activity()

    @property
    def is_idle(self) -> bool:
        """No key on this screen for IDLE_AFTER seconds."""
        return time.monotonic() - self.last_activity >= self.IDLE_AFTER

    def next_delay(self) -> float:
        """Fast while something moves, slower when stable, slower still when idle; doubled after failures."""
        if self.failures:
            return min(self.POLL_STABLE * 2 ** (self.failures - 1), self.POLL_MAX)
        moving = bool(self.pending) or any(vm.status in TRANSITIONAL or vm.task_state for vm in self.vms)
        if moving:
            return self.POLL_FAST
        return self.POLL_IDLE if self.is_idle else self.POLL_STABLE

    def schedule_poll(self) -> None:
        """Arm the next refresh (replacing an armed one)."""
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        if not self.polling:
            return
        self.poll_delay = self.next_delay()
        self._poll_timer = self.set_timer(self.poll_delay, self.poll, name="vms-poll")

    def poll(self) -> None:
        self._poll_timer = None
        if self.polling:
            self.refresh_vms(pull=True)

    @work(exclusive=True, group="vms-refresh", exit_on_error=False)
    async def refresh_vms(self, *, pull: bool = True, select: int | None = None) -> None:
        """Read the list (pulling statuses from the clouds when `pull`), show it, arm the next refresh."""
        try:
            clusters = await self.services.clusters.list()
            self.production = {c.name for c in clusters if getattr(c, "production", False)}
            if pull:
                vms = await self.services.vms.refresh(all_projects=self.all_projects)
            else:
                vms = await self.services.vms.list(all_projects=self.all_projects)
        except ServiceError as err:
            if err.key == "project.none_selected":  # not a failure: nothing to show until a project is chosen
                self.vms = []
                self.show_vms()
                self.query_one("#vms-status", Static).update(
                    _("No current project: press p to choose one, or a to see every project's VMs.")
                )
                return
            self.failures += 1
            self.query_one("#vms-status", Static).update(
                _("Refresh failed: {reason} (retrying)").format(reason=render(err))
            )
        else:
            self.failures = 0
            self.vms = vms
            self.show_vms(select=select)
        finally:
            self.schedule_poll()

    def visible_vms(self) -> list[VmInfo]:
        """The VMs that pass the filter, in the chosen order."""
        needle = self.filter_text
        return sorted((vm for vm in self.vms if matches(vm, needle)), key=sort_key(SORTS[self.sort_index][0]))

    def row_cells(self, vm: VmInfo) -> tuple[str, ...]:
        """The cells of one VM."""
        ip = vm.floating_ip or vm.fixed_ip or "—"
        project = vm.project or "—"
        if self.all_projects:
            project = f"{project}@{vm.cluster}"
        lock = _("locked") if vm.locked else ""
        return (
            vm.name,
            status_label(vm.status),
            spec_text(vm.vcpus, vm.ram_gb),
            vm.node or "—",
            ip,
            project,
            lock,
        )

    def pending_cells(self, name: str, job: Job) -> tuple[str, ...]:
        """The cells of a VM still being created (before the service records it)."""
        p = job.progress
        step = f"{_(p.detail) if p.detail else p.step} {p.done}/{p.total}" if p and p.total else _("creating")
        return (name, step, "", "", "", getattr(self.app, "project", "—"), "…")

    def show_vms(self, *, select: int | str | None = None) -> None:
        """Fill the table: rows are updated in place when the same VMs are shown, so the cursor stays."""
        table = self.table
        keep = str(select) if select is not None else self.selected_key()
        known = {vm.name for vm in self.vms}
        rows: list[tuple[str, tuple[str, ...]]] = [
            (str(vm.id), self.row_cells(vm)) for vm in self.visible_vms()
        ]
        rows += [
            (f"job-{job_id}", self.pending_cells(run.name, run.job))
            for job_id, run in self.pending.items()
            if run.job is not None
            and not run.form_waiting
            and run.name not in known
            and (not self.filter_text or self.filter_text in run.name.lower())
        ]
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
            if keep is not None and keep in {key for key, _cells in rows}:
                table.move_cursor(row=table.get_row_index(keep))
        shown = len(rows)
        total = len(self.vms) + sum(1 for key, _cells in rows if key.startswith("job-"))
        status = _("{shown} of {total} VMs").format(shown=shown, total=total)
        if self.filter_text:
            status += " · " + _("filter: {text}").format(text=self.filter_text)
        self.query_one("#vms-status", Static).update(status)

    def rows(self) -> list[list[str]]:
        """The rows as shown (for tests)."""
        return [[str(cell) for cell in self.table.get_row(row.key)] for row in self.table.ordered_rows]

    def selected_key(self) -> str | None:
        """The row key under the cursor."""
        table = self.table
        if table.row_count == 0:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:  # cursor outside the rows while the table refills
            return None

    def selected_vm(self) -> VmInfo | None:
        """The VM under the cursor (None for a VM still being created)."""
        key = self.selected_key()
        if key is None or key.startswith("job-"):
            return None
        return next((vm for vm in self.vms if str(vm.id) == key), None)

    def select_name(self, name: str) -> None:
        """Move the cursor to a VM by name (for tests and after create)."""
        vm = next((v for v in self.vms if v.name == name), None)
        if vm is not None and str(vm.id) in [str(r.key.value) for r in self.table.ordered_rows]:
            self.table.move_cursor(row=self.table.get_row_index(str(vm.id)))

    # -- filter and sort

    @on(Input.Changed, "#vms-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.note_activity()
        self.filter_text = event.value.strip().lower()
        self.show_vms()

    @on(Input.Submitted, "#vms-filter")
    def filter_done(self) -> None:
        self.table.focus()

    def action_focus_filter(self) -> None:
        """Type to filter the list (Enter goes back to the list)."""
        self.query_one("#vms-filter", Input).focus()

    def action_cycle_sort(self) -> None:
        """Sort by name, status, node, then newest first."""
        self.note_activity()
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.show_title()
        self.show_vms()

    def action_toggle_all(self) -> None:
        """Show the VMs of every project and cluster, or of the current project only."""
        self.note_activity()
        self.all_projects = not self.all_projects
        self.show_title()
        self.refresh_vms(pull=False)

    def action_refresh(self) -> None:
        """Pull statuses from the clouds now."""
        self.note_activity()
        self.refresh_vms(pull=True)

    # -- refusals

    def refuse_if_readonly(self) -> bool:
        """True (and tell why) when the console is read-only."""
        reason = getattr(self.app, "readonly_reason", "")
        if reason:
            self.notify(
                _("Read-only: {reason}").format(reason=reason), title=_("Refused"), severity="warning"
            )
        return bool(reason)

    def refuse_if_locked(self, vm: VmInfo) -> bool:
        """True (and tell why, as the service says) when the VM is locked."""
        if vm.locked:
            self.notify(
                _("{name} is locked: {reason}").format(name=vm.name, reason=lock_text(vm)),
                title=_("Refused"),
                severity="warning",
            )
        return vm.locked

    def target(self) -> VmInfo | None:
        """The VM under the cursor for a changing action, or None after telling why not."""
        self.note_activity()
        if self.refuse_if_readonly():
            return None
        vm = self.selected_vm()
        if vm is None:
            self.notify(_("Choose a VM first."), severity="warning")
            return None
        if self.refuse_if_locked(vm):
            return None
        return vm

    # -- actions

    def action_start_vm(self) -> None:
        """Power on the VM under the cursor."""
        vm = self.target()
        if vm is not None:
            self.run_action(vm, "start")

    def action_stop_vm(self) -> None:
        """Power off the VM under the cursor (confirm; type the name on a production cluster)."""
        vm = self.target()
        if vm is not None:
            self.confirm(
                vm, "stop", _("Stop {name}? Its guest is powered off.").format(name=vm.name), _("Stop")
            )

    def action_reboot_vm(self) -> None:
        """Reboot the VM under the cursor (confirm)."""
        vm = self.target()
        if vm is not None:
            question = _("Reboot {name}?").format(name=vm.name)

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.run_action(vm, "reboot")

            self.app.push_screen(ConfirmModal(question, confirm_label=_("Reboot")), callback=confirmed)

    def action_delete_vm(self) -> None:
        """Delete the VM under the cursor (confirm; type the name on a production cluster); quota is released."""
        vm = self.target()
        if vm is not None:
            question = _(
                "Delete {name}? The server, its disk and public IP are removed; quota is released."
            ).format(name=vm.name)
            self.confirm(vm, "delete", question, _("Delete"))

    def confirm(self, vm: VmInfo, action: str, question: str, label: str) -> None:
        """Ask yes/no, or to type the VM's name when its cluster is a production one."""

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_action(vm, action)

        if vm.cluster in self.production:
            self.app.push_screen(
                TypeNameConfirmModal(vm.name, question, confirm_label=label), callback=confirmed
            )
        else:
            self.app.push_screen(ConfirmModal(question, confirm_label=label), callback=confirmed)

    @work(group="vms-action", exit_on_error=False)
    async def run_action(self, vm: VmInfo, action: str) -> None:
        """Run start, stop, reboot or delete; refusals (locked, read-only, cloud errors) are shown."""
        service = self.services.vms
        titles = {"start": _("Not started"), "stop": _("Not stopped"), "reboot": _("Not rebooted"),
                  "delete": _("Not deleted")}  # fmt: skip
        done = {"start": _("Starting {name}…"), "stop": _("Stopping {name}…"), "reboot": _("Rebooting {name}…"),
                "delete": _("{name} deleted")}  # fmt: skip
        try:
            if action == "start":
                await service.start(vm.id)
            elif action == "stop":
                await service.stop(vm.id)
            elif action == "reboot":
                await service.reboot(vm.id)
            else:
                await service.delete(vm.id)
        except ServiceError as err:
            self.notify(render(err), title=titles[action], severity="error", timeout=10)
            return
        self.notify(done[action].format(name=vm.name))
        self.refresh_vms(pull=True)

    def action_console_url(self) -> None:
        """Show the console URL of the VM under the cursor."""
        self.note_activity()
        vm = self.selected_vm()
        if vm is not None:
            self.open_console(vm)

    @opens_screen
    @work(exclusive=True, group="vms-open", exit_on_error=False)
    async def open_console(self, vm: VmInfo) -> None:
        from ectui.services.console import ssh_tunnel

        try:
            url = await self.services.vms.console_url(vm.id)
        except ServiceError as err:
            self.notify(render(err), title=_("No console"), severity="error", timeout=10)
            return
        try:
            serial: str | None = await self.services.console.serial_console(vm.id)
        except ServiceError:  # the cloud has no serial console: the modal shows the rest
            serial = None
        try:
            tunnel: Tunnel | None = ssh_tunnel(url)
        except ServiceError:
            tunnel = None
        self.app.push_screen(ConsoleUrlModal(vm.name, url, serial=serial, tunnel=tunnel))

    def action_console_log(self) -> None:
        """Show the console log of the VM under the cursor (f: follow, /: search)."""
        self.note_activity()
        vm = self.selected_vm()
        if vm is not None:
            self.app.push_screen(ConsoleLogModal(self.services, vm.id, vm.name))

    # -- resize (CPU/RAM, SPEC R)

    def action_resize_vm(self, vm_id: int | None = None) -> None:
        """Change the CPU and RAM of the VM under the cursor (hot or cold; runs in the background)."""
        vm = self.target() if vm_id is None else next((v for v in self.vms if v.id == vm_id), None)
        if vm is None or (vm_id is not None and (self.refuse_if_readonly() or self.refuse_if_locked(vm))):
            return
        from ectui.screens.resize import ResizeVmModal

        def closed(job_id: int | None) -> None:
            if job_id is not None and self.is_attached:
                self.refresh_vms(pull=False)

        modal = ResizeVmModal(self.services, vm, production=vm.cluster in self.production)
        self.app.push_screen(modal, callback=closed)

    # -- snapshot to a custom template

    def action_snapshot_vm(self) -> None:
        """Snapshot the VM under the cursor into a new custom template (asks for its name)."""
        vm = self.target()
        if vm is None:
            return

        def named(name: str | None) -> None:
            if name:
                self.start_snapshot(vm, name)

        self.app.push_screen(SnapshotTemplateModal(vm.name), callback=named)

    def start_snapshot(self, vm: VmInfo, name: str) -> Job:
        """Run the snapshot as an app job (it outlives this screen; cancel it on the Jobs screen)."""
        service = self.services.vms

        async def snapshot(progress: ProgressCallback, cancel: CancelToken) -> SnapshotInfo:
            return await service.snapshot(vm.id, name, on_progress=progress, cancel=cancel)

        def done(job: Job) -> None:
            if job.state == "done":
                self.notify(
                    _("Custom template {template} made from {name}").format(template=name, name=vm.name)
                )
            else:
                self.notify(job.message, title=_("No snapshot"), severity="error", timeout=15)
            if self.is_attached:
                self.refresh_vms(pull=True)

        job: Job = self.app.jobs.start(  # type: ignore[attr-defined]
            _("Snapshot {name} to template {template}").format(name=vm.name, template=name),
            snapshot,
            on_done=done,
        )
        self.notify(_("Snapshot of {name} started (progress on the Jobs screen)").format(name=vm.name))
        self.refresh_vms(pull=False)
        return job

    # -- ISO as CD-ROM

    def action_mount_iso(self) -> None:
        """Mount an enabled ISO of the VM's cluster as its CD-ROM (pick one; confirm when the VM must reboot)."""
        vm = self.target()
        if vm is not None:
            self.pick_iso(vm)

    @opens_screen
    @work(exclusive=True, group="vms-open", exit_on_error=False)
    async def pick_iso(self, vm: VmInfo) -> None:
        try:
            isos = await self.services.vms.mountable_isos(vm.id)
        except ServiceError as err:
            self.notify(render(err), title=_("Not mounted"), severity="error", timeout=10)
            return

        def chosen(iso_id: int | None) -> None:
            if iso_id:
                self.plan_mount(vm, iso_id)

        self.app.push_screen(PickIsoModal(vm.name, isos), callback=chosen)

    @work(group="vms-action", exit_on_error=False)
    async def plan_mount(self, vm: VmInfo, iso_id: int) -> None:
        """Find how the ISO is mounted; the stable-rescue path (VM reboots) asks first."""
        from ectui.services.vms import VmError

        try:
            plan = await self.services.vms.mount_plan(vm.id, iso_id)
        except ServiceError as err:
            self.notify(render(err), title=_("Not mounted"), severity="error", timeout=15)
            return
        if not plan.reboots:
            self.run_mount(vm, iso_id, confirm_reboot=False)
            return
        question = render(VmError("vm.iso_rescue_confirm", name=vm.name, iso=plan.iso, cluster=plan.cluster))

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_mount(vm, iso_id, confirm_reboot=True)

        self.app.push_screen(
            ConfirmModal(question, confirm_label=_("Reboot into the ISO")), callback=confirmed
        )

    @work(group="vms-action", exit_on_error=False)
    async def run_mount(self, vm: VmInfo, iso_id: int, *, confirm_reboot: bool) -> MountInfo | None:
        """Mount, then show the guest's mount command."""
        try:
            mounted = await self.services.vms.mount_iso(vm.id, iso_id, confirm_reboot=confirm_reboot)
        except ServiceError as err:
            self.notify(render(err), title=_("Not mounted"), severity="error", timeout=15)
            return None
        self.refresh_vms(pull=True)
        self.app.push_screen(IsoMountedModal(vm.name, mounted.iso, mounted.hint))
        return mounted

    def action_unmount_iso(self) -> None:
        """Unmount the ISO of the VM under the cursor (confirm)."""
        vm = self.target()
        if vm is None:
            return
        if not vm.mounted_iso:
            self.notify(_("{name} has no ISO mounted.").format(name=vm.name), severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_unmount(vm)

        question = _("Unmount ISO {iso} from {name}?").format(iso=vm.mounted_iso, name=vm.name)
        self.app.push_screen(ConfirmModal(question, confirm_label=_("Unmount")), callback=confirmed)

    @work(group="vms-action", exit_on_error=False)
    async def run_unmount(self, vm: VmInfo) -> None:
        """Unmount, then refresh the list."""
        try:
            await self.services.vms.unmount_iso(vm.id)
        except ServiceError as err:
            self.notify(render(err), title=_("Not unmounted"), severity="error", timeout=15)
            return
        self.notify(_("ISO unmounted from {name}").format(name=vm.name))
        self.refresh_vms(pull=True)

    @on(DataTable.RowSelected, "#vms-table")
    def row_chosen(self) -> None:
        self.action_show_detail()

    def action_show_detail(self) -> None:
        """Show the detail and history of the VM under the cursor."""
        self.note_activity()
        vm = self.selected_vm()
        if vm is not None:
            self.open_detail(vm.id)

    @opens_screen
    @work(exclusive=True, group="vms-open", exit_on_error=False)
    async def open_detail(self, vm_id: int) -> None:
        try:
            vm = await self.services.vms.get(vm_id)
            history = await self.services.vms.history(vm_id)
        except ServiceError as err:
            self.notify(render(err), title=_("No detail"), severity="error", timeout=10)
            return

        def closed(result: str | None) -> None:
            if result == "resize":
                self.action_resize_vm(vm.id)

        self.app.push_screen(VmDetailModal(vm, history), callback=closed)

    # -- create

    def action_new_vm(self) -> None:
        """Open the create form."""
        if self.target_for_create():
            self.open_form()

    def target_for_create(self) -> bool:
        self.note_activity()
        return not self.refuse_if_readonly()

    @opens_screen
    @work(exclusive=True, group="vms-open", exit_on_error=False)
    async def open_form(self) -> None:
        from ectui.services.vms import FormChoices

        refusal: ServiceError | None = None
        current = await self.services.projects.current()
        try:
            choices = await self.services.vms.form_choices()
        except ServiceError as err:  # no project, no cluster, cloud unreachable: said on the form
            choices, refusal = FormChoices(cluster=None, storage_mode=None), err

        def closed(job: Job | None) -> None:
            if job is not None:
                self.notify(
                    _("Creating {name}… (progress on the Jobs screen)").format(name=self.pending_name(job))
                )
                self.show_vms()

        modal = CreateVmModal(
            self.services, choices, current.name if current else None, self.start_create, refusal=refusal
        )
        self.app.push_screen(modal, callback=closed)

    def pending_name(self, job: Job) -> str:
        """The VM name of a create job started here."""
        run = self.pending.get(job.id)
        return run.name if run else ""

    def start_create(self, draft: VmDraft) -> CreateRun:
        """Run the create as an app job (it outlives this screen); the list shows it while it builds."""
        workflow = self.services.workflow

        async def create(progress: ProgressCallback, cancel: CancelToken) -> VmInfo:
            try:
                # an operator with the workflow module makes a request (RequestInfo) that an admin approves
                outcome = await workflow.submit_or_run(draft, on_progress=progress, cancel=cancel)
                return outcome.request if outcome.submitted else outcome.result  # type: ignore[no-any-return]
            except ServiceError as err:
                run.error = err  # the form marks the field a refusal names
                raise

        run = CreateRun(name=draft.name)
        run.job = self.app.jobs.start(  # type: ignore[attr-defined]
            _("Create VM {name}").format(name=draft.name), create, on_done=self.create_done
        )
        self.pending[run.job.id] = run
        return run

    def job_changed(self, job: Job) -> None:
        """A create job moved on: update its pending row (and poll fast); another operation job
        (resize …) changed step or ended: read the list again, so that its VM shows operating, then its new state."""
        run = self.pending.get(job.id)
        if run is None:
            step = job.progress.step if job.progress is not None and job.progress.unit == "steps" else None
            moved = self.job_steps.get(job.id) != (step, job.state)
            if self.is_attached and self.polling and (step or not job.running) and moved:
                self.job_steps[job.id] = (step, job.state)
                self.refresh_vms(pull=not job.running)
            return
        run.job = job
        if job.running and self.is_attached:
            self.show_vms()

    def create_done(self, job: Job) -> None:
        """The create finished: show the VM, or what went wrong."""
        run = self.pending.pop(job.id, None)
        if run is None:
            return
        name = run.name
        from ectui.screens.requests import is_request, submitted_text

        if job.state == "done" and is_request(job.result):  # waits for an admin's approval
            self.notify(submitted_text(job.result), title=_("Request submitted"), timeout=10)
        elif job.state == "done":
            self.notify(_("VM {name} created").format(name=name))
        elif not run.form_waiting:  # while the form is open, it shows the refusal itself
            self.notify(
                _("VM {name} was not created: {reason}").format(name=name, reason=job.message),
                title=_("Create failed"),
                severity="error",
                timeout=15,
            )
        if self.is_attached:
            self.refresh_vms(pull=True)
