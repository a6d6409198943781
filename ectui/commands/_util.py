"""Shared pieces of the command modules: the one-line-error parser, tables, and result helpers."""

from __future__ import annotations

import argparse
import numbers
import sys
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.workflow import RequestInfo

EXIT_REFUSED = 1
EXIT_USAGE = 2

Handler = Callable[[Any, argparse.Namespace], Coroutine[Any, Any, "tuple[object, object] | None"]]
"""A command: gets the started services and the parsed arguments, returns (JSON data, text)."""
QuickRead = Callable[["Database", argparse.Namespace, "Settings"], "tuple[object, object] | None"]
"""The quick form of a read command (its parser's `quick`): reads the console database through
ectui.db.reads, without services; returns (JSON data, text), or None to leave it to the full command."""


if TYPE_CHECKING:
    _SubParsersBase = argparse._SubParsersAction[argparse.ArgumentParser]
else:  # not subscriptable at run time
    _SubParsersBase = argparse._SubParsersAction


class _Subcommands(_SubParsersBase):
    """Subcommands whose own --help starts with the one-line help shown in their group's list.

    A subcommand added with help=SUPPRESS is hidden: not listed in --help (argparse before 3.14 lists it
    as '==SUPPRESS=='), nor among the choices a wrong subcommand's error names.
    """

    hidden: set[str]

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if kwargs.get("help") == argparse.SUPPRESS:
            del kwargs["help"]
            self.hidden = {*getattr(self, "hidden", set[str]()), name}
        if kwargs.get("help") and not kwargs.get("description"):
            text = kwargs["help"]
            kwargs["description"] = text[:1].upper() + text[1:]
        return super().add_parser(name, **kwargs)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one clear line on stderr, exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Subcommands)

    def error(self, message: str) -> NoReturn:
        from ectui.i18n import _

        hint = _("try '{prog} --help'").format(prog=self.prog)
        label = _("error")
        self.exit(EXIT_USAGE, f"{self.prog}: {label}: {message} ({hint})\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """A wrong subcommand: the error names this group's choices, plainly, not 'argument action: …'."""
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            from ectui.i18n import _

            hidden: set[str] = getattr(action, "hidden", set())
            choices = ", ".join(str(c) for c in action.choices if c not in hidden)
            message = _("invalid choice: %(value)r (choose from %(choices)s)")
            raise argparse.ArgumentError(None, message % {"value": value, "choices": choices})
        super()._check_value(action, value)


def command(
    parser: argparse.ArgumentParser, handler: Handler, *, app: str = "console", columns: Sequence[str] = ()
) -> None:
    """Bind a leaf parser to its handler and to the services it needs ('console' or 'issuer').

    Every leaf prints data, so every leaf gets the output options here (`add_output_options`). A command
    whose rows always have the same `columns` has its -c and --sort-column names checked before it runs
    (`check_columns_first`); the others once their result is known.
    """
    parser.set_defaults(handler=handler, services=app, known_columns=tuple(columns))
    add_output_options(parser)


def check_columns_first(args: argparse.Namespace) -> None:
    """Refuse an unknown -c or --sort-column name (ValidationError, exit 2) before the command does anything,
    where its parser names its columns."""
    known = list(getattr(args, "known_columns", ()))
    _check_columns(
        known, list(getattr(args, "columns", None) or []), list(getattr(args, "sort_columns", None) or [])
    )


def run_quick(settings: Settings, args: argparse.Namespace, read: QuickRead) -> tuple[object, object] | None:
    """Run a read command's quick form on a console database already at the newest schema.

    As a start does, the license clock's high-water mark moves forward first. None when the database
    needs migrating or the quick form leaves the command to the full path (which then refuses or reads).
    """
    import datetime as dt

    from ectui.db import reads

    settings.ensure_dirs()
    db = reads.open_current(
        settings.console_db_url,
        "console",
        busy_timeout=settings.db_busy_timeout,
        create_dir=settings.db_url is None,
    )
    if db is None:
        return None
    try:
        reads.mark_clock(db, dt.datetime.now(dt.UTC).replace(tzinfo=None))
        return read(db, args, settings)
    finally:
        db.dispose()


def one_argument_commands(
    sub: Any, commands: Mapping[str, tuple[str, Handler]], *, dest: str, metavar: str, help: str
) -> None:
    """Leaf commands (verb: (help, handler)) that each take one positional argument, the same for all."""
    for verb, (text, handler) in commands.items():
        parser = sub.add_parser(verb, help=text)
        parser.add_argument(dest, metavar=metavar, help=help)
        command(parser, handler)


def picked(args: argparse.Namespace, *names: str, **renamed: str) -> dict[str, Any]:
    """Keyword arguments from parsed options: each of `names` as it is, and `renamed` (keyword=option)."""
    return {
        **{name: getattr(args, name) for name in names},
        **{k: getattr(args, v) for k, v in renamed.items()},
    }


class Refused(Exception):
    """A command that ran but reports failure (exit 1) after printing its result."""

    def __init__(self, data: object, text: str) -> None:
        super().__init__(text)
        self.data, self.text = data, text


MAX_ID = 2**63 - 1
"""The largest id a database integer column holds (SQLite and PostgreSQL BIGINT)."""
MAX_PASSWORD_BYTES = 4096
"""--password-stdin reads at most this much (up to the first line end); more is refused at once."""


def positive_id(value: str) -> int:
    """An id given on the command line: ASCII digits only, 1 to MAX_ID; anything else is a usage error (exit 2)."""
    from ectui.services.errors import ValidationError
    from ectui.text import one_line

    text = value.strip()
    digits = text[1:] if text.startswith(("+", "-")) else text
    shown = one_line(value, 40)  # echoed in a one-line error: escapes visible, shortened
    if not (digits.isascii() and digits.isdigit()):  # int() would take '١٢' or '１' as numbers
        raise ValidationError("validation.int", field="ID", value=shown)
    significant = digits.lstrip("0")
    if text.startswith("-") and significant:
        raise ValidationError("validation.positive", field="ID", value=shown)
    if len(significant) > len(str(MAX_ID)) or int(digits) > MAX_ID:  # no int() of a million digits
        raise ValidationError("validation.too_large", field="ID", max=MAX_ID, value=shown)
    number = int(digits)
    if number < 1:
        raise ValidationError("validation.positive", field="ID", value=number)
    return number


def read_password() -> str:
    """One line from standard input, without its line end (for --password-stdin); bounded to MAX_PASSWORD_BYTES."""
    from ectui.services.boundedio import read_stdin_line_bounded

    return read_stdin_line_bounded(MAX_PASSWORD_BYTES, "--password-stdin")


CELL_LIMIT = 80
"""A table cell shows at most this many characters (then '…'); --json gives every value whole."""


class TextTable:
    """Rows as aligned text columns, made only when printed and written line by line.

    Every cell is foreign text shown literally on one line (`ectui.text.one_line`): a newline or an
    escape sequence in a name never splits a row or reaches the terminal, and a cell is cut to
    CELL_LIMIT characters so the padding of every row does not grow with the longest name.
    """

    def __init__(self, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        self.headers = [str(h) for h in headers]
        self.rows = rows

    def lines(self) -> Iterator[str]:
        """The header line and one line per row."""
        from ectui.text import one_line

        cells = [[one_line(c, CELL_LIMIT) for c in row] for row in self.rows]
        widths = [width(h) for h in self.headers]
        for row in cells:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], width(cell))
        for row in (self.headers, *cells):
            yield "  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths, strict=True)).rstrip()

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __add__(self, other: object) -> str:
        return str(self) + str(other)

    def __radd__(self, other: object) -> str:
        return str(other) + str(self)

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __contains__(self, part: str) -> bool:
        return part in str(self)

    def __getattr__(self, name: str) -> Any:  # str methods (splitlines, startswith …) on the printed text
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(str(self), name)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> TextTable:
    """Rows as aligned text columns (wide CJK characters count double), built when printed."""
    return TextTable(headers, rows)


