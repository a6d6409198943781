"""Compute nodes (console): hypervisors of every cluster with capacity bars; sync."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding

from ectui.i18n import _
from ectui.screens._base import ConsoleDomainScreen
from ectui.widgets.capacity import capacity_bar
from ectui.widgets.literal import DataTable, Input, Label

if TYPE_CHECKING:
    from ectui.services.clusters import NodeInfo


class NodesScreen(ConsoleDomainScreen):
    """Compute nodes of all clusters, as last synced."""

    DOMAIN = "nodes"
    CSS_PATH = "nodes.tcss"
    BINDINGS = [
        Binding("s", "sync_all", _("Sync all clusters"), id="nodes.sync"),
        Binding("slash", "filter", _("Filter"), id="nodes.filter"),
        Binding("r", "refresh", _("Refresh"), id="nodes.refresh", show=False),
    ]

    def compose_content(self) -> ComposeResult:
        yield Label(_("Compute nodes"), classes="section-title")
        yield Input(placeholder=_("filter by cluster, node or zone"), id="nodes-filter")
        yield DataTable(id="nodes-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.nodes: list[NodeInfo] = []
        table = self.table
        table.add_column(_("Cluster"), key="cluster")
        table.add_column(_("Node"), key="node")
        table.add_column(_("Zone"), key="zone")
        table.add_column(_("State"), key="state")
        table.add_column(_("vCPU used"), key="vcpu")
        table.add_column(_("RAM used"), key="ram")
        table.add_column(_("VMs"), key="vms")
        table.focus()
        self.refresh_nodes()

    @property
    def table(self) -> DataTable[str]:
        """The nodes table."""
        return self.query_one("#nodes-table", DataTable)

    @work(exclusive=True, group="nodes-refresh", exit_on_error=False)
    async def refresh_nodes(self) -> None:
        """Reload the nodes from the database."""
        self.nodes = await self.services.clusters.list_nodes()
        self.show_nodes(self.nodes)

    def show_nodes(self, nodes: Sequence[NodeInfo]) -> None:
        """Fill the table with the nodes that match the filter."""
        needle = self.query_one("#nodes-filter", Input).value.strip().lower()
        table = self.table
        table.clear()
        for n in nodes:
            if needle and needle not in f"{n.cluster} {n.name} {n.zone}".lower():
                continue
            table.add_row(
                n.cluster,
                n.name,
                n.zone or "—",
                n.state if n.present else _("gone"),
                f"{capacity_bar(n.vcpus_used, n.vcpus)} {n.vcpus_used}/{n.vcpus}",
                f"{capacity_bar(n.memory_mb_used, n.memory_mb)} {n.memory_mb_used // 1024}/{n.memory_mb // 1024}G",
                str(n.running_vms),
                key=f"{n.cluster}/{n.name}",
            )

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "nodes-filter":
            self.show_nodes(self.nodes)

    def action_filter(self) -> None:
        """Focus the filter."""
        self.query_one("#nodes-filter", Input).focus()

    def action_refresh(self) -> None:
        """Reload the list."""
        self.refresh_nodes()

    def action_sync_all(self) -> None:
        """Sync the nodes of every cluster."""
        self.sync_all()

    @work(exclusive=True, group="nodes-sync", exit_on_error=False)
    async def sync_all(self) -> None:
        """Copy hypervisors from every cluster; a refused cluster is reported and the others go on."""
        self.table.loading = True
        try:
            await self.sync_each_cluster(self.services.clusters.sync_nodes, _("{name}: nodes not synced"))
        finally:
            self.table.loading = False
        self.refresh_nodes()
        self.console.refresh_status()
