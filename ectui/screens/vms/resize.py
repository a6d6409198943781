"""Resize (CPU/RAM upgrade): the dialog, and the app job that runs the ten steps with live progress.

The resize runs as an app job: it outlives the dialog and any screen. The dialog shows its
steps live while it stays open; the Operations screen shows them at any time (read from the engine).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button

from ectui.i18n import N_, _, render
from ectui.jobs import Job
from ectui.services.errors import ServiceError
from ectui.widgets import ConfirmModal, ShellModal
from ectui.widgets.forms import mark_field
from ectui.widgets.host import console_app
from ectui.widgets.literal import Input, Label, Select, Static
from ectui.widgets.requests import is_request, submitted_text
from ectui.widgets.steps import StepProgress, StepRow, failed_step_marked

if TYPE_CHECKING:
    from ectui.services import ConsoleServices
    from ectui.services.operations.engine import OperationInfo
    from ectui.services.progress import CancelToken, ProgressCallback
    from ectui.services.projects import Amounts
    from ectui.services.resize import ResizePlan
    from ectui.services.vms import VmInfo

RESIZE_FIELDS = {"cpu": "resize-cpu", "ram": "resize-ram", "mode": "resize-mode"}
"""ValidationError.field_id → the widget of the dialog to mark and focus."""

MODE_LABELS = {
    "hot": N_("hot: the VM keeps running"),
    "cold": N_("cold: stop, resize, start"),
}

FALLBACK_STEPS: tuple[tuple[str, str], ...] = (
    ("reserve", N_("Reserve project resources")),
    ("lock", N_("Lock the VM")),
    ("background", N_("Run in the background")),
    ("stop", N_("Stop the VM")),
    ("flavor", N_("Create the new flavor")),
    ("resize", N_("Resize and confirm")),
    ("rollback", N_("On failure: delete the new flavor, release the reservation")),
    ("release", N_("On success: release the difference, delete the old flavor")),
    ("start", N_("Start the VM")),
    ("unlock", N_("Unlock the VM")),
)
"""The ten resize steps, shown until the service's own list (RESIZE_STEPS) is read."""


def resize_steps() -> tuple[tuple[str, str], ...]:
    """The service's ten (code, label) steps (imported lazily: screens load services only when used)."""
    try:
        from ectui.services.resize import RESIZE_STEPS
    except ImportError:  # pragma: no cover - only while the service is being built
        return FALLBACK_STEPS
    return tuple(RESIZE_STEPS)


def spec_text(vcpus: int, ram_gb: int) -> str:
    """'2 vCPU · 4 GB RAM' in the UI language."""
    return _("{cpu} vCPU · {ram} GB RAM").format(cpu=vcpus, ram=ram_gb)


def quota_text(delta: Amounts) -> str:
    """What the resize reserves (before it starts) and releases (after it succeeds)."""
    reserve: list[str] = []
    release: list[str] = []
    for value, unit in ((delta.vcpus, N_("{n} vCPU")), (delta.ram_gb, N_("{n} GB RAM"))):
        if value > 0:
            reserve.append(_(unit).format(n=value))
        elif value < 0:
            release.append(_(unit).format(n=-value))
    parts = []
    if reserve:
        parts.append(_("reserves {amounts} of the project's quota").format(amounts=", ".join(reserve)))
    if release:
        parts.append(_("releases {amounts} after it succeeds").format(amounts=", ".join(release)))
    return _("Quota: {change}").format(change="; ".join(parts) if parts else _("no change"))


def mode_text(plan: ResizePlan) -> str:
    """How the resize runs, and why hot is not offered (when it is not)."""
    lines = []
    if plan.mode == "hot":
        lines.append(_("Hot resize: {name} keeps running.").format(name=plan.vm_name))
    elif plan.will_stop:
        lines.append(
            _("Cold resize: {name} will be stopped, resized and started again.").format(name=plan.vm_name)
        )
    else:
        lines.append(_("Cold resize: {name} is not running; it stays stopped.").format(name=plan.vm_name))
    if not plan.hot_available and plan.hot_reason:
        lines.append(_("Hot resize is not offered: {reason}").format(reason=_(plan.hot_reason)))
    return "\n".join(lines)