def width(text: str) -> int:
    """Display width of a string in a terminal."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def describe(data: dict[str, Any]) -> str:
    """A JSON-ready dict as aligned key/value lines (values shown literally, each on its line)."""
    from ectui.text import visible

    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        lines.append(f"{key:<16} {'-' if value is None else visible(value)}")
    return "\n".join(lines)


def write_text(text: object) -> None:
    """Print a command's text result: a table line by line, anything else with its controls escaped."""
    from ectui.text import visible

    if isinstance(text, TextTable):
        for line in text.lines():
            sys.stdout.write(line + "\n")
        return
    sys.stdout.write(visible(text, newlines=True) + "\n")


def write_json(data: object, *, indent: int | None = None) -> None:
    """Print a command's data as JSON, streamed; the exact value, with nothing a terminal would obey.

    On one line by default (a stream of documents stays one per line); `indent` spreads it over lines.
    `ensure_ascii=False` keeps names readable; json escapes C0 controls itself, and C1 controls,
    bidirectional overrides and line separators are escaped here as \\uXXXX (still the same JSON value).
    """
    import json

    from ectui.text import json_safe

    for chunk in json.JSONEncoder(ensure_ascii=False, indent=indent).iterencode(data):
        sys.stdout.write(json_safe(chunk))
    sys.stdout.write("\n")


