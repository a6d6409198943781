"""Clusters (console): add/edit/remove from clouds.yaml or credentials, test, FTP settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from ectui.i18n import _, render
from ectui.screens._base import ConsoleDomainScreen, opens_screen
from ectui.services.errors import ServiceError
from ectui.widgets import ConfirmModal, ShellModal
from ectui.widgets.cluster_form import STORAGE_LABELS, ClusterFormModal
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import DataTable, Input, Label, Static
from ectui.widgets.tables import cursor_key, move_to_key

if TYPE_CHECKING:
    from ectui.services.clusters import ClusterDraft, ClusterInfo, FtpDraft


FTP_FIELDS = {
    "host": "ftp-host",
    "port": "ftp-port",
    "username": "ftp-user",
    "password": "ftp-password",
    "iso_dir": "ftp-dir",
}
"""ValidationError.field_id → the widget to mark and focus."""


class FtpFormModal(ShellModal["FtpDraft | None"]):
    """FTP server of a cluster (host, port, user, password, ISO directory)."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Save"), id="ftp_form.submit")]

    def __init__(self, cluster: ClusterInfo) -> None:
        super().__init__()
        self.cluster = cluster

    def compose(self) -> ComposeResult:
        host, port, user, directory = "", "21", "", "/"
        if self.cluster.ftp:
            user, _sep, rest = self.cluster.ftp.partition("@")
            hostport, _sep, directory = rest.partition("/")
            host, _sep, port = hostport.rpartition(":")
            directory = "/" + directory
        with Vertical(classes="modal-box", id="ftp-form-box"):
            yield Label(_("FTP server of {name}").format(name=self.cluster.name), classes="modal-title")
            for label, input_id, value, secret in (
                (_("Host"), "ftp-host", host, False),
                (_("Port"), "ftp-port", port, False),
                (_("User"), "ftp-user", user, False),
                (_("Password"), "ftp-password", "", True),
                (_("ISO directory"), "ftp-dir", directory, False),
            ):
                with Horizontal(classes="form-row"):
                    yield Label(label)
                    yield Input(value, id=input_id, password=secret)
            yield Static(id="ftp-error", classes="modal-error")
            yield Label(_("Ctrl+S: save · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="ftp-cancel")
                yield Button(_("Save"), id="ftp-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ftp-host", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ftp-save")
    def action_submit(self) -> None:
        """Return the validated FTP settings."""
        from ectui.services.clusters import FtpDraft

        def value(input_id: str) -> str:
            return self.query_one(f"#{input_id}", Input).value

        try:
            draft = FtpDraft.parse(
                host=value("ftp-host"),
                port=value("ftp-port"),
                username=value("ftp-user"),
                password=value("ftp-password"),
                iso_dir=value("ftp-dir"),
            )
        except ServiceError as err:
            mark_field(self, FTP_FIELDS, "ftp-error", err)
            return
        self.dismiss(draft)


class ClustersScreen(ConsoleDomainScreen):
    """The OpenStack clusters this console manages."""

    DOMAIN = "clusters"
    CSS_PATH = "clusters.tcss"
    BINDINGS = [
        Binding("n", "new_cluster", _("New"), id="clusters.new"),
        Binding("e", "edit_cluster", _("Edit"), id="clusters.edit"),
        Binding("t", "test_cluster", _("Test"), id="clusters.test"),
        Binding("f", "ftp_settings", _("FTP"), id="clusters.ftp"),
        Binding("s", "sync_nodes", _("Sync nodes"), id="clusters.sync"),
        Binding("ctrl+d", "remove_cluster", _("Remove"), id="clusters.remove"),
        Binding("r", "refresh", _("Refresh"), id="clusters.refresh", show=False),
    ]

    def compose_content(self) -> ComposeResult:
        yield Label(_("Clusters"), classes="section-title")
        yield DataTable(id="clusters-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="clusters-verdict", markup=False)

    def on_mount(self) -> None:
        table = self.table
        table.add_column(_("Name"), key="name")
        table.add_column(_("Source"), key="source")
        table.add_column(_("Project"), key="project")
        table.add_column(_("Storage"), key="storage")
        table.add_column(_("Nodes"), key="nodes")
        table.add_column("FTP", key="ftp")
        table.add_column(_("Production"), key="production")
        table.focus()
        self.refresh_clusters()

    @property
    def table(self) -> DataTable[str]:
        """The clusters table."""
        return self.query_one("#clusters-table", DataTable)

    @work(exclusive=True, group="clusters-refresh", exit_on_error=False)
    async def refresh_clusters(self, select: str | None = None) -> None:
        """Reload the list, keeping the cursor on the same cluster (or on `select`)."""
        self.show_clusters(await self.services.clusters.list_all(), select=select)

    def show_clusters(self, clusters: Sequence[ClusterInfo], *, select: str | None = None) -> None:
        """Fill the table."""
        table = self.table
        keep = select or self.selected_name()
        table.clear()
        for c in clusters:
            table.add_row(
                c.name,
                c.source,
                c.project or "—",
                _(STORAGE_LABELS.get(c.storage_mode, c.storage_mode)),
                str(c.node_count),
                c.ftp or "—",
                _("yes") if c.production else "",
                key=c.name,
            )
        move_to_key(table, keep)

    def selected_name(self) -> str | None:
        """The cluster under the cursor."""
        return cursor_key(self.table)

    def action_refresh(self) -> None:
        """Reload the list."""
        self.refresh_clusters()

    def action_new_cluster(self) -> None:
        """Open the new-cluster form."""

        def submitted(draft: ClusterDraft | None) -> None:
            if draft is not None:
                self.save_cluster(None, draft)

        self.app.push_screen(ClusterFormModal(self.services.clusters), callback=submitted)

    def action_edit_cluster(self) -> None:
        """Open the form of the cluster under the cursor."""
        name = self.selected_name()
        if name is not None:
            self.open_edit(name)

    @opens_screen
    @work(exclusive=True, group="clusters-form", exit_on_error=False)
    async def open_edit(self, name: str) -> None:
        current = await self.services.clusters.get(name)

        def submitted(draft: ClusterDraft | None) -> None:
            if draft is not None:
                self.save_cluster(current.name, draft)

        self.app.push_screen(ClusterFormModal(self.services.clusters, current), callback=submitted)

    @work(group="clusters-save", exit_on_error=False)
    async def save_cluster(self, old_name: str | None, draft: ClusterDraft) -> None:
        """Add or update a cluster; refusals (license limits, duplicates) are shown."""
        try:
            if old_name is None:
                info = await self.services.clusters.add(draft)
            else:
                info = await self.services.clusters.update(old_name, draft)
        except ServiceError as err:
            self.notify(render(err), title=_("Cluster not saved"), severity="error", timeout=10)
            return
        self.notify(_("Cluster {name} saved").format(name=info.name))
        self.refresh_clusters(select=info.name)
        self.console.refresh_status()

    def action_test_cluster(self) -> None:
        """Test the connection of the cluster under the cursor."""
        name = self.selected_name()
        if name is not None:
            self.test_cluster(name)

    @work(exclusive=True, group="clusters-test", exit_on_error=False)
    async def test_cluster(self, name: str) -> None:
        """Authenticate, check the catalog, and the FTP server when set; show the verdict."""
        verdict_line = self.query_one("#clusters-verdict", Static)
        verdict_line.update(_("Testing {name}…").format(name=name))
        info = await self.services.clusters.get(name)
        verdict = await self.services.clusters.test(name)
        lines = [
            _("Cloud: OK ({services})").format(services=", ".join(verdict.services))
            if verdict.ok
            else _("Cloud: FAILED: {reason}").format(
                reason=render(verdict.error) if verdict.error else verdict.verdict
            )
        ]
        if info.ftp:
            ftp = await self.services.clusters.test_ftp(name)
            lines.append(
                _("FTP: OK ({count} ISO files)").format(count=ftp.iso_count)
                if ftp.ok
                else _("FTP: FAILED: {reason}").format(reason=render(ftp.error) if ftp.error else ftp.verdict)
            )
        verdict_line.update(f"{name}: " + " · ".join(lines))

    def action_ftp_settings(self) -> None:
        """Edit the FTP server of the cluster under the cursor."""
        name = self.selected_name()
        if name is not None:
            self.open_ftp(name)

    @opens_screen
    @work(exclusive=True, group="clusters-form", exit_on_error=False)
    async def open_ftp(self, name: str) -> None:
        current = await self.services.clusters.get(name)

        def submitted(draft: FtpDraft | None) -> None:
            if draft is not None:
                self.save_ftp(name, draft)

        self.app.push_screen(FtpFormModal(current), callback=submitted)

    @work(group="clusters-save", exit_on_error=False)
    async def save_ftp(self, name: str, draft: FtpDraft) -> None:
        try:
            await self.services.clusters.set_ftp(name, draft)
        except ServiceError as err:
            self.notify(render(err), title=_("FTP settings not saved"), severity="error", timeout=10)
            return
        self.notify(_("FTP settings of {name} saved").format(name=name))
        self.refresh_clusters(select=name)

    def action_sync_nodes(self) -> None:
        """Sync the compute nodes of the cluster under the cursor."""
        name = self.selected_name()
        if name is not None:
            self.sync_nodes(name)

    @work(exclusive=True, group="clusters-sync", exit_on_error=False)
    async def sync_nodes(self, name: str) -> None:
        """Copy hypervisors from the cloud (the license node limit applies)."""
        self.table.loading = True
        try:
            result = await self.services.clusters.sync_nodes(name)
        except ServiceError as err:
            self.notify(render(err), title=_("Nodes not synced"), severity="error", timeout=10)
            return
        finally:
            self.table.loading = False
        self.notify(
            _("{cluster}: {added} added, {updated} updated, {gone} gone.").format(
                cluster=result.cluster, added=result.added, updated=result.updated, gone=result.gone
            )
        )
        self.refresh_clusters(select=name)
        self.console.refresh_status()

    def action_remove_cluster(self) -> None:
        """Forget the cluster under the cursor, after confirmation."""
        name = self.selected_name()
        if name is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.remove_cluster(name)

        self.app.push_screen(
            ConfirmModal(
                _(
                    "Remove cluster {name}? The console forgets it, its FTP settings and nodes; "
                    "nothing in the cloud is touched."
                ).format(name=name),
                confirm_label=_("Remove"),
            ),
            callback=confirmed,
        )

    @work(group="clusters-save", exit_on_error=False)
    async def remove_cluster(self, name: str) -> None:
        try:
            await self.services.clusters.remove(name)
        except ServiceError as err:
            self.notify(render(err), title=_("Cluster not removed"), severity="error", timeout=10)
            return
        self.notify(_("Cluster {name} removed").format(name=name))
        self.refresh_clusters()
        self.console.refresh_status()
