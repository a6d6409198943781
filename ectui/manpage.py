"""The man page ectui(1), generated from the live argparse tree: `make man` writes man/ectui.1.

Every command, option and help text comes from `ectui.cli.build_parser()` at run time, so the page
follows the commands as they change. Usage: python -m ectui.manpage [-o FILE] (default: stdout).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

ENVIRONMENT = (
    (
        "ECTUI_HOME",
        "One directory for everything: config/, data/ and logs/ under it (default: the platform's "
        "user directories, see FILES).",
    ),
    (
        "ECTUI_DB_URL",
        "SQLAlchemy URL of the console database (sqlite:///PATH or postgresql+psycopg://…); "
        "--db-url wins over it. Default: data/console.db.",
    ),
    (
        "ECTUI_ISSUER_DB_URL",
        "SQLAlchemy URL of the license issuer's database; never the console's. Default: data/issuer.db.",
    ),
    (
        "ECTUI_LANG",
        "Language of the interface and messages: en or zh_CN (else LC_ALL, then LANG); --lang wins over it.",
    ),
    (
        "ECTUI_DB_BUSY_TIMEOUT",
        "Seconds to wait for another writer's lock before the database counts as locked (default 30).",
    ),
    ("ECTUI_OPERATOR", "Who is at the keyboard, recorded on uploads and changes (default: the OS user)."),
    (
        "ECTUI_ISSUER_PASSPHRASE",
        "Protect the issuer's private keys with this passphrase instead of the issuer master key file.",
    ),
    (
        "ECTUI_TRUSTED_ISSUER_KEYS",
        "Comma-separated base64 verification keys of the license issuers this console accepts.",
    ),
)
"""The environment variables of ectui.config.Settings.from_env, for the ENVIRONMENT section."""

FILES = (
    (
        "$ECTUI_HOME/config, else ~/.config/ectui",
        "Configuration: constant.properties, the master key files "
        "console-master.key and issuer-master.key (0600), trusted-issuers; the directory is 0700.",
    ),
    (
        "$ECTUI_HOME/data, else ~/.local/share/ectui",
        "Data: the SQLite databases console.db and issuer.db "
        "(0600) when no database URL is set; the dev cloud's state in devcloud/.",
    ),
    (
        "$ECTUI_HOME/logs, else ~/.local/state/ectui/log",
        "Logs: ectui.log (rotated; tracebacks of unexpected errors, never secrets).",
    ),
)
"""The directories of ectui.config.Settings (Linux defaults; XDG_*_HOME move them)."""

EXIT_STATUS = (
    ("0", "Success."),
    (
        "1",
        "A refused operation, or a database fault (read-only, locked longer than ECTUI_DB_BUSY_TIMEOUT, "
        "a schema newer than this version, not a database, PostgreSQL unreachable).",
    ),
    (
        "2",
        "Bad usage: an unknown command or option, a malformed value, an unknown database URL scheme, a "
        "database directory that does not exist.",
    ),
    ("130", "Interrupted (Ctrl-C)."),
    ("141", "Standard output closed early (ectui ... | head -1 ends quietly)."),
)


def escape(text: str) -> str:
    """Text for a roff line: backslashes and hyphens escaped, non-ASCII as \\[uXXXX], one line."""
    out = []
    for char in " ".join(str(text).split()):
        if char == "\\":
            out.append("\\e")
        elif char == "-":
            out.append("\\-")
        elif ord(char) > 126 or ord(char) < 32:
            out.append(f"\\[u{ord(char):04X}]")
        else:
            out.append(char)
    line = "".join(out)
    return "\\&" + line if line.startswith((".", "'")) else line


def _bold(text: str) -> str:
    return f"\\fB{escape(text)}\\fR"


def _italic(text: str) -> str:
    return f"\\fI{escape(text)}\\fR"


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    return "" if text == argparse.SUPPRESS else str(text)


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return str(action.metavar if not isinstance(action.metavar, tuple) else " ".join(action.metavar))
    if action.choices:
        return "{" + ",".join(str(c) for c in action.choices) + "}"
    return action.dest.upper() if not action.option_strings else action.dest.upper().replace("-", "_")


def _visible(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        yield action


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            hidden: set[str] = getattr(action, "hidden", set())
            for name, child in action.choices.items():
                text = helps.get(name) or ""
                if name.startswith("__") or name in hidden or text == argparse.SUPPRESS:
                    continue
                found.append((name, child, str(text)))
    return found


def _synopsis(words: Sequence[str], parser: argparse.ArgumentParser) -> str:
    parts = [_bold(" ".join(words))]
    for action in _visible(parser):
        if action.option_strings:
            flag = _bold(
                action.option_strings[-1] if len(action.option_strings) == 1 else action.option_strings[0]
            )
            item = flag if action.nargs == 0 else f"{flag} {_italic(_metavar(action))}"
            parts.append(item if action.required else f"[{item}]")
        else:
            item = _italic(_metavar(action))
            if action.nargs in ("?", "*"):
                item = f"[{item}]"
            if action.nargs in ("*", "+", argparse.REMAINDER):
                item += " ..."
            parts.append(item)
    if _subcommands(parser):
        parts.append(_italic("COMMAND"))
    return " ".join(parts)


def _options(parser: argparse.ArgumentParser) -> list[str]:
    lines: list[str] = []
    for action in _visible(parser):
        if action.option_strings:
            names = ", ".join(_bold(s) for s in action.option_strings)
            tag = names if action.nargs == 0 else f"{names} {_italic(_metavar(action))}"
        else:
            tag = _italic(_metavar(action))
        lines += [".TP", tag, escape(_help(action)) or "\\&"]
    return lines


def _same(one: str, other: str) -> bool:
    return " ".join(one.split()).rstrip(".").casefold() == " ".join(other.split()).rstrip(".").casefold()


def _commands(parser: argparse.ArgumentParser, words: tuple[str, ...], text: str) -> list[str]:
    lines = [".SS " + escape(" ".join(words[1:])), _synopsis(words, parser)]
    description = parser.description or ""
    if _same(description, text):
        description = ""
    for paragraph in (text, description):
        if paragraph:
            lines += [".PP", escape(paragraph[:1].upper() + paragraph[1:])]
    subcommands = _subcommands(parser)
    if subcommands:
        lines += [".PP", "Commands: " + ", ".join(_bold(name) for name, _, _ in subcommands) + "."]
    options = _options(parser)
    if options:
        lines += [".RS", *options, ".RE"]
    for name, child, help_text in subcommands:
        lines += _commands(child, (*words, name), help_text)
    return lines


def manpage(parser: argparse.ArgumentParser | None = None, *, date: dt.date | None = None) -> str:
    """The whole page in roff (man macros)."""
    from ectui import __version__

    if parser is None:
        from ectui.commands.tree import build_parser
        from ectui.i18n import language, set_language

        lang = language()
        set_language("en")  # the page is English, whatever LANG says
        try:
            parser = build_parser()
        finally:
            set_language(lang)
    if date is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        date = dt.datetime.fromtimestamp(int(epoch), dt.UTC).date() if epoch else dt.date.today()
    top = _subcommands(parser)
    lines = [
        '.\\" Generated by python -m ectui.manpage (make man) from the command tree; do not edit.',
        f'.TH ECTUI 1 "{date.isoformat()}" "ectui {escape(__version__)}" "User Commands"',
        ".nh",
        ".ad l",
        ".SH NAME",
        "ectui \\- " + escape(parser.description or "terminal console for OpenStack private clouds"),
        ".SH SYNOPSIS",
        _synopsis(["ectui"], parser),
        ".br",
        f"{_bold('ectui')} {_italic('COMMAND')} [{_italic('OPTIONS')}] ...",
        ".SH DESCRIPTION",
        escape(
            "Without a command, ectui opens the keyboard-driven console (a full-screen terminal UI) on the "
            "clusters of its database. Every action of the console also exists as a command for scripts: "
            "--json prints one JSON object, errors are one line on standard error. Every command takes "
            "-h (--help). Names from clouds and files are shown literally, with control characters escaped."
        ),
        ".PP",
        escape(
            "Shell completion: ectui completion bash|zsh|fish prints a script; for example "
            'eval "$(ectui completion bash)" in ~/.bashrc.'
        ),
        ".SH OPTIONS",
        *_options(parser),
        ".SH COMMANDS",
        "Commands: " + ", ".join(_bold(name) for name, _, _ in top) + ".",
    ]
    for name, child, text in top:
        lines += _commands(child, ("ectui", name), text)
    lines.append(".SH ENVIRONMENT")
    for name, text in ENVIRONMENT:
        lines += [".TP", _bold(name), escape(text)]
    lines.append(".SH FILES")
    for name, text in FILES:
        lines += [".TP", _italic(name), escape(text)]
    lines.append(".SH EXIT STATUS")
    for code, text in EXIT_STATUS:
        lines += [".TP", _bold(code), escape(text)]
    lines += [".SH SEE ALSO", "README.md and docs/ in the ectui sources."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ectui.manpage", description="Write the ectui(1) man page."
    )
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    page = manpage()
    if args.output is None:
        sys.stdout.write(page)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
