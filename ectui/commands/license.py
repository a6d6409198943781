"""`ectui license …`: the license installed in this console."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ectui.commands._util import Parser, command, describe


def register(sub: Any) -> None:
    """Add the commands of this module to the top-level subparsers."""
    from ectui.i18n import _

    # -- console license
    lic = sub.add_parser("license", help=_("the license installed in this console"))
    lic_sub = lic.add_subparsers(dest="action", required=True, parser_class=Parser)
    imp = lic_sub.add_parser("import", help=_("install a license file (.ec)"))
    imp.add_argument("file", type=Path, metavar="FILE.ec", help=_("the license file (.ec) from the vendor"))
    imp.add_argument(
        "--properties",
        type=Path,
        metavar="FILE.properties",
        help=_("the constant.properties delivered with the license (default: the one in the config dir)"),
    )
    show = lic_sub.add_parser("show", help=_("the license in force and its limits"))
    reset = lic_sub.add_parser(
        "reset-clock",
        help=_("forget a clock that was once ahead: set the last time seen to the system clock (admins)"),
    )
    reset.add_argument("--yes", action="store_true", help=_("confirm: the system clock is right"))
    command(imp, console_import)
    command(show, console_show)
    command(reset, console_reset_clock)


async def console_import(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    status = await s.license.import_license(a.file, a.properties)
    return status.to_json(), _("License installed: {header}").format(header=status.header_text())


async def console_show(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _, render

    status = await s.license.status()
    data = status.to_json()
    text = describe(data)
    if status.reason is not None:
        text += "\n" + _("Read-only: {reason}").format(reason=render(status.reason))
    return data, text


async def console_reset_clock(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    """Reset the clock high-water mark; without --yes, say what it would do and refuse."""
    from ectui.i18n import _
    from ectui.services.errors import LicenseError

    if not a.yes:
        last_seen, now = await s.license.clock_mark()
        raise LicenseError(
            "license.reset_clock_confirm",
            last_seen=last_seen.isoformat(timespec="seconds") if last_seen else "-",
            now=now.isoformat(timespec="seconds"),
        )
    status = await s.license.reset_clock()
    return status.to_json(), _("Clock mark reset to the system clock: {header}").format(
        header=status.header_text()
    )
