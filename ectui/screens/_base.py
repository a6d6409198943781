"""DomainScreen: the base of every domain screen (header, banner, sidebar, content, footer; 1..9 and 0 switch domain)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker

from ectui.i18n import _
from ectui.messages import forward_worker_error
from ectui.widgets import AppHeader, Banner, Sidebar

if TYPE_CHECKING:
    from ectui.services import ConsoleServices, IssuerServices

MAX_DOMAINS = 10
"""Keys 1..9 then 0 switch domains."""


def domain_key_for(index: int) -> str:
    """The key of the domain at a (0-based) sidebar position: 1..9, then 0 for the tenth."""
    return str((index + 1) % 10)


@dataclass(frozen=True)
class Domain:
    """One entry of an app's sidebar: a mode of the app with its base screen."""

    id: str
    """Mode name, also the DomainScreen.DOMAIN of its screen."""
    label: str
    """Untranslated label (marked with N_, translated when shown)."""
    screen: Callable[[], Screen[Any]]
    """Factory of the mode's base screen (the screen class)."""
    feature: str | None = None
    """The licensed feature (menu or module code) the domain needs; None: always shown."""


def lazy_screen(path: str) -> Callable[[], Screen[Any]]:
    """A factory of the screen 'package.module:Class', imported only when the operator first opens it
    (start-up then imports the first domain's screen only)."""
    module_name, _sep, class_name = path.partition(":")

    def make() -> Screen[Any]:
        import importlib

        return getattr(importlib.import_module(module_name), class_name)()  # type: ignore[no-any-return]

    make.__qualname__ = make.__name__ = class_name
    return make


class DomainScreen(Screen[None]):
    """Base of domain screens: subclasses set DOMAIN and implement compose_content()."""

    DOMAIN: ClassVar[str] = ""
    """The Domain.id this screen belongs to (highlighted in the sidebar)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(domain_key_for(n), f"goto_domain({n})", show=False, id=f"domain.{n + 1}")
        for n in range(MAX_DOMAINS)
    ] + [Binding("colon", "go_to", _("Go to…"), show=False, id="domain.go_to")]

    def compose(self) -> ComposeResult:
        yield AppHeader(id="app-header")
        yield Banner(id="readonly-banner")
        with Horizontal(id="domain-body"):
            yield Sidebar([(d.id, d.label) for d in self.domains], self.DOMAIN, id="sidebar")
            with Vertical(id="domain-content"):
                yield from self.compose_content()
        yield Footer()

    def compose_content(self) -> ComposeResult:
        """The widgets right of the sidebar."""
        yield from ()

    def on_mount(self) -> None:  # Textual also runs each subclass's on_mount (handlers run along the MRO)
        signal = getattr(self.app, "domains_signal", None)
        if signal is not None:
            signal.subscribe(self, self.show_domains)

    def show_domains(self, _changed: object = None) -> None:
        """Update the sidebar to the domains the license enables now."""
        self.query_one(Sidebar).set_domains([(d.id, d.label) for d in self.domains])

    @property
    def domains(self) -> tuple[Domain, ...]:
        """The app's domains in key order."""
        visible = getattr(self.app, "visible_domains", None)
        return tuple(visible()) if visible else tuple(getattr(self.app, "DOMAINS", ()))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "goto_domain":
            index = parameters[0] if parameters else -1
            return isinstance(index, int) and 0 <= index < len(self.domains)
        return True

    def action_goto_domain(self, index: int) -> None:
        """Switch to the domain with this (0-based) index."""
        if 0 <= index < len(self.domains):
            self.app.switch_mode(self.domains[index].id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        forward_worker_error(self, event)

    def action_go_to(self) -> None:
        """Pick any domain by name (type to filter): every domain, also beyond the ten number keys."""
        from ectui.widgets.modals import GoToModal

        def chosen(domain_id: str | None) -> None:
            if domain_id:
                self.app.switch_mode(domain_id)

        self.app.push_screen(GoToModal([(d.id, _(d.label)) for d in self.domains]), callback=chosen)


class IssuerDomainScreen(DomainScreen):
    """A screen of the issuer app."""

    @property
    def services(self) -> IssuerServices:
        """The issuer services of the app."""
        return self.app.services  # type: ignore[attr-defined, no-any-return]


class ConsoleDomainScreen(DomainScreen):
    """A screen of the console app."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "switch_project", _("Switch project"), id="console.switch_project"),
    ]

    def action_switch_project(self) -> None:
        """Choose the current project (shown in the header; new VMs go there)."""
        self.pick_project()

    @work(exclusive=True, group="project-pick", exit_on_error=False)
    async def pick_project(self) -> None:
        from ectui.screens.projects import PickProjectModal

        projects = await self.services.projects.list()
        current = await self.services.projects.current()

        def chosen(name: str | None) -> None:
            if name:
                self.use_project_named(name)

        self.app.push_screen(PickProjectModal(projects, current.name if current else None), callback=chosen)

    @work(group="project-pick", exit_on_error=False)
    async def use_project_named(self, name: str) -> None:
        """Make `name` the current project."""
        info = await self.services.projects.use(name)
        self.app.project = info.name  # type: ignore[attr-defined]
        self.notify(_("Current project: {name}").format(name=info.name))

    @property
    def services(self) -> ConsoleServices:
        """The console services of the app."""
        return self.app.services  # type: ignore[attr-defined, no-any-return]
