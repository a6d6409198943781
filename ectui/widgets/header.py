"""AppHeader: one line with the app name, current project and cluster, and a status (license) text."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from ectui.i18n import _


class AppHeader(Horizontal):
    """The top line of every domain screen; follows the app's `title`, `project`, `cluster` and `status_text`."""

    DEFAULT_CSS = """
    AppHeader {
        dock: top;
        height: 1;
        width: 1fr;
        background: $panel;
        color: $foreground;
        #header-title { text-style: bold; padding: 0 1; width: auto; }
        #header-context { color: $text-muted; width: 1fr; padding: 0 1; }
        #header-status { width: auto; padding: 0 1; text-style: bold; }
        #header-jobs { width: auto; padding: 0 1; color: $accent; }
    }
    """

    def compose(self) -> ComposeResult:
        yield Label(id="header-title")
        yield Label(id="header-context")
        yield Label(id="header-jobs")
        yield Label(id="header-status")

    def on_mount(self) -> None:
        for name in ("title", "project", "cluster", "status_text", "jobs_text"):
            if hasattr(self.app, name):
                self.watch(self.app, name, self._update, init=False)
        self._update()

    def _update(self, _value: object = None) -> None:
        app = self.app
        self.query_one("#header-title", Label).update(app.title)
        project = getattr(app, "project", None) or "—"
        cluster = getattr(app, "cluster", None) or "—"
        context = ""
        if getattr(app, "SHOWS_CONTEXT", True):
            context = _("Project: {project}  Cluster: {cluster}").format(project=project, cluster=cluster)
        self.query_one("#header-context", Label).update(context)
        self.query_one("#header-status", Label).update(getattr(app, "status_text", ""))
        self.query_one("#header-jobs", Label).update(getattr(app, "jobs_text", ""))

    @property
    def status(self) -> str:
        """The status text as shown (for tests)."""
        return str(self.query_one("#header-status", Label).content)
