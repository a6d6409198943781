"""Jobs (console): running and finished background jobs with live progress; cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding

from ectui.i18n import N_, _
from ectui.jobs import Job, progress_text
from ectui.screens._base import ConsoleDomainScreen
from ectui.widgets import ConfirmModal
from ectui.widgets.capacity import capacity_bar
from ectui.widgets.literal import DataTable, Label
from ectui.widgets.tables import cursor_key

if TYPE_CHECKING:
    from ectui.jobs import Jobs

STATE_LABELS = {
    "running": N_("running"),
    "done": N_("done"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
}


class JobsScreen(ConsoleDomainScreen):
    """Background jobs of this session: uploads and syncs keep going while the operator works elsewhere."""

    DOMAIN = "jobs"
    CSS_PATH = "jobs.tcss"
    BINDINGS = [Binding("ctrl+x", "cancel_job", _("Cancel job"), id="jobs.cancel")]

    def compose_content(self) -> ComposeResult:
        yield Label(_("Jobs"), classes="section-title")
        yield DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.table
        table.add_column(_("Job"), key="title")
        table.add_column(_("State"), key="state")
        table.add_column(_("Progress"), key="bar")
        table.add_column(_("Detail"), key="detail")
        table.focus()
        for job in reversed(self.jobs.all()):
            self.show_job(job)
        self.jobs.signal.subscribe(self, self.show_job)

    @property
    def jobs(self) -> Jobs:
        """The app's jobs."""
        return self.console.jobs

    @property
    def table(self) -> DataTable[str]:
        """The jobs table."""
        return self.query_one("#jobs-table", DataTable)

    def show_job(self, job: Job) -> None:
        """Add or update the row of a job (newest on top)."""
        table = self.table
        fraction = job.progress.fraction if job.progress else None
        bar = capacity_bar(round((fraction or 0) * 1000), 1000) if fraction is not None else ""
        if job.state == "done" and not bar:
            bar = capacity_bar(1, 1)
        cells = (
            job.title,
            _(STATE_LABELS.get(job.state, job.state)),
            bar,
            job.message or progress_text(job.progress),
        )
        key = str(job.id)
        if key in table.rows:
            for column, value in zip(("title", "state", "bar", "detail"), cells, strict=True):
                table.update_cell(key, column, value)
        else:
            table.add_row(*cells, key=key)
            table.move_cursor(row=table.row_count - 1)

    def selected_job(self) -> Job | None:
        """The job under the cursor."""
        key = cursor_key(self.table)
        return self.jobs.get(int(key)) if key is not None else None

    def action_cancel_job(self) -> None:
        """Cancel the job under the cursor, after confirmation."""
        job = self.selected_job()
        if job is None or not job.running:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.jobs.cancel(job.id)

        self.app.push_screen(
            ConfirmModal(
                _("Cancel {title}? What it made so far is removed.").format(title=job.title),
                confirm_label=_("Cancel job"),
            ),
            callback=confirmed,
        )
