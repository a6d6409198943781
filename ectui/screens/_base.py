"""DomainScreen: the base of every domain screen (header, banner, sidebar, content, footer; 1..9 and 0 switch domain)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, TypeVar

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker

from ectui.i18n import _, render
from ectui.messages import forward_worker_error
from ectui.services.errors import ServiceError
from ectui.widgets import AppHeader, Banner, Sidebar
from ectui.widgets.host import ConsoleServicesAccess, IssuerHost, issuer_app

if TYPE_CHECKING:
    from ectui.services import IssuerServices

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

        return getattr(importlib.import_module(module_name), class_name)()

    make.__qualname__ = make.__name__ = class_name
    return make


class _KeysSettled(Message):
    """Posted behind a key (or into a screen that just opened); back at the app, all before it is handled."""

    def __init__(self, token: int) -> None:
        super().__init__()
        self.token = token


class _OpenEnded(Message):
    """The worker of an `opens_screen` method ended (normally with a pushed screen)."""

    def __init__(self, origin: Screen[Any]) -> None:
        super().__init__()
        self.origin = origin


class KeyOrder(App[None]):
    """App mixin: terminal keys act one at a time, in order, on the screen they were typed for.

    Textual forwards each key to the focused widget at once, while bindings run only when the key has bubbled
    back up to the app; so in a burst (SSH, paste of keys) later characters overtake a Tab or Enter, and keys
    typed after one that opens a dialog still reach the screen underneath. Here the next key waits until a
    marker sent behind the previous one came back (its bindings ran), until a screen pushed meanwhile is
    mounted and focused (the marker goes through it), and until the worker of an `opens_screen` method ended:
    keys typed meanwhile go to the screen it opened, or are dropped if it opened none.
    """

    KEY_SETTLE_TIMEOUT: ClassVar[float] = 2.0
    """Send the next key anyway if a marker is lost (its widget was removed)."""
    OPEN_TIMEOUT: ClassVar[float] = 30.0
    """Stop holding keys for an opening screen after this long (the keys are then dropped)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_keys: deque[events.Key | events.Paste] = deque()
        self._key_token = 0
        self._key_in_flight = False
        self._keys_screen: Screen[Any] | None = None
        self._opening = 0
        self._open_waits: set[asyncio.Task[None]] = set()

    async def on_event(self, event: events.Event) -> None:
        if not isinstance(event, (events.Key, events.Paste)) or event.is_forwarded:
            await super().on_event(event)
            return
        if isinstance(event, events.Key) and self._is_quit_key(event.key):
            await super().on_event(event)
            return
        self._held_keys.append(event)
        await self._next_key()

    def _is_quit_key(self, key: str) -> bool:
        """Ctrl+Q never waits."""
        return any(b.action == "quit" for b in self._bindings.key_to_bindings.get(key, ()))

    async def _next_key(self) -> None:
        if self._key_in_flight or self._opening or not self._screen_stack:
            return
        screen = self.screen
        if screen is not self._keys_screen:  # a screen opened or closed: let it mount and set its focus first
            self._keys_screen = screen
            self._settle_through(screen)
        elif self._held_keys:
            key = self._held_keys.popleft()
            await super().on_event(key)  # priority bindings, else forwarded to the focused widget
            if self._screen_stack:
                self._settle_through(self.focused or self.screen)

    def _settle_through(self, node: Any) -> None:
        self._key_in_flight = True
        self._key_token += 1
        token = self._key_token
        if not node.post_message(_KeysSettled(token)):
            self.post_message(_KeysSettled(token))
        self.set_timer(self.KEY_SETTLE_TIMEOUT, functools.partial(self.post_message, _KeysSettled(token)))

    @on(_KeysSettled)
    async def _keys_settled(self, message: _KeysSettled) -> None:
        message.stop()
        if message.token == self._key_token and self._key_in_flight:
            self._key_in_flight = False
            await self._next_key()

    def hold_keys_while(self, worker: Worker[Any]) -> None:
        """Keys typed until `worker` (which ends by pushing a screen) is done go to that screen."""
        self._opening += 1
        origin = self.screen

        async def wait() -> None:
            with contextlib.suppress(Exception):  # failed, cancelled or too slow: the app shows errors
                await asyncio.wait_for(asyncio.shield(worker.wait()), self.OPEN_TIMEOUT)
            self.post_message(_OpenEnded(origin))

        task = asyncio.create_task(wait())
        self._open_waits.add(task)
        task.add_done_callback(self._open_waits.discard)

    @on(_OpenEnded)
    async def _open_ended(self, message: _OpenEnded) -> None:
        message.stop()
        self._opening -= 1
        if not self._opening and self._screen_stack and self.screen is message.origin:
            self._held_keys.clear()  # nothing opened: the keys were not typed for the screen underneath
        await self._next_key()


