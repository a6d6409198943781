"""The license import dialog, and the import action of the screens that offer it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from ectui.i18n import _, render
from ectui.services.errors import ServiceError
from ectui.widgets import PathInput, ShellModal
from ectui.widgets.literal import Input, Label, Static

if TYPE_CHECKING:
    from ectui.services.license import ConsoleLicenseService, LicenseStatus


class ImportLicenseModal(ShellModal["LicenseStatus | None"]):
    """Paths of the .ec file and constant.properties; imports and stays open with the reason when refused."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Import"), id="import.submit")]

    def __init__(self, service: ConsoleLicenseService, default_properties: Path) -> None:
        super().__init__()
        self.service = service
        self.default_properties = default_properties

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="import-box"):
            yield Label(_("Import license"), classes="modal-title")
            with Horizontal(classes="form-row"):
                yield Label(_("License file"))
                yield PathInput(placeholder=_("path/to/customer.ec"), id="import-ec")
            with Horizontal(classes="form-row"):
                yield Label(_("Properties"))
                yield PathInput(placeholder=_("(default)"), id="import-properties")
            yield Label(
                _("Empty properties: {path}").format(path=self.default_properties),
                classes="modal-hint",
                markup=False,
            )
            yield Static(id="import-error", classes="modal-error")
            yield Label(_("Tab/→: complete · Enter/Ctrl+S: import · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="import-cancel")
                yield Button(_("Import"), id="import-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#import-ec", PathInput).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#import-save")
    def action_submit(self) -> None:
        """Import the chosen file."""
        if self.busy:
            return
        ec_path = self.query_one("#import-ec", PathInput).path
        if ec_path is None:
            self.query_one("#import-error", Static).update(_("Enter the path of the .ec license file."))
            self.query_one("#import-ec", PathInput).focus()
            return
        self.import_license(ec_path, self.query_one("#import-properties", PathInput).path)

    @work(exclusive=True, group="license-import", exit_on_error=False)
    async def import_license(self, ec_path: Path, properties_path: Path | None) -> None:
        """Import; the modal cannot be closed meanwhile (so this worker outlives nothing)."""
        box = self.query_one("#import-box")
        error = self.query_one("#import-error", Static)
        error.update("")
        self.busy = box.loading = True
        try:
            status = await self.service.import_license(ec_path, properties_path)
        except ServiceError as err:
            error.update(render(err))
            return
        finally:
            self.busy = box.loading = False
        self.dismiss(status)


class ImportsLicense:
    """Screens that offer the license import (the License screen, the first-run screen)."""

    services: Any
    app: Any

    def action_import_license(self) -> None:
        """Open the license import (with path completion)."""
        modal = ImportLicenseModal(self.services.license, self.services.settings.properties_path)
        self.app.push_screen(modal, callback=self.license_imported)

    def license_imported(self, status: LicenseStatus | None) -> None:
        if status is None:
            return
        self.app.apply_license_status(status)
        edition = status.license.edition if status.license else ""
        self.app.notify(_("License imported: {edition}").format(edition=edition), title=_("License"))