JSON_INDENT = 2
"""Spaces per level of -f json output, as openstackclient prints it; --noindent prints one line."""


# ------------------------------------------------------------------ output formats (openstackclient style)

FORMATS = ("table", "json", "yaml", "csv", "value")
"""The values of -f/--format; 'table' is the command's own text, 'json' its --json document."""


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """-f/--format, -c/--column, --sort-column, --noindent and --json (= -f json --noindent) on a leaf parser.

    Column names are the keys of the command's JSON document (the fields of each listed item, or of the
    one object a command shows): the same in every format and every UI language.
    """
    from ectui.i18n import _

    group = parser.add_argument_group(_("output formatters"))
    group.add_argument(
        "-f", "--format", choices=FORMATS, default="table", help=_("output format (default: table)")
    )
    group.add_argument(
        "--json", nargs=0, action=_JsonOnOneLine, help=_("same as -f json --noindent (JSON on one line)")
    )
    group.add_argument(
        "-c",
        "--column",
        dest="columns",
        action="append",
        default=[],
        metavar=_("COLUMN"),
        help=_("show only this column (a key of the JSON output); repeat for more, in that order"),
    )
    group.add_argument(
        "--sort-column",
        dest="sort_columns",
        action="append",
        default=[],
        metavar=_("COLUMN"),
        help=_("sort the listed rows by this column; repeat for more keys"),
    )
    group.add_argument(
        "--noindent",
        action="store_true",
        help=_("JSON on one line, without indentation (default: indented)"),
    )


class _JsonOnOneLine(argparse.Action):
    """--json: the JSON document on one line, as scripts of earlier ectui versions read it."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *_args: object
    ) -> None:
        namespace.format = "json"
        namespace.noindent = True


class CsvDocument:
    """A command result that is CSV for stdout (`--csv -`): printed instead of the text, whatever -f says.

    The same rows and quoting as the file `--csv FILE` writes; foreign text is shown with visible escapes.
    """

    def __init__(self, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        self.header, self.rows = header, rows

    def lines(self) -> Iterator[str]:
        """The CSV text, one line per row (cells on one line, formulas neutralised)."""
        return csv_lines(self.header, self.rows, quote_text=False)


def _flat(value: object) -> object:
    """A JSON value as one cell: numbers stay numbers, None is empty, lists and objects joined."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Number):
        return value
    if isinstance(value, list):
        return ",".join(str(_flat(v)) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_flat(v)}" for k, v in value.items())
    return value


def _cell(value: object) -> object:
    """`_flat` with text shown literally on one line (escapes and line breaks made visible)."""
    from ectui.text import one_line

    flat = _flat(value)
    return flat if isinstance(flat, numbers.Number) else one_line(flat)


def csv_lines(
    header: Sequence[object], rows: Iterable[Sequence[object]], *, quote_text: bool = True
) -> Iterator[str]:
    """CSV lines (header first), each cell on one line and safe from spreadsheet formulas.

    With `quote_text` every text cell is quoted (openstackclient's default); else only where needed.
    """
    import csv
    import io

    from ectui.services.csvsafe import safe_writer

    out = io.StringIO()
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONNUMERIC if quote_text else csv.QUOTE_MINIMAL
    writer = safe_writer(csv.writer(out, quoting=quoting, lineterminator="\n"))
    for row in (header, *rows):
        writer.writerow(_cell(v) for v in row)
        yield out.getvalue().rstrip("\n")
        out.seek(0)
        out.truncate()


def _sort_key(value: object) -> tuple[int, Any]:
    """Numbers before text (each in its order), empty values last."""
    if value is None:
        return (2, "")
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(_flat(value)))


class _Shape:
    """A JSON document as rows (a list of objects, or the first key's list of objects) or as one object."""

    def __init__(self, data: object) -> None:
        self.key: str | None = None
        self.records: list[dict[str, Any]] | None = None
        self.obj: dict[str, Any] = {}
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            self.records = data
        elif isinstance(data, dict):
            lists = [k for k, v in data.items() if _is_records(v) and v]
            first = next(iter(data), None)
            if first is not None and _is_records(data[first]) and lists in ([], [first]):
                self.key, self.records = first, data[first]
            else:
                self.obj = data
        else:
            self.obj = {"value": data}

    def columns(self) -> list[str]:
        """The column names: every key of the items (in order of first appearance), or of the object."""
        if self.records is None:
            return list(self.obj)
        return list(dict.fromkeys(k for r in self.records for k in r))


def _is_records(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(r, dict) for r in value)


