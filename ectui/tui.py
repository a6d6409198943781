"""Entry points of the two TUIs (called by the CLI); Textual is imported only here and below."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ectui.config import Settings


def run_console(settings: Settings, *, readonly: bool = False, demo: bool = False) -> int:
    """Run the console TUI until the operator quits; return the exit code.

    With `demo`, the built-in dev cloud starts first (licensed and registered as a cluster) and
    stops when the console closes.
    """
    import asyncio
    import sys

    from ectui.i18n import _, render, set_language

    set_language(settings.lang)  # before the app modules: their BINDINGS are translated at import
    from ectui.services import build_console_services
    from ectui.services.errors import ServiceError

    services = build_console_services(settings, readonly=readonly)
    environment = None
    try:
        if demo:
            from ectui.services.demo import prepare_demo

            print(_("Starting the built-in dev cloud…"), file=sys.stderr, flush=True)
            try:
                environment = asyncio.run(prepare_demo(services))
            except ServiceError as err:
                print("ectui: " + render(err), file=sys.stderr)
                return 1
        from ectui.app import ConsoleApp

        app = ConsoleApp(services)
        app.run()
    finally:
        if environment is not None:
            environment.stop()
        services.close()
    return app.return_code or 0


def run_issuer(settings: Settings) -> int:
    """Run the issuer TUI until the operator quits; return the exit code."""
    from ectui.i18n import set_language

    set_language(settings.lang)
    from ectui.app import IssuerApp
    from ectui.services import build_issuer_services

    services = build_issuer_services(settings)
    try:
        app = IssuerApp(services)
        app.run()
    finally:
        services.close()
    return app.return_code or 0
