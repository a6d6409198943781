"""Output formats of every printing command (-f table|json|yaml|csv|value, -c, --sort-column, --noindent).

Through the real entry point: `ectui.cli.main([...])` in this process for most checks (fast), and
`python -m ectui` in a subprocess for `stats --csv -` and hostile names on a real stdout.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ectui.cli import main
from ectui.i18n import set_language
from tests.hostile.names import BIDI, NEWLINE, RAW_CONTROLS

ROOT = Path(__file__).resolve().parents[2]
FORMULA = '=HYPERLINK("http://x")'


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def call(home: Path, *args: object) -> Result:
    """`ectui ARGS` in this process with ECTUI_HOME=home and English; restores environment, logging, language."""
    saved_env = {k: os.environ.get(k) for k in ("ECTUI_HOME", "ECTUI_LANG", "ECTUI_DB_URL", "OS_CLOUD")}
    os.environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en"})
    os.environ.pop("ECTUI_DB_URL", None)
    os.environ.pop("OS_CLOUD", None)
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(saved_level)
        logging.captureWarnings(False)
        set_language("en")
    return Result(code, out.getvalue(), err.getvalue())


def ok(home: Path, *args: object) -> str:
    result = call(home, *args)
    assert result.code == 0 and result.err == "", result
    return result.out


def spawn(home: Path, *args: object) -> subprocess.CompletedProcess[str]:
    """`python -m ectui ARGS` (English, UTF-8) in a subprocess."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
    environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en", "PYTHONIOENCODING": "utf-8"})
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "ectui", *map(str, args)],
        cwd=home, env=environ, capture_output=True, text=True, encoding="utf-8", timeout=120, check=False,
    )  # fmt: skip


@dataclass(frozen=True)
class Homes:
    issuer: Path
    console: Path


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homes]:
    """An issuer with two editions (one named with a line break) and three licenses (hostile customers),
    and a console with license 1 installed (statistics on) and projects web (current) and db."""
    root = tmp_path_factory.mktemp("formats")
    issuer, console = root / "issuer", root / "console"
    edition = ("--max-clusters", "2", "--max-nodes", "10", "--storage", "local")
    ok(
        issuer,
        "issuer",
        "edition",
        "add",
        "--name",
        "Std",
        *edition,
        "--features",
        "platform,statistics,billing",
    )
    ok(issuer, "issuer", "edition", "add", "--name", NEWLINE, *edition, "--features", "platform")
    for customer, name, valid_to in (("ACME", "Std", "2099-12-31"), (BIDI, NEWLINE, "2020-06-01"),
                                     (FORMULA, "Std", "2098-01-31")):  # fmt: skip
        ok(issuer, "issuer", "license", "add", "--customer", customer, "--edition", name,
           "--valid-from", "2020-01-01", "--valid-to", valid_to)  # fmt: skip
    ec, properties = root / "a.ec", root / "c.properties"
    ok(issuer, "issuer", "license", "export", "1", "--out", ec, "--properties", properties)
    ok(console, "license", "import", ec, "--properties", properties)
    ok(console, "project", "add", "--name", "web", "--vcpus", "10", "--ram", "20", "--vms", "4")
    ok(console, "project", "add", "--name", "db", "--vcpus", "4", "--ram", "8", "--vms", "2",
       "--description", FORMULA + "\x1b[2J\nnext")  # fmt: skip
    ok(console, "project", "use", "web")
    yield Homes(issuer, console)


LICENSES = ("issuer", "license", "list")
PICK = ("-c", "id", "-c", "customer", "-c", "status")