def outcome_text(op: OperationInfo | None, job: Job, failed_code: str | None = None) -> str:
    """After a failure: which step failed and why, and what was undone."""
    lines = [job.message] if job.state != "done" else []
    if op is None:
        return "\n".join(lines)
    rows = failed_step_marked([StepRow.of(s) for s in op.steps], op.error, failed_code)
    for step in (s for s in rows if s.state == "failed"):
        reason = f": {_(step.detail)}" if step.detail else ""
        lines.append(_("Failed step: {step}{reason}").format(step=_(step.label), reason=reason))
    undone = [_(s.label) for s in rows if s.state == "compensated"]
    if undone:
        lines.append(_("Undone: {steps}").format(steps="; ".join(undone)))
    if op.state == "failed" and op.error and job.state != "done":
        lines.append(_("Some compensation failed; see the Operations screen."))
    return "\n".join(lines)


def start_resize_job(app: App[Any], services: ConsoleServices, plan: ResizePlan) -> Job:
    """Run the resize as an app job (it outlives the dialog and every screen); tell the operator how it ended."""
    workflow = services.workflow
    target = f"{plan.new_vcpus}C/{plan.new_ram_gb}G"

    async def resize(progress: ProgressCallback, cancel: CancelToken) -> Any:
        # an operator with the workflow module makes a request (RequestInfo) that an admin approves
        outcome = await workflow.submit_or_run(plan, on_progress=progress, cancel=cancel)
        return outcome.request if outcome.submitted else outcome.result

    def done(job: Job) -> None:
        if job.state == "done" and is_request(job.result):
            app.notify(submitted_text(job.result), title=_("Request submitted"), timeout=10)
        elif job.state == "done":
            app.notify(_("{name} resized to {spec}").format(name=plan.vm_name, spec=target))
        else:
            app.notify(
                _("{name} was not resized: {reason}").format(name=plan.vm_name, reason=job.message),
                title=_("Resize failed"),
                severity="error",
                timeout=20,
            )

    title = _("Resize {name} to {spec} ({mode})").format(name=plan.vm_name, spec=target, mode=_(plan.mode))
    return console_app(app).jobs.start(title, resize, on_done=done)


