"""VMs (console): the live list of the current project's VMs, with filter, sort, detail and actions."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.timer import Timer

from ectui.i18n import _, render
from ectui.jobs import Job
from ectui.screens._base import ConsoleDomainScreen, opens_screen
from ectui.screens.vms.common import (
    SORTS,
    TRANSITIONAL,
    lock_text,
    matches,
    sort_key,
    spec_text,
    status_label,
)
from ectui.screens.vms.create import CreateRun, CreateVmModal
from ectui.screens.vms.dialogs import (
    ConsoleLogModal,
    ConsoleUrlModal,
    IsoMountedModal,
    PickIsoModal,
    SnapshotTemplateModal,
    VmDetailModal,
)
from ectui.services.errors import ServiceError
from ectui.widgets import ConfirmModal
from ectui.widgets.confirm_name import TypeNameConfirmModal
from ectui.widgets.literal import DataTable, Input, Label, Static
from ectui.widgets.requests import is_request, submitted_text
from ectui.widgets.tables import cursor_key, show_rows

if TYPE_CHECKING:
    from ectui.services.console import Tunnel
    from ectui.services.progress import CancelToken, ProgressCallback
    from ectui.services.vms import (
        MountInfo,
        SnapshotInfo,
        VmDraft,
        VmInfo,
    )
    from ectui.services.workflow import RequestInfo


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
        self.console.jobs.signal.subscribe(self, self.job_changed)
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
            clusters = await self.services.clusters.list_all()
            self.production = {c.name for c in clusters if getattr(c, "production", False)}
            if pull:
                vms = await self.services.vms.refresh(all_projects=self.all_projects)
            else:
                vms = await self.services.vms.list_all(all_projects=self.all_projects)
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
        show_rows(table, rows, keep)
        shown = len(rows)
        total = len(self.vms) + sum(1 for key, _cells in rows if key.startswith("job-"))
        status = _("{shown} of {total} VMs").format(shown=shown, total=total)
        if self.filter_text:
            status += " · " + _("filter: {text}").format(text=self.filter_text)
        self.query_one("#vms-status", Static).update(status)

    def selected_key(self) -> str | None:
        """The row key under the cursor."""
        return cursor_key(self.table)

    def selected_vm(self) -> VmInfo | None:
        """The VM under the cursor (None for a VM still being created)."""
        key = self.selected_key()
        if key is None or key.startswith("job-"):
            return None
        return next((vm for vm in self.vms if str(vm.id) == key), None)

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
            self.run_vm_action(vm, "start")

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
                    self.run_vm_action(vm, "reboot")

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
                self.run_vm_action(vm, action)

        if vm.cluster in self.production:
            self.app.push_screen(
                TypeNameConfirmModal(vm.name, question, confirm_label=label), callback=confirmed
            )
        else:
            self.app.push_screen(ConfirmModal(question, confirm_label=label), callback=confirmed)

    @work(group="vms-action", exit_on_error=False)
    async def run_vm_action(self, vm: VmInfo, action: str) -> None:
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

    # -- resize (CPU/RAM)

    def action_resize_vm(self, vm_id: int | None = None) -> None:
        """Change the CPU and RAM of the VM under the cursor (hot or cold; runs in the background)."""
        vm = self.target() if vm_id is None else next((v for v in self.vms if v.id == vm_id), None)
        if vm is None or (vm_id is not None and (self.refuse_if_readonly() or self.refuse_if_locked(vm))):
            return
        from ectui.screens.vms.resize import ResizeVmModal

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

        job: Job = self.console.jobs.start(
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

        async def create(progress: ProgressCallback, cancel: CancelToken) -> VmInfo | RequestInfo | None:
            try:
                # an operator with the workflow module makes a request (RequestInfo) that an admin approves
                outcome = await workflow.submit_or_run(draft, on_progress=progress, cancel=cancel)
                return outcome.request if outcome.submitted else outcome.result
            except ServiceError as err:
                run.error = err  # the form marks the field a refusal names
                raise

        run = CreateRun(name=draft.name)
        run.job = self.console.jobs.start(
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
