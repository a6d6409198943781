"""Probe for bench.py: start one app headless and print READY when its first screen is interactive.

Run as a fresh process (`python bench/first_screen.py console|issuer`) so that imports count.
"""

from __future__ import annotations

import asyncio
import sys


async def main(which: str) -> None:
    """Start the app, wait until its first domain screen is shown and loaded, print READY."""
    from ectui.config import Settings
    from ectui.i18n import set_language

    settings = Settings.from_env()
    set_language(settings.lang)
    if which == "issuer":
        from ectui.app import IssuerApp as AppClass
        from ectui.services import build_issuer_services as build
    else:
        from ectui.app import ConsoleApp as AppClass  # type: ignore[assignment]
        from ectui.services import build_console_services as build  # type: ignore[assignment]
    services = build(settings)
    app = AppClass(services)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(2000):
            if app.started and not any(w.is_running for w in app.workers):
                break
            await pilot.pause(0.005)
        print("READY", flush=True)
    services.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "console"))
