"""The Textual apps: ShellApp (shared shell), ConsoleApp (cloud console) and IssuerApp (license authority)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.reactive import reactive, var
from textual.screen import Screen
from textual.signal import Signal
from textual.theme import Theme
from textual.worker import Worker

from ectui.i18n import N_, _, render
from ectui.jobs import Job, JobProgressed, Jobs
from ectui.messages import WorkerFailed, forward_worker_error
from ectui.screens._base import Domain, DomainScreen, KeyOrder, lazy_screen
from ectui.services.errors import ServiceError
from ectui.widgets import HelpModal
from ectui.widgets.literal import Static, safe_notify_text

if TYPE_CHECKING:
    from ectui.services import ConsoleServices, IssuerServices
    from ectui.services.license import LicenseStatus

ISSUER_DOMAINS: tuple[Domain, ...] = (
    Domain("editions", N_("Editions"), lazy_screen("ectui.screens.editions:EditionsScreen")),
    Domain("licenses", N_("Licenses"), lazy_screen("ectui.screens.licenses:LicensesScreen")),
    Domain("menus", N_("Feature menus"), lazy_screen("ectui.screens.menus:MenusScreen")),
)
"""Sidebar of the issuer app; add a domain with one line."""

CONSOLE_DOMAINS: tuple[Domain, ...] = (
    Domain("license", N_("License"), lazy_screen("ectui.screens.license:LicenseScreen")),
    Domain("vms", N_("VMs"), lazy_screen("ectui.screens.vms:VmsScreen"), feature="platform.vms"),
    Domain(
        "clusters",
        N_("Clusters"),
        lazy_screen("ectui.screens.clusters:ClustersScreen"),
        feature="platform.clusters",
    ),
    Domain(
        "projects", N_("Projects"), lazy_screen("ectui.screens.projects:ProjectsScreen"), feature="platform"
    ),
    Domain(
        "nodes", N_("Compute nodes"), lazy_screen("ectui.screens.nodes:NodesScreen"), feature="platform.nodes"
    ),
    Domain(
        "images", N_("Images"), lazy_screen("ectui.screens.images:ImagesScreen"), feature="platform.images"
    ),
    Domain(
        "templates",
        N_("Templates"),
        lazy_screen("ectui.screens.templates:TemplatesScreen"),
        feature="platform.templates",
    ),
    Domain("isos", N_("ISO files"), lazy_screen("ectui.screens.isos:IsosScreen"), feature="platform.isos"),
    Domain(
        "operations",
        N_("Operations"),
        lazy_screen("ectui.screens.operations:OperationsScreen"),
        feature="platform",
    ),
    Domain("stats", N_("Statistics"), lazy_screen("ectui.screens.stats:StatsScreen"), feature="statistics"),
    Domain(
        "requests", N_("Requests"), lazy_screen("ectui.screens.requests:RequestsScreen"), feature="workflow"
    ),
    Domain("billing", N_("Billing"), lazy_screen("ectui.screens.billing:BillingScreen"), feature="billing"),
    Domain("users", N_("Users"), lazy_screen("ectui.screens.users:UsersScreen"), feature="users.accounts"),
    Domain("audit", N_("Audit log"), lazy_screen("ectui.screens.audit:AuditScreen"), feature="users.audit"),
    Domain("jobs", N_("Jobs"), lazy_screen("ectui.screens.jobs:JobsScreen")),
)
"""Sidebar of the console app; add a domain with one line."""


def binding_ids() -> set[str]:
    """The ids of every binding of ectui (and Textual): what keymap.toml may name. Imports every screen."""
    import importlib
    import pkgutil

    from textual.dom import DOMNode

    import ectui.screens
    import ectui.widgets

    for package in (ectui.screens, ectui.widgets):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    ids: set[str] = set()
    classes: list[type[DOMNode]] = [DOMNode]
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        ids.update(b.id for b in cls.__dict__.get("BINDINGS", ()) if isinstance(b, Binding) and b.id)
    return ids


def read_keymap(path: Path) -> tuple[dict[str, str], list[str]]:
    """keymap.toml: `"binding.id" = "key,key"` lines → (keymap, one-line problems naming the bad lines).

    Read line by line, so that one bad line (not TOML, an unknown id, not a string) leaves the rest in force.
    """
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as err:
        return {}, [_("{file}: cannot read it ({reason})").format(file=path.name, reason=err)]
    known = binding_ids()
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = _("{file} line {line}").format(file=path.name, line=number)
        try:
            entries = list(_flat(tomllib.loads(line)))
        except tomllib.TOMLDecodeError:
            problems.append(
                where + ": " + _('not a TOML line like "vms.start" = "S": {text}').format(text=line.strip())
            )
            continue
        for ident, keys in entries:
            if ident not in known:
                problems.append(where + ": " + _("unknown binding id '{id}'").format(id=ident))
            elif not isinstance(keys, str) or not keys.strip():
                problems.append(
                    where
                    + ": "
                    + _("the keys of '{id}' must be a string like \"ctrl+q,ctrl+c\"").format(id=ident)
                )
            else:
                keymap[ident] = ",".join(key.strip() for key in keys.split(",") if key.strip())
    return keymap, problems


def _flat(table: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, object]]:
    """(dotted id, value) of a parsed line: `vms.start = "S"` and `"vms.start" = "S"` name the same id."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


