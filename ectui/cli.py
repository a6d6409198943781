"""Command line: the console TUI by default, `issuer`, `license` and the scriptable `--json` subcommands.

Kept light at import: heavy modules (services, Textual) load only inside the command that needs them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ectui.config import Settings

from ectui.commands._util import (
    EXIT_REFUSED,
    EXIT_USAGE,
    Handler,
    Parser,
    QuickRead,
    Refused,
    check_columns_first,
    run_quick,
    write_output,
)
from ectui.commands.tree import build_parser
from ectui.text import one_line


def _run_devcloud(words: Sequence[str]) -> int:
    """Parse the words after `ectui devcloud` with the dev cloud's parser and run the command."""
    from ectui.devcloud import cli as devcloud_cli

    parser = Parser(prog="ectui")
    devcloud_cli.register(parser.add_subparsers(dest="command", parser_class=Parser))
    return devcloud_cli.run(parser.parse_args(["devcloud", *words]))


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
    if args_list[:1] == ["__complete"]:  # shell completion at TAB: no parser, no dev cloud, no migrations
        from ectui.commands.completion import complete_main

        return complete_main(args_list[1:])
    from ectui.config import Settings, configure_logging, normalize_lang
    from ectui.i18n import set_language

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--lang")
    known, _rest = pre.parse_known_args(args_list)
    settings = Settings.from_env(lang=normalize_lang(known.lang) if known.lang else None)
    set_language(settings.lang)
    args = build_parser(args_list).parse_args(args_list)
    settings = settings.with_changes(db_url=args.db_url or settings.db_url)
    if getattr(args, "issuer_db_url", None):
        settings = settings.with_changes(issuer_db_url=args.issuer_db_url)
    for url in (args.db_url, getattr(args, "issuer_db_url", None)):
        if url and not _valid_db_url(url):  # never echo the URL: it may hold a password
            from ectui.i18n import render
            from ectui.services.errors import ValidationError

            print("ectui: " + render(ValidationError("validation.db_url", field="--db-url")), file=sys.stderr)
            return EXIT_USAGE
    demo = args.demo and args.command is None  # the demo has its own home, logs too (operator's untouched)
    log_dir = (settings.for_demo() if demo else settings).log_dir
    try:
        configure_logging(settings.for_demo() if demo else settings)
    except OSError as err:
        print(f"ectui: cannot write logs in {settings.log_dir}: {err.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    if args.debug:  # the full-screen console keeps stderr clean: its trace goes into ectui.log
        from ectui.config import configure_debug_logging

        configure_debug_logging(to_stderr=args.command is not None)
    try:
        return _dispatch(args, settings)
    except BrokenPipeError:  # stdout closed by its reader: main() exits quietly
        raise
    except KeyboardInterrupt:  # Ctrl+C: the operator knows; quiet, with the shell's status for SIGINT
        return 130
    except Exception as err:  # a bug: one line here, the traceback in the log file
        from ectui.i18n import _, render
        from ectui.services.errors import ServiceError

        if isinstance(err, ServiceError):  # a database that cannot be opened (ectui.db.errors), CLI or TUI
            print("ectui: " + one_line(render(err)), file=sys.stderr)
            return err.exit_code
        _log_exception(settings, err)
        message = _("unexpected error ({kind}); details in {path}").format(
            kind=type(err).__name__, path=log_dir / "ectui.log"
        )
        print("ectui: " + message, file=sys.stderr)
        return EXIT_REFUSED


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command is None:
        from ectui.tui import run_console

        return run_console(settings, readonly=args.readonly, demo=args.demo, theme=args.theme)
    if args.command == "demo":  # works on files only: no services, no database
        from ectui.commands.demo import run_demo_command

        return run_demo_command(args, settings)
    if args.command == "devcloud":
        return _run_devcloud(args.devcloud_argv)
    if args.command == "issuer" and args.area is None:
        from ectui.tui import run_issuer

        return run_issuer(settings, theme=args.theme)
    return _run(settings, args, args.handler, issuer=args.services == "issuer")


def _run(settings: Settings, args: argparse.Namespace, handler: Handler, *, issuer: bool) -> int:
    """Start the right services, run one command, print its result; errors are one line on stderr.

    Services are built on first use, so a command imports only what it touches. A command that only reads
    the console database (its parser sets `local_read`, e.g. `vm list` and `image list` without
    --refresh) starts without recovering interrupted operations: recovery may call the clouds and
    change records, which a read must not do (nor wait for). Every other command, `ops resume` and the
    console recover them at start as before. Such a read with a quick form (its parser's `quick`) runs
    that first: no services, no ORM; it leaves to the full command what it does not answer itself.
    """
    status, done = _outcome(settings, args, lambda: check_columns_first(args))
    if done:  # an unknown column: refused before anything runs
        return status
    local_read = getattr(args, "local_read", False) and not getattr(args, "refresh", False)
    quick: QuickRead | None = getattr(args, "quick", None)
    if local_read and quick is not None and not issuer:
        status, done = _outcome(settings, args, lambda: run_quick(settings, args, quick))
        if done:
            return status
    return _outcome(settings, args, lambda: _run_services(settings, args, handler, issuer, local_read))[0]


def _run_services(
    settings: Settings, args: argparse.Namespace, handler: Handler, issuer: bool, local_read: bool
) -> tuple[object, object] | None:
    import asyncio

    from ectui.services import build_console_services, build_issuer_services

    services: Any = (
        build_issuer_services(settings)
        if issuer
        else build_console_services(settings, readonly=args.readonly, verify_audit=False)
    )

    async def go() -> Any:
        await (services.start() if issuer else services.start(recover=not local_read))
        return await handler(services, args)

    try:
        result: tuple[object, object] | None = asyncio.run(go())
    finally:
        services.close()
    return result if result is not None else _NOTHING


_NOTHING = (None, None)
"""What a command that printed its own output returns through `_outcome` (nothing left to print)."""


def _outcome(
    settings: Settings, args: argparse.Namespace, work: Callable[[], tuple[object, object] | None]
) -> tuple[int, bool]:
    """Run a command's work and print its result: (exit status, True), or (0, False) when it gave None.

    A refusal prints its result and exits 1, a domain error is one line on stderr; anything else is
    a bug or an unreachable database: one line here, the details in the log.
    """
    from ectui.i18n import _, render
    from ectui.services.errors import ServiceError

    try:
        result = work()
    except Refused as refused:
        return _write(args, refused.data, refused.text) or EXIT_REFUSED, True
    except ServiceError as err:
        print(f"ectui: {one_line(render(err))}", file=sys.stderr)
        return err.exit_code, True
    except Exception as err:
        _log_exception(settings, err)
        print(
            "ectui: "
            + _("unexpected error ({kind}); details in {path}").format(
                kind=type(err).__name__, path=settings.log_dir / "ectui.log"
            ),
            file=sys.stderr,
        )
        return EXIT_REFUSED, True
    if result is None:
        return 0, False
    if result is _NOTHING:
        return 0, True
    data, text = result
    return _write(args, data, text), True


def _write(args: argparse.Namespace, data: object, text: object) -> int:
    """A command's result on stdout in the format of -f/--json (its text by default; foreign text escaped).

    Returns 0, or the usage status after a one-line error (an unknown -c/--sort-column, nothing printed).
    """
    from ectui.i18n import render
    from ectui.services.errors import ValidationError

    try:
        write_output(args, data, text)
    except ValidationError as err:
        print(f"ectui: {one_line(render(err))}", file=sys.stderr)
        return err.exit_code
    return 0


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
