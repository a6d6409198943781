"""Entry points of the two TUIs (called by the CLI); Textual is imported only here and below."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ectui.config import Settings


def run_console(
    settings: Settings, *, readonly: bool = False, demo: bool = False, theme: str | None = None
) -> int:
    """Run the console TUI until the operator quits; return the exit code.

    With `demo`, the console runs on the demo's own home (`settings.for_demo()`, under the operator's
    data dir; the operator's files stay untouched): the built-in dev cloud starts first (licensed and
    registered as a cluster) and stops when the console closes. `theme` (--theme) is this run's colour
    theme: it wins over the one the operator chose last time and is not kept.
    """
    if (status := check_theme(settings, theme)) is not None:
        return status
    if demo:
        from ectui.services.demo import demo_session

        with demo_session(settings):  # `ectui demo reset` refuses while this runs
            return _run_console(settings.for_demo(), readonly=readonly, demo=True, theme=theme)
    return _run_console(settings, readonly=readonly, demo=False, theme=theme)


def _run_console(settings: Settings, *, readonly: bool, demo: bool, theme: str | None = None) -> int:
    import asyncio
    import sys

    from ectui.i18n import _, render, set_language

    set_language(settings.lang)  # before the app modules: their BINDINGS are translated at import
    from ectui.services import build_console_services
    from ectui.services.errors import ServiceError

    services = build_console_services(settings, readonly=readonly)
    environment = None
    try:
        if (status := _check_database(services)) is not None:
            return status
        if demo:
            from ectui.services.demo import prepare_demo

            print(_("Starting the built-in dev cloud…"), file=sys.stderr, flush=True)
            try:
                environment = asyncio.run(prepare_demo(services))
            except ServiceError as err:
                print("ectui: " + render(err), file=sys.stderr)
                return 1
        from ectui.app import ConsoleApp

        app = ConsoleApp(services, welcome=True)
        app.theme_override = theme
        app.run()
    finally:
        if environment is not None:
            environment.stop()
        services.close()
    return app.return_code or 0


def run_issuer(settings: Settings, *, theme: str | None = None) -> int:
    """Run the issuer TUI until the operator quits; return the exit code (`theme`: as for the console)."""
    from ectui.i18n import set_language

    if (status := check_theme(settings, theme)) is not None:
        return status
    set_language(settings.lang)
    from ectui.app import IssuerApp
    from ectui.services import build_issuer_services

    services = build_issuer_services(settings)
    try:
        if (status := _check_database(services)) is not None:
            return status
        app = IssuerApp(services)
        app.theme_override = theme
        app.run()
    finally:
        services.close()
    return app.return_code or 0


def check_theme(settings: Settings, theme: str | None) -> int | None:
    """An unknown --theme is one line on stderr naming the known themes, and the usage exit status."""
    if theme is None:
        return None
    import sys

    from textual.theme import BUILTIN_THEMES

    from ectui.i18n import _, set_language
    from ectui.text import one_line

    if theme in BUILTIN_THEMES:
        return None
    set_language(settings.lang)
    message = _("unknown theme '{name}'; known themes: {names}").format(
        name=theme, names=", ".join(sorted(BUILTIN_THEMES))
    )
    print("ectui: " + one_line(message), file=sys.stderr)
    return 2


def _check_database(services: Any) -> int | None:
    """Open the database before the full screen starts; a fault that keeps ectui from starting (not a
    database, unreachable, newer schema, read-only but due an upgrade) is one line on stderr and an exit
    status. Faults found later in the start (a lock held too long) show on the app's start-up message."""
    import sys

    from ectui.i18n import render
    from ectui.services.errors import ServiceError

    try:
        services.db.check()
    except ServiceError as err:
        print("ectui: " + " ".join(render(err).splitlines()), file=sys.stderr)
        return err.exit_code
    return None