class ShellApp(KeyOrder, App[None]):  # KeyOrder: keys typed ahead act in order, on the screen meant
    """What both apps share: services started on mount, domains as modes, help, palette, error display."""

    CSS_PATH = "app.tcss"
    DOMAINS: ClassVar[tuple[Domain, ...]] = ()
    SHOWS_CONTEXT: ClassVar[bool] = True
    """Whether the header shows the current project and cluster."""
    """The domains (modes) of the app, in sidebar and key order."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", _("Help"), id="app.help"),
        Binding("ctrl+q", "quit", _("Quit"), id="app.quit", priority=True),
    ]

    status_text: reactive[str] = reactive("")
    """Right part of the header: license edition and days left, or issuer counts."""
    readonly_reason: reactive[str] = reactive("")
    """Why the app is read-only ('' when writable); shown in the banner."""
    project: reactive[str] = reactive("—")
    """Current project (shown in the header)."""
    cluster: reactive[str] = reactive("—")
    """Current cluster (shown in the header)."""
    started: var[bool] = var(False)
    """True once the services are started and the first domain is shown."""
    theme_override: str | None = None
    """--theme: the colour theme of this run (set before run; wins over the saved one, is not saved)."""

    def __init__(self, services: Any) -> None:
        super().__init__()
        self.services = services
        for domain in self.DOMAINS:
            self.add_mode(domain.id, domain.screen)

    def compose(self) -> ComposeResult:
        yield Static(_("Starting…"), id="startup-message")

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification is literal text: error messages quote cloud and FTP texts and names."""
        super().notify(
            safe_notify_text(message),
            title=safe_notify_text(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def on_mount(self) -> None:
        self.start_services()

    @work(group="app-start", exit_on_error=False)
    async def start_services(self) -> None:
        """Start the services (migrations, keys), load the status, then show the first domain."""
        try:
            await self.services.start()
            await self.load_status()
        except ServiceError as err:
            self.query_one("#startup-message", Static).update(
                _("ectui cannot start: {reason}").format(reason=render(err))
                + "\n\n"
                + _("Press Ctrl+Q to quit.")
            )
            self.notify(render(err), title=_("Cannot start"), severity="error", timeout=30)
            return
        self.started = True
        await self.apply_preferences()
        if self.DOMAINS:
            await self.switch_mode(self.DOMAINS[0].id)
        await self.after_start()

    async def apply_preferences(self) -> None:
        """The operator's theme (--theme wins for this run) and keymap.toml, before the first screen."""
        name = self.theme_override or await self.saved_theme()
        if name and name in self.available_themes:
            self.theme = name
        self._theme_kept = self.theme
        self._theme_saving = asyncio.Lock()
        self.theme_changed_signal.subscribe(self, self._theme_chosen)
        keymap, problems = await asyncio.to_thread(read_keymap, self.services.settings.keymap_path)
        self.set_keymap(keymap)
        for problem in problems:
            self.notify(problem, title=_("Keymap"), severity="warning", timeout=20)

    async def saved_theme(self) -> str | None:
        """The theme the operator chose last time (None: none kept; the issuer keeps none)."""
        return None

    async def save_theme(self, name: str) -> None:
        """Keep the theme the operator chose (the console keeps it per operator)."""

    def _theme_chosen(self, theme: Theme) -> None:
        if theme.name != self._theme_kept:  # the palette's theme switcher (or app.theme) chose another
            self._theme_kept = theme.name
            self.run_worker(self._keep_theme(), group="app-theme", exit_on_error=False)

    async def _keep_theme(self) -> None:
        async with self._theme_saving:  # one save at a time, each of the theme then in force: the last wins
            await self.save_theme(self.theme)

    async def after_start(self) -> None:
        """Run once the first domain shows (the console asks for a login here)."""

    async def load_status(self) -> None:
        """Load what the header and banner show (subclasses)."""

    def visible_domains(self) -> tuple[Domain, ...]:
        """The domains shown in the sidebar, keys and palette (all, unless a subclass hides some)."""
        return self.DOMAINS

    # ---------------------------------------------------------------- errors

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        forward_worker_error(self, event)

    @on(WorkerFailed)
    def show_worker_error(self, event: WorkerFailed) -> None:
        """The one place where unexpected worker errors are shown (never a traceback)."""
        self.show_error(event.error)

    def show_error(self, error: BaseException, *, title: str | None = None) -> None:
        """Notify an error: the rendered message of a ServiceError, else a short line (details go to the log)."""
        if not isinstance(error, ServiceError):
            self.log.error(f"unexpected error: {error!r}")
        self.notify(render(error), title=title or _("Error"), severity="error", timeout=10)

    # ---------------------------------------------------------------- help and palette

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "help" and isinstance(self.screen, HelpModal))

    def key_sections(self, screen: Screen[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
        """The keys of a screen for the help modal: this screen, domains, global, then widget navigation."""
        here: list[tuple[str, str]] = []
        app_keys: list[tuple[str, str]] = []
        navigation: list[tuple[str, str]] = []
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            ident = binding.id or binding.action
            if not binding.description or ident.startswith("domain.") or ident in seen:
                continue
            seen.add(ident)
            row = (self.get_key_display(binding), binding.description)
            if binding.action == "command_palette":
                row = (row[0], _("Command palette"))
            if active.node is self:
                app_keys.append(row)
            elif binding.id and not binding.id.startswith("list."):  # list.*: the lists' vi keys
                here.append(row)
            else:
                navigation.append(row)
        domains: list[tuple[str, str]] = []
        if isinstance(screen, DomainScreen):
            domains = [
                (str(n % 10) if n <= 10 else ":", _(d.label))
                for n, d in enumerate(self.visible_domains(), start=1)
            ]
        return [
            (_("This screen"), here),
            (_("Domains"), domains),
            (_("Global"), app_keys),
            (_("Navigation"), navigation),
        ]

    def action_help(self) -> None:
        """Show the keys of the current screen and the global keys."""
        self.push_screen(HelpModal(self.key_sections(self.screen)))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(_("Help"), _("Show the keys of this screen"), self.action_help)
        if isinstance(screen, DomainScreen):
            for domain in self.visible_domains():
                name = _(domain.label)
                yield SystemCommand(
                    _("Go to {name}").format(name=name),
                    _("Switch to the {name} screen").format(name=name),
                    partial(self.switch_mode, domain.id),
                )
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if (
                active.node is self
                or not binding.id
                or not binding.description
                or binding.id.startswith(("domain.", "list."))
                or binding.id in seen
                or not active.enabled
            ):
                continue
            seen.add(binding.id)
            yield SystemCommand(
                binding.description,
                _("Key: {key}").format(key=self.get_key_display(binding)),
                partial(self.run_action, binding.action, active.node),
            )


class IssuerApp(ShellApp):
    """The license authority: editions, licenses, feature menus."""

    TITLE = "ectui issuer"
    DOMAINS = ISSUER_DOMAINS
    SHOWS_CONTEXT = False

    services: IssuerServices

    async def load_status(self) -> None:
        editions = await self.services.issuer.list_editions()
        licenses = await self.services.issuer.list_licenses()
        self.status_text = _("{editions} editions · {licenses} licenses").format(
            editions=len(editions), licenses=len(licenses)
        )

    @work(exclusive=True, group="app-status", exit_on_error=False)
    async def refresh_status(self) -> None:
        """Reload the header counts (after a create or delete)."""
        await self.load_status()


class ConsoleApp(ShellApp):
    """The cloud console."""

    jobs_text: reactive[str] = reactive("")
    """Header summary of running background jobs."""

    def __init__(self, services: ConsoleServices, *, welcome: bool = False) -> None:
        super().__init__(services)
        self.welcome = welcome
        """Show the first-run screen when the home is empty (no license, no cluster); `ectui` sets it."""
        self.domains_signal: Signal[tuple[str, ...]] = Signal(self, "domains")
        """Published when the license changes which domains are shown."""
        self._visible_ids: tuple[str, ...] = ()
        self.jobs = Jobs(self)
        """Background jobs (uploads, syncs) that outlive the screen that started them."""

    @on(JobProgressed)
    def record_job_progress(self, event: JobProgressed) -> None:
        """Progress from a job's work (any thread) reaches the job list here, on the app's loop."""
        self.jobs.progressed(event.job_id, event.progress)

    def on_mount(self) -> None:  # Textual also runs ShellApp.on_mount (handlers run along the MRO)
        self.jobs.signal.subscribe(self, self._jobs_changed)

    def _jobs_changed(self, _job: Job) -> None:
        self.jobs_text = self.jobs.summary()

    TITLE = "ectui"
    DOMAINS = CONSOLE_DOMAINS

    services: ConsoleServices
    license_status: var[LicenseStatus | None] = var(None)
    """The license status last read; screens watch it."""

    async def saved_theme(self) -> str | None:
        return await asyncio.to_thread(self.services.operator_settings.theme_sync)

    async def save_theme(self, name: str) -> None:
        await self.services.operator_settings.set_theme(name)

    async def load_status(self) -> None:
        self.apply_license_status(await self.services.license.status())
        current = await self.services.projects.current()
        self.project = current.name if current else "—"
        clusters = await self.services.clusters.list_all()
        names = [c.name for c in clusters]
        if self.cluster not in names:
            self.cluster = names[0] if names else "—"

    @work(exclusive=True, group="app-status", exit_on_error=False)
    async def refresh_status(self) -> None:
        """Reload the license status (header, banner, License screen)."""
        await self.load_status()

    async def after_start(self) -> None:
        for warning in getattr(self.services, "start_warnings", ()):  # e.g. a broken audit hash chain
            self.notify(render(warning), title=_("Start-up check"), severity="warning", timeout=30)
        await self.require_login()
        await self.show_welcome()

    async def show_welcome(self) -> None:
        """A new installation (no license and no cluster) opens on the first-run steps (WelcomeScreen)."""
        status = self.license_status
        if self.welcome and status is not None and status.license is None and status.usage.clusters == 0:
            from ectui.screens.welcome import WelcomeScreen

            self.push_screen(WelcomeScreen())

    async def require_login(self) -> None:
        """Show the login screen when the users module has accounts and nobody is logged in."""
        from ectui.screens.login import LoginScreen

        if not isinstance(self.screen, LoginScreen) and await self.services.users.login_required():

            def logged_in(_who: object) -> None:
                self.refresh_status()

            self.push_screen(LoginScreen(), callback=logged_in)

    def visible_domains(self) -> tuple[Domain, ...]:
        """Menus of feature modules the license does not enable are hidden."""
        policy = self.services.license.policy()
        return tuple(d for d in self.DOMAINS if d.feature is None or policy.feature_enabled(d.feature))

    def apply_license_status(self, status: LicenseStatus) -> None:
        """Show a new license status in the header and banner, and tell the screens."""
        self.status_text = status.header_text()
        visible = tuple(d.id for d in self.visible_domains())
        if visible != self._visible_ids:
            self._visible_ids = visible
            self.domains_signal.publish(visible)
        if not status.writable:
            self.readonly_reason = render(status.reason) if status.reason else _("changes are disabled.")
        elif getattr(self.services, "readonly_flag", False):
            self.readonly_reason = _("started with --readonly; changes are disabled.")
        else:
            self.readonly_reason = ""
        self.license_status = status


if TYPE_CHECKING:  # the apps are what their screens take them for (ectui.widgets.host)
    from ectui.widgets.host import ConsoleHost, IssuerHost

    def _console_host(app: ConsoleApp) -> ConsoleHost:
        return app

    def _issuer_host(app: IssuerApp) -> IssuerHost:
        return app
