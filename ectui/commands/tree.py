"""The `ectui` command tree: the global options, every command module's subcommands and the epilog.

Building it imports only the command modules (each keeps its heavy imports inside its handlers), so
`--help`, shell completion and the man page need no services, no dev cloud and no database.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ectui.commands._util import Parser

COMMAND_MODULES = (
    "license",
    "clusters",
    "images",
    "isos",
    "projects",
    "vms",
    "settings",
    "stats",
    "users",
    "billing",
    "workflow",
    "ops",
    "issuer",
    "completion",
    "demo",
)
"""Modules of ectui.commands, in help order; each has `register(subparsers)`."""

MODULE_OF_COMMAND = {
    "license": "license", "cluster": "clusters", "node": "clusters", "image": "images", "template": "images",
    "iso": "isos", "project": "projects", "vm": "vms", "keypair": "vms", "settings": "settings",
    "stats": "stats", "login": "users", "logout": "users", "user": "users", "audit": "users",
    "price": "billing", "bill": "billing", "request": "workflow", "ops": "ops", "issuer": "issuer",
    "completion": "completion", "__complete": "completion", "demo": "demo",
}  # fmt: skip
"""The module that registers each top-level command (a test holds it to the whole tree)."""
_GLOBAL_FLAGS = {"--readonly", "--demo", "--debug"}  # not --help: it shows every command
_GLOBAL_VALUES = {"--lang", "--db-url", "--theme"}


def command_module(argv: Sequence[str]) -> str | None:
    """The module of the command that `argv` names, when that is certain (only the global options, spelled
    out, before it); None otherwise."""
    words = iter(argv)
    for word in words:
        if word in _GLOBAL_VALUES:
            next(words, None)
        elif word.split("=", 1)[0] in _GLOBAL_VALUES and "=" in word or word in _GLOBAL_FLAGS:
            continue
        else:
            return MODULE_OF_COMMAND.get(word)
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command tree; with `argv`, only the branch of the command it names (a quicker start) when
    `command_module` is certain of it, else the whole tree."""
    from ectui import __version__
    from ectui.i18n import _

    parser = Parser(
        prog="ectui",
        description=_("Terminal console for OpenStack private clouds."),
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the epilog's lines stay as written
    )
    parser.add_argument(
        "--version", action="version", version=f"ectui {__version__}", help=_("show the version and exit")
    )
    parser.add_argument("--lang", metavar="LANG", help=_("UI language: en or zh_CN (default: from LANG)"))
    parser.add_argument(
        "--db-url",
        metavar="URL",
        help=_("SQLAlchemy URL of the console database (default: SQLite in the data dir)"),
    )
    parser.add_argument("--readonly", action="store_true", help=_("refuse every changing action"))
    parser.add_argument(
        "--demo", action="store_true", help=_("start the built-in dev cloud and open the console on it")
    )
    parser.add_argument(
        "--theme",
        metavar="NAME",
        help=_("colour theme of the console for this run (default: the one last chosen with Ctrl+P)"),
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help=_("log the HTTP requests and responses to the clouds on stderr (secrets masked)"),
    )
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar=_("COMMAND"))

    import importlib

    only = command_module(argv) if argv is not None else None
    for name in COMMAND_MODULES if only is None else (only,):
        importlib.import_module(f"ectui.commands.{name}").register(sub)
    if only is None:
        _register_devcloud(sub)
    return parser


def _register_devcloud(sub: Any) -> None:
    """`ectui devcloud …` as a light stand-in: its words are kept and parsed by the dev cloud's own parser
    (ectui.devcloud.cli) when the command runs, so building this parser imports no dev cloud (aiohttp …)."""
    from ectui.i18n import _

    # no option prefix: every word after `devcloud` (--help too) is kept as it is for the real parser
    proxy = sub.add_parser(
        "devcloud",
        help=_("run the built-in dev cloud (OpenStack APIs + FTP on loopback)"),
        add_help=False,
        prefix_chars="\0",
    )
    proxy.add_argument(
        "devcloud_argv",
        nargs="*",
        metavar="…",
        help=_("the dev cloud's options and subcommands (see 'ectui devcloud --help')"),
    )


def _epilog() -> str:
    """Where this environment keeps its files, and the variables that move them."""
    from ectui.config import Settings
    from ectui.i18n import _

    settings = Settings.from_env()
    lines = [
        _("Files of this environment:"),
        "  " + _("config: {path}").format(path=settings.config_dir),
        "  " + _("data:   {path}").format(path=settings.data_dir),
        "  " + _("logs:   {path}").format(path=settings.log_dir),
        _("Environment variables:"),
        "  ECTUI_HOME    "
        + _("one directory for config/, data/ and logs/ (default: the user's platform dirs)"),
        "  ECTUI_DB_URL  " + _("SQLAlchemy URL of the console database (default: SQLite in the data dir)"),
        "  ECTUI_LANG    " + _("UI language: en or zh_CN (default: from LANG)"),
    ]
    return "\n".join(lines)
