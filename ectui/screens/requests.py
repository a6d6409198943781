"""Requests (console, licensed module): the approval queue for admins, and each requester's own requests.

Admins approve (the real create or resize runs as an app job, on the quota held since the request) or
reject with a reason; a requester withdraws a pending request. The list polls while the screen is shown
and notifies when a request changes state (a new request for admins, a decision for its requester).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button

from ectui.i18n import N_, _, render
from ectui.screens._base import ConsoleDomainScreen
from ectui.services.errors import ServiceError, ValidationError
from ectui.widgets import ConfirmModal, ShellModal
from ectui.widgets.literal import DataTable, Input, Label, Static
from ectui.widgets.requests import KIND_LABELS
from ectui.widgets.tables import cursor_key, move_to_key

if TYPE_CHECKING:
    from ectui.jobs import Job
    from ectui.services.progress import CancelToken, ProgressCallback
    from ectui.services.workflow import RequestInfo

POLL_SECONDS = 5.0
"""How often the queue is read again while the screen is shown (changes by others are notified)."""
STATE_LABELS = {
    "pending": N_("pending"),
    "approved": N_("approved"),
    "running": N_("running"),
    "done": N_("done"),
    "failed": N_("failed"),
    "rejected": N_("rejected"),
    "cancelled": N_("cancelled"),
}


def state_text(state: str) -> str:
    """The translated state."""
    return _(STATE_LABELS.get(state, state))


class RejectRequestModal(ShellModal["str | None"]):
    """The reason of a rejection (required; the requester reads it)."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Reject"), id="reject_request.submit")]

    def __init__(self, request: RequestInfo) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        r = self.request
        with Vertical(classes="modal-box", id="reject-box"):
            yield Label(_("Reject request {id}").format(id=r.id), classes="modal-title")
            yield Static(f"{r.requested_by} · {r.summary}", id="reject-summary")
            with Horizontal(classes="form-row"):
                yield Label(_("Reason"))
                yield Input(id="reject-reason", max_length=1000)
            yield Static(id="reject-error", classes="modal-error")
            yield Label(_("Ctrl+S: reject · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="reject-cancel")
                yield Button(_("Reject"), id="reject-yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#reject-reason", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#reject-yes")
    def action_submit(self) -> None:
        """Return the reason, or say that it is required."""
        reason = self.query_one("#reject-reason", Input).value.strip()
        if not reason:
            self.query_one("#reject-error", Static).update(
                render(ValidationError("validation.required", field=N_("Reason"), field_id="reason"))
            )
            return
        self.dismiss(reason)


class RequestsScreen(ConsoleDomainScreen):
    """The request queue: admins decide, requesters follow theirs."""

    DOMAIN = "requests"
    CSS_PATH = "requests.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", _("Approve"), id="requests.approve"),
        Binding("ctrl+r", "reject", _("Reject"), id="requests.reject"),
        Binding("ctrl+w", "withdraw", _("Withdraw"), id="requests.withdraw"),
        Binding("r", "refresh", _("Refresh"), id="requests.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RequestInfo] = []
        self.known: dict[int, str] | None = None
        """State of each request at the last read (None before the first: nothing to notify)."""
        self.poller: Timer | None = None

    def compose_content(self) -> ComposeResult:
        yield Label(_("Requests"), classes="section-title", id="requests-title")
        yield DataTable(id="requests-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="requests-detail")

    def on_mount(self) -> None:
        table = self.table
        table.add_column(_("ID"), key="id")
        table.add_column(_("State"), key="state")
        table.add_column(_("Kind"), key="kind")
        table.add_column(_("Request"), key="summary")
        table.add_column(_("By"), key="by")
        table.add_column(_("Project"), key="project")
        table.focus()
        self.poller = self.set_interval(POLL_SECONDS, self.refresh_requests)
        self.refresh_requests()

    def on_screen_suspend(self) -> None:
        if self.poller is not None:
            self.poller.pause()

    def on_screen_resume(self) -> None:
        if self.poller is not None:
            self.poller.resume()
        self.refresh_requests()

    @property
    def table(self) -> DataTable[str]:
        """The requests table."""
        return self.query_one("#requests-table", DataTable)

    @work(exclusive=True, group="requests-refresh", exit_on_error=False)
    async def refresh_requests(self) -> None:
        """Read the requests (an operator's own, or all) and notify what changed since the last read."""
        try:
            who = await self.services.workflow.identity()
            items = await self.services.workflow.list_all()
        except ServiceError as err:
            self.query_one("#requests-detail", Static).update(render(err))
            return
        self.notify_changes(items, who.user, who.role)
        self.show_requests(items, who.user, who.role)

    def notify_changes(self, items: Sequence[RequestInfo], user: str, role: str) -> None:
        """A toast for each request that appeared (admins) or changed state (its requester, and admins)."""
        before = self.known
        self.known = {r.id: r.state for r in items}
        if before is None:
            return
        for r in items:
            old = before.get(r.id)
            if old is None and r.state == "pending" and role == "admin" and r.requested_by != user:
                self.notify(
                    _("New request {id} from {user}: {summary}").format(
                        id=r.id, user=r.requested_by, summary=r.summary
                    ),
                    title=_("Requests"),
                )
            elif old is not None and old != r.state:
                text = _("Request {id} is now {state}").format(id=r.id, state=state_text(r.state))
                if r.reason:
                    text += ": " + r.reason
                elif r.error:
                    text += ": " + r.error
                self.notify(
                    text,
                    title=_("Requests"),
                    severity="error" if r.state in ("failed", "rejected") else "information",
                )

    def show_requests(self, items: Sequence[RequestInfo], user: str, role: str) -> None:
        """Fill the table (keeping the cursor on its request)."""
        self.requests = list(items)
        table = self.table
        keep = cursor_key(table)
        table.clear()
        for r in items:
            table.add_row(
                str(r.id), state_text(r.state), _(KIND_LABELS.get(r.kind, r.kind)), r.summary, r.requested_by,
                r.project, key=str(r.id),
            )  # fmt: skip
        move_to_key(table, keep)
        scope = _("all requests") if role in ("admin", "auditor") else _("your requests")
        self.query_one("#requests-title", Label).update(
            _("Requests ({scope}) · {user}, {role}").format(scope=scope, user=user, role=role)
        )
        self.show_detail()

    @on(DataTable.RowHighlighted, "#requests-table")
    def show_detail(self) -> None:
        """The decision, reason, error and reserved quota of the request under the cursor."""
        r = self.selected()
        detail = self.query_one("#requests-detail", Static)
        if r is None:
            detail.update(_("No requests.") if not self.requests else "")
            return
        lines = [f"#{r.id} {state_text(r.state)} · {r.summary}"]
        if r.decided_by:
            lines.append(_("Decided by {user}").format(user=r.decided_by))
        if r.reason:
            lines.append(_("Reason: {reason}").format(reason=r.reason))
        if r.error:
            lines.append(_("Error: {error}").format(error=r.error))
        held = r.reserved
        if held.vcpus or held.ram_gb or held.vms or held.public_ips:
            lines.append(
                _("Reserved: {vcpus} vCPU, {ram_gb} GB, {vms} VM, {ips} IP").format(
                    vcpus=held.vcpus, ram_gb=held.ram_gb, vms=held.vms, ips=held.public_ips
                )
            )
        detail.update("\n".join(lines))

    def selected(self) -> RequestInfo | None:
        """The request under the cursor."""
        key = cursor_key(self.table)
        return next((r for r in self.requests if str(r.id) == key), None)

    def action_refresh(self) -> None:
        """Read the queue again."""
        self.refresh_requests()

    def action_approve(self) -> None:
        """Approve the request under the cursor (after confirmation): its operation runs now."""
        r = self.selected()
        if r is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.approve(r)

        question = _("Approve request {id} by {user}: {summary}? It runs now.").format(
            id=r.id, user=r.requested_by, summary=r.summary
        )
        self.app.push_screen(ConfirmModal(question, confirm_label=_("Approve")), callback=confirmed)

    def approve(self, request: RequestInfo) -> Job:
        """Run the approval as an app job (the operation outlives this screen)."""
        workflow = self.services.workflow

        async def run(progress: ProgressCallback, cancel: CancelToken) -> RequestInfo:
            return await workflow.approve(request.id, on_progress=progress, cancel=cancel)

        def done(job: Job) -> None:
            if job.state == "done" and job.result is not None:
                result = job.result
                text = _("Request {id} is now {state}").format(id=result.id, state=state_text(result.state))
                if result.error:
                    text += ": " + result.error
                self.app.notify(
                    text, title=_("Requests"), severity="error" if result.state == "failed" else "information"
                )
            else:
                self.app.notify(job.message, title=_("Approval refused"), severity="error", timeout=10)
            if self.is_attached:
                self.refresh_requests()

        job: Job = self.console.jobs.start(_("Approve request {id}").format(id=request.id), run, on_done=done)
        self.refresh_requests()
        return job

    def action_reject(self) -> None:
        """Reject the request under the cursor, with a reason."""
        r = self.selected()
        if r is None:
            return

        def given(reason: str | None) -> None:
            if reason:
                self.reject(r.id, reason)

        self.app.push_screen(RejectRequestModal(r), callback=given)

    @work(group="requests-decide", exit_on_error=False)
    async def reject(self, request_id: int, reason: str) -> None:
        """Reject; refusals (wrong role, no longer pending) are shown."""
        try:
            done = await self.services.workflow.reject(request_id, reason)
        except ServiceError as err:
            self.notify(render(err), title=_("Not rejected"), severity="error", timeout=10)
            return
        self.notify(_("Request {id} rejected").format(id=done.id))
        self.refresh_requests()

    def action_withdraw(self) -> None:
        """Withdraw your own pending request (after confirmation); its reserved quota is freed."""
        r = self.selected()
        if r is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.withdraw(r.id)

        question = _("Withdraw request {id}: {summary}?").format(id=r.id, summary=r.summary)
        self.app.push_screen(ConfirmModal(question, confirm_label=_("Withdraw")), callback=confirmed)

    @work(group="requests-decide", exit_on_error=False)
    async def withdraw(self, request_id: int) -> None:
        """Cancel a pending request of ours."""
        try:
            done = await self.services.workflow.cancel(request_id)
        except ServiceError as err:
            self.notify(render(err), title=_("Not withdrawn"), severity="error", timeout=10)
            return
        self.notify(_("Request {id} withdrawn").format(id=done.id))
        self.refresh_requests()