def test_each_format_of_a_list_golden(homes: Homes) -> None:
    home = homes.issuer
    assert ok(home, *LICENSES) == (
        "ID  Customer                Edition     Valid from  Valid to    Status\n"
        '3   =HYPERLINK("http://x")  Std         2020-01-01  2098-01-31  valid\n'
        "2   evil\\u202etxt.exe       two\\nlines  2020-01-01  2020-06-01  expired\n"
        "1   ACME                    Std         2020-01-01  2099-12-31  valid\n"
    )
    assert ok(home, *LICENSES, "-f", "table", *PICK) == (
        "id  customer                status\n"
        '3   =HYPERLINK("http://x")  valid\n'
        "2   evil\\u202etxt.exe       expired\n"
        "1   ACME                    valid\n"
    )
    assert ok(home, *LICENSES, "-f", "json", "--noindent", *PICK) == (
        '{"licenses": [{"id": 3, "customer": "=HYPERLINK(\\"http://x\\")", "status": "valid"}, '
        '{"id": 2, "customer": "evil\\u202etxt.exe", "status": "expired"}, '
        '{"id": 1, "customer": "ACME", "status": "valid"}]}\n'
    )
    assert ok(home, *LICENSES, "-f", "yaml", *PICK) == (
        "licenses:\n"
        '- id: 3\n  customer: =HYPERLINK("http://x")\n  status: valid\n'
        '- id: 2\n  customer: "evil\\u202Etxt.exe"\n  status: expired\n'
        "- id: 1\n  customer: ACME\n  status: valid\n"
    )
    assert ok(home, *LICENSES, "-f", "csv", *PICK) == (
        '"id","customer","status"\n'
        '3,"\'=HYPERLINK(""http://x"")","valid"\n'
        '2,"evil\\u202etxt.exe","expired"\n'
        '1,"ACME","valid"\n'
    )
    assert ok(home, *LICENSES, "-f", "value", *PICK) == (
        '3 =HYPERLINK("http://x") valid\n2 evil\\u202etxt.exe expired\n1 ACME valid\n'
    )
    # --json is -f json --noindent, byte for byte: one line; -f json alone is the same document indented
    # (as openstackclient prints it); yaml is the same document too
    whole = ok(home, *LICENSES, "--json")
    assert ok(home, *LICENSES, "-f", "json", "--noindent") == whole
    assert ok(home, *LICENSES, "-f", "yaml", "--json") == whole  # the last format given wins
    assert whole.count("\n") == 1
    indented = ok(home, *LICENSES, "-f", "json")
    assert indented.startswith('{\n  "licenses": [\n    {\n      "id": 3,\n'), indented
    assert json.loads(indented) == json.loads(whole)
    assert yaml.safe_load(ok(home, *LICENSES, "-f", "yaml")) == json.loads(whole)
    # every column of the JSON items, in every format
    rows = list(csv.reader(io.StringIO(ok(home, *LICENSES, "-f", "csv"))))
    assert rows[0] == list(json.loads(whole)["licenses"][0])
    assert len(rows) == 4
    assert len(ok(home, *LICENSES, "-f", "value").splitlines()) == 3


def test_columns_order_sort_and_single_objects(homes: Homes) -> None:
    home = homes.issuer
    assert ok(home, *LICENSES, "-f", "value", "-c", "status", "-c", "id") == "valid 3\nexpired 2\nvalid 1\n"
    assert ok(home, *LICENSES, "-f", "value", "-c", "id", "--sort-column", "valid_to") == "2\n3\n1\n"
    assert ok(home, *LICENSES, "-f", "value", "-c", "id", "--sort-column", "status",
              "--sort-column", "valid_to") == "2\n3\n1\n"  # fmt: skip
    sorted_json = json.loads(ok(home, *LICENSES, "--json", "--sort-column", "customer"))
    assert [i["id"] for i in sorted_json["licenses"]] == [3, 1, 2]  # by code point: '=' < 'A' < 'e'
    assert len(sorted_json["licenses"][0]) > 3, "--sort-column alone keeps every column"
    editions = ok(
        home, "issuer", "edition", "list", "-f", "csv", "-c", "name", "-c", "storage", "-c", "max_nodes"
    )
    assert editions == '"name","storage","max_nodes"\n"Std","local",10\n"two\\nlines","local",10\n'
    # a show command: its fields
    show = ("issuer", "license", "show", "3")
    assert ok(home, *show, "-f", "value", "-c", "customer", "-c", "id") == '=HYPERLINK("http://x")\n3\n'
    assert ok(home, *show, "-f", "csv", "-c", "id", "-c", "edition") == '"id","edition"\n3,"Std"\n'
    assert ok(home, *show, "-f", "yaml", "-c", "limits") == (
        "limits:\n  max_clusters: 2\n  max_nodes: 10\n  storage:\n  - local\n"
    )
    assert (
        ok(home, *show, "-c", "edition", "-c", "status") == "edition          Std\nstatus           valid\n"
    )
    assert json.loads(ok(home, *show, "-f", "json", "-c", "id")) == {"id": 3}
    console = homes.console
    assert ok(
        console, "license", "show", "-f", "value", "-c", "customer", "-c", "state", "-c", "writable"
    ) == ("ACME\nvalid\ntrue\n")
    projects = ok(console, "project", "list", "-f", "json", "-c", "name", "--sort-column", "name")
    assert json.loads(projects) == {"projects": [{"name": "db"}, {"name": "web"}], "current": "web"}
    assert ok(console, "project", "list", "-f", "csv", "-c", "name", "-c", "quota") == (
        '"name","quota"\n'
        '"db","vcpus=4, ram_gb=8, vms=2, public_ips=0"\n'
        '"web","vcpus=10, ram_gb=20, vms=4, public_ips=0"\n'
    )


