"""Command line: the console TUI by default, `issuer`, `license` and the scriptable `--json` subcommands.

Kept light at import: heavy modules (services, Textual) load only inside the command that needs them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ectui.config import Settings

from ectui.commands._util import EXIT_REFUSED, EXIT_USAGE, Handler, Parser, Refused, write_json, write_text
from ectui.text import one_line

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
)
"""Modules of ectui.commands, in help order; each has `register(subparsers)`."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    from ectui import __version__

    parser = Parser(prog="ectui", description="Terminal console for OpenStack private clouds.")
    parser.add_argument("--version", action="version", version=f"ectui {__version__}")
    parser.add_argument("--lang", help="UI language: en or zh_CN (default: from LANG)")
    parser.add_argument(
        "--db-url", help="SQLAlchemy URL of the console database (default: SQLite in the data dir)"
    )
    parser.add_argument("--readonly", action="store_true", help="refuse every changing action")
    parser.add_argument(
        "--demo", action="store_true", help="start the built-in dev cloud and open the console on it"
    )
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"ectui.commands.{name}").register(sub)
    from ectui.devcloud import cli as devcloud_cli

    devcloud_cli.register(sub)
    return parser


EXIT_BROKEN_PIPE = 128 + 13
"""Status when stdout closes early (`ectui … | head -1`): what a shell shows for git killed by SIGPIPE."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ectui` console script."""
    try:
        try:
            return _main(argv)
        finally:  # also after argparse's --help exit: a closed pipe shows here, not at interpreter exit
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        return _stdout_closed()


def _stdout_closed() -> int:
    """The reader of stdout went away: quiet exit, as the Python docs' SIGPIPE note recommends.

    SIGPIPE stays ignored (a closed socket to a cloud must stay an error, not kill the process);
    devnull goes onto stdout so that the interpreter's last flush has nowhere to fail.
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # no real stdout descriptor (embedded, tests)
        pass
    return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list == ["--version"]:  # the cheapest path: no parser, no imports
        from ectui import __version__

        print(f"ectui {__version__}")
        return 0
    from ectui.config import Settings, configure_logging, normalize_lang
    from ectui.i18n import set_language

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--lang")
    known, _rest = pre.parse_known_args(args_list)
    settings = Settings.from_env(lang=normalize_lang(known.lang) if known.lang else None)
    set_language(settings.lang)
    args = build_parser().parse_args(args_list)
    settings = settings.with_changes(db_url=args.db_url or settings.db_url)
    if getattr(args, "issuer_db_url", None):
        settings = settings.with_changes(issuer_db_url=args.issuer_db_url)
    for url in (args.db_url, getattr(args, "issuer_db_url", None)):
        if url and not _valid_db_url(url):  # never echo the URL: it may hold a password
            from ectui.i18n import render
            from ectui.services.errors import ValidationError

            print("ectui: " + render(ValidationError("validation.db_url", field="--db-url")), file=sys.stderr)
            return EXIT_USAGE
    try:
        configure_logging(settings)
    except OSError as err:
        print(f"ectui: cannot write logs in {settings.log_dir}: {err.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        return _dispatch(args, settings)
    except BrokenPipeError:  # stdout closed by its reader: main() exits quietly
        raise
    except KeyboardInterrupt:
        print("ectui: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line here, the traceback in the log file
        from ectui.i18n import _, render
        from ectui.services.errors import ServiceError

        if isinstance(err, ServiceError):  # a database that cannot be opened (ectui.db.errors), CLI or TUI
            print("ectui: " + one_line(render(err)), file=sys.stderr)
            return err.exit_code
        _log_exception(settings, err)
        message = _("unexpected error ({kind}); details in {path}").format(
            kind=type(err).__name__, path=settings.log_dir / "ectui.log"
        )
        print("ectui: " + message, file=sys.stderr)
        return EXIT_REFUSED


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command is None:
        from ectui.tui import run_console

        return run_console(settings, readonly=args.readonly, demo=args.demo)
    if args.command == "devcloud":
        from ectui.devcloud import cli as devcloud_cli

        return devcloud_cli.run(args)
    if args.command == "issuer" and args.area is None:
        from ectui.tui import run_issuer

        return run_issuer(settings)
    return _run(settings, args, args.handler, issuer=args.services == "issuer")


def _run(settings: Settings, args: argparse.Namespace, handler: Handler, *, issuer: bool) -> int:
    """Start the right services, run one command, print its result; errors are one line on stderr."""
    import asyncio

    from ectui.i18n import _, render
    from ectui.services import build_console_services, build_issuer_services
    from ectui.services.errors import ServiceError

    services: Any = (
        build_issuer_services(settings)
        if issuer
        else build_console_services(settings, readonly=args.readonly, verify_audit=False)
    )

    async def go() -> Any:
        await services.start()
        return await handler(services, args)

    try:
        result = asyncio.run(go())
    except Refused as refused:
        _write(args, refused.data, refused.text)
        return EXIT_REFUSED
    except ServiceError as err:
        print(f"ectui: {one_line(render(err))}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # a bug or an unreachable database: one line here, the details in the log
        _log_exception(settings, err)
        print(
            "ectui: "
            + _("unexpected error ({kind}); details in {path}").format(
                kind=type(err).__name__, path=settings.log_dir / "ectui.log"
            ),
            file=sys.stderr,
        )
        return EXIT_REFUSED
    finally:
        services.close()
    if result is not None:
        data, text = result
        _write(args, data, text)
    return 0


def _write(args: argparse.Namespace, data: object, text: object) -> None:
    """A command's result on stdout: its data as JSON with --json, else its text (foreign text escaped)."""
    if args.json:
        write_json(data)
    else:
        write_text(text)


def _valid_db_url(url: str) -> bool:
    """The URL parses and names a database driver that is installed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url).get_dialect()
    except (ArgumentError, ImportError, ValueError):
        return False
    return True


def _log_exception(settings: Settings, err: BaseException) -> None:
    import logging

    logging.getLogger("ectui").error("command failed", exc_info=err)
