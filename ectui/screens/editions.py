"""Editions (issuer): list, create with a menu tree picker, detail, delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox

from ectui.i18n import _, render
from ectui.screens._base import IssuerDomainScreen
from ectui.services.errors import ServiceError
from ectui.widgets import ConfirmModal, MenuTreePicker, PlainCheckbox, ShellModal
from ectui.widgets.editions_text import features_text, menu_names, modules_text, storage_text
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import DataTable, Input, Label, Static
from ectui.widgets.tables import cursor_key, move_to_key

if TYPE_CHECKING:
    from ectui.services.issuer import EditionInfo, IssuerService, MenuNode


FIELD_INPUTS = {
    "name": "edition-name",
    "max_clusters": "edition-max-clusters",
    "max_nodes": "edition-max-nodes",
    "grace_days": "edition-grace-days",
    "price": "edition-price",
    "description": "edition-description",
    "storage": "edition-storage-local",
    "features": "edition-menus",
}
"""ValidationError.field_id → the widget to mark and focus."""


class NewEditionModal(ShellModal["EditionInfo | None"]):
    """Form for a new edition; creates it (a quick database write) and returns the EditionInfo."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Create"), id="new_edition.submit")]

    def __init__(self, issuer: IssuerService, menus: Sequence[MenuNode]) -> None:
        super().__init__()
        self.issuer = issuer
        self.menus = list(menus)

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="new-edition-box"):
            yield Label(_("New edition"), classes="modal-title")
            with Horizontal(id="new-edition-columns"):
                with Vertical(id="new-edition-fields"):
                    for label, input_id, value in (
                        (_("Name"), "edition-name", ""),
                        (_("Max clusters"), "edition-max-clusters", ""),
                        (_("Max nodes"), "edition-max-nodes", ""),
                        (_("Grace days"), "edition-grace-days", "7"),
                        (_("Price"), "edition-price", "0"),
                        (_("Description"), "edition-description", ""),
                    ):
                        with Horizontal(classes="form-row"):
                            yield Label(label)
                            yield Input(value, id=input_id)
                    yield Label(_("Storage modes"), classes="form-label")
                    with Horizontal(classes="form-row"):
                        yield PlainCheckbox(_("local"), True, id="edition-storage-local")
                        yield PlainCheckbox(_("shared"), False, id="edition-storage-shared")
                    yield Static(id="edition-error", classes="modal-error")
                yield MenuTreePicker(self.menus, id="edition-menus")
            yield Label(
                _("Space: toggle menu · Tab: next field · Ctrl+S: create · Esc: cancel"), classes="modal-hint"
            )
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="edition-cancel")
                yield Button(_("Create"), id="edition-create", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#edition-name", Input).focus()

    def form_values(self) -> dict[str, object]:
        """The raw form values, as EditionDraft.parse takes them."""

        def text(input_id: str) -> str:
            return self.query_one(f"#{input_id}", Input).value

        storage = [
            mode for mode in ("local", "shared") if self.query_one(f"#edition-storage-{mode}", Checkbox).value
        ]
        return {
            "name": text("edition-name"),
            "max_clusters": text("edition-max-clusters"),
            "max_nodes": text("edition-max-nodes"),
            "grace_days": text("edition-grace-days"),
            "price": text("edition-price"),
            "description": text("edition-description"),
            "storage": storage,
            "features": list(self.query_one(MenuTreePicker).selected),
        }

    def show_error(self, err: ServiceError) -> None:
        """Show a refusal under the form and mark and focus the field it names."""
        mark_field(self, FIELD_INPUTS, "edition-error", err)

    @on(Input.Submitted)
    @on(Button.Pressed, "#edition-create")
    def action_submit(self) -> None:
        """Validate and create the edition."""
        from ectui.services.issuer import EditionDraft

        try:
            draft = EditionDraft.parse(**self.form_values())  # type: ignore[arg-type]
        except ServiceError as err:
            self.show_error(err)
            return
        self.create_edition(draft)

    @work(exclusive=True, group="edition-create", exit_on_error=False)
    async def create_edition(self, draft: object) -> None:
        """Create the edition; stay open with the reason when refused."""
        box = self.query_one("#new-edition-box")
        self.busy = box.loading = True
        try:
            info = await self.issuer.create_edition(draft)  # type: ignore[arg-type]
        except ServiceError as err:
            self.show_error(err)
            return
        finally:
            self.busy = box.loading = False
        self.dismiss(info)


class EditionDetailModal(ShellModal[None]):
    """Limits, features and license count of one edition."""

    def __init__(self, edition: EditionInfo, names: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.edition = edition
        self.names = names

    def compose(self) -> ComposeResult:
        e = self.edition
        rows = [
            (_("Name"), e.name),
            (_("Max clusters"), str(e.max_clusters)),
            (_("Max nodes"), str(e.max_nodes)),
            (_("Storage modes"), storage_text(e.storage)),
            (_("Grace days"), str(e.grace_days)),
            (_("Price"), str(e.price)),
            (_("Modules"), modules_text(e.modules)),
            (_("Licenses"), str(e.license_count)),
            (_("Created"), e.created_at.strftime("%Y-%m-%d %H:%M")),
            (_("Description"), e.description or "—"),
        ]
        width = max(len(k) for k, _v in rows) + 2
        with Vertical(classes="modal-box", id="edition-detail-box"):
            yield Label(_("Edition {name}").format(name=e.name), classes="modal-title")
            with VerticalScroll(id="edition-detail-scroll"):
                yield Static(
                    "\n".join(f"{k.ljust(width)}{v}" for k, v in rows), markup=False, id="edition-limits"
                )
                yield Label(_("Features"), classes="modal-title")
                yield Static(features_text(e.features, self.names), markup=False, id="edition-features")
            yield Label(_("Esc: close"), classes="modal-hint")


class EditionsScreen(IssuerDomainScreen):
    """Editions: named combinations of limits and feature menus, sold at a price."""

    DOMAIN = "editions"
    CSS_PATH = "editions.tcss"
    BINDINGS = [
        Binding("n", "new_edition", _("New"), id="editions.new"),
        Binding("enter", "show_edition", _("Detail"), id="editions.detail", priority=True),
        Binding("ctrl+d", "delete_edition", _("Delete"), id="editions.delete"),
        Binding("r", "refresh", _("Refresh"), id="editions.refresh"),
    ]

    def compose_content(self) -> ComposeResult:
        yield Label(_("Editions"), classes="section-title")
        yield DataTable(id="editions-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#editions-table", DataTable)
        table.add_column(_("Name"), key="name")
        table.add_column(_("Clusters"), key="clusters")
        table.add_column(_("Nodes"), key="nodes")
        table.add_column(_("Storage"), key="storage")
        table.add_column(_("Modules"), key="modules")
        table.add_column(_("Price"), key="price")
        table.add_column(_("Licenses"), key="licenses")
        table.focus()
        self.refresh_editions()

    @work(exclusive=True, group="editions-refresh", exit_on_error=False)
    async def refresh_editions(self, select: str | None = None) -> None:
        """Reload the list; keep the cursor on the same edition (or on `select`)."""
        editions = await self.services.issuer.list_editions()
        self.show_editions(editions, select=select)

    def show_editions(self, editions: Sequence[EditionInfo], *, select: str | None = None) -> None:
        """Fill the table."""
        table = self.query_one("#editions-table", DataTable)
        keep = select or self.selected_name()
        table.clear()
        for e in editions:
            table.add_row(
                e.name,
                str(e.max_clusters),
                str(e.max_nodes),
                storage_text(e.storage),
                modules_text(e.modules),
                str(e.price),
                str(e.license_count),
                key=e.name,
            )
        move_to_key(table, keep)

    def selected_name(self) -> str | None:
        """The edition under the cursor."""
        return cursor_key(self.query_one("#editions-table", DataTable))

    def action_refresh(self) -> None:
        """Reload the list."""
        self.refresh_editions()

    # ---------------------------------------------------------------- new

    def action_new_edition(self) -> None:
        """Open the new-edition form (after loading the menu tree)."""
        self.open_new_edition()

    @work(exclusive=True, group="editions-menus", exit_on_error=False)
    async def open_new_edition(self) -> None:
        menus = await self.services.issuer.menu_tree()
        self.app.push_screen(NewEditionModal(self.services.issuer, menus), callback=self.edition_created)

    def edition_created(self, info: EditionInfo | None) -> None:
        if info is None:
            return
        self.notify(_("Edition {name} created").format(name=info.name))
        self.refresh_editions(select=info.name)
        self.issuer_app.refresh_status()

    # ---------------------------------------------------------------- detail

    def action_show_edition(self) -> None:
        """Show the edition under the cursor."""
        name = self.selected_name()
        if name is not None:
            self.show_edition(name)

    @work(exclusive=True, group="editions-detail", exit_on_error=False)
    async def show_edition(self, name: str) -> None:
        edition = await self.services.issuer.get_edition(name)
        names = menu_names(await self.services.issuer.menu_tree())
        self.app.push_screen(EditionDetailModal(edition, names))

    # ---------------------------------------------------------------- delete

    def action_delete_edition(self) -> None:
        """Ask, then delete the edition under the cursor."""
        name = self.selected_name()
        if name is None:
            return
        question = _("Delete edition {name}? This cannot be undone.").format(name=name)

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_edition(name)

        self.app.push_screen(ConfirmModal(question), callback=answered)

    @work(group="editions-delete", exit_on_error=False)
    async def delete_edition(self, name: str) -> None:
        """Delete; an edition still in use is refused with a clear notification."""
        table = self.query_one("#editions-table", DataTable)
        table.loading = True
        try:
            await self.services.issuer.delete_edition(name)
        except ServiceError as err:
            self.notify(render(err), title=_("Cannot delete"), severity="error", timeout=10)
            return
        finally:
            table.loading = False
        self.notify(_("Edition {name} deleted").format(name=name))
        self.refresh_editions()
        self.issuer_app.refresh_status()
