"""Licenses (issuer): list, create, modify, detail (private key on request), delete, export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button

from ectui.i18n import N_, _, render
from ectui.screens._base import IssuerDomainScreen, opens_screen
from ectui.services.errors import ServiceError
from ectui.widgets import ConfirmModal, PathInput, ShellModal
from ectui.widgets.editions_text import features_text, menu_names, storage_text
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import DataTable, Input, Label, Select, Static
from ectui.widgets.tables import cursor_id, move_to_key

if TYPE_CHECKING:
    from ectui.services.issuer import IssuerService, LicenseChanges, LicenseDraft, LicenseInfo

STATUS_LABELS = {"valid": N_("valid"), "expired": N_("expired"), "not yet valid": N_("not yet valid")}

LICENSE_FIELDS = {
    "customer": "license-customer",
    "edition": "license-edition",
    "valid_from": "license-valid-from",
    "valid_to": "license-valid-to",
}
"""ValidationError.field_id → the widget to mark and focus."""


def add_years(day: dt.date, years: int) -> dt.date:
    """The same day `years` later (28 Feb for 29 Feb in a non-leap year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class LicenseFormModal(ShellModal[object]):
    """Customer, edition and validity; returns a LicenseDraft (new) or LicenseChanges (modify)."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Save"), id="license_form.submit")]

    def __init__(self, editions: Sequence[str], license: LicenseInfo | None = None) -> None:
        super().__init__()
        self.editions = list(editions)
        self.license = license

    def compose(self) -> ComposeResult:
        today = dt.date.today()
        lic = self.license
        title = _("New license") if lic is None else _("Modify license {id}").format(id=lic.id)
        edition_value = lic.edition if lic is not None and lic.edition in self.editions else Select.NULL
        if lic is None and self.editions:
            edition_value = self.editions[0]
        with Vertical(classes="modal-box", id="license-form-box"):
            yield Label(title, classes="modal-title")
            with Horizontal(classes="form-row"):
                yield Label(_("Customer"))
                yield Input(lic.customer if lic else "", id="license-customer")
            with Horizontal(classes="form-row-tall"):
                yield Label(_("Edition"))
                yield Select(
                    [(name, name) for name in self.editions],
                    value=edition_value,
                    prompt=_("Choose an edition"),
                    id="license-edition",
                )
            with Horizontal(classes="form-row"):
                yield Label(_("Valid from"))
                yield Input((lic.valid_from if lic else today).isoformat(), id="license-valid-from")
            with Horizontal(classes="form-row"):
                yield Label(_("Valid to"))
                yield Input((lic.valid_to if lic else add_years(today, 1)).isoformat(), id="license-valid-to")
            yield Static(id="license-error", classes="modal-error")
            yield Label(_("Dates as YYYY-MM-DD · Ctrl+S: save · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="license-cancel")
                yield Button(_("Create") if lic is None else _("Save"), id="license-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#license-customer", Input).focus()

    def show_error(self, err: ServiceError) -> None:
        """Show why the form is refused; mark and focus the field."""
        mark_field(self, LICENSE_FIELDS, "license-error", err)

    def values(self) -> dict[str, str]:
        """The raw form values."""
        edition = self.query_one("#license-edition", Select).value
        return {
            "customer": self.query_one("#license-customer", Input).value,
            "edition": "" if edition is Select.NULL else str(edition),
            "valid_from": self.query_one("#license-valid-from", Input).value,
            "valid_to": self.query_one("#license-valid-to", Input).value,
        }

    @on(Input.Submitted)
    @on(Button.Pressed, "#license-save")
    def action_submit(self) -> None:
        """Validate; return a draft (new) or the changed fields (modify)."""
        from ectui.services.issuer import LicenseChanges, LicenseDraft

        values = self.values()
        try:
            if self.license is None:
                result: object = LicenseDraft.parse(**values)
            else:
                old = self.license
                current = {
                    "customer": old.customer,
                    "edition": old.edition,
                    "valid_from": old.valid_from.isoformat(),
                    "valid_to": old.valid_to.isoformat(),
                }
                changed = {k: v for k, v in values.items() if v != current[k]}
                if not changed:
                    self.dismiss(None)
                    return
                # dates are checked together, so pass both when one changes
                if "valid_from" in changed or "valid_to" in changed:
                    changed["valid_from"] = values["valid_from"]
                    changed["valid_to"] = values["valid_to"]
                result = LicenseChanges.parse(**changed)
        except ServiceError as err:
            self.show_error(err)
            return
        self.dismiss(result)


class LicenseDetailModal(ShellModal[None]):
    """Every field of a license; the private key only when asked for (k)."""

    BINDINGS = [Binding("k", "reveal_key", _("Show private key"), id="license_detail.reveal")]

    def __init__(
        self, issuer: IssuerService, license: LicenseInfo, names: Mapping[str, str] | None = None
    ) -> None:
        super().__init__()
        self.issuer = issuer
        self.license = license
        self.names = names

    def compose(self) -> ComposeResult:
        lic = self.license
        rows = [
            (_("License id"), str(lic.id)),
            (_("Customer"), lic.customer),
            (_("Edition"), lic.edition),
            (_("Valid from"), lic.valid_from.isoformat()),
            (_("Valid to"), lic.valid_to.isoformat()),
            (_("Status"), _(STATUS_LABELS.get(lic.status, lic.status))),
            (_("Max clusters"), str(lic.max_clusters)),
            (_("Max nodes"), str(lic.max_nodes)),
            (_("Storage modes"), storage_text(lic.storage)),
            (_("Grace days"), str(lic.grace_days)),
            (_("Created"), lic.created_at.strftime("%Y-%m-%d %H:%M")),
            (_("Updated"), lic.updated_at.strftime("%Y-%m-%d %H:%M")),
            (_("Key id"), lic.key_id),
        ]
        width = max(len(k) for k, _v in rows) + 2
        with Vertical(classes="modal-box", id="license-detail-box"):
            yield Label(_("License {id}").format(id=lic.id), classes="modal-title")
            with VerticalScroll(id="license-detail-scroll"):
                yield Static(
                    "\n".join(f"{k.ljust(width)}{v}" for k, v in rows), markup=False, id="license-fields"
                )
                yield Label(_("Features"), classes="modal-title")
                yield Static(features_text(lic.features, self.names), markup=False, id="license-features")
                yield Static("", markup=False, id="license-private-key")
            yield Label(_("k: show private key · Esc: close"), classes="modal-hint")

    def action_reveal_key(self) -> None:
        """Show the private key PEM (only on this explicit request)."""
        self.reveal_key()

    @work(exclusive=True, group="license-reveal", exit_on_error=False)
    async def reveal_key(self) -> None:
        pem = await self.issuer.reveal_private_key(self.license.id)
        key = self.query_one("#license-private-key", Static)
        key.update(_("Private key (keep it secret):") + "\n" + pem)
        key.add_class("-revealed")
        self.query_one("#license-detail-scroll", VerticalScroll).scroll_end(animate=False)


class ExportLicenseModal(ShellModal[Path]):
    """Choose the directory for <customer>.ec and constant.properties; returns the directory."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Export"), id="export.submit")]

    def __init__(self, issuer: IssuerService, license: LicenseInfo, directory: Path | None = None) -> None:
        super().__init__()
        self.issuer = issuer
        self.license = license
        self.directory = directory or Path.cwd()

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="export-box"):
            yield Label(
                _("Export license {id} ({customer})").format(
                    id=self.license.id, customer=self.license.customer
                ),
                classes="modal-title",
            )
            with Horizontal(classes="form-row"):
                yield Label(_("Directory"))
                yield PathInput(str(self.directory) + "/", directories_only=True, id="export-directory")
            yield Label(_("Files to write:"), classes="modal-hint")
            yield Static("", markup=False, id="export-targets")
            yield Static(id="export-error", classes="modal-error")
            yield Label(_("Tab/→: complete · Enter/Ctrl+S: export · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="export-cancel")
                yield Button(_("Export"), id="export-save", variant="primary")

    def on_mount(self) -> None:
        directory_input = self.query_one("#export-directory", PathInput)
        directory_input.focus()
        directory_input.cursor_position = len(directory_input.value)
        self.show_targets(directory_input.path or Path.cwd())

    @on(Input.Changed, "#export-directory")
    def directory_changed(self, event: Input.Changed) -> None:
        self.show_targets(self.query_one("#export-directory", PathInput).path or Path.cwd())

    @work(exclusive=True, group="export-targets", exit_on_error=False)
    async def show_targets(self, directory: Path) -> None:
        """Show the two file names that export would write in this directory."""
        ec_path, properties_path = await self.issuer.default_export_paths(self.license.id, directory)
        self.query_one("#export-targets", Static).update(f"  {ec_path}\n  {properties_path}")

    @on(Input.Submitted)
    @on(Button.Pressed, "#export-save")
    def action_submit(self) -> None:
        """Return the chosen directory (it must exist)."""
        path = self.query_one("#export-directory", PathInput).path or Path.cwd()
        if not path.is_dir():
            self.query_one("#export-error", Static).update(_("{path} is not a directory.").format(path=path))
            return
        self.dismiss(path)


class LicensesScreen(IssuerDomainScreen):
    """Licenses issued to customers."""

    DOMAIN = "licenses"
    CSS_PATH = "licenses.tcss"
    BINDINGS = [
        Binding("n", "new_license", _("New"), id="licenses.new"),
        Binding("e", "modify_license", _("Modify"), id="licenses.modify"),
        Binding("enter", "show_license", _("Detail"), id="licenses.detail", priority=True),
        Binding("x", "export_license", _("Export"), id="licenses.export"),
        Binding("ctrl+d", "delete_license", _("Delete"), id="licenses.delete"),
        Binding("r", "refresh", _("Refresh"), id="licenses.refresh", show=False),
    ]

    def compose_content(self) -> ComposeResult:
        yield Label(_("Licenses"), classes="section-title")
        yield DataTable(id="licenses-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#licenses-table", DataTable)
        table.add_column(_("Id"), key="id")
        table.add_column(_("Customer"), key="customer")
        table.add_column(_("Edition"), key="edition")
        table.add_column(_("Valid from"), key="valid_from")
        table.add_column(_("Valid to"), key="valid_to")
        table.add_column(_("Status"), key="status")
        table.focus()
        self.refresh_licenses()

    @property
    def table(self) -> DataTable[str]:
        """The licenses table."""
        return self.query_one("#licenses-table", DataTable)

    @work(exclusive=True, group="licenses-refresh", exit_on_error=False)
    async def refresh_licenses(self, select: int | None = None) -> None:
        """Reload the list; keep the cursor on the same license (or on `select`)."""
        licenses = await self.services.issuer.list_licenses()
        self.show_licenses(licenses, select=select)

    def show_licenses(self, licenses: Sequence[LicenseInfo], *, select: int | None = None) -> None:
        """Fill the table."""
        table = self.table
        keep = select if select is not None else self.selected_id()
        table.clear()
        for lic in licenses:
            table.add_row(
                str(lic.id),
                lic.customer,
                lic.edition,
                lic.valid_from.isoformat(),
                lic.valid_to.isoformat(),
                _(STATUS_LABELS.get(lic.status, lic.status)),
                key=str(lic.id),
            )
        move_to_key(table, keep)

    def selected_id(self) -> int | None:
        """The license under the cursor."""
        return cursor_id(self.table)

    def action_refresh(self) -> None:
        """Reload the list."""
        self.refresh_licenses()

    # ---------------------------------------------------------------- create / modify

    def action_new_license(self) -> None:
        """Open the new-license form."""
        self.open_license_form(None)

    def action_modify_license(self) -> None:
        """Open the form prefilled with the license under the cursor."""
        license_id = self.selected_id()
        if license_id is not None:
            self.open_license_form(license_id)

    @opens_screen
    @work(exclusive=True, group="licenses-form", exit_on_error=False)
    async def open_license_form(self, license_id: int | None) -> None:
        issuer = self.services.issuer
        editions = [e.name for e in await issuer.list_editions()]
        if license_id is None and not editions:
            self.notify(_("Create an edition first (Editions screen)."), severity="warning")
            return
        current = await issuer.get_license(license_id) if license_id is not None else None

        def submitted(result: object) -> None:
            if result is None:
                return
            if current is None:
                self.create_license(result)
            else:
                self.modify_license(current.id, result)

        self.app.push_screen(LicenseFormModal(editions, current), callback=submitted)

    @work(group="licenses-create", exit_on_error=False)
    async def create_license(self, draft: LicenseDraft) -> None:
        """Create the license (generates an RSA-3072 key pair: about half a second)."""
        self.table.loading = True
        try:
            info = await self.services.issuer.create_license(draft)
        except ServiceError as err:
            self.notify(render(err), title=_("License not created"), severity="error", timeout=10)
            return
        finally:
            self.table.loading = False
        self.notify(_("License {id} created for {customer}").format(id=info.id, customer=info.customer))
        self.refresh_licenses(select=info.id)
        self.issuer_app.refresh_status()

    @work(group="licenses-modify", exit_on_error=False)
    async def modify_license(self, license_id: int, changes: LicenseChanges) -> None:
        """Save the changed fields."""
        self.table.loading = True
        try:
            info = await self.services.issuer.update_license(license_id, changes)
        except ServiceError as err:
            self.notify(render(err), title=_("License not changed"), severity="error", timeout=10)
            return
        finally:
            self.table.loading = False
        self.notify(_("License {id} saved").format(id=info.id))
        self.refresh_licenses(select=info.id)

    # ---------------------------------------------------------------- detail

    def action_show_license(self) -> None:
        """Show every field of the license under the cursor."""
        license_id = self.selected_id()
        if license_id is not None:
            self.show_license(license_id)

    @work(exclusive=True, group="licenses-detail", exit_on_error=False)
    async def show_license(self, license_id: int) -> None:
        info = await self.services.issuer.get_license(license_id)
        names = menu_names(await self.services.issuer.menu_tree())
        self.app.push_screen(LicenseDetailModal(self.services.issuer, info, names))

    # ---------------------------------------------------------------- delete

    def action_delete_license(self) -> None:
        """Ask, then delete the license under the cursor."""
        license_id = self.selected_id()
        if license_id is None:
            return
        row = self.table.get_row(str(license_id))
        question = _(
            "Delete license {id} of {customer}? Its key pair is destroyed; this cannot be undone."
        ).format(id=license_id, customer=row[1])

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_license(license_id)

        self.app.push_screen(ConfirmModal(question), callback=answered)

    @work(group="licenses-delete", exit_on_error=False)
    async def delete_license(self, license_id: int) -> None:
        self.table.loading = True
        try:
            await self.services.issuer.delete_license(license_id)
        except ServiceError as err:
            self.notify(render(err), title=_("Cannot delete"), severity="error", timeout=10)
            return
        finally:
            self.table.loading = False
        self.notify(_("License {id} deleted").format(id=license_id))
        self.refresh_licenses()
        self.issuer_app.refresh_status()

    # ---------------------------------------------------------------- export

    def action_export_license(self) -> None:
        """Choose a directory, then write <customer>.ec and constant.properties there."""
        license_id = self.selected_id()
        if license_id is not None:
            self.open_export(license_id)

    @opens_screen
    @work(exclusive=True, group="licenses-form", exit_on_error=False)
    async def open_export(self, license_id: int) -> None:
        info = await self.services.issuer.get_license(license_id)

        def chosen(directory: Path | None) -> None:
            if directory is not None:
                self.export_license(license_id, directory)

        self.app.push_screen(ExportLicenseModal(self.services.issuer, info), callback=chosen)

    @work(group="licenses-export", exit_on_error=False)
    async def export_license(self, license_id: int, directory: Path) -> None:
        """Write both files (the screen outlives the modal, so the work is here)."""
        issuer = self.services.issuer
        self.table.loading = True
        try:
            ec_path, properties_path = await issuer.default_export_paths(license_id, directory)
            result = await issuer.export_license(license_id, ec_path, properties_path)
        except ServiceError as err:
            self.notify(render(err), title=_("Export failed"), severity="error", timeout=10)
            return
        finally:
            self.table.loading = False
        self.notify(
            _("Wrote {ec} and {properties}").format(ec=result.ec_path, properties=result.properties_path),
            title=_("License exported"),
            timeout=10,
        )
