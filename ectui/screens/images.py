"""Images (console): Glance images of every cluster; sync, upload as a job, enable/disable, delete."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.suggester import SuggestFromList
from textual.widgets import Button

from ectui.i18n import N_, _, render
from ectui.jobs import Job, human_bytes, progress_text
from ectui.screens._base import ConsoleDomainScreen
from ectui.services.errors import ServiceError
from ectui.text import visible
from ectui.widgets import ConfirmModal, PathInput, ShellModal
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import Input, Label, Static, list_bindings, list_key_taken

if TYPE_CHECKING:
    from ectui.services.images import ImageInfo, ImageUpload

SOURCE_LABELS = {"synced": N_("synced"), "uploaded": N_("uploaded")}

UPLOAD_FIELDS = {
    "path": "upload-file",
    "cluster": "upload-cluster",
    "name": "upload-name",
    "disk_format": "upload-disk-format",
    "container_format": "upload-container-format",
    "os_type": "upload-os-type",
    "min_disk": "upload-min-disk",
    "min_ram": "upload-min-ram",
}
"""ValidationError.field_id → the widget to mark and focus."""


# ------------------------------------------------------------------ the virtual table


class Column:
    """One column of the image table: a label, how to show and sort a value, a width and a priority."""

    def __init__(
        self,
        key: str,
        label: str,
        text: Callable[[ImageInfo], str],
        sort: Callable[[ImageInfo], Any],
        width: int,
        priority: int,
    ) -> None:
        self.key, self.label, self.text, self.sort = key, label, text, sort
        self.width = width
        """Fixed width in cells; 0 for the flexible name column."""
        self.priority = priority
        """Narrow terminals hide the columns with the highest number first."""


def image_columns() -> list[Column]:
    """The columns of the image list, in display order."""

    def state(i: ImageInfo) -> str:
        return _("gone") if i.gone else i.status

    return [
        Column("name", _("Name"), lambda i: i.name, lambda i: i.name.lower(), 0, 0),
        Column("cluster", _("Cluster"), lambda i: i.cluster, lambda i: i.cluster.lower(), 10, 4),
        Column("format", _("Format"), lambda i: i.disk_format, lambda i: i.disk_format, 6, 2),
        Column("size", _("Size"), lambda i: human_bytes(i.size), lambda i: i.size, 10, 1),
        Column("status", _("Status"), state, state, 7, 1),
        Column(
            "source",
            _("Source"),
            lambda i: _(SOURCE_LABELS.get(i.source, i.source)),
            lambda i: i.source,
            8,
            3,
        ),
        Column(
            "enabled", _("Enabled"), lambda i: _("yes") if i.enabled else _("no"), lambda i: i.enabled, 7, 2
        ),
        Column("created", _("Created"), lambda i: i.created[:10], lambda i: i.created, 10, 5),
    ]


class ImageTable(ScrollView, can_focus=True):
    """A table that renders only the visible rows: filtering or sorting 10,000 images stays instant.

    Rows are formatted once when the images are loaded; a filter keystroke is one list comprehension
    over precomputed lower-case text, and a repaint draws only the lines on screen.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "image-table--header",
        "image-table--cursor",
        "image-table--muted",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", show=False),
        Binding("down", "cursor_down", show=False),
        Binding("pageup", "page_up", show=False),
        Binding("pagedown", "page_down", show=False),
        Binding("home", "first", show=False),
        Binding("end", "last", show=False),
        Binding("enter", "choose", show=False),
        *list_bindings(),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)
    """Index of the highlighted row in the shown (filtered, sorted) rows."""

    class RowChosen(Message):
        """Enter (or a click on the highlighted row) on an image."""

        def __init__(self, image: ImageInfo) -> None:
            super().__init__()
            self.image = image

    class SortChanged(Message):
        """The header was clicked: sort by this column."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's keyword
        super().__init__(id=id)
        self.columns = image_columns()
        self._all: list[tuple[ImageInfo, tuple[str, ...], str]] = []
        self._shown: list[tuple[ImageInfo, tuple[str, ...], str]] = []
        self.needle = ""
        self.sort_key = "name"
        self.sort_reverse = False

    # -- data

    def set_images(self, images: Sequence[ImageInfo]) -> None:
        """Replace the images (formatting each row once), keeping the filter, sort and cursor image."""
        keep = self.current()
        self._all = []
        for image in images:
            cells = tuple(visible(c.text(image)) for c in self.columns)  # names are foreign text
            self._all.append((image, cells, " ".join(cells).lower()))
        self._sort()
        self._apply(keep.id if keep else None)

    def filter(self, needle: str) -> None:
        """Show only the rows whose text contains `needle` (case-insensitive)."""
        self.needle = needle.strip().lower()
        self._apply(None)

    def sort_by(self, key: str, *, reverse: bool | None = None) -> None:
        """Sort by a column (the same column again flips the order)."""
        if reverse is None:
            reverse = not self.sort_reverse if key == self.sort_key else False
        self.sort_key, self.sort_reverse = key, reverse
        keep = self.current()
        self._sort()
        self._apply(keep.id if keep else None)

    def _sort(self) -> None:
        column = next(c for c in self.columns if c.key == self.sort_key)
        self._all.sort(
            key=lambda row: (column.sort(row[0]), row[0].name.lower(), row[0].id), reverse=self.sort_reverse
        )

    def _apply(self, keep_id: int | None) -> None:
        needle = self.needle
        self._shown = [row for row in self._all if needle in row[2]] if needle else list(self._all)
        self.virtual_size = Size(self.size.width, len(self._shown) + 1)
        index = 0
        if keep_id is not None:
            index = next((n for n, row in enumerate(self._shown) if row[0].id == keep_id), 0)
        self.cursor = min(index, max(len(self._shown) - 1, 0))
        self.refresh()

    # -- reading

    @property
    def row_count(self) -> int:
        """Rows shown."""
        return len(self._shown)

    @property
    def total(self) -> int:
        """Rows loaded."""
        return len(self._all)

    def current(self) -> ImageInfo | None:
        """The highlighted image."""
        if 0 <= self.cursor < len(self._shown):
            return self._shown[self.cursor][0]
        return None

    def names(self) -> list[str]:
        """Names of the rows shown, in order (for tests)."""
        return [row[0].name for row in self._shown]

    def select_id(self, image_id: int) -> None:
        """Put the cursor on an image."""
        for n, row in enumerate(self._shown):
            if row[0].id == image_id:
                self.cursor = n
                return

    # -- drawing

    def _layout(self, width: int) -> list[tuple[int, int]]:
        """(column index, width) of the columns that fit; the name column takes what is left."""
        visible = list(range(len(self.columns)))
        while True:
            fixed = sum(self.columns[i].width + 1 for i in visible if self.columns[i].width)
            if width - fixed >= 16 or len(visible) == 1:
                break
            drop = max((i for i in visible if i), key=lambda i: self.columns[i].priority)
            visible.remove(drop)
        name_width = max(width - sum(self.columns[i].width + 1 for i in visible if self.columns[i].width), 4)
        return [(i, self.columns[i].width or name_width) for i in visible]

    def _line(self, cells: Sequence[str], layout: list[tuple[int, int]]) -> str:
        parts = []
        for index, width in layout:
            text = cells[index]
            if cell_len(text) > width:
                text = set_cell_size(text, width - 1) + "…"
            parts.append(set_cell_size(text, width))
        return " ".join(parts)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        layout = self._layout(width)
        if y == 0:
            labels = []
            for c in self.columns:
                mark = (" ▼" if self.sort_reverse else " ▲") if c.key == self.sort_key else ""
                labels.append(c.label + mark)
            style = self.get_component_rich_style("image-table--header")
            return Strip([Segment(self._line(labels, layout), style)]).adjust_cell_length(width, style)
        index = self.scroll_offset.y + y - 1
        base = self.rich_style
        if index >= len(self._shown):
            return Strip.blank(width, base)
        image, cells, _hay = self._shown[index]
        style = base
        if not image.enabled or image.gone:
            style = base + self.get_component_rich_style("image-table--muted")
        if index == self.cursor:
            style = style + self.get_component_rich_style("image-table--cursor")
        return Strip([Segment(self._line(cells, layout), style)]).adjust_cell_length(width, style)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._shown) + 1)

    def watch_cursor(self, cursor: int) -> None:
        """Keep the highlighted row on screen."""
        visible = max(self.size.height - 1, 1)
        top = self.scroll_offset.y
        if cursor < top:
            self.scroll_to(y=cursor, animate=False)
        elif cursor >= top + visible:
            self.scroll_to(y=cursor - visible + 1, animate=False)
        self.refresh()

    # -- keys and mouse

    def _move(self, delta: int) -> None:
        if self._shown:
            self.cursor = min(max(self.cursor + delta, 0), len(self._shown) - 1)

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_page_up(self) -> None:
        self._move(-max(self.size.height - 2, 1))

    def action_page_down(self) -> None:
        self._move(max(self.size.height - 2, 1))

    def action_first(self) -> None:
        self._move(-len(self._shown))

    def action_last(self) -> None:
        self._move(len(self._shown))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if list_key_taken(self, action):  # Ctrl+D deletes on the Images screen
            return False
        return super().check_action(action, parameters)

    def action_list_down(self) -> None:
        self._move(1)

    def action_list_up(self) -> None:
        self._move(-1)

    def action_list_first(self) -> None:
        self.action_first()

    def action_list_last(self) -> None:
        self.action_last()

    def action_list_half_down(self) -> None:
        self._move(max((self.size.height - 1) // 2, 1))

    def action_list_half_up(self) -> None:
        self._move(-max((self.size.height - 1) // 2, 1))

    def action_choose(self) -> None:
        image = self.current()
        if image is not None:
            self.post_message(self.RowChosen(image))

    def on_click(self, event: Click) -> None:
        if event.y == 0:
            x = 0
            for index, width in self._layout(self.size.width):
                if x <= event.x < x + width + 1:
                    self.post_message(self.SortChanged(self.columns[index].key))
                    return
                x += width + 1
            return
        index = self.scroll_offset.y + event.y - 1
        if 0 <= index < len(self._shown):
            if index == self.cursor:
                self.action_choose()
            self.cursor = index


# ------------------------------------------------------------------ modals


class ImageDetailModal(ShellModal[None]):
    """Everything known about one image."""

    BINDINGS = [Binding("enter", "cancel", _("Close"), id="image_detail.close")]

    def __init__(self, image: ImageInfo) -> None:
        super().__init__()
        self.image = image

    def compose(self) -> ComposeResult:
        i = self.image
        rows = [
            (_("Name"), i.name),
            (_("Cluster"), i.cluster),
            (_("Cloud ID"), i.cloud_id),
            (_("Status"), _("gone from the cloud") if i.gone else i.status),
            (_("Disk format"), i.disk_format),
            (_("Container"), i.container_format),
            (_("Size"), f"{human_bytes(i.size)} ({i.size} B)"),
            (_("Checksum"), i.checksum or "—"),
            (_("Visibility"), i.visibility or "—"),
            (_("OS type"), i.os_type or "—"),
            (_("Min disk"), f"{i.min_disk} GB"),
            (_("Min RAM"), f"{i.min_ram} MB"),
            (_("Source"), _(SOURCE_LABELS.get(i.source, i.source))),
            (_("Uploaded by"), i.uploaded_by or "—"),
            (_("Enabled"), _("yes") if i.enabled else _("no")),
            (_("Created"), i.created or "—"),
            (_("Synced"), i.synced_at.isoformat(sep=" ", timespec="seconds")),
        ]
        width = max(len(label) for label, _value in rows)
        text = "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)
        with Vertical(classes="modal-box", id="image-detail-box"):
            yield Label(_("Image {name}").format(name=i.name), classes="modal-title")
            yield Static(text, id="image-detail", markup=False)
            yield Label(_("Enter / Esc: close"), classes="modal-hint")


class UploadImageModal(ShellModal["ImageUpload | None"]):
    """What to upload: file (with path completion), name, formats, OS type, minimum disk and RAM."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Upload"), id="upload_image.submit")]

    def __init__(self, cluster: str) -> None:
        super().__init__()
        self.cluster = cluster
        self.guessed = ""
        """The disk format last guessed from the file name (replaced while the operator keeps it)."""

    def compose(self) -> ComposeResult:
        from ectui.services.images import CONTAINER_FORMATS, DISK_FORMATS, OS_TYPES

        with Vertical(classes="modal-box", id="upload-box"):
            yield Label(_("Upload an image"), classes="modal-title")
            with Horizontal(classes="form-row"):
                yield Label(_("File"))
                yield PathInput(
                    "", id="upload-file", placeholder=_("path of a local disk image (Tab completes)")
                )
            fields: list[tuple[str, str, str, str, Sequence[str]]] = [
                (_("Cluster"), "upload-cluster", self.cluster if self.cluster != "—" else "", "", ()),
                (_("Name"), "upload-name", "", _("default: the file name"), ()),
                (_("Disk format"), "upload-disk-format", "", " ".join(DISK_FORMATS), DISK_FORMATS),
                (
                    _("Container"),
                    "upload-container-format",
                    "bare",
                    " ".join(CONTAINER_FORMATS),
                    CONTAINER_FORMATS,
                ),
                (_("OS type"), "upload-os-type", "linux", "linux windows", OS_TYPES),
                (_("Min disk (GB)"), "upload-min-disk", "0", "", ()),
                (_("Min RAM (MB)"), "upload-min-ram", "0", "", ()),
            ]
            for label, input_id, value, placeholder, choices in fields:
                with Horizontal(classes="form-row"):
                    yield Label(label)
                    suggester = SuggestFromList(choices, case_sensitive=False) if choices else None
                    yield Input(value, id=input_id, placeholder=placeholder, suggester=suggester)
            yield Static(id="upload-error", classes="modal-error")
            yield Label(
                _(
                    "The upload runs as a job: follow or cancel it on the Jobs screen · Ctrl+S: upload · Esc: cancel"
                ),
                classes="modal-hint",
            )
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="upload-cancel")
                yield Button(_("Upload"), id="upload-submit", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#upload-file", PathInput).focus()

    @on(Input.Changed, "#upload-file")
    def guess_from_file(self, event: Input.Changed) -> None:
        """Fill the name and disk format from the file name while they are untouched."""
        from pathlib import Path

        from ectui.services.images import guess_disk_format

        fmt = self.query_one("#upload-disk-format", Input)
        guess = guess_disk_format(Path(event.value.strip() or "."))
        if guess and (not fmt.value or fmt.value == self.guessed):
            fmt.value = self.guessed = guess

    def request(self) -> ImageUpload:
        """Validate the form (raises ValidationError)."""
        from ectui.services.images import ImageUpload

        def value(input_id: str) -> str:
            return self.query_one(f"#{input_id}", Input).value

        return ImageUpload.parse(
            path=value("upload-file"),
            cluster=value("upload-cluster"),
            name=value("upload-name"),
            disk_format=value("upload-disk-format"),
            container_format=value("upload-container-format"),
            os_type=value("upload-os-type"),
            min_disk=value("upload-min-disk"),
            min_ram=value("upload-min-ram"),
        )

    @on(Input.Submitted)
    @on(Button.Pressed, "#upload-submit")
    def action_submit(self) -> None:
        """Return the validated request."""
        try:
            request = self.request()
        except ServiceError as err:
            mark_field(self, UPLOAD_FIELDS, "upload-error", err)
            return
        self.dismiss(request)


# ------------------------------------------------------------------ the screen


class ImagesScreen(ConsoleDomainScreen):
    """Images of every cluster: filter as you type, sort, sync, upload, enable/disable, delete."""

    DOMAIN = "images"
    CSS_PATH = "images.tcss"
    BINDINGS = [
        Binding("s", "sync", _("Sync"), id="images.sync"),
        Binding("u", "upload", _("Upload"), id="images.upload"),
        Binding("e", "toggle_enabled", _("Enable/disable"), id="images.toggle"),
        Binding("o", "cycle_sort", _("Sort"), id="images.sort"),
        Binding("slash", "filter", _("Filter"), id="images.filter"),
        Binding("ctrl+d", "delete", _("Delete"), id="images.delete"),
        Binding("enter", "detail", _("Detail"), id="images.detail", show=False),
        Binding("r", "refresh", _("Refresh"), id="images.refresh", show=False),
    ]

    def compose_content(self) -> ComposeResult:
        yield Label(_("Images"), classes="section-title", id="images-title")
        yield Input(placeholder=_("filter by name, cluster, format, status…"), id="images-filter")
        yield ImageTable(id="images-table")
        yield Static("", id="images-progress", markup=False)

    def on_mount(self) -> None:
        self.upload_jobs: set[int] = set()
        """Jobs of the uploads started here (their progress shows under the table)."""
        self.table.focus()
        self.console.jobs.signal.subscribe(self, self.show_job)
        self.refresh_images()

    @property
    def table(self) -> ImageTable:
        """The image table."""
        return self.query_one("#images-table", ImageTable)

    # -- loading and showing

    @work(exclusive=True, group="images-refresh", exit_on_error=False)
    async def refresh_images(self, select: int | None = None) -> None:
        """Reload the images from the database (after a sync, an upload or a change)."""
        images = await self.services.images.list_all()
        self.show_images(images, select=select)

    def show_images(self, images: Sequence[ImageInfo], *, select: int | None = None) -> None:
        """Show the images (the filter, sort and cursor stay)."""
        table = self.table
        table.set_images(images)
        if select is not None:
            table.select_id(select)
        self.show_count()

    def show_count(self) -> None:
        """'Images (12 of 10000)'."""
        table = self.table
        count = (
            str(table.total)
            if table.row_count == table.total
            else _("{shown} of {total}").format(shown=table.row_count, total=table.total)
        )
        self.query_one("#images-title", Label).update(_("Images ({count})").format(count=count))

    @on(Input.Changed, "#images-filter")
    def filter_images(self, event: Input.Changed) -> None:
        """Filter as you type."""
        self.table.filter(event.value)
        self.show_count()

    @on(Input.Submitted, "#images-filter")
    def leave_filter(self) -> None:
        self.table.focus()

    @on(ImageTable.SortChanged)
    def sort_images(self, event: ImageTable.SortChanged) -> None:
        self.table.sort_by(event.key)

    @on(ImageTable.RowChosen)
    def open_detail(self, event: ImageTable.RowChosen) -> None:
        self.app.push_screen(ImageDetailModal(event.image))

    def show_job(self, job: Job) -> None:
        """Live progress of image uploads under the table (the Jobs screen lists every job)."""
        if job.id not in self.upload_jobs:
            return
        line = self.query_one("#images-progress", Static)
        if job.running:
            line.update(f"{job.title}: {progress_text(job.progress)}")
        else:
            line.update(f"{job.title}: {job.message}")

    # -- actions

    def action_filter(self) -> None:
        """Focus the filter."""
        self.query_one("#images-filter", Input).focus()

    def action_refresh(self) -> None:
        """Reload the list."""
        self.refresh_images()

    def action_cycle_sort(self) -> None:
        """Sort by the next column."""
        keys = [c.key for c in self.table.columns]
        self.table.sort_by(keys[(keys.index(self.table.sort_key) + 1) % len(keys)], reverse=False)

    def action_detail(self) -> None:
        """Show the highlighted image."""
        image = self.table.current()
        if image is not None:
            self.app.push_screen(ImageDetailModal(image))

    def action_sync(self) -> None:
        """Copy the images of every cluster from the cloud."""
        self.sync_images()

    @work(exclusive=True, group="images-sync", exit_on_error=False)
    async def sync_images(self) -> None:
        """Sync each cluster; a refused cluster is reported and the others go on."""
        self.table.loading = True
        try:
            await self.sync_each_cluster(self.services.images.sync, _("{name}: images not synced"))
        finally:
            self.table.loading = False
        self.refresh_images()

    def action_upload(self) -> None:
        """Open the upload form; the upload then runs as a background job."""

        def submitted(request: ImageUpload | None) -> None:
            if request is not None:
                self.start_upload(request)

        self.app.push_screen(UploadImageModal(str(getattr(self.app, "cluster", ""))), callback=submitted)

    def start_upload(self, request: ImageUpload) -> Job:
        """Run the upload as an app job: it goes on while the operator works on other screens."""
        images = self.services.images

        async def work(progress: Any, cancel: Any) -> ImageInfo:
            return await images.upload(request, on_progress=progress, cancel=cancel)

        title = _("Upload image {name}").format(name=request.name)
        job: Job = self.console.jobs.start(title, work, on_done=self.upload_finished)
        self.upload_jobs.add(job.id)
        return job

    def upload_finished(self, job: Job) -> None:
        """Say how an upload ended and show its image."""
        if job.state == "done":
            self.notify(_("Image {name} uploaded").format(name=job.result.name))
            self.refresh_images(select=job.result.id)
        elif job.state == "cancelled":
            self.notify(job.message, title=_("Upload cancelled"), severity="warning", timeout=10)
        else:
            self.notify(job.message, title=_("Upload failed"), severity="error", timeout=15)

    def action_toggle_enabled(self) -> None:
        """Enable or disable the highlighted image."""
        image = self.table.current()
        if image is not None:
            self.set_enabled(image.id, not image.enabled)

    @work(group="images-change", exit_on_error=False)
    async def set_enabled(self, image_id: int, enabled: bool) -> None:
        try:
            image = await self.services.images.set_enabled(image_id, enabled)
        except ServiceError as err:
            self.notify(render(err), title=_("Image not changed"), severity="error", timeout=10)
            return
        self.notify(
            _("Image {name} enabled").format(name=image.name)
            if image.enabled
            else _("Image {name} disabled; existing templates keep working").format(name=image.name)
        )
        self.refresh_images(select=image.id)

    def action_delete(self) -> None:
        """Delete the highlighted image (only console uploads), after confirmation."""
        image = self.table.current()
        if image is None:
            return
        if not image.deletable:
            from ectui.services.images import ImageError

            self.notify(
                render(ImageError("image.not_uploaded", name=image.name)),
                title=_("Image not deleted"),
                severity="error",
                timeout=10,
            )
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete_image(image.id)

        self.app.push_screen(
            ConfirmModal(
                _("Delete image {name}? It is deleted in the cloud ({cluster}) and here.").format(
                    name=image.name, cluster=image.cluster
                )
            ),
            callback=confirmed,
        )

    @work(group="images-change", exit_on_error=False)
    async def delete_image(self, image_id: int) -> None:
        try:
            image = await self.services.images.delete(image_id)
        except ServiceError as err:
            self.notify(render(err), title=_("Image not deleted"), severity="error", timeout=10)
            return
        self.notify(_("Image {name} deleted").format(name=image.name))
        self.refresh_images()