def write_output(args: argparse.Namespace, data: object, text: object) -> None:
    """Print a result in the format of -f (or --json), with the columns of -c in their order.

    Raises ValidationError (exit 2) for an unknown column before anything is printed. Without -c and
    --sort-column, 'table' is the command's own text and 'json' exactly its --json document: indented,
    or on one line with --noindent.
    """
    fmt = "json" if getattr(args, "json", False) is True else getattr(args, "format", None) or "table"
    indent = None if getattr(args, "noindent", False) else JSON_INDENT

    def emit_json(doc: object) -> None:
        write_json(doc, indent=indent)

    columns = list(dict.fromkeys(getattr(args, "columns", None) or []))
    sort = list(getattr(args, "sort_columns", None) or [])
    if isinstance(text, CsvDocument):
        _write_lines(text.lines())
        return
    if not columns and not sort and fmt in ("table", "json"):
        emit_json(data) if fmt == "json" else write_text(text)
        return
    shape = _Shape(data)
    known = shape.columns()
    _check_columns(known, columns, sort)
    cols = columns or known
    if shape.records is None:
        fields = {c: shape.obj.get(c) for c in cols}
        doc: object = fields if columns else data
        if fmt in ("json", "yaml"):
            emit_json(doc) if fmt == "json" else write_yaml(doc)
        elif fmt == "table":
            write_text(describe(fields) if columns else text)
        elif fmt == "csv":
            _write_lines(csv_lines(cols, [list(fields.values())]))
        else:
            _write_lines(str(_cell(v)) for v in fields.values())
        return
    records = shape.records
    if sort:
        records = sorted(records, key=lambda r: tuple(_sort_key(r.get(c)) for c in sort))
    if fmt in ("json", "yaml"):
        items = [{c: r.get(c) for c in cols} for r in records] if columns else records
        doc = items if shape.key is None else {**data, shape.key: items}  # type: ignore[dict-item]
        emit_json(doc) if fmt == "json" else write_yaml(doc)
        return
    rows = [[r.get(c) for c in cols] for r in records]
    if fmt == "table":
        write_text(TextTable(cols, ([_flat(v) for v in row] for row in rows)))
    elif fmt == "csv":
        _write_lines(csv_lines(cols, rows) if cols else ())  # no rows and no -c: no column names known
    else:
        _write_lines(" ".join(str(_cell(v)) for v in row) for row in rows)


def _check_columns(known: list[str], columns: list[str], sort: list[str]) -> None:
    """An unknown -c or --sort-column name is a usage error naming the known ones (not checkable: no rows)."""
    from ectui.services.errors import ValidationError
    from ectui.text import one_line

    if not known:
        return
    for option, names in (("-c/--column", columns), ("--sort-column", sort)):
        for name in names:
            if name not in known:
                raise ValidationError(
                    "validation.column", field=option, value=one_line(name, 40), choices=", ".join(known)
                )


def _write_lines(lines: Iterable[str]) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")


def write_yaml(data: object) -> None:
    """Print data as YAML (block style, keys in their order); escaped to ASCII if any text is hostile."""
    import yaml

    from ectui.text import visible

    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False, width=2**30)
    if visible(text, newlines=True) != text:  # a control, bidi or line separator: let YAML escape it
        text = yaml.safe_dump(
            data, allow_unicode=False, sort_keys=False, default_flow_style=False, width=2**30
        )
    sys.stdout.write(text)


# ------------------------------------------------------------------ progress and requests (vm and request commands)


def progress_printer() -> Any:
    """Step lines on stderr when it is a terminal (scripts get a clean stderr)."""
    from ectui.i18n import _
    from ectui.services.progress import ignore_progress

    if not sys.stderr.isatty():
        return ignore_progress
    last: list[str] = []

    def show(progress: Any) -> None:
        key = f"{progress.step}:{progress.done}"
        if last and last[-1] == key:
            return
        last.append(key)
        total = progress.total or 0
        print(f"[{min(progress.done + 1, total)}/{total}] {_(progress.detail)}", file=sys.stderr, flush=True)

    return show


def state_text(state: str) -> str:
    """The translated state name."""
    from ectui.i18n import _
    from ectui.services.workflow import STATE_LABELS

    return _(STATE_LABELS.get(state, state))


def kind_text(kind: str) -> str:
    """The translated request kind."""
    from ectui.i18n import _
    from ectui.services.workflow import KIND_LABELS

    return _(KIND_LABELS.get(kind, kind))


def submitted_text(r: RequestInfo) -> str:
    """What the create/resize commands print when an operator's action became a request."""
    from ectui.i18n import render
    from ectui.services.errors import ServiceError

    return render(ServiceError("workflow.submitted", id=r.id, kind=kind_text(r.kind)))
