"""Projects (console): quotas with used and reserved amounts; the operator's current project."""

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
from ectui.widgets.capacity import capacity_bar
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import DataTable, Input, Label, Static
from ectui.widgets.tables import cursor_key, move_to_key

if TYPE_CHECKING:
    from ectui.services.projects import ProjectDraft, ProjectInfo

PROJECT_FIELDS = {
    "name": "project-name",
    "cloud_project": "project-cloud",
    "vcpus": "project-vcpus",
    "ram_gb": "project-ram",
    "vms": "project-vms",
    "public_ips": "project-ips",
}
"""ValidationError.field_id → the widget to mark and focus."""


def quota_cell(used: int, reserved: int, quota: int) -> str:
    """'████░░░░░░  40% 4+2/10': used (+reserved) of the quota."""
    reserved_text = f"+{reserved}" if reserved else ""
    return f"{capacity_bar(used + reserved, quota)} {used}{reserved_text}/{quota}"


class ProjectFormModal(ShellModal["ProjectDraft | None"]):
    """A project's name, cloud project, cluster and quotas."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Save"), id="project_form.submit")]

    def __init__(self, current: ProjectInfo | None = None, clusters: Sequence[str] = ()) -> None:
        super().__init__()
        self.current = current
        self.clusters = list(clusters)

    def compose(self) -> ComposeResult:
        p = self.current
        title = _("New project") if p is None else _("Quota of {name}").format(name=p.name)
        rows = [
            (_("Name"), "project-name", p.name if p else ""),
            (_("Cloud project"), "project-cloud", p.cloud_project if p else ""),
            (
                _("Cluster"),
                "project-cluster",
                (p.cluster or "") if p else (self.clusters[0] if self.clusters else ""),
            ),
            (_("vCPU"), "project-vcpus", str(p.quota.vcpus) if p else ""),
            (_("RAM GB"), "project-ram", str(p.quota.ram_gb) if p else ""),
            (_("VMs"), "project-vms", str(p.quota.vms) if p else ""),
            (_("Public IPs"), "project-ips", str(p.quota.public_ips) if p else "0"),
        ]
        with Vertical(classes="modal-box", id="project-form-box"):
            yield Label(title, classes="modal-title")
            for label, input_id, value in rows:
                with Horizontal(classes="form-row"):
                    yield Label(label)
                    yield Input(value, id=input_id, disabled=p is not None and input_id in (
                        "project-name", "project-cloud", "project-cluster"))  # fmt: skip
            yield Static(id="project-error", classes="modal-error")
            yield Label(_("Ctrl+S: save · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="project-cancel")
                yield Button(_("Save"), id="project-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#project-vcpus" if self.current else "#project-name", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#project-save")
    def action_submit(self) -> None:
        """Validate and return the draft."""
        from ectui.services.projects import ProjectDraft

        def value(input_id: str) -> str:
            return self.query_one(f"#{input_id}", Input).value

        try:
            draft = ProjectDraft.parse(
                name=value("project-name"),
                cloud_project=value("project-cloud"),
                cluster=value("project-cluster"),
                vcpus=value("project-vcpus"),
                ram_gb=value("project-ram"),
                vms=value("project-vms"),
                public_ips=value("project-ips"),
            )
        except ServiceError as err:
            mark_field(self, PROJECT_FIELDS, "project-error", err)
            return
        self.dismiss(draft)


class ProjectsScreen(ConsoleDomainScreen):
    """Projects with their quota use; the current one is marked."""

    DOMAIN = "projects"
    CSS_PATH = "projects.tcss"
    BINDINGS = [
        Binding("n", "new_project", _("New"), id="projects.new"),
        Binding("u", "use_project", _("Use"), id="projects.use"),
        Binding("q", "edit_quota", _("Quota"), id="projects.quota"),
        Binding("ctrl+d", "delete_project", _("Delete"), id="projects.delete"),
        Binding("r", "refresh", _("Refresh"), id="projects.refresh", show=False),
    ]

    def compose_content(self) -> ComposeResult:
        yield Label(_("Projects"), classes="section-title")
        yield DataTable(id="projects-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.table
        table.add_column("", key="current")
        table.add_column(_("Project"), key="name")
        table.add_column(_("Cluster"), key="cluster")
        table.add_column("vCPU", key="vcpus")
        table.add_column(_("RAM GB"), key="ram")
        table.add_column("VMs", key="vms")
        table.add_column(_("Public IPs"), key="ips")
        table.focus()
        self.refresh_projects()

    @property
    def table(self) -> DataTable[str]:
        """The projects table."""
        return self.query_one("#projects-table", DataTable)

    @work(exclusive=True, group="projects-refresh", exit_on_error=False)
    async def refresh_projects(self, select: str | None = None) -> None:
        """Reload projects and the current one."""
        projects = await self.services.projects.list_all()
        current = await self.services.projects.current()
        self.show_projects(projects, current.name if current else None, select=select)

    def show_projects(
        self, projects: Sequence[ProjectInfo], current: str | None, *, select: str | None = None
    ) -> None:
        """Fill the table."""
        table = self.table
        keep = select or self.selected_name()
        table.clear()
        for p in projects:
            table.add_row(
                "●" if p.name == current else "",
                p.name,
                p.cluster or "—",
                quota_cell(p.used.vcpus, p.reserved.vcpus, p.quota.vcpus),
                quota_cell(p.used.ram_gb, p.reserved.ram_gb, p.quota.ram_gb),
                quota_cell(p.used.vms, p.reserved.vms, p.quota.vms),
                quota_cell(p.used.public_ips, p.reserved.public_ips, p.quota.public_ips),
                key=p.name,
            )
        move_to_key(table, keep)

    def selected_name(self) -> str | None:
        """The project under the cursor."""
        return cursor_key(self.table)

    def action_refresh(self) -> None:
        """Reload."""
        self.refresh_projects()

    def action_new_project(self) -> None:
        """Open the new-project form."""
        self.open_form(None)

    def action_edit_quota(self) -> None:
        """Edit the quota of the project under the cursor."""
        name = self.selected_name()
        if name is not None:
            self.open_form(name)

    @opens_screen
    @work(exclusive=True, group="projects-form", exit_on_error=False)
    async def open_form(self, name: str | None) -> None:
        current = await self.services.projects.get(name) if name else None
        clusters = [c.name for c in await self.services.clusters.list_all()]

        def submitted(draft: ProjectDraft | None) -> None:
            if draft is not None:
                self.save_project(current.name if current else None, draft)

        self.app.push_screen(ProjectFormModal(current, clusters), callback=submitted)

    @work(group="projects-save", exit_on_error=False)
    async def save_project(self, existing: str | None, draft: ProjectDraft) -> None:
        """Create a project or change its quota; refusals are shown."""
        try:
            if existing is None:
                info = await self.services.projects.add(draft)
                if await self.services.projects.current() is None:
                    await self.services.projects.use(info.name)
            else:
                info = await self.services.projects.set_quota(existing, draft.quota)
        except ServiceError as err:
            self.notify(render(err), title=_("Project not saved"), severity="error", timeout=10)
            return
        self.notify(_("Project {name} saved").format(name=info.name))
        self.refresh_projects(select=info.name)
        self.console.refresh_status()

    def action_use_project(self) -> None:
        """Make the project under the cursor the current one."""
        name = self.selected_name()
        if name is not None:
            self.use_project(name)

    @work(group="projects-save", exit_on_error=False)
    async def use_project(self, name: str) -> None:
        await self.services.projects.use(name)
        self.console.project = name
        self.refresh_projects(select=name)

    def action_delete_project(self) -> None:
        """Delete the project under the cursor, after confirmation."""
        name = self.selected_name()
        if name is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete_project(name)

        self.app.push_screen(ConfirmModal(_("Delete project {name}?").format(name=name)), callback=confirmed)

    @work(group="projects-save", exit_on_error=False)
    async def delete_project(self, name: str) -> None:
        try:
            await self.services.projects.delete(name)
        except ServiceError as err:
            self.notify(render(err), title=_("Project not deleted"), severity="error", timeout=10)
            return
        self.notify(_("Project {name} deleted").format(name=name))
        self.refresh_projects()
        self.console.refresh_status()
