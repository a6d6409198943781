"""Plain test helpers (no fixtures): clocks, settings, licenses, dev-cloud and VM helpers.

Fixtures live in the conftest files; test modules import helpers from here, never from another test module.
"""

from tests.kit.base import (
    CONSOLE_NOW,
    Clock,
    Issued,
    build_licensed_console,
    home_settings,
    issue_license,
    today_validity,
)

__all__ = [
    "CONSOLE_NOW",
    "Clock",
    "Issued",
    "build_licensed_console",
    "home_settings",
    "issue_license",
    "today_validity",
]
