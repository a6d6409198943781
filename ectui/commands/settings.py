"""`ectui settings …`: the operator's own settings (settings.operator), e.g. read-only mode."""

from __future__ import annotations

import argparse
from typing import Any

from ectui.commands._util import Parser, command, describe


def register(sub: Any) -> None:
    """Add the settings commands."""
    from ectui.i18n import _

    settings = sub.add_parser("settings", help=_("the operator's own settings"))
    ssub = settings.add_subparsers(dest="action", required=True, parser_class=Parser)
    show = ssub.add_parser("show", help=_("show the operator's settings"))
    command(show, settings_show)
    readonly = ssub.add_parser("readonly", help=_("turn the operator's read-only mode on or off"))
    readonly.add_argument(
        "state", choices=("on", "off"), help=_("on: refuse every changing action; off: allow them")
    )
    command(readonly, settings_readonly)


async def settings_show(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    current = await s.operator_settings.show()
    return current.to_json(), describe(current.to_json())


async def settings_readonly(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    current = await s.operator_settings.set_readonly(a.state == "on")
    text = (
        _("Read-only mode is on for operator {operator}: every changing action is refused.")
        if current.readonly
        else _("Read-only mode is off for operator {operator}.")
    ).format(operator=current.operator)
    return current.to_json(), text
