"""ISO files (console): sync from the cluster's FTP share, resumable uploads as jobs, enable/disable, edit, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from ectui.i18n import N_, _, render
from ectui.jobs import Job, human_bytes
from ectui.screens._base import ConsoleDomainScreen, opens_screen
from ectui.services.errors import ServiceError
from ectui.widgets import ConfirmModal, PathInput, ShellModal
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import DataTable, Input, Label, Static
from ectui.widgets.tables import cursor_id, move_to_key

if TYPE_CHECKING:
    from ectui.services.isos import IsoEdit, IsoInfo, IsoUploadRequest, UploadInfo

SOURCE_LABELS = {"synced": N_("synced"), "uploaded": N_("uploaded")}

UPLOAD_FIELDS = {"path": "iso-path", "name": "iso-name", "os_type": "iso-os-type", "cluster": "iso-path"}
"""ValidationError.field_id → the widget to mark and focus."""
EDIT_FIELDS = {"name": "iso-edit-name", "os_type": "iso-edit-os-type", "description": "iso-edit-description"}
"""ValidationError.field_id → the widget to mark and focus."""


class UploadIsoModal(ShellModal["IsoUploadRequest | None"]):
    """A local ISO to upload: path (with completion), display name, OS type."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Upload"), id="iso_upload.submit")]

    def __init__(self, cluster: str) -> None:
        super().__init__()
        self.cluster = cluster

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="iso-upload-box"):
            yield Label(
                _("Upload an ISO file to {cluster}").format(cluster=self.cluster), classes="modal-title"
            )
            with Horizontal(classes="form-row"):
                yield Label(_("File"))
                yield PathInput(id="iso-path", placeholder=_("path of a local .iso file"))
            with Horizontal(classes="form-row"):
                yield Label(_("Name"))
                yield Input(id="iso-name", placeholder=_("default: the file name"))
            with Horizontal(classes="form-row"):
                yield Label(_("OS type"))
                yield Input(id="iso-os-type", placeholder="linux, windows, other")
            yield Static(id="iso-upload-error", classes="modal-error")
            yield Label(_("Tab: complete the path · Ctrl+S: upload · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="iso-upload-cancel")
                yield Button(_("Upload"), id="iso-upload-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#iso-path", PathInput).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#iso-upload-save")
    def action_submit(self) -> None:
        """Return the validated request."""
        from ectui.services.isos import IsoUploadRequest

        try:
            request = IsoUploadRequest.parse(
                path=self.query_one("#iso-path", PathInput).value,
                cluster=self.cluster,
                name=self.query_one("#iso-name", Input).value,
                os_type=self.query_one("#iso-os-type", Input).value,
            )
        except ServiceError as err:
            mark_field(self, UPLOAD_FIELDS, "iso-upload-error", err)
            return
        self.dismiss(request)


class EditIsoModal(ShellModal["IsoEdit | None"]):
    """An ISO's display name, OS type and description."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Save"), id="iso_edit.submit")]

    def __init__(self, iso: IsoInfo) -> None:
        super().__init__()
        self.iso = iso

    def compose(self) -> ComposeResult:
        i = self.iso
        with Vertical(classes="modal-box", id="iso-edit-box"):
            yield Label(_("Edit ISO {file}").format(file=i.file_name), classes="modal-title")
            for label, input_id, value in (
                (_("Name"), "iso-edit-name", i.name),
                (_("OS type"), "iso-edit-os-type", i.os_type),
                (_("Description"), "iso-edit-description", i.description),
            ):
                with Horizontal(classes="form-row"):
                    yield Label(label)
                    yield Input(value, id=input_id)
            yield Static(id="iso-edit-error", classes="modal-error")
            yield Label(_("Ctrl+S: save · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="iso-edit-cancel")
                yield Button(_("Save"), id="iso-edit-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#iso-edit-name", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#iso-edit-save")
    def action_submit(self) -> None:
        """Return the validated changes."""
        from ectui.services.isos import IsoEdit

        try:
            changes = IsoEdit.parse(
                name=self.query_one("#iso-edit-name", Input).value,
                os_type=self.query_one("#iso-edit-os-type", Input).value,
                description=self.query_one("#iso-edit-description", Input).value,
            )
        except ServiceError as err:
            mark_field(self, EDIT_FIELDS, "iso-edit-error", err)
            return
        self.dismiss(changes)


class ResumeUploadsModal(ShellModal["tuple[str, int] | None"]):
    """Interrupted uploads: resume one (enter) or discard it (ctrl+d)."""

    BINDINGS = [
        Binding("enter", "resume", _("Resume"), id="iso_uploads.resume", priority=True),
        Binding("ctrl+d", "discard", _("Discard"), id="iso_uploads.discard"),
    ]

    def __init__(self, uploads: Sequence[UploadInfo]) -> None:
        super().__init__()
        self.uploads = list(uploads)

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="iso-uploads-box"):
            yield Label(_("Interrupted uploads"), classes="modal-title")
            yield DataTable(id="iso-uploads-table", cursor_type="row")
            yield Label(_("Enter: resume · Ctrl+D: discard · Esc: close"), classes="modal-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(_("File"), _("Cluster"), _("Sent"), _("Local file"))
        for u in self.uploads:
            table.add_row(
                u.file_name,
                u.cluster,
                f"{u.percent}% · {human_bytes(u.sent)} / {human_bytes(u.size)}",
                u.local_path,
                key=str(u.id),
            )
        table.focus()

    def selected(self) -> int | None:
        """The upload under the cursor."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return int(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    def action_resume(self) -> None:
        """Resume the upload under the cursor."""
        upload_id = self.selected()
        if upload_id is not None:
            self.dismiss(("resume", upload_id))

    def action_discard(self) -> None:
        """Discard the upload under the cursor (the screen asks first)."""
        upload_id = self.selected()
        if upload_id is not None:
            self.dismiss(("discard", upload_id))


class IsosScreen(ConsoleDomainScreen):
    """ISO files of the current cluster's FTP share."""

    DOMAIN = "isos"
    CSS_PATH = "isos.tcss"
    BINDINGS = [
        Binding("s", "sync", _("Sync"), id="isos.sync"),
        Binding("u", "upload", _("Upload"), id="isos.upload"),
        Binding("e", "edit", _("Edit"), id="isos.edit"),
        Binding("t", "toggle_enabled", _("Enable/disable"), id="isos.toggle"),
        Binding("r", "resume", _("Resume uploads"), id="isos.resume"),
        Binding("c", "next_cluster", _("Next cluster"), id="isos.cluster"),
        Binding("ctrl+d", "delete", _("Delete"), id="isos.delete"),
        Binding("slash", "filter", _("Filter"), id="isos.filter"),
        Binding("f5", "refresh", _("Refresh"), id="isos.refresh", show=False),
    ]

    def compose_content(self) -> ComposeResult:
        yield Label(_("ISO files"), classes="section-title", id="isos-title")
        yield Input(placeholder=_("filter by name, file or OS type"), id="isos-filter")
        yield DataTable(id="isos-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="isos-uploads", markup=False)

    def on_mount(self) -> None:
        self.isos: list[IsoInfo] = []
        self.uploads: list[UploadInfo] = []
        table = self.table
        for label, key in (
            (_("Name"), "name"),
            (_("File"), "file"),
            (_("Size"), "size"),
            (_("Modified"), "modified"),
            (_("OS type"), "os"),
            (_("Source"), "source"),
            (_("Enabled"), "enabled"),
            (_("Mounted"), "mounted"),
        ):
            table.add_column(label, key=key)
        table.focus()
        self.watch(self.app, "cluster", self.cluster_changed, init=False)
        self.refresh_isos()

    @property
    def cluster(self) -> str | None:
        """The app's current cluster (None when there is none)."""
        name = str(getattr(self.app, "cluster", "—"))
        return None if name in ("", "—") else name

    @property
    def table(self) -> DataTable[str]:
        """The ISO table."""
        return self.query_one("#isos-table", DataTable)

    def cluster_changed(self, _value: object) -> None:
        self.refresh_isos()

    @work(exclusive=True, group="isos-refresh", exit_on_error=False)
    async def refresh_isos(self, select: int | None = None) -> None:
        """Reload the ISOs and interrupted uploads of the current cluster from the database."""
        cluster = self.cluster
        title = (
            _("ISO files of {cluster}").format(cluster=cluster) if cluster else _("ISO files (no cluster)")
        )
        self.query_one("#isos-title", Label).update(title)
        if cluster is None:
            self.isos, self.uploads = [], []
        else:
            try:
                self.isos = await self.services.isos.list_all(cluster)
                self.uploads = await self.services.isos.interrupted(cluster)
            except ServiceError as err:
                self.isos, self.uploads = [], []
                self.query_one("#isos-uploads", Static).update(render(err))
                self.show_isos(select=select)
                return
        self.show_isos(select=select)
        hint = ""
        if self.uploads:
            hint = _("{n} interrupted upload(s): press r to resume").format(n=len(self.uploads))
        self.query_one("#isos-uploads", Static).update(hint)

    def show_isos(self, *, select: int | None = None) -> None:
        """Fill the table with the ISOs that match the filter, keeping the cursor."""
        needle = self.query_one("#isos-filter", Input).value.strip().lower()
        table = self.table
        keep = select if select is not None else self.selected_id()
        table.clear()
        for i in self.isos:
            if needle and needle not in f"{i.name} {i.file_name} {i.os_type} {i.description}".lower():
                continue
            table.add_row(
                i.name,
                i.file_name,
                human_bytes(i.size),
                i.modified_at[:16] or "—",
                i.os_type or "—",
                _(SOURCE_LABELS.get(i.source, i.source)),
                _("gone") if i.gone else (_("yes") if i.enabled else _("no")),
                str(i.mount_count),
                key=str(i.id),
            )
        move_to_key(table, keep)

    def selected_id(self) -> int | None:
        """The ISO under the cursor."""
        return cursor_id(self.table)

    def selected_iso(self) -> IsoInfo | None:
        """The ISO under the cursor, as last loaded."""
        iso_id = self.selected_id()
        return next((i for i in self.isos if i.id == iso_id), None)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "isos-filter":
            self.show_isos()

    def action_filter(self) -> None:
        """Focus the filter."""
        self.query_one("#isos-filter", Input).focus()

    def action_refresh(self) -> None:
        """Reload the list."""
        self.refresh_isos()

    def action_next_cluster(self) -> None:
        """Show the ISOs of the next cluster."""
        self.switch_cluster()

    @work(exclusive=True, group="isos-cluster", exit_on_error=False)
    async def switch_cluster(self) -> None:
        names = [c.name for c in await self.services.clusters.list_all()]
        if not names:
            return
        current = self.cluster
        index = (names.index(current) + 1) % len(names) if current in names else 0
        self.console.cluster = names[index]

    # -- sync

    def action_sync(self) -> None:
        """List the cluster's FTP ISO directory into the database."""
        if self.cluster is None:
            self.notify(_("Add a cluster with FTP settings first."), severity="warning")
            return
        self.sync_isos(self.cluster)

    @work(exclusive=True, group="isos-sync", exit_on_error=False)
    async def sync_isos(self, cluster: str) -> None:
        self.table.loading = True
        try:
            result = await self.services.isos.sync(cluster)
        except ServiceError as err:
            self.notify(render(err), title=_("ISO files not synced"), severity="error", timeout=10)
            return
        finally:
            self.table.loading = False
        text = _("{cluster}: {added} added, {updated} updated, {gone} gone.").format(
            cluster=result.cluster, added=result.added, updated=result.updated, gone=result.gone
        )
        if result.skipped:
            text += " " + result.skipped_note()
        self.notify(text, severity="warning" if result.skipped else "information")
        self.refresh_isos()

    # -- upload and resume (app jobs: they outlive this screen)

    def action_upload(self) -> None:
        """Open the upload form."""
        cluster = self.cluster
        if cluster is None:
            self.notify(_("Add a cluster with FTP settings first."), severity="warning")
            return

        def submitted(request: IsoUploadRequest | None) -> None:
            if request is not None:
                self.start_upload(request)

        self.app.push_screen(UploadIsoModal(cluster), callback=submitted)

    def start_upload(self, request: IsoUploadRequest) -> Job:
        """Run the upload as an app job (live progress in the Jobs screen and the header)."""
        isos = self.services.isos

        async def work(progress: Any, cancel: Any) -> Any:
            return await isos.upload(request, on_progress=progress, cancel=cancel)

        title = _("Upload ISO {file}").format(file=request.file_name)
        job = self.console.jobs.start(title, work, on_done=self.upload_done)
        self.notify(_("{title} started; follow it on the Jobs screen.").format(title=title))
        return job

    def upload_done(self, job: Job) -> None:
        """Tell how an upload or resume ended, and reload the list."""
        if job.state == "done":
            self.notify(_("{title}: done").format(title=job.title))
        else:
            self.notify(
                job.message, title=job.title, severity="error" if job.state == "failed" else "warning"
            )
        self.refresh_isos()

    def action_resume(self) -> None:
        """Choose an interrupted upload to resume or discard."""
        self.open_uploads()

    @opens_screen
    @work(exclusive=True, group="isos-form", exit_on_error=False)
    async def open_uploads(self) -> None:
        try:
            uploads = await self.services.isos.interrupted(self.cluster)
        except ServiceError as err:
            self.notify(render(err), severity="error")
            return
        if not uploads:
            self.notify(_("No interrupted uploads."))
            return

        def chosen(choice: tuple[str, int] | None) -> None:
            if choice is None:
                return
            verb, upload_id = choice
            if verb == "resume":
                self.start_resume(next(u for u in uploads if u.id == upload_id))
            else:
                self.confirm_discard(next(u for u in uploads if u.id == upload_id))

        self.app.push_screen(ResumeUploadsModal(uploads), callback=chosen)

    def start_resume(self, upload: UploadInfo) -> Job:
        """Continue an interrupted upload as an app job."""
        isos = self.services.isos

        async def work(progress: Any, cancel: Any) -> Any:
            return await isos.resume(upload.id, on_progress=progress, cancel=cancel)

        title = _("Resume ISO {file}").format(file=upload.file_name)
        job = self.console.jobs.start(title, work, on_done=self.upload_done)
        return job

    def confirm_discard(self, upload: UploadInfo) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self.discard_upload(upload.id)

        self.app.push_screen(
            ConfirmModal(
                _(
                    "Discard the interrupted upload of {file}? Its partial file is removed from the server."
                ).format(file=upload.file_name),
                confirm_label=_("Discard"),
            ),
            callback=confirmed,
        )

    @work(group="isos-save", exit_on_error=False)
    async def discard_upload(self, upload_id: int) -> None:
        try:
            upload = await self.services.isos.discard(upload_id)
        except ServiceError as err:
            self.notify(render(err), title=_("Upload not discarded"), severity="error", timeout=10)
            return
        self.notify(_("Upload of {file} discarded").format(file=upload.file_name))
        self.refresh_isos()

    # -- enable, edit, delete

    def action_toggle_enabled(self) -> None:
        """Enable or disable the ISO under the cursor."""
        iso = self.selected_iso()
        if iso is not None:
            self.set_enabled(iso.id, not iso.enabled)

    @work(group="isos-save", exit_on_error=False)
    async def set_enabled(self, iso_id: int, enabled: bool) -> None:
        try:
            iso = await self.services.isos.set_enabled(iso_id, enabled)
        except ServiceError as err:
            self.notify(render(err), severity="error", timeout=10)
            return
        message = _("ISO {name} enabled.") if iso.enabled else _("ISO {name} disabled.")
        self.notify(message.format(name=iso.name))
        self.refresh_isos(select=iso.id)

    def action_edit(self) -> None:
        """Edit the name, OS type and description of the ISO under the cursor."""
        iso = self.selected_iso()
        if iso is None:
            return

        def submitted(changes: IsoEdit | None) -> None:
            if changes is not None:
                self.save_edit(iso.id, changes)

        self.app.push_screen(EditIsoModal(iso), callback=submitted)

    @work(group="isos-save", exit_on_error=False)
    async def save_edit(self, iso_id: int, changes: IsoEdit) -> None:
        try:
            iso = await self.services.isos.edit(iso_id, changes)
        except ServiceError as err:
            self.notify(render(err), title=_("ISO not saved"), severity="error", timeout=10)
            return
        self.notify(_("ISO {name} saved.").format(name=iso.name))
        self.refresh_isos(select=iso.id)

    def action_delete(self) -> None:
        """Delete the ISO under the cursor (file and record), after confirmation."""
        iso = self.selected_iso()
        if iso is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete_iso(iso.id)

        self.app.push_screen(
            ConfirmModal(
                _("Delete ISO {name}? The file {file} is removed from the FTP server.").format(
                    name=iso.name, file=iso.file_name
                )
            ),
            callback=confirmed,
        )

    @work(group="isos-save", exit_on_error=False)
    async def delete_iso(self, iso_id: int) -> None:
        try:
            iso = await self.services.isos.delete(iso_id)
        except ServiceError as err:
            self.notify(render(err), title=_("ISO not deleted"), severity="error", timeout=10)
            return
        self.notify(_("ISO {name} deleted.").format(name=iso.name))
        self.refresh_isos()
