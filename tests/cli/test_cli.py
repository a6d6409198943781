"""The command line through its real entry point: `python -m ectui …` in subprocesses, some in-process."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import ectui
from tests.kit.cli import Result, run

ALL_MODULES = ["platform", "statistics", "users", "workflow", "billing"]


def one_json_object(stdout: str) -> dict[str, object]:
    """stdout is exactly one JSON object (one line)."""
    assert stdout.count("\n") == 1 and stdout.endswith("\n"), stdout
    data = json.loads(stdout)
    assert isinstance(data, dict)
    return data


def assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def assert_one_line_error(returncode: int, stderr: str, expected: int) -> str:
    """The exit status, and stderr is exactly one line without a traceback; returns that line."""
    assert returncode == expected, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("ectui")
    return lines[0]


@dataclass(frozen=True)
class Flow:
    """The whole hand-over, run once through subprocesses: issuer → files → console."""

    root: Path
    issuer_home: Path
    console_home: Path
    ec: Path
    properties: Path
    edition_add: subprocess.CompletedProcess[str]
    license_add: subprocess.CompletedProcess[str]
    export: subprocess.CompletedProcess[str]
    imported: subprocess.CompletedProcess[str]
    show: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    root = tmp_path_factory.mktemp("cli")
    issuer_home, console_home = root / "issuer", root / "console"
    ec, properties = root / "out" / "acme.ec", root / "out" / "acme.properties"
    edition_add = run(
        issuer_home,
        *("issuer", "edition", "add", "--name", "Enterprise", "--max-clusters", "3", "--max-nodes", "50"),
        *("--storage", "local,shared", "--features", ",".join(ALL_MODULES)),
        *("--price", "9999.50", "--description", "everything", "--json"),
    )
    license_add = run(
        issuer_home,
        *("issuer", "license", "add", "--customer", "ACME 云", "--edition", "Enterprise"),
        *("--valid-from", "2020-01-01", "--valid-to", "2099-12-31", "--json"),
    )
    license_id = json.loads(license_add.stdout)["id"] if license_add.returncode == 0 else 1
    export = run(
        issuer_home,
        "issuer",
        "license",
        "export",
        license_id,
        "--out",
        ec,
        "--properties",
        properties,
        "--json",
    )
    imported = run(console_home, "license", "import", ec, "--properties", properties, "--json")
    show = run(console_home, "license", "show", "--json")
    return Flow(
        root, issuer_home, console_home, ec, properties, edition_add, license_add, export, imported, show
    )


EDITION_ARGS = (
    *("issuer", "edition", "add", "--max-clusters", "2", "--max-nodes", "10"),
    *("--storage", "local", "--features", "platform,users.audit"),
)


# ------------------------------------------------------------------ version


def test_version_subprocess(tmp_path: Path) -> None:
    proc = run(tmp_path, "--version")
    assert_ok(proc)
    assert proc.stdout == f"ectui {ectui.__version__}\n"


def test_version_in_process(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli(tmp_path, "--version")
    assert (result.code, result.out) == (0, f"ectui {ectui.__version__}\n")


# ------------------------------------------------------------------ the hand-over flow


def test_edition_add_json(flow: Flow) -> None:
    assert_ok(flow.edition_add)
    data = one_json_object(flow.edition_add.stdout)
    assert data["name"] == "Enterprise"
    assert (data["max_clusters"], data["max_nodes"]) == (3, 50)
    assert data["storage"] == ["local", "shared"]
    assert data["modules"] == ALL_MODULES
    assert "billing.bills" in data["features"]  # type: ignore[operator]
    assert data["price"] == "9999.50"
    assert data["description"] == "everything"


def test_license_add_json(flow: Flow) -> None:
    assert_ok(flow.license_add)
    data = one_json_object(flow.license_add.stdout)
    assert isinstance(data["id"], int)
    assert data["customer"] == "ACME 云"
    assert data["edition"] == "Enterprise"
    assert (data["valid_from"], data["valid_to"]) == ("2020-01-01", "2099-12-31")
    assert data["limits"] == {"max_clusters": 3, "max_nodes": 50, "storage": ["local", "shared"]}
    assert "private_key" not in data


def test_export_writes_both_files(flow: Flow) -> None:
    assert_ok(flow.export)
    data = one_json_object(flow.export.stdout)
    assert data == {
        "id": json.loads(flow.license_add.stdout)["id"],
        "ec": str(flow.ec),
        "properties": str(flow.properties),
    }
    assert flow.ec.read_bytes().startswith(b"-----BEGIN ECTUI LICENSE-----\n")
    assert stat.S_IMODE(flow.properties.stat().st_mode) == 0o600
    lines = flow.properties.read_text().splitlines()
    assert any(line.startswith("private_key=") for line in lines)
    assert any(line.startswith("issuer_public_key=") for line in lines)


def test_import_and_show_json(flow: Flow) -> None:
    assert_ok(flow.imported)
    imported = one_json_object(flow.imported.stdout)
    assert imported["state"] == "valid"
    assert_ok(flow.show)
    data = one_json_object(flow.show.stdout)
    assert {"customer", "edition", "valid_from", "valid_to", "days_left", "limits", "features"} <= set(data)
    assert (data["customer"], data["edition"]) == ("ACME 云", "Enterprise")
    assert (data["valid_from"], data["valid_to"]) == ("2020-01-01", "2099-12-31")
    today = dt.datetime.now(dt.UTC).date()
    assert abs(data["days_left"] - (dt.date(2099, 12, 31) - today).days) <= 1  # type: ignore[operator]
    assert data["limits"] == {"max_clusters": 3, "max_nodes": 50, "storage": ["local", "shared"]}
    assert set(ALL_MODULES) <= set(data["features"])  # type: ignore[arg-type]
    assert data["state"] == "valid" and data["writable"] is True


def test_import_with_default_properties(flow: Flow, tmp_path: Path) -> None:
    home = tmp_path / "console"
    (home / "config").mkdir(parents=True)
    shutil.copy(flow.properties, home / "config" / "constant.properties")
    proc = run(home, "license", "import", flow.ec, "--json")
    assert_ok(proc)
    assert one_json_object(proc.stdout)["customer"] == "ACME 云"


def test_import_without_properties_says_what_to_do(flow: Flow, tmp_path: Path) -> None:
    proc = run(tmp_path / "console", "license", "import", flow.ec)
    line = assert_one_line_error(proc.returncode, proc.stderr, 1)
    assert "constant.properties" in line
    assert proc.stdout == ""


def test_refused_import_keeps_the_license(flow: Flow, tmp_path: Path) -> None:
    home = tmp_path / "console"
    shutil.copytree(flow.console_home, home)
    data = bytearray(flow.ec.read_bytes())
    pos = data.index(b"Ciphertext: ") + 30
    data[pos] = ord("A") if data[pos] != ord("A") else ord("B")
    tampered = tmp_path / "tampered.ec"
    tampered.write_bytes(bytes(data))
    proc = run(home, "license", "import", tampered, "--properties", flow.properties)
    line = assert_one_line_error(proc.returncode, proc.stderr, 1)
    assert "modified" in line
    show = run(home, "license", "show", "--json")
    assert_ok(show)
    assert one_json_object(show.stdout)["customer"] == "ACME 云"


# ------------------------------------------------------------------ issuer commands (in-process)


def test_edition_commands(cli: Callable[..., Result], tmp_path: Path) -> None:
    home = tmp_path / "issuer"
    created = cli(home, *EDITION_ARGS, "--name", "Basic", "--price", "10", "--description", "small")
    assert created.code == 0, created.err
    assert "Basic" in created.out
    cli(home, *EDITION_ARGS, "--name", "Pro")
    listed = cli(home, "issuer", "edition", "list", "--json")
    assert listed.code == 0
    data = one_json_object(listed.out)
    assert [e["name"] for e in data["editions"]] == ["Basic", "Pro"]  # type: ignore[attr-defined]
    table = cli(home, "issuer", "edition", "list")
    assert table.code == 0
    assert table.out.splitlines()[0].split()[:3] == ["Name", "Clusters", "Nodes"]
    assert any(line.startswith("Basic") for line in table.out.splitlines())
    shown = cli(home, "issuer", "edition", "show", "Basic", "--json")
    assert one_json_object(shown.out)["description"] == "small"
    duplicate = cli(home, *EDITION_ARGS, "--name", "Basic")
    assert "already exists" in assert_one_line_error(duplicate.code, duplicate.err, 1)
    deleted = cli(home, "issuer", "edition", "delete", "Pro")
    assert deleted.code == 0
    listed = cli(home, "issuer", "edition", "list", "--json")
    assert [e["name"] for e in one_json_object(listed.out)["editions"]] == ["Basic"]  # type: ignore[attr-defined]


def test_license_commands(cli: Callable[..., Result], tmp_path: Path) -> None:
    home = tmp_path / "issuer"
    assert cli(home, *EDITION_ARGS, "--name", "Basic").code == 0
    assert cli(home, *EDITION_ARGS, "--name", "Pro", "--max-clusters", "5").code == 0
    add_args = (
        "--customer",
        "Beta",
        "--edition",
        "Basic",
        "--valid-from",
        "2030-01-01",
        "--valid-to",
        "2030-12-31",
    )
    added = cli(home, "issuer", "license", "add", *add_args, "--json")
    assert added.code == 0, added.err
    license_id = one_json_object(added.out)["id"]

    listed = one_json_object(cli(home, "issuer", "license", "list", "--json").out)
    assert [lic["id"] for lic in listed["licenses"]] == [license_id]  # type: ignore[attr-defined]
    text = cli(home, "issuer", "license", "list")
    assert "Beta" in text.out and "Basic" in text.out

    shown = one_json_object(cli(home, "issuer", "license", "show", license_id, "--json").out)
    assert (shown["customer"], shown["edition"]) == ("Beta", "Basic")

    updated = cli(
        home,
        "issuer",
        "license",
        "update",
        license_id,
        "--edition",
        "Pro",
        "--valid-to",
        "2031-06-30",
        "--json",
    )
    assert updated.code == 0, updated.err
    data = one_json_object(updated.out)
    assert (data["edition"], data["valid_to"]) == ("Pro", "2031-06-30")
    assert data["limits"]["max_clusters"] == 5  # type: ignore[index]

    in_use = cli(home, "issuer", "edition", "delete", "Pro")
    assert "used by 1 license" in assert_one_line_error(in_use.code, in_use.err, 1)

    bad_order = cli(home, "issuer", "license", "update", license_id, "--valid-to", "2029-01-01")
    assert "must not be before" in assert_one_line_error(bad_order.code, bad_order.err, 2)
    assert (
        one_json_object(cli(home, "issuer", "license", "show", license_id, "--json").out)["valid_to"]
        == "2031-06-30"
    )

    deleted = cli(home, "issuer", "license", "delete", license_id, "--json")
    assert deleted.code == 0
    assert one_json_object(deleted.out) == {"deleted": license_id}
    gone = cli(home, "issuer", "license", "show", license_id)
    assert f"No license with id {license_id}" in assert_one_line_error(gone.code, gone.err, 1)


def test_console_show_without_license(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli(tmp_path / "console", "license", "show", "--json")
    assert result.code == 0
    data = one_json_object(result.out)
    assert (data["state"], data["customer"], data["writable"]) == ("none", None, False)
    text = cli(tmp_path / "console", "license", "show")
    assert "No license is installed" in text.out


def test_readonly_flag(cli: Callable[..., Result], tmp_path: Path, flow: Flow) -> None:
    home = tmp_path / "console"
    shutil.copytree(flow.console_home, home)
    data = one_json_object(cli(home, "--readonly", "license", "show", "--json").out)
    assert (data["state"], data["writable"]) == ("valid", False)
    assert "--readonly" in str(data["reason"])


# ------------------------------------------------------------------ errors through the real entry point


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        pytest.param(["frobnicate"], 2, "invalid choice", id="unknown-command"),
        pytest.param(["issuer", "edition", "frobnicate"], 2, "invalid choice", id="unknown-subcommand"),
        pytest.param(["issuer", "edition", "add", "--name", "X"], 2, "required", id="missing-option"),
        pytest.param(
            [
                *EDITION_ARGS[:3],
                "--name",
                "X",
                "--max-clusters",
                "many",
                "--max-nodes",
                "1",
                "--storage",
                "local",
                "--features",
                "platform",
            ],
            2,
            "whole number",
            id="non-number",
        ),
        pytest.param(["issuer", "license", "show", "abc"], 2, "whole number", id="non-number-id"),
        pytest.param(
            [*EDITION_ARGS, "--name", "X", "--features", "teleport"], 2, "teleport", id="unknown-feature"
        ),
        pytest.param(["issuer", "edition", "delete", "Nope"], 1, "No edition named 'Nope'", id="no-edition"),
        pytest.param(
            ["issuer", "license", "export", "7", "--out", "x.ec", "--properties", "x.properties"],
            1,
            "No license with id 7",
            id="export-missing",
        ),
        pytest.param(
            ["license", "import", "missing.ec", "--properties", "missing.properties"],
            1,
            "missing.properties",
            id="import-missing",
        ),
        pytest.param(["--db-url", "bogus://nowhere", "license", "show"], 2, "ectui: ", id="bad-db-url"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], code: int, needle: str) -> None:
    proc = run(tmp_path / "home", *args, cwd=tmp_path)  # relative paths land in tmp_path
    line = assert_one_line_error(proc.returncode, proc.stderr, code)
    assert needle in line
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--db-url", "bogus://nowhere", "license", "show"], id="console"),
        pytest.param(["issuer", "--db-url", "not a url", "edition", "list"], id="issuer"),
    ],
)
def test_bad_db_url_is_a_clear_usage_error(tmp_path: Path, args: list[str]) -> None:
    proc = run(tmp_path / "home", *args, cwd=tmp_path)
    line = assert_one_line_error(proc.returncode, proc.stderr, 2)
    assert "unexpected" not in line
    assert "database URL" in line or "--db-url" in line


def test_refused_in_process_has_no_traceback(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli(tmp_path / "issuer", "issuer", "license", "delete", "3")
    line = assert_one_line_error(result.code, result.err, 1)
    assert "No license with id 3" in line


# ------------------------------------------------------------------ language


def test_lang_option_gives_chinese(tmp_path: Path) -> None:
    proc = run(tmp_path, "--lang", "zh_CN", "issuer", "edition", "delete", "Nope")
    line = assert_one_line_error(proc.returncode, proc.stderr, 1)
    assert "没有名为" in line
    assert "Nope" in line


def test_lang_environment_gives_chinese(tmp_path: Path) -> None:
    proc = run(tmp_path, "issuer", "edition", "delete", "Nope", env={"ECTUI_LANG": "", "LANG": "zh_CN.UTF-8"})
    line = assert_one_line_error(proc.returncode, proc.stderr, 1)
    assert "没有名为" in line


def test_chinese_usage_error(tmp_path: Path) -> None:
    proc = run(tmp_path, "--lang", "zh_CN", "issuer", "edition", "add", "--name", "X")
    line = assert_one_line_error(proc.returncode, proc.stderr, 2)
    assert "错误" in line
