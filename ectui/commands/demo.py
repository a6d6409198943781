"""`ectui demo reset --yes`: remove the demo's own home (database, keys, license, dev cloud state, logs).

Works on files only: no services start and the operator's database is neither opened nor created.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ectui.commands._util import EXIT_REFUSED, Parser

if TYPE_CHECKING:
    from ectui.config import Settings


def register(sub: Any) -> None:
    """Add `demo reset`."""
    from ectui.i18n import _

    demo = sub.add_parser("demo", help=_("the demo's own home (what 'ectui --demo' keeps)"))
    dsub = demo.add_subparsers(dest="action", required=True, parser_class=Parser)
    reset = dsub.add_parser(
        "reset", help=_("remove the demo's home (its database, license, dev cloud state and logs)")
    )
    reset.add_argument("--yes", action="store_true", help=_("really remove it"))


def run_demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run `demo reset` on the operator's `settings`; every outcome is one line."""
    from ectui.i18n import _
    from ectui.services.demo import DemoRunning, reset_demo

    home = settings.demo_home
    if not args.yes:
        print(
            "ectui: " + _("this removes the demo home {path}; add --yes to do it").format(path=home),
            file=sys.stderr,
        )
        return EXIT_REFUSED
    try:
        removed = reset_demo(settings)
    except DemoRunning:
        print(
            "ectui: " + _("a demo console is running on {path}; quit it first").format(path=home),
            file=sys.stderr,
        )
        return EXIT_REFUSED
    except OSError as err:
        print(
            "ectui: " + _("cannot remove {path}: {reason}").format(path=home, reason=err.strerror),
            file=sys.stderr,
        )
        return EXIT_REFUSED
    if removed is None:
        print(_("No demo home at {path}.").format(path=home))
    else:
        print(_("Demo home removed: {path}").format(path=home))
    return 0
