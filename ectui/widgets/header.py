"""AppHeader: one line with the app name, current project and cluster, and a status (license) text."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal

from ectui.i18n import _
from ectui.widgets.literal import Label


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
        &.-production {
            background: $error-muted;
            #header-context { color: $text; text-style: bold; }
        }
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
        if hasattr(self.app, "cluster"):
            self.watch(self.app, "cluster", self._recheck_production, init=False)
            self.app.screen_change_signal.subscribe(self, self._recheck_production)
            self.check_production()

    def _recheck_production(self, _value: object = None) -> None:
        self.check_production()

    @work(exclusive=True, group="header-production", exit_on_error=False)
    async def check_production(self) -> None:
        """Colour the header (class -production) while the current cluster is a protected one."""
        clusters = getattr(getattr(self.app, "services", None), "clusters", None)
        cluster = getattr(self.app, "cluster", "—")
        production = False
        if clusters is not None and cluster not in ("", "—"):
            from ectui.services.errors import ServiceError

            try:
                production = (await clusters.get(cluster)).production
            except ServiceError:
                production = False
        if production != self.has_class("-production"):
            self.set_class(production, "-production")
            self._update()

    @property
    def production(self) -> bool:
        """Whether the header shows a protected (production) cluster."""
        return self.has_class("-production")

    def _update(self, _value: object = None) -> None:
        app = self.app
        self.query_one("#header-title", Label).update(app.title)
        project = getattr(app, "project", None) or "—"
        cluster = getattr(app, "cluster", None) or "—"
        context = ""
        if getattr(app, "SHOWS_CONTEXT", True):
            context = _("Project: {project}  Cluster: {cluster}").format(project=project, cluster=cluster)
            if self.has_class("-production"):
                context += "  " + _("PRODUCTION")
        self.query_one("#header-context", Label).update(context)
        self.query_one("#header-status", Label).update(getattr(app, "status_text", ""))
        self.query_one("#header-jobs", Label).update(getattr(app, "jobs_text", ""))
