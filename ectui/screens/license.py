"""License (console): the installed license, usage against its limits, and import of a .ec file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll

from ectui.i18n import N_, _
from ectui.screens._base import ConsoleDomainScreen
from ectui.services.issuer import MENU_TREE
from ectui.widgets.editions_text import features_text, storage_text
from ectui.widgets.license_import import ImportsLicense
from ectui.widgets.literal import Label, Static

if TYPE_CHECKING:
    from ectui.services.license import LicenseStatus

FEATURE_NAMES: dict[str, str] = {
    code: name for module, title, menus in MENU_TREE for code, name in ((module, title), *menus)
}
"""Feature code → untranslated menu name (the licensed feature menus, as the issuer seeds them)."""

STATE_LABELS = {
    "none": N_("no license"),
    "valid": N_("valid"),
    "grace": N_("in grace period"),
    "expired": N_("expired"),
    "not_yet_valid": N_("not yet valid"),
    "clock_rollback": N_("clock set back"),
}


def status_lines(status: LicenseStatus) -> list[tuple[str, str]]:
    """(label, value) rows describing a license status."""
    state = _(STATE_LABELS.get(status.state, status.state))
    lic = status.license
    if lic is None:
        return [(_("State"), state)]
    if status.state == "grace" and status.grace_days_left is not None:
        left = _("{days} grace days left").format(days=status.grace_days_left)
    elif status.days_left is not None and status.days_left >= 0:
        left = str(status.days_left)
    elif status.days_left is not None:
        left = _("expired {days} days ago").format(days=-status.days_left)
    else:
        left = "—"
    usage = status.usage
    return [
        (_("State"), state),
        (_("Edition"), lic.edition),
        (_("Customer"), lic.customer),
        (_("License id"), lic.license_id),
        (_("Validity"), f"{lic.valid_from.isoformat()} — {lic.valid_to.isoformat()}"),
        (_("Days left"), left),
        (_("Clusters"), f"{usage.clusters} / {lic.max_clusters}"),
        (_("Nodes"), f"{usage.nodes} / {lic.max_nodes}"),
        (_("Storage modes"), storage_text(lic.storage)),
        (_("Grace days"), str(lic.grace_days)),
        (_("Issued"), lic.issued_at.strftime("%Y-%m-%d %H:%M")),
    ]


class LicenseScreen(ImportsLicense, ConsoleDomainScreen):
    """The installed license: edition, validity, limits with usage, features; `i` imports a new one."""

    DOMAIN = "license"
    CSS_PATH = "license.tcss"
    BINDINGS = [
        Binding("i", "import_license", _("Import"), id="license.import"),
        Binding("r", "refresh", _("Refresh"), id="license.refresh"),
    ]

    def compose_content(self) -> ComposeResult:
        yield Label(_("License"), classes="section-title")
        with VerticalScroll(id="license-scroll"):
            yield Static("", markup=False, id="license-summary")
            yield Label(_("Features"), classes="section-title", id="license-features-title")
            yield Static("", markup=False, id="license-features")

    def on_mount(self) -> None:
        self.query_one("#license-scroll").focus()
        self.watch(self.app, "license_status", self.show_status)

    def show_status(self, status: LicenseStatus | None) -> None:
        """Show a license status (called whenever the app's status changes)."""
        if status is None:
            return
        rows = status_lines(status)
        width = max(len(label) for label, _value in rows) + 2
        summary = "\n".join(f"{label.ljust(width)}{value}" for label, value in rows)
        if status.license is None:
            summary += "\n\n" + _("Press i to import a license file (.ec) from the issuer.")
        self.query_one("#license-summary", Static).update(summary)
        features = status.license.features if status.license else ()
        self.query_one("#license-features-title").display = bool(features)
        names = {code: _(name) for code, name in FEATURE_NAMES.items()}
        self.query_one("#license-features", Static).update(features_text(features, names) if features else "")

    def action_refresh(self) -> None:
        """Reload the license status."""
        self.console.refresh_status()