class ResizeVmModal(ShellModal["int | None"]):
    """New CPU and RAM of a VM: shows the quota delta and hot or cold, confirms, then follows the ten steps live.

    Returns the id of the resize job (None when closed before starting). Closing while it runs leaves the
    resize running (it is an app job); the Operations and Jobs screens follow it.
    """

    CSS_PATH = "resize.tcss"
    BINDINGS = [Binding("ctrl+s", "submit", _("Resize"), id="resize_vm.submit")]

    PLAN_DELAY = 0.25
    """Seconds of quiet typing before the plan (quota delta, hot or cold) is asked again."""

    def __init__(self, services: ConsoleServices, vm: VmInfo, *, production: bool = False) -> None:
        super().__init__()
        self.services = services
        self.vm = vm
        self.production = production
        """The VM's cluster is a production one: type the VM name to confirm."""
        self.plan: ResizePlan | None = None
        """The last plan read for the values in the form."""
        self.mode_choice: str | None = None
        """The mode the operator chose (None: hot when available, else cold)."""
        self.job: Job | None = None
        """The resize job, once started."""
        self.before_op: int = 0
        """The newest operation id of this VM before the resize started (to find the resize's own)."""
        self.operation: OperationInfo | None = None
        """The resize's persisted operation, once found."""
        self._plan_timer: Timer | None = None

    # -- layout

    def compose(self) -> ComposeResult:
        vm = self.vm
        with Vertical(classes="modal-box", id="resize-box"):
            yield Label(
                _("Resize {name} · now {spec}").format(name=vm.name, spec=spec_text(vm.vcpus, vm.ram_gb)),
                classes="modal-title",
                id="resize-title",
            )
            with Vertical(id="resize-form"):
                with Horizontal(classes="form-row"):
                    yield Label(_("CPU cores *"))
                    yield Input(str(vm.vcpus), id="resize-cpu", type="integer", max_length=4)
                    yield Static(_("now {n}").format(n=vm.vcpus), classes="resize-hint", markup=False)
                with Horizontal(classes="form-row"):
                    yield Label(_("RAM GB *"))
                    yield Input(str(vm.ram_gb), id="resize-ram", type="integer", max_length=5)
                    yield Static(_("now {n}").format(n=vm.ram_gb), classes="resize-hint", markup=False)
                with Horizontal(classes="form-row"):
                    yield Label(_("Mode"))
                    yield Select(
                        [(_(MODE_LABELS["cold"]), "cold")],
                        value="cold",
                        allow_blank=False,
                        id="resize-mode",
                    )
                yield Static(_("Enter the new CPU and RAM."), id="resize-quota", markup=False)
                yield Static("", id="resize-note", markup=False)
            yield StepProgress(id="resize-steps")
            yield Static(id="resize-error", classes="modal-error", markup=False)
            yield Label(_("Ctrl+S: resize · Esc: cancel"), classes="modal-hint", id="resize-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="resize-cancel")
                yield Button(_("Resize"), id="resize-yes", variant="primary")

    def on_mount(self) -> None:
        self.query_one(StepProgress).display = False
        self.query_one("#resize-cpu", Input).focus()

    # -- values and plan

    def values(self) -> tuple[str, str]:
        """The CPU and RAM typed (as text; the service validates)."""
        return (
            self.query_one("#resize-cpu", Input).value.strip(),
            self.query_one("#resize-ram", Input).value.strip(),
        )

    @property
    def unchanged(self) -> bool:
        """The form still holds the current spec."""
        return self.values() == (str(self.vm.vcpus), str(self.vm.ram_gb))

    @on(Input.Changed, "#resize-cpu")
    @on(Input.Changed, "#resize-ram")
    def spec_changed(self) -> None:
        if self.job is not None:
            return
        if self._plan_timer is not None:
            self._plan_timer.stop()
        self._plan_timer = self.set_timer(self.PLAN_DELAY, self.replan, name="resize-plan")

    @on(Select.Changed, "#resize-mode")
    def mode_changed(self, event: Select.Changed) -> None:
        if self.job is not None or self.plan is None or event.value == self.plan.mode:
            return  # set by the plan itself, not chosen
        self.mode_choice = str(event.value)
        self.replan()

    @work(exclusive=True, group="resize-plan", exit_on_error=False)
    async def replan(self) -> ResizePlan | None:
        """Ask the service for the plan of the typed values: quota delta, hot or cold; refusals on the form."""
        self._plan_timer = None
        if self.job is not None:
            return None
        if self.unchanged:
            self.plan = None
            self.query_one("#resize-quota", Static).update(_("Enter the new CPU and RAM."))
            self.query_one("#resize-note", Static).update("")
            self.clear_error()
            return None
        cpu, ram = self.values()
        try:
            plan = await self.services.resize.plan(self.vm.id, cpu, ram, self.mode_choice)
        except ServiceError as err:
            if self.mode_choice == "hot":  # hot asked but no longer possible: say why, offer cold
                self.mode_choice = None
                self.replan()
                self.query_one("#resize-note", Static).update(render(err))
                return None
            self.plan = None
            self.query_one("#resize-quota", Static).update("")
            mark_field(self, RESIZE_FIELDS, "resize-error", err)
            return None
        self.show_plan(plan)
        return plan

    def show_plan(self, plan: ResizePlan) -> None:
        """Show the quota delta and the mode; offer hot only when the plan says it is available."""
        self.plan = plan
        self.clear_error()
        self.query_one("#resize-quota", Static).update(quota_text(plan.quota_delta))
        self.query_one("#resize-note", Static).update(mode_text(plan))
        select = self.query_one("#resize-mode", Select)
        modes = ("hot", "cold") if plan.hot_available else ("cold",)
        options = [(_(MODE_LABELS[m]), m) for m in modes]
        if [value for _label, value in select._options if value != Select.NULL] != list(modes):
            select.set_options(options)
        if select.value != plan.mode:
            select.value = plan.mode

    def clear_error(self) -> None:
        """Remove the refusal and the marks of a previous check."""
        self.query_one("#resize-error", Static).update("")
        for widget in self.query(".-invalid"):
            widget.remove_class("-invalid")

    # -- submit

    @on(Input.Submitted)
    @on(Button.Pressed, "#resize-yes")
    def action_submit(self) -> None:
        """Check the plan once more (refusals on the form), confirm, then start the resize job."""
        if self.job is None:
            self.check_and_confirm()

    @work(exclusive=True, group="resize-submit", exit_on_error=False)
    async def check_and_confirm(self) -> None:
        cpu, ram = self.values()
        mode = self.query_one("#resize-mode", Select).value
        resize = self.services.resize
        try:
            plan: ResizePlan = await resize.plan(
                self.vm.id, cpu, ram, str(mode) if self.mode_choice else None
            )
            history = await resize.operations(vm_id=self.vm.id, limit=1)
        except ServiceError as err:
            mark_field(self, RESIZE_FIELDS, "resize-error", err)
            return
        self.show_plan(plan)
        self.before_op = max((op.id for op in history), default=0)
        question = self.question(plan)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.start(plan)

        if plan.production or self.production:
            from ectui.widgets.confirm_name import TypeNameConfirmModal

            self.app.push_screen(
                TypeNameConfirmModal(plan.vm_name, question, confirm_label=_("Resize")), callback=confirmed
            )
        elif plan.will_stop:
            self.app.push_screen(
                ConfirmModal(question, confirm_label=_("Stop and resize"), title=_("The VM will be stopped")),
                callback=confirmed,
            )
        else:
            self.start(plan)

    def question(self, plan: ResizePlan) -> str:
        """What the operator confirms."""
        text = _("Resize {name} from {old} to {new} ({mode}).").format(
            name=plan.vm_name,
            old=spec_text(plan.old_vcpus, plan.old_ram_gb),
            new=spec_text(plan.new_vcpus, plan.new_ram_gb),
            mode=_(plan.mode),
        )
        if plan.will_stop:
            text += "\n" + _("{name} will be stopped and started again.").format(name=plan.vm_name)
        return text + "\n" + quota_text(plan.quota_delta)

    def start(self, plan: ResizePlan) -> Job:
        """Start the resize job and follow its steps here while the dialog stays open."""
        self.job = start_resize_job(self.app, self.services, plan)
        self.add_class("-running")
        self.query_one("#resize-form").display = False
        self.query_one("#resize-yes", Button).disabled = True
        steps = self.query_one(StepProgress)
        steps.show_plan(resize_steps())
        steps.display = True
        self.query_one("#resize-title", Label).update(
            _("Resizing {name} to {spec}").format(
                name=plan.vm_name, spec=spec_text(plan.new_vcpus, plan.new_ram_gb)
            )
        )
        self.query_one("#resize-hint", Label).update(
            _("Esc: close (the resize goes on; follow it on the Operations screen)")
        )
        self.query_one("#resize-cancel", Button).label = _("Close")
        self.console.jobs.signal.subscribe(self, self.job_changed)
        self.job_changed(self.job)
        return self.job

    def job_changed(self, job: Job) -> None:
        """Our job moved on: show the step at once, then read the persisted steps (times, skipped, compensated)."""
        if self.job is None or job.id != self.job.id or not self.is_attached:
            return
        self.job = job
        if job.progress is not None:
            self.query_one(StepProgress).advance(job.progress)
        self.load_steps()

    @work(exclusive=True, group="resize-steps", exit_on_error=False)
    async def load_steps(self) -> None:
        """Read the resize's operation from the engine (the authoritative steps)."""
        job = self.job
        if job is None:
            return
        try:
            op = await self.find_operation()
        except ServiceError:
            return  # the next progress reads again
        if op is not None:
            self.operation = op
            self.query_one(StepProgress).show_steps(op.steps, error=op.error, ended=op.state != "running")
        if job.state == "running":
            return
        if job.state == "done" and is_request(job.result):  # waits for an admin's approval
            self.query_one("#resize-error", Static).update("")
            self.query_one("#resize-title", Label).update(submitted_text(job.result))
        elif job.state == "done":
            self.query_one("#resize-error", Static).update("")
            self.query_one("#resize-title", Label).update(_("{name} resized").format(name=self.vm.name))
        else:
            self.query_one("#resize-error", Static).update(outcome_text(op, job, self.steps.failed_code))
        self.query_one("#resize-hint", Label).update(_("Esc: close"))

    async def find_operation(self) -> OperationInfo | None:
        """This resize's operation: the newest resize of the VM started after the dialog's check."""
        if self.operation is not None:
            return await self.services.resize.operation(self.operation.id)
        ops: Sequence[OperationInfo] = await self.services.resize.operations(vm_id=self.vm.id, limit=5)
        return next((op for op in ops if op.kind == "resize" and op.id > self.before_op), None)

    @property
    def steps(self) -> StepProgress:
        """The live step widget."""
        return self.query_one(StepProgress)

    def action_cancel(self) -> None:
        """Close: before the start nothing happens; after, the resize goes on in the background."""
        self.dismiss(self.job.id if self.job is not None else None)
