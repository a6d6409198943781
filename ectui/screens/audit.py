"""Audit log (console): who changed what, when, with which result; filter by time, user and action; CSV export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal

from ectui.i18n import N_, _, ngettext, render
from ectui.screens._base import ConsoleDomainScreen
from ectui.services.errors import ServiceError
from ectui.widgets.csv_export import CsvExportModal
from ectui.widgets.literal import DataTable, Input, Label, Static

if TYPE_CHECKING:
    from ectui.services.audit import AuditFilter, AuditRecord

RESULT_LABELS = {
    "ok": N_("ok"),
    "refused": N_("refused"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
}
"""Untranslated labels of audit results (translated when shown)."""


class ExportAuditModal(CsvExportModal):
    """Writes the entries the filter selects as CSV."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Export"), id="audit_export.submit")]


class AuditScreen(ConsoleDomainScreen):
    """The audit log, newest first, filtered by since / who / action (Enter in a filter applies it)."""

    DOMAIN = "audit"
    CSS_PATH = "audit.tcss"
    BINDINGS = [
        Binding("f", "focus_filter", _("Filter"), id="audit.filter"),
        Binding("e", "export", _("Export CSV"), id="audit.export"),
        Binding("r", "refresh", _("Refresh"), id="audit.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.audit_filter: AuditFilter | None = None
        """The filter applied to the table (None: everything)."""

    def compose_content(self) -> ComposeResult:
        yield Label(_("Audit log"), classes="section-title")
        with Horizontal(id="audit-filters"):
            yield Input(id="audit-since", placeholder=_("since (2030-06-01)"))
            yield Input(id="audit-who", placeholder=_("who"))
            yield Input(id="audit-action", placeholder=_("action (vm, vm.create)"))
        yield Static(id="audit-status")
        yield Static(id="audit-chain")
        yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.table
        table.add_column(_("Time (UTC)"), key="at")
        table.add_column(_("Who"), key="who")
        table.add_column(_("Role"), key="role")
        table.add_column(_("Action"), key="action")
        table.add_column(_("Target"), key="target")
        table.add_column(_("Result"), key="result")
        table.add_column(_("Detail"), key="detail")
        table.focus()
        self.refresh_log()

    def on_screen_resume(self) -> None:
        self.refresh_log()

    @property
    def table(self) -> DataTable[str]:
        """The entries table."""
        return self.query_one("#audit-table", DataTable)

    def action_focus_filter(self) -> None:
        """Move to the filter fields."""
        self.query_one("#audit-since", Input).focus()

    def action_refresh(self) -> None:
        """Reload."""
        self.refresh_log()

    @on(Input.Submitted, "#audit-filters Input")
    def apply_filter(self) -> None:
        """Read the filter fields and reload."""
        from ectui.services.audit import AuditFilter

        status = self.query_one("#audit-status", Static)
        try:
            self.audit_filter = AuditFilter.parse(
                since=self.query_one("#audit-since", Input).value,
                who=self.query_one("#audit-who", Input).value,
                action=self.query_one("#audit-action", Input).value,
            )
        except ServiceError as err:
            status.update(render(err))
            return
        self.table.focus()
        self.refresh_log()

    @work(exclusive=True, group="audit-refresh", exit_on_error=False)
    async def refresh_log(self) -> None:
        """Load the entries the filter selects."""
        status = self.query_one("#audit-status", Static)
        try:
            records = await self.services.audit.list_all(self.audit_filter)
        except ServiceError as err:
            self.table.clear()
            status.update(render(err))
            return
        self.show_records(records)
        status.update(ngettext("{n} entry", "{n} entries", len(records)).format(n=len(records)))
        verdict = await self.services.audit.verify()
        chain = self.query_one("#audit-chain", Static)
        chain.set_class(not verdict.intact, "-broken")
        chain.update(
            render(verdict.error)
            if verdict.error is not None
            else _("Hash chain intact ({n} checked).").format(n=verdict.entries)
        )

    def show_records(self, records: Sequence[AuditRecord]) -> None:
        """Fill the table."""
        table = self.table
        table.clear()
        for r in records:
            table.add_row(
                r.at.strftime("%Y-%m-%d %H:%M:%S"),
                r.who,
                r.role,
                r.action,
                r.target,
                _(RESULT_LABELS.get(r.result, r.result)),
                r.detail,
                key=str(r.id),
            )

    def action_export(self) -> None:
        """Write the entries shown as CSV."""
        from ectui.services.audit import AuditFilter

        default = Path.home() / f"ectui-audit-{dt.date.today():%Y%m%d}.csv"

        def written(path: Path | None) -> None:
            if path is not None:
                self.notify(_("CSV written to {path}").format(path=path))

        audit, audit_filter = self.services.audit, self.audit_filter or AuditFilter()

        def write(path: str) -> Awaitable[Path]:
            return audit.export_csv(path, audit_filter)

        self.app.push_screen(
            ExportAuditModal(_("Export the audit log as CSV"), write, default, prefix="audit"),
            callback=written,
        )
