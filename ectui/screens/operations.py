"""Operations (console): the history of every persisted operation (create, resize, snapshot …) with its steps.

The list polls the engine while the screen is shown (fast while something runs, slower when all is
finished, backing off after failures) and refreshes at once when an app job moves on; the detail pane
shows the steps of the operation under the cursor, live while it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.timer import Timer

from ectui.i18n import N_, _, render
from ectui.jobs import Job
from ectui.screens._base import ConsoleDomainScreen
from ectui.services.errors import ServiceError
from ectui.widgets.literal import DataTable, Input, Label, Static
from ectui.widgets.steps import StepProgress, duration_text, local_time, span
from ectui.widgets.tables import cursor_key, show_rows

if TYPE_CHECKING:
    from ectui.services.operations.engine import OperationInfo

KIND_LABELS = {
    "create_vm": N_("create VM"),
    "delete_vm": N_("delete VM"),
    "resize": N_("resize"),
    "snapshot_vm": N_("snapshot"),
    "mount_iso": N_("mount ISO"),
    "unmount_iso": N_("unmount ISO"),
    "iso_upload": N_("ISO upload"),
    "image_upload": N_("image upload"),
}
"""Operation kinds in the UI language (an unknown kind is shown as stored)."""

OP_STATE_LABELS = {
    "running": N_("▶ running"),
    "done": N_("✓ done"),
    "failed": N_("✗ failed"),
    "compensated": N_("↺ compensated"),
    "cleanup_pending": N_("⟳ cleanup pending"),
}
"""Operation states: a symbol and a word (readable without colour)."""

COLUMNS = (
    ("id", N_("ID")),
    ("kind", N_("Kind")),
    ("vm", N_("VM")),
    ("state", N_("State")),
    ("started", N_("Started")),
    ("took", N_("Duration")),
    ("by", N_("By")),
)


def kind_label(kind: str) -> str:
    """'resize' → 'resize' / '调整配置'."""
    label = KIND_LABELS.get(kind)
    return _(label) if label else kind


def op_state_label(state: str) -> str:
    """'done' → '✓ done'."""
    label = OP_STATE_LABELS.get(state)
    return _(label) if label else state


class OperationsScreen(ConsoleDomainScreen):
    """Every operation with its steps and outcome; the selected one's steps live while it runs."""

    DOMAIN = "operations"
    CSS_PATH = "operations.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", _("Filter"), id="operations.filter"),
        Binding("r", "refresh", _("Refresh"), id="operations.refresh"),
        Binding("f", "toggle_unfinished", _("Running/failed only"), id="operations.unfinished"),
    ]

    POLL_FAST: ClassVar[float] = 1.0
    """Seconds between reads while an operation runs."""
    POLL_STABLE: ClassVar[float] = 10.0
    """Seconds between reads while every operation is finished."""
    POLL_MAX: ClassVar[float] = 60.0
    """The longest wait after repeated failures (the delay doubles up to this)."""
    LIMIT: ClassVar[int] = 200
    """How many operations (newest first) the list reads."""

    filter_text: reactive[str] = reactive("")
    """Lower-cased filter typed by the operator."""
    unfinished_only: reactive[bool] = reactive(False)
    """Show only running, failed, compensated and cleanup-pending operations."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[OperationInfo] = []
        """The last list read from the service."""
        self.vm_names: dict[int, str] = {}
        """VM id → name (a deleted VM shows as #id)."""
        self.polling = False
        """Whether the live refresh runs (only while the screen is shown)."""
        self.failures = 0
        """Read failures in a row (backoff)."""
        self.poll_delay = 0.0
        """The delay chosen for the next read."""
        self._poll_timer: Timer | None = None

    # -- layout

    def compose_content(self) -> ComposeResult:
        with Horizontal(id="operations-top"):
            yield Label(_("Operations"), classes="section-title", id="operations-title")
            yield Input(placeholder=_("/ filter"), id="operations-filter")
        yield DataTable(id="operations-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="operations-detail"):
            yield Static("", id="operations-summary", markup=False)
            yield StepProgress(id="operations-steps")
            yield Static("", id="operations-error", markup=False)

    def on_mount(self) -> None:
        table = self.table
        for key, label in COLUMNS:
            table.add_column(_(label), key=key)
        table.focus()
        self.console.jobs.signal.subscribe(self, self.job_changed)

    def on_screen_resume(self) -> None:
        self.polling = True
        self.refresh_operations()

    def on_screen_suspend(self) -> None:
        self.polling = False
        self.stop_timer()

    @property
    def table(self) -> DataTable[str]:
        """The operations table."""
        return self.query_one("#operations-table", DataTable)

    @property
    def steps(self) -> StepProgress:
        """The step widget of the detail pane."""
        return self.query_one("#operations-steps", StepProgress)

    # -- live refresh

    def job_changed(self, job: Job) -> None:
        """A job moved on (a resize or create step): read the operations now, while shown."""
        if self.polling and (job.progress is None or job.progress.unit == "steps" or not job.running):
            self.refresh_operations()

    @property
    def moving(self) -> bool:
        """Whether an operation still runs."""
        return any(op.state == "running" for op in self.operations)

    def next_delay(self) -> float:
        """Fast while something runs, slow when all is finished; doubled after each failure."""
        if self.failures:
            return min(self.POLL_STABLE * 2 ** (self.failures - 1), self.POLL_MAX)
        return self.POLL_FAST if self.moving else self.POLL_STABLE

    def stop_timer(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None

    def schedule_poll(self) -> None:
        """Arm the next read (replacing an armed one), only while the screen is shown."""
        self.stop_timer()
        if self.polling:
            self.poll_delay = self.next_delay()
            self._poll_timer = self.set_timer(self.poll_delay, self.poll, name="operations-poll")

    def poll(self) -> None:
        self._poll_timer = None
        if self.polling:
            self.refresh_operations()

    @work(exclusive=True, group="operations-refresh", exit_on_error=False)
    async def refresh_operations(self) -> None:
        """Read the operations (and the VM names), show them, arm the next read."""
        try:
            operations = await self.services.resize.operations(limit=self.LIMIT)
            vms = await self.services.vms.list_all(all_projects=True)
        except ServiceError as err:
            self.failures += 1
            self.query_one("#operations-summary", Static).update(
                _("Refresh failed: {reason} (retrying)").format(reason=render(err))
            )
        else:
            self.failures = 0
            self.operations = list(operations)
            self.vm_names = self.vm_names | {vm.id: vm.name for vm in vms}
            self.show_operations()
        finally:
            self.schedule_poll()

    # -- list

    def vm_text(self, op: OperationInfo) -> str:
        """The VM's name ('#id' when it is gone, '—' when the operation has none)."""
        if op.vm_id is None:
            return "—"
        return self.vm_names.get(op.vm_id, f"#{op.vm_id}")

    def row_cells(self, op: OperationInfo) -> tuple[str, ...]:
        """The cells of one operation."""
        return (
            str(op.id),
            kind_label(op.kind),
            self.vm_text(op),
            op_state_label(op.state),
            local_time(op.created_at, "%m-%d %H:%M:%S"),
            duration_text(span(op.created_at, op.finished_at)),
            op.created_by or "—",
        )

    def shown_operations(self) -> list[OperationInfo]:
        """The operations that pass the filter, newest first."""
        needle = self.filter_text
        out = []
        for op in self.operations:
            if self.unfinished_only and op.state == "done":
                continue
            if needle and not any(
                needle in cell.lower() for cell in (*self.row_cells(op), op.kind, op.state)
            ):
                continue
            out.append(op)
        return out

    def show_operations(self) -> None:
        """Fill the table (rows updated in place when the same operations are shown, so the cursor stays)."""
        table = self.table
        keep = cursor_key(table)
        rows = [(str(op.id), self.row_cells(op)) for op in self.shown_operations()]
        show_rows(table, rows, keep)
        title = _("Operations · {shown} of {total}").format(shown=len(rows), total=len(self.operations))
        if self.unfinished_only:
            title += " · " + _("running/failed only")
        if self.filter_text:
            title += " · " + _("filter: {text}").format(text=self.filter_text)
        self.query_one("#operations-title", Label).update(title)
        self.show_detail()

    def selected(self) -> OperationInfo | None:
        """The operation under the cursor."""
        key = cursor_key(self.table)
        return next((op for op in self.operations if str(op.id) == key), None)

    def select_id(self, op_id: int) -> None:
        """Move the cursor to an operation (for tests and links)."""
        key = str(op_id)
        if key in self.table.rows:
            self.table.move_cursor(row=self.table.get_row_index(key))
            self.show_detail()

    # -- detail

    @on(DataTable.RowHighlighted, "#operations-table")
    def highlighted(self) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        """The steps and outcome of the operation under the cursor."""
        op = self.selected()
        summary = self.query_one("#operations-summary", Static)
        error = self.query_one("#operations-error", Static)
        if op is None:
            summary.update(_("No operation recorded.") if not self.operations else "")
            self.steps.show_steps(())
            error.update("")
            return
        summary.update(
            _("#{id} {kind} · {vm} · {state}").format(
                id=op.id, kind=kind_label(op.kind), vm=self.vm_text(op), state=op_state_label(op.state)
            )
        )
        self.steps.show_steps(op.steps, error=op.error, ended=op.state != "running")
        error.update(op.error)

    # -- filter and actions

    @on(Input.Changed, "#operations-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip().lower()
        self.show_operations()

    @on(Input.Submitted, "#operations-filter")
    def filter_done(self) -> None:
        self.table.focus()

    def action_focus_filter(self) -> None:
        """Type to filter by id, kind, VM, state or operator (Enter goes back to the list)."""
        self.query_one("#operations-filter", Input).focus()

    def action_refresh(self) -> None:
        """Read the operations now."""
        self.refresh_operations()

    def action_toggle_unfinished(self) -> None:
        """Show only the operations that run or did not succeed, or all."""
        self.unfinished_only = not self.unfinished_only
        self.show_operations()
