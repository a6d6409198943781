"""WelcomeScreen: the first run of a console with an empty home (no license, no cluster).

Says what ectui is, how to try it (`ectui --demo`), and walks through the two steps that make a
console usable: import the vendor's license, then add a cluster; each is checked off as it is done,
and the screen goes away once both are. Escape skips it (the License screen is below).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer

from ectui.i18n import _, render
from ectui.services.errors import ServiceError
from ectui.widgets.host import ConsoleServicesAccess
from ectui.widgets.license_import import ImportsLicense
from ectui.widgets.literal import Label, Static

if TYPE_CHECKING:
    from ectui.services.clusters import ClusterDraft
    from ectui.services.license import LicenseStatus

STEPS = ("demo", "license", "cluster")
"""The checklist, in the order shown."""
DONE, PENDING = "[✓]", "[ ]"


class WelcomeScreen(ImportsLicense, ConsoleServicesAccess, Screen[None]):
    """First-run steps; `i` imports the license, `n` adds a cluster, Escape goes to the License screen."""

    CSS_PATH = "welcome.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "import_license", _("Import license"), id="welcome.import_license"),
        Binding("n", "add_cluster", _("Add cluster"), id="welcome.add_cluster"),
        Binding("r", "refresh", _("Refresh"), id="welcome.refresh"),
        Binding("escape", "skip", _("Skip"), id="welcome.skip"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="welcome-scroll"), Vertical(id="welcome-box"):
            yield Label(_("Welcome to ectui"), classes="section-title", id="welcome-title")
            yield Static(
                _(
                    "ectui is a keyboard-driven console for OpenStack private clouds: clusters, compute "
                    "nodes, images, ISO files, VMs, projects, statistics and billing, as far as the "
                    "license from your vendor allows."
                ),
                id="welcome-intro",
            )
            yield Static(id="welcome-step-demo", classes="welcome-step")
            yield Static(id="welcome-step-license", classes="welcome-step")
            yield Static(id="welcome-step-cluster", classes="welcome-step")
            yield Static(
                _("Esc: skip to the License screen · ?: all keys · Ctrl+P: commands · Ctrl+Q: quit"),
                id="welcome-hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#welcome-scroll").focus()
        self.watch(self.app, "license_status", self.show_steps)

    def on_screen_resume(self) -> None:
        self.show_steps(getattr(self.app, "license_status", None))

    # ---------------------------------------------------------------- the checklist

    def done(self, status: LicenseStatus | None) -> dict[str, bool]:
        """Which steps are done: a demo home exists, a license is in force, a cluster is registered."""
        license_ok = status is not None and status.license is not None and status.state in ("valid", "grace")
        return {
            "demo": self.services.settings.demo_home.is_dir(),
            "license": license_ok,
            "cluster": status is not None and status.usage.clusters > 0,
        }

    def show_steps(self, status: LicenseStatus | None) -> None:
        """Check off what is done; leave once the license and a cluster are there."""
        done = self.done(status)
        texts = {
            "demo": _("Try it first (optional): quit with Ctrl+Q and run 'ectui --demo': a built-in dev "
                      "cloud, licensed, in a home of its own; nothing here changes."),
            "license": _("1. Import the license from your vendor (a .ec file and its constant.properties): "
                         "press i."),
            "cluster": _("2. Add a cluster: its Keystone URL and credentials, or a clouds.yaml entry: press n."),
        }  # fmt: skip
        for step in STEPS:
            widget = self.query_one(f"#welcome-step-{step}", Static)
            widget.update(f"{DONE if done[step] else PENDING} {texts[step]}")
            widget.set_class(done[step], "-done")
        if done["license"] and done["cluster"] and self.is_current:
            self.dismiss()

    # ---------------------------------------------------------------- actions

    def action_skip(self) -> None:
        """Leave the steps for the License screen."""
        self.dismiss()

    def action_refresh(self) -> None:
        """Reload the license status (and with it the steps)."""
        self.console.refresh_status()

    def action_add_cluster(self) -> None:
        """Open the new-cluster form."""
        from ectui.widgets.cluster_form import ClusterFormModal

        def submitted(draft: ClusterDraft | None) -> None:
            if draft is not None:
                self.save_cluster(draft)

        self.app.push_screen(ClusterFormModal(self.services.clusters), callback=submitted)

    @work(group="welcome-cluster", exit_on_error=False)
    async def save_cluster(self, draft: ClusterDraft) -> None:
        """Add the cluster; refusals (no license, limits, duplicates) are shown."""
        try:
            info = await self.services.clusters.add(draft)
        except ServiceError as err:
            self.notify(render(err), title=_("Cluster not saved"), severity="error", timeout=10)
            return
        self.notify(_("Cluster {name} saved").format(name=info.name))
        self.console.refresh_status()