P = ParamSpec("P")
W = TypeVar("W", bound=Worker[Any])
S = TypeVar("S", bound=Screen[Any])


def opens_screen(method: Callable[Concatenate[S, P], W]) -> Callable[Concatenate[S, P], W]:
    """Put above the @work of a method that ends by pushing a screen (after loading what it shows): keys
    typed until it is up go to it, never to this screen (KeyOrder.hold_keys_while)."""

    @functools.wraps(method)
    def start(self: S, *args: P.args, **kwargs: P.kwargs) -> W:
        worker = method(self, *args, **kwargs)
        hold = getattr(self.app, "hold_keys_while", None)
        if hold is not None:
            hold(worker)
        return worker

    return start


class DomainScreen(Screen[None]):
    """Base of domain screens: subclasses set DOMAIN and implement compose_content()."""

    DOMAIN: ClassVar[str] = ""
    """The Domain.id this screen belongs to (highlighted in the sidebar)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(domain_key_for(n), f"goto_domain({n})", show=False, id=f"domain.{n + 1}")
            for n in range(MAX_DOMAINS)
        ),
        Binding("colon", "go_to", _("Go to…"), show=False, id="domain.go_to"),
    ]

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
    def issuer_app(self) -> IssuerHost:
        """The issuer app, typed."""
        return issuer_app(self)

    @property
    def services(self) -> IssuerServices:
        """The issuer services of the app."""
        return self.issuer_app.services


class ConsoleDomainScreen(ConsoleServicesAccess, DomainScreen):
    """A screen of the console app."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "switch_project", _("Switch project"), id="console.switch_project"),
    ]

    def action_switch_project(self) -> None:
        """Choose the current project (shown in the header; new VMs go there)."""
        self.pick_project()

    @opens_screen
    @work(exclusive=True, group="project-pick", exit_on_error=False)
    async def pick_project(self) -> None:
        from ectui.widgets.project_picker import PickProjectModal

        projects = await self.services.projects.list_all()
        current = await self.services.projects.current()

        def chosen(name: str | None) -> None:
            if name:
                self.use_project_named(name)

        self.app.push_screen(PickProjectModal(projects, current.name if current else None), callback=chosen)

    @work(group="project-pick", exit_on_error=False)
    async def use_project_named(self, name: str) -> None:
        """Make `name` the current project."""
        info = await self.services.projects.use(name)
        self.console.project = info.name
        self.notify(_("Current project: {name}").format(name=info.name))

    async def sync_each_cluster(self, sync: Callable[[str], Awaitable[Any]], failed_title: str) -> None:
        """Run `sync` (cluster name → a result with cluster, added, updated, gone) for every cluster and
        report each; a refused cluster is reported with `failed_title` ('{name}: …') and the others go on."""
        for cluster in await self.services.clusters.list_all():
            try:
                result = await sync(cluster.name)
            except ServiceError as err:
                self.notify(render(err), title=failed_title.format(name=cluster.name), severity="error")
                continue
            self.notify(
                _("{cluster}: {added} added, {updated} updated, {gone} gone.").format(
                    cluster=result.cluster, added=result.added, updated=result.updated, gone=result.gone
                )
            )
