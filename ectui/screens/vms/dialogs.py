"""VM dialogs: console URL and log, snapshot as template, ISO pick and mount, detail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Button, OptionList

from ectui.i18n import N_, _, render
from ectui.screens.vms.common import lock_text, status_label
from ectui.services.errors import ServiceError, ValidationError
from ectui.widgets import ShellModal
from ectui.widgets.literal import Input, Label, Option, Static

if TYPE_CHECKING:
    from ectui.services import ConsoleServices
    from ectui.services.console import Tunnel
    from ectui.services.operations.engine import OperationInfo
    from ectui.services.vms import VmInfo


# ---------------------------------------------------------------------- modals


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
            error = ValidationError(
                "validation.required", field=N_("Template name"), field_id="template_name"
            )
            self.query_one("#snapshot-error", Static).update(render(error))
            return
        self.dismiss(name)


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
