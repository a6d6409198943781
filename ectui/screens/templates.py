"""Templates (console): system templates made from enabled images; list, create, edit, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Button

from ectui.i18n import _, render
from ectui.screens._base import ConsoleDomainScreen, opens_screen
from ectui.services.errors import ServiceError
from ectui.widgets import ConfirmModal, ShellModal
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import DataTable, Input, Label, Select, Static
from ectui.widgets.tables import cursor_id, move_to_key

if TYPE_CHECKING:
    from ectui.services.images import ImageInfo
    from ectui.services.templates import TemplateDraft, TemplateInfo

TEMPLATE_FIELDS = {
    "name": "template-name",
    "image_id": "template-image",
    "os_type": "template-os-type",
    "min_cpu": "template-min-cpu",
    "min_ram_gb": "template-min-ram",
    "min_disk_gb": "template-min-disk",
    "description": "template-description",
}
"""ValidationError.field_id → the widget to mark and focus."""


def image_label(image: ImageInfo) -> str:
    """'cirros-0.6.2 · dc1 · qcow2', marked when it cannot make new templates."""
    label = f"{image.name} · {image.cluster} · {image.disk_format}"
    return label + (" · " + _("disabled") if not image.enabled else "")


class TemplateFormModal(ShellModal["TemplateDraft | None"]):
    """A system template: name, image, OS type, minimum CPU / RAM / disk, description."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Save"), id="template_form.submit")]

    def __init__(self, images: Sequence[ImageInfo], current: TemplateInfo | None = None) -> None:
        super().__init__()
        self.images = [i for i in images if not i.gone or (current and i.id == current.image_id)]
        self.current = current

    def compose(self) -> ComposeResult:
        c = self.current
        title = _("New template") if c is None else _("Edit template {name}").format(name=c.name)
        options = [(image_label(i), i.id) for i in self.images]
        with Vertical(classes="modal-box", id="template-form-box"):
            yield Label(title, classes="modal-title")
            with Horizontal(classes="form-row"):
                yield Label(_("Name"))
                yield Input(c.name if c else "", id="template-name")
            with Horizontal(classes="form-row-tall"):
                yield Label(_("Image"))
                yield Select(
                    options,
                    value=c.image_id if c and c.image_id in {i.id for i in self.images} else Select.NULL,
                    prompt=_("choose an enabled image"),
                    id="template-image",
                )
            rows = [
                (_("OS type"), "template-os-type", c.os_type if c else "linux"),
                (_("Min CPU"), "template-min-cpu", str(c.min_cpu) if c else "1"),
                (_("Min RAM (GB)"), "template-min-ram", str(c.min_ram_gb) if c else "1"),
                (_("Min disk (GB)"), "template-min-disk", str(c.min_disk_gb) if c else "10"),
                (_("Description"), "template-description", c.description if c else ""),
            ]
            for label, input_id, value in rows:
                with Horizontal(classes="form-row"):
                    yield Label(label)
                    suggester = (
                        SuggestFromList(("linux", "windows"), case_sensitive=False)
                        if input_id == "template-os-type"
                        else None
                    )
                    yield Input(value, id=input_id, suggester=suggester)
            yield Static(id="template-error", classes="modal-error")
            yield Label(_("Ctrl+S: save · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="template-cancel")
                yield Button(_("Save"), id="template-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#template-name", Input).focus()

    @on(Select.Changed, "#template-image")
    def take_os_type(self, event: Select.Changed) -> None:
        """A new template takes the image's OS type when it has one."""
        if self.current is not None:
            return
        image = next((i for i in self.images if i.id == event.value), None)
        if image is not None and image.os_type in ("linux", "windows"):
            self.query_one("#template-os-type", Input).value = image.os_type

    def draft(self) -> TemplateDraft:
        """Validate the form (raises ValidationError)."""
        from ectui.services.templates import TemplateDraft

        def value(input_id: str) -> str:
            return self.query_one(f"#{input_id}", Input).value

        image = self.query_one("#template-image", Select).value
        return TemplateDraft.parse(
            name=value("template-name"),
            image_id=image if isinstance(image, int) else "",
            os_type=value("template-os-type"),
            min_cpu=value("template-min-cpu"),
            min_ram_gb=value("template-min-ram"),
            min_disk_gb=value("template-min-disk"),
            description=value("template-description"),
        )

    @on(Input.Submitted)
    @on(Button.Pressed, "#template-save")
    def action_submit(self) -> None:
        """Return the validated draft."""
        try:
            draft = self.draft()
        except ServiceError as err:
            mark_field(self, TEMPLATE_FIELDS, "template-error", err)
            return
        self.dismiss(draft)


class TemplatesScreen(ConsoleDomainScreen):
    """Templates of every cluster: system ones made from images, custom ones made from VM snapshots."""

    DOMAIN = "templates"
    CSS_PATH = "templates.tcss"
    BINDINGS = [
        Binding("n", "new_template", _("New"), id="templates.new"),
        Binding("e", "edit_template", _("Edit"), id="templates.edit"),
        Binding("ctrl+d", "delete_template", _("Delete"), id="templates.delete"),
        Binding("r", "refresh", _("Refresh"), id="templates.refresh", show=False),
    ]

    def compose_content(self) -> ComposeResult:
        yield Label(_("Templates (system and custom)"), classes="section-title")
        yield DataTable(id="templates-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.table
        table.add_column(_("Name"), key="name")
        table.add_column(_("Kind"), key="kind")
        table.add_column(_("Cluster"), key="cluster")
        table.add_column(_("OS"), key="os")
        table.add_column(_("Image"), key="image")
        table.add_column("CPU", key="cpu")
        table.add_column(_("RAM GB"), key="ram")
        table.add_column(_("Disk GB"), key="disk")
        table.add_column(_("Description"), key="description")
        table.focus()
        self.refresh_templates()

    def on_screen_resume(self) -> None:
        self.refresh_templates()  # images may have been enabled, disabled or deleted meanwhile

    @property
    def table(self) -> DataTable[str]:
        """The templates table."""
        return self.query_one("#templates-table", DataTable)

    @work(exclusive=True, group="templates-refresh", exit_on_error=False)
    async def refresh_templates(self, select: int | None = None) -> None:
        """Reload the templates."""
        self.show_templates(await self.services.templates.list_all(), select=select)

    def show_templates(self, templates: Sequence[TemplateInfo], *, select: int | None = None) -> None:
        """Fill the table, keeping the cursor on the same template."""
        table = self.table
        keep = select if select is not None else self.selected_id()
        table.clear()
        for t in templates:
            image = t.image_name or t.image_cloud_id
            if not t.image_enabled:
                image += " (" + _("disabled") + ")" if t.image_name else ""
            table.add_row(
                t.name,
                _("Custom") if t.kind == "custom" else _("System"),
                t.cluster,
                t.os_type,
                image,
                str(t.min_cpu),
                str(t.min_ram_gb),
                str(t.min_disk_gb),
                t.description,
                key=str(t.id),
            )
        move_to_key(table, keep)

    def selected_id(self) -> int | None:
        """The template under the cursor."""
        return cursor_id(self.table)

    def action_refresh(self) -> None:
        """Reload the list."""
        self.refresh_templates()

    def action_new_template(self) -> None:
        """Open the new-template form."""
        self.open_form(None)

    def action_edit_template(self) -> None:
        """Open the form of the template under the cursor."""
        template_id = self.selected_id()
        if template_id is not None:
            self.open_form(template_id)

    @opens_screen
    @work(exclusive=True, group="templates-form", exit_on_error=False)
    async def open_form(self, template_id: int | None) -> None:
        images = await self.services.images.list_all()
        current = await self.services.templates.get(template_id) if template_id is not None else None

        def submitted(draft: TemplateDraft | None) -> None:
            if draft is not None:
                self.save_template(template_id, draft)

        self.app.push_screen(TemplateFormModal(images, current), callback=submitted)

    @work(group="templates-save", exit_on_error=False)
    async def save_template(self, template_id: int | None, draft: TemplateDraft) -> None:
        """Create or update; refusals (disabled image, duplicate name) are shown."""
        try:
            if template_id is None:
                info = await self.services.templates.create(draft)
            else:
                info = await self.services.templates.update(template_id, draft)
        except ServiceError as err:
            self.notify(render(err), title=_("Template not saved"), severity="error", timeout=10)
            return
        self.notify(_("Template {name} saved").format(name=info.name))
        self.refresh_templates(select=info.id)

    def action_delete_template(self) -> None:
        """Delete the template under the cursor, after confirmation."""
        template_id = self.selected_id()
        if template_id is None:
            return
        name = str(self.table.get_row(str(template_id))[0])

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete_template(template_id)

        self.app.push_screen(
            ConfirmModal(_("Delete template {name}? Its image is not touched.").format(name=name)),
            callback=confirmed,
        )

    @work(group="templates-save", exit_on_error=False)
    async def delete_template(self, template_id: int) -> None:
        try:
            info = await self.services.templates.delete(template_id)
        except ServiceError as err:
            self.notify(render(err), title=_("Template not deleted"), severity="error", timeout=10)
            return
        self.notify(_("Template {name} deleted").format(name=info.name))
        self.refresh_templates()
