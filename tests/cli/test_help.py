"""`--help` everywhere: every option explained, in Chinese too; the epilog's paths; wrong subcommands; --debug."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ectui.cli import build_parser, main
from ectui.i18n import set_language

ROOT = Path(__file__).resolve().parents[2]


def walk(parser: argparse.ArgumentParser, path: str = "ectui") -> Iterator[tuple[str, str, object]]:
    """(command path, option or positional or subcommand, its help) for the whole tree."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            hidden = getattr(action, "hidden", set())
            for name, child in action.choices.items():
                if name in hidden:
                    continue
                yield path, f"<{name}>", helps.get(name)
                yield from walk(child, f"{path} {name}")
            continue
        yield path, "/".join(action.option_strings) or action.dest, action.help


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zh_CN catalog compiled from the .po parts (what `make i18n` writes), so a stale ectui.mo
    does not hide a missing translation here (test_i18n checks that ectui.mo is current)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ectui_i18n_tools", ROOT / "tools" / "i18n.py")
    assert spec and spec.loader
    tools = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tools)
    root = tmp_path_factory.mktemp("locale")
    (root / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    (root / "zh_CN" / "LC_MESSAGES" / "ectui.mo").write_bytes(tools.mo_bytes())
    return root


@pytest.fixture
def zh(catalog_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import ectui.i18n

    monkeypatch.setattr(ectui.i18n, "LOCALE_DIR", catalog_dir)
    set_language("zh_CN")
    yield
    set_language("en")


def test_every_option_positional_and_subcommand_has_help() -> None:
    set_language("en")
    rows = list(walk(build_parser()))
    assert len(rows) > 250
    missing = [f"{path} {name}" for path, name, text in rows if not (isinstance(text, str) and text.strip())]
    assert missing == []


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _chinese(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def test_help_in_chinese(
    zh: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECTUI_LANG", "zh_CN")
    top = _help(capsys, "--lang", "zh_CN")
    nested = _help(capsys, "--lang", "zh_CN", "vm", "create")
    for text in (top, nested):
        assert text.startswith("用法：")  # argparse's own "usage: "
        assert "选项" in text and "options:" not in text and "show this help message" not in text
    assert "位置参数" in top and "positional arguments" not in top
    assert "内存，单位 GiB" in nested and "RAM in GiB" not in nested
    assert _chinese(_help(capsys, "--lang", "zh_CN", "issuer", "license", "add"))


def test_epilog_names_the_dirs_of_ectui_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECTUI_HOME", str(tmp_path))
    text = _help(capsys, "--lang", "en")
    for sub in ("config", "data", "logs"):
        assert str(tmp_path / sub) in text
    for name in ("ECTUI_HOME", "ECTUI_DB_URL", "ECTUI_LANG"):
        assert name in text


@pytest.mark.parametrize(
    ("argv", "group", "choices"),
    [
        (["vm", "lst"], "ectui vm", "create, list, show"),
        (["issuer", "license", "lst"], "ectui issuer license", "add, list, show, update"),
        (["price", "x"], "ectui price", "set, list"),
        (["vmx"], "ectui", "license, cluster"),
    ],
)
def test_wrong_subcommand_names_its_group(
    argv: list[str], group: str, choices: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--lang", "en", *argv])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    wrong = argv[-1]
    assert lines[0].startswith(f"{group}: error: invalid choice: '{wrong}' (choose from {choices}")
    assert lines[0].endswith(f"(try '{group} --help')")
    assert "__complete" not in lines[0]


def test_wrong_subcommand_in_chinese(zh: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--lang", "zh_CN", "vm", "lst"])
    assert exited.value.code == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("ectui vm: ") and "invalid choice" not in line and "'lst'" in line


SECRETS = [
    ('-H "X-Auth-Token: {SHA256}0123abcd"', "0123abcd"),
    ("X-Subject-Token: gAAAAABtokenvalue-_x", "gAAAAABtokenvalue"),
    ('{"auth": {"identity": {"password": {"user": {"name": "admin", "password": "pa\\"ss"}}}}}', "pa\\"),
    ('{"server": {"id": "1", "adminPass": "Xy7Secret"}}', "Xy7Secret"),
    ("{'client_secret': 's3cr3t', 'username': 'u'}", "s3cr3t"),
    ("GET https://cloud/v1?token=abc123&limit=1", "abc123"),
    ("Authorization: Bearer eyJhbGciOi.payload", "eyJhbGciOi"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_mask_secrets(text: str, secret: str) -> None:
    from ectui.config import mask_secrets

    masked = mask_secrets(text)
    assert secret not in masked and "***" in masked


def test_mask_filter_keeps_the_rest() -> None:
    from ectui.config import SecretMask

    record = logging.LogRecord(
        "keystoneauth.session", logging.DEBUG, __file__, 1, "REQ: %s %s -d '%s'", None, None
    )
    record.args = (
        "POST",
        "http://x/v3/auth/tokens",
        json.dumps({"user": {"name": "bob", "password": "pw1"}}),
    )
    assert SecretMask().filter(record)
    message = record.getMessage()
    assert "pw1" not in message and "POST http://x/v3/auth/tokens" in message and '"name": "bob"' in message


# -- --debug against the dev cloud


def ectui(home: Path, *args: object, stdin: str = "") -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
    environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en"})
    return subprocess.run(
        [sys.executable, "-m", "ectui", *map(str, args)],
        cwd=ROOT, env=environ, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_debug_traces_http_without_secrets(tmp_path: Path) -> None:
    from ectui.devcloud import Timings, run_in_thread

    cloud = run_in_thread(tmp_path / "cloud", timings=Timings.fast(0.05))
    try:
        issuer, out, home = tmp_path / "issuer", tmp_path / "out", tmp_path / "console"
        assert ectui(issuer, "issuer", "edition", "add", "--name", "Std", "--max-clusters", "2", "--max-nodes",
                     "10", "--storage", "local,shared", "--features", "platform").returncode == 0  # fmt: skip
        added = ectui(issuer, "issuer", "license", "add", "--customer", "ACME", "--edition", "Std",
                      "--valid-from", "2020-01-01", "--valid-to", "2099-12-31", "--json")  # fmt: skip
        license_id = json.loads(added.stdout)["id"]
        assert ectui(issuer, "issuer", "license", "export", license_id, "--out", out / "a.ec",
                     "--properties", out / "c.properties").returncode == 0  # fmt: skip
        assert (
            ectui(home, "license", "import", out / "a.ec", "--properties", out / "c.properties").returncode
            == 0
        )
        auth = cloud.cloud.cloud_config()["auth"]
        password = auth["password"]
        assert ectui(home, "cluster", "add", "--name", "dc1", "--auth-url", auth["auth_url"], "--username",
                     "admin", "--password-stdin", "--project", "demo", "--region", "RegionOne",
                     stdin=password + "\n").returncode == 0  # fmt: skip
        plain = ectui(home, "cluster", "test", "dc1")
        debug = ectui(home, "--debug", "cluster", "test", "dc1")
        synced = ectui(home, "--debug", "node", "sync", "dc1", "--json")  # API calls with a token
    finally:
        cloud.stop()
    assert plain.returncode == debug.returncode == synced.returncode == 0, debug.stderr[-2000:]
    assert debug.stdout == plain.stdout  # normal output unchanged
    assert json.loads(synced.stdout)["added"] == 3
    assert plain.stderr == ""
    err = debug.stderr + synced.stderr
    assert "Making authentication request" in debug.stderr
    assert re.search(r"REQ: curl .*-X GET http://\S+/os-hypervisors", err), err[:2000]
    assert re.search(r"RESP: \[200\]", err)
    assert "X-Auth-Token: ***" in err
    # the dev cloud's admin password is the word 'password' itself: no JSON value or header carries it
    assert not re.search(rf"""[:=]\s*["']?{re.escape(password)}\b""", err)
    for header in re.findall(r"X-(?:Auth|Subject)-Token: (\S+)", err):
        assert header.startswith("***"), header
    assert "{SHA256}" not in err
    log = (home / "logs" / "ectui.log").read_text(encoding="utf-8")
    assert "REQ:" not in log and "X-Auth-Token" not in log  # the trace is for stderr only