def test_column_names_do_not_follow_the_language(homes: Homes) -> None:
    home = homes.issuer
    english = ok(home, *LICENSES, "-f", "csv", *PICK)
    assert ok(home, "--lang", "zh_CN", *LICENSES, "-f", "csv", *PICK) == english
    assert ok(home, "--lang", "zh_CN", *LICENSES).splitlines()[0] != ok(home, *LICENSES).splitlines()[0]


def test_unknown_column_or_format_is_a_one_line_usage_error(homes: Homes) -> None:
    for args in ((*LICENSES, "-c", "nope"), (*LICENSES, "-f", "value", "--sort-column", "Customer"),
                 ("issuer", "license", "show", "1", "-c", "id", "-c", "nope\x1b[2J")):  # fmt: skip
        result = call(homes.issuer, *args)
        assert result.code == 2 and result.out == "", result
        assert len(result.err.splitlines()) == 1 and "\x1b" not in result.err, result.err
        assert "the columns are: id, customer, edition" in result.err
    wrong = call(homes.issuer, *LICENSES, "-f", "xml")
    assert wrong.code == 2 and wrong.out == "" and len(wrong.err.splitlines()) == 1, wrong


def test_hostile_names_stay_one_line_in_value_and_csv(homes: Homes) -> None:
    console = homes.console
    value = ok(console, "project", "list", "-f", "value", "-c", "name", "-c", "description")
    assert value == 'db =HYPERLINK("http://x")\\x1b[2J\\nnext\nweb \n'
    table = ok(console, "project", "list", "-c", "name", "-c", "description")
    assert len(table.splitlines()) == 3
    rows = list(csv.reader(io.StringIO(ok(console, "project", "list", "-f", "csv", "-c", "description"))))
    assert rows == [["description"], ['\'=HYPERLINK("http://x")\\x1b[2J\\nnext'], [""]]
    # on a real stdout, through `python -m ectui`
    spawned = spawn(homes.issuer, *LICENSES, "-f", "value", "-c", "customer", "-c", "edition")
    assert spawned.returncode == 0, spawned.stderr
    assert spawned.stdout.splitlines() == [
        '=HYPERLINK("http://x") Std',
        "evil\\u202etxt.exe two\\nlines",
        "ACME Std",
    ]
    for char in RAW_CONTROLS:
        assert char not in spawned.stdout


def test_csv_dash_writes_to_stdout(homes: Homes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = homes.console
    proc = spawn(home, "stats", "--csv", "-")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["section", "subject", "metric", "value"]
    assert ["report", "filter", "days", "14"] in rows
    assert not (home / "-").exists()
    # the same rows as the file --csv FILE writes (that one with CRLF line ends, as before)
    ok(home, "stats", "--csv", home / "stats.csv")
    with (home / "stats.csv").open(newline="", encoding="utf-8") as fh:
        from_file = list(csv.reader(fh))
    assert [r for r in from_file if r[1] != "generated"] == [r for r in rows if r[1] != "generated"]
    # the bill, in this process: no file named '-' in the working directory either
    monkeypatch.chdir(tmp_path)
    bill = ok(home, "bill", "--project", "web", "--month", "2025-03", "--csv", "-", "-f", "json")
    from ectui.services.billing import CSV_HEADER

    rows = list(csv.reader(io.StringIO(bill)))
    assert rows[0] == list(CSV_HEADER) and rows[-1][3] == "TOTAL", rows
    assert not (tmp_path / "-").exists()
