"""The cluster definition form (used by the Clusters screen and the first-run steps)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from ectui.i18n import N_, _, render
from ectui.services.errors import ServiceError
from ectui.widgets import PathInput, PlainCheckbox, ShellModal
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import Input, Label, Static

if TYPE_CHECKING:
    from ectui.services.clusters import ClusterDraft, ClusterInfo, ClusterService


STORAGE_LABELS = {"local": N_("local storage"), "shared": N_("shared storage")}

CLUSTER_FIELDS = {
    "name": "cluster-name",
    "storage_mode": "cluster-storage",
    "cloud": "cluster-cloud",
    "auth_url": "cluster-auth-url",
    "username": "cluster-username",
    "password": "cluster-password",
    "project": "cluster-project",
    "user_domain": "cluster-user-domain",
    "project_domain": "cluster-project-domain",
    "region": "cluster-region",
    "cacert": "cluster-cacert",
}
"""ValidationError.field_id → the widget to mark and focus."""


class ClusterFormModal(ShellModal["ClusterDraft | None"]):
    """A cluster's definition: a clouds.yaml entry, or explicit credentials; can test before saving."""

    BINDINGS = [
        Binding("ctrl+s", "submit", _("Save"), id="cluster_form.submit"),
        Binding("ctrl+t", "test", _("Test connection"), id="cluster_form.test"),
    ]

    def __init__(self, clusters: ClusterService, current: ClusterInfo | None = None) -> None:
        super().__init__()
        self.clusters = clusters
        self.current = current

    def compose(self) -> ComposeResult:
        c = self.current
        title = _("New cluster") if c is None else _("Edit cluster {name}").format(name=c.name)
        cloud = c.source.split(":", 1)[1] if c and c.source.startswith("clouds.yaml:") else ""
        rows: list[tuple[str, str, str, bool]] = [
            (_("Name"), "cluster-name", c.name if c else "", False),
            (_("clouds.yaml entry"), "cluster-cloud", cloud, False),
            (_("Auth URL"), "cluster-auth-url", c.auth_url if c else "", False),
            (_("User name"), "cluster-username", c.username if c else "", False),
            (_("Password"), "cluster-password", "", True),
            (_("Project"), "cluster-project", c.project if c else "", False),
            (_("User domain"), "cluster-user-domain", c.user_domain if c else "Default", False),
            (_("Project domain"), "cluster-project-domain", c.project_domain if c else "Default", False),
            (_("Region"), "cluster-region", c.region if c else "", False),
        ]
        with Vertical(classes="modal-box", id="cluster-form-box"):
            yield Label(title, classes="modal-title")
            for label, input_id, value, secret in rows:
                with Horizontal(classes="form-row"):
                    yield Label(label)
                    placeholder = _("unchanged") if secret and c is not None else ""
                    yield Input(value, id=input_id, password=secret, placeholder=placeholder)
            with Horizontal(classes="form-row"):
                yield Label(_("CA file"))
                yield PathInput(c.cacert if c else "", id="cluster-cacert")
            with Horizontal(classes="form-row"):
                yield Label(_("Storage"))
                yield PlainCheckbox(
                    _("local storage"), bool(c and c.storage_mode == "local"), id="cluster-storage"
                )
                yield PlainCheckbox(_("TLS insecure"), bool(c and c.insecure), id="cluster-insecure")
                yield PlainCheckbox(_("production"), bool(c and c.production), id="cluster-production")
            yield Static(id="cluster-error", classes="modal-error")
            yield Label(
                _(
                    "A clouds.yaml entry overrides the fields below it · Ctrl+T: test · Ctrl+S: save · Esc: cancel"
                ),
                classes="modal-hint",
            )
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="cluster-cancel")
                yield Button(_("Test"), id="cluster-test")
                yield Button(_("Save"), id="cluster-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cluster-name", Input).focus()

    def draft(self) -> ClusterDraft:
        """Validate the form into a ClusterDraft (raises ValidationError)."""
        from ectui.services.clusters import ClusterDraft

        def value(input_id: str) -> str:
            return self.query_one(f"#{input_id}", Input).value

        local = self.query_one("#cluster-storage", PlainCheckbox).value
        return ClusterDraft.parse(
            name=value("cluster-name"),
            storage_mode="local" if local else "shared",
            cloud=value("cluster-cloud"),
            auth_url=value("cluster-auth-url"),
            username=value("cluster-username"),
            password=value("cluster-password"),
            project=value("cluster-project"),
            user_domain=value("cluster-user-domain"),
            project_domain=value("cluster-project-domain"),
            region=value("cluster-region"),
            cacert=value("cluster-cacert"),
            insecure=self.query_one("#cluster-insecure", PlainCheckbox).value,
            password_required=self.current is None,
            production=self.query_one("#cluster-production", PlainCheckbox).value,
        )

    @on(Input.Submitted)
    @on(Button.Pressed, "#cluster-save")
    def action_submit(self) -> None:
        """Return the validated draft."""
        try:
            draft = self.draft()
        except ServiceError as err:
            mark_field(self, CLUSTER_FIELDS, "cluster-error", err)
            return
        self.dismiss(draft)

    @on(Button.Pressed, "#cluster-test")
    def action_test(self) -> None:
        """Test the connection with what the form holds, without saving."""
        try:
            draft = self.draft()
        except ServiceError as err:
            mark_field(self, CLUSTER_FIELDS, "cluster-error", err)
            return
        self.test_draft(draft)

    @work(exclusive=True, group="cluster-test", exit_on_error=False)
    async def test_draft(self, draft: ClusterDraft) -> None:
        error = self.query_one("#cluster-error", Static)
        error.update(_("Testing…"))
        self.busy = True
        try:
            verdict = await self.clusters.test_credentials(
                draft, existing=self.current.name if self.current else None
            )
        finally:
            self.busy = False
        if verdict.ok:
            error.update(_("Connection OK: {services}").format(services=", ".join(verdict.services)))
        else:
            error.update(render(verdict.error) if verdict.error else verdict.verdict)
