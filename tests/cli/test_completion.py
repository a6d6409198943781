"""Shell completion (`ectui completion bash|zsh|fish`, `ectui __complete`) and the man page (`make man`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ectui.cli import build_parser
from ectui.commands import completion
from ectui.manpage import escape, manpage
from tests.kit.cli import ROOT, run

SEED = {
    "cluster": ["preprod", "prod", "test lab"],
    "project": ["db", "web", "webshop"],
    "vm": ["web1", "web2"],
    "template": ["alpine"],
    "iso": ["tools"],
}


def _environ(home: Path, bin_dir: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ECTUI_")}
    environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en", "PYTHONIOENCODING": "utf-8"})
    environ["PATH"] = os.pathsep.join([str(bin_dir), environ.get("PATH", "")])
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH", "")]))
    return environ


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with an `ectui` that runs this checkout (what the scripts call for names)."""
    path = tmp_path_factory.mktemp("bin")
    program = path / "ectui"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ectui "$@"\n', encoding="utf-8")
    program.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A console home whose database holds a few clusters, projects, VMs, an image, a template and an ISO."""
    from ectui.config import Settings
    from ectui.db.models import Cluster, Image, IsoFile, Project, Template, Vm
    from ectui.db.session import Database

    path = tmp_path_factory.mktemp("home")
    settings = Settings.from_env({"ECTUI_HOME": str(path)})
    settings.ensure_dirs()
    db = Database(settings.console_db_url, "console", create_dir=True)
    db.migrate()
    with db.session() as session:
        clusters = [Cluster(name=name) for name in SEED["cluster"]]
        session.add_all(clusters)
        session.flush()
        prod = clusters[1].id
        session.add_all(Project(name=name, cluster_id=prod) for name in SEED["project"])
        image = Image(cluster_id=prod, cloud_id="glance-1", name="alpine 3.19")
        session.add(image)
        session.flush()
        session.add(Template(cluster_id=prod, image_id=image.id, name="alpine"))
        session.add_all(Vm(cluster_id=prod, name=name) for name in SEED["vm"])
        session.add(IsoFile(cluster_id=prod, file_name="tools.iso", name="tools"))
    db.dispose()
    return path


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three scripts, printed by the real command (in a home that has no database: none is made)."""
    out = tmp_path_factory.mktemp("scripts")
    empty_home = out / "home"
    paths = {}
    for shell in completion.SHELLS:
        proc = run(empty_home, "completion", shell)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        paths[shell] = out / f"ectui.{shell}"
        paths[shell].write_text(proc.stdout, encoding="utf-8")
    assert not empty_home.exists()  # printing a script opens no database and writes no log
    return paths


def _top_level() -> list[str]:
    return [level.subcommands for level in completion.levels(build_parser())][0]


def _bash(script: Path, home: Path, bin_dir: Path, lines: list[str]) -> list[str]:
    """Each line is the command line typed so far (its last word being completed); one result line each."""
    calls = "\n".join(f"t {' '.join(_bash_word(w) for w in line.split(' '))}" for line in lines)
    program = (
        f"source {script}\n"
        't() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _ectui; '
        'echo "${COMPREPLY[*]}"; }\n' + calls
    )
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        env=_environ(home, bin_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout.splitlines()


def _bash_word(word: str) -> str:
    return "''" if word == "" else "'" + word.replace("'", "'\\''") + "'"


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_commands_options_and_choices(
    scripts: dict[str, Path], home: Path, bin_dir: Path
) -> None:
    parser = build_parser()
    top = [name for name, _ in _top_level()]
    vm = next(level for level in completion.levels(parser) if level.path == ("vm",))
    create = next(level for level in completion.levels(parser) if level.path == ("vm", "create"))
    results = _bash(
        scripts["bash"],
        home,
        bin_dir,
        [
            "ectui ",
            "ectui vm ",
            "ectui vm create --",
            "ectui --lang ",
            "ectui cluster add --storage ",
            "ectui completion ",
            "ectui issuer license ",
            "ectui cluster add --name ",
        ],
    )
    assert results[0].split() == top
    assert "__complete" not in results[0] and {"vm", "cluster", "completion", "devcloud"} <= set(top)
    assert results[1].split() == [name for name, _ in vm.subcommands]
    assert {"create", "list", "show", "mount-iso"} <= set(results[1].split())
    assert results[2].split() == [s for o in create.options for s in o.strings if s.startswith("--")]
    assert {"--template", "--name", "--json"} <= set(results[2].split())
    assert results[3].split() == ["en", "zh_CN"]
    assert results[4].split() == ["local", "shared"]
    assert results[5].split() == list(completion.SHELLS)
    assert {"add", "list", "export"} <= set(results[6].split())
    assert results[7] == ""  # a new name: nothing to offer


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_names_from_the_database(scripts: dict[str, Path], home: Path, bin_dir: Path) -> None:
    db_url = f"sqlite:///{home / 'data' / 'console.db'}"
    results = _bash(
        scripts["bash"],
        home,
        bin_dir,
        [
            "ectui vm show w",
            "ectui image list --cluster p",
            "ectui cluster test ",
            "ectui template delete ",
            f"ectui --db-url {db_url} project use web",
            "ectui --db-url sqlite:////nonexistent/console.db project use ",
            "ectui image list --cluster -",
        ],
    )
    assert results[0].split() == ["web1", "web2"]
    assert results[1].split() == ["preprod", "prod"]
    assert results[2] == "preprod prod test\\ lab"  # one word, quoted for the shell
    assert results[3] == "1"  # ids (with their names for zsh and fish)
    assert results[4].split() == ["web", "webshop"]
    assert results[5] == results[6] == ""


def test_the_script_does_not_depend_on_the_ui_language(scripts: dict[str, Path], tmp_path: Path) -> None:
    chinese = run(tmp_path / "home", "--lang", "zh_CN", "completion", "bash")
    assert chinese.returncode == 0, chinese.stderr
    assert chinese.stdout == scripts["bash"].read_text(encoding="utf-8")  # kinds from the English tree


def _complete(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(home, "__complete", *args)


def test_complete_prints_names_of_each_kind(home: Path) -> None:
    proc = _complete(home, "project", "")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.splitlines() == SEED["project"]
    # in-process for the other kinds (the same function the command calls)
    os_env = {"ECTUI_HOME": str(home)}
    old = {k: os.environ.get(k) for k in os_env}
    os.environ.update(os_env)
    try:
        for kind, expected in SEED.items():
            assert completion.names(kind) == expected, kind
        assert completion.names("project", "web") == ["web", "webshop"]
        assert completion.names("cluster", "test l") == ["test lab"]
        assert completion.names("cluster", "P") == []  # case matters, as in the commands
        assert completion.names("vm", "%") == [] and completion.names("vm", "_") == []
        assert completion.names("image-id") == ["1\talpine 3.19"]
        assert completion.names("template-id") == ["1\talpine"]
        assert completion.names("iso-id") == ["1\ttools"]
        assert completion.names("nonsense") == []
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_complete_on_a_missing_or_broken_database_prints_nothing(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    for args in (("cluster", ""), ("vm", "w"), ("bogus",), ()):
        proc = _complete(fresh, *args)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), args
    assert not fresh.exists()  # no database, no directory, no log made
    not_a_db = tmp_path / "junk.db"
    not_a_db.write_bytes(b"this is not sqlite" * 100)
    for url in (f"sqlite:///{not_a_db}", "nosuchdriver://x/y", f"sqlite:///{tmp_path / 'nodir' / 'x.db'}"):
        proc = _complete(fresh, "--db-url", url, "cluster", "")
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), url
    assert not_a_db.read_bytes() == b"this is not sqlite" * 100


def test_complete_imports_neither_openstack_nor_the_dev_cloud(home: Path) -> None:
    code = (
        "import sys\n"
        "from ectui.commands.completion import complete_main\n"
        "complete_main(['cluster', ''])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('openstack', 'textual', 'alembic')"
        " or m.startswith('ectui.devcloud'))\n"
        "print('IMPORTED', bad)\n"
    )
    environ = {**os.environ, "ECTUI_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [*SEED["cluster"], "IMPORTED []"]


def test_complete_through_the_entry_point_skips_the_command_tree(home: Path) -> None:
    import inspect

    import ectui.cli

    if completion.COMPLETE_COMMAND not in inspect.getsource(ectui.cli._main):
        pytest.skip("ectui.cli._main has no `__complete` fast path yet: it answers through the full parser")
    code = (
        "import sys\nfrom ectui.cli import main\nrc = main(['__complete', 'cluster', ''])\n"
        "print('IMPORTED', rc, sorted(m for m in sys.modules if m.startswith(('openstack', 'ectui.devcloud'))))\n"
    )
    environ = {**os.environ, "ECTUI_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stdout.splitlines() == [*SEED["cluster"], "IMPORTED 0 []"], proc.stderr


def test_argument_kinds_come_from_the_one_table() -> None:
    kinds = {}
    for level in completion.levels(build_parser()):
        for option in level.options:
            kinds[(" ".join(level.path), option.strings[-1])] = option.kind
        for i, kind in enumerate(level.positionals):
            kinds[(" ".join(level.path), i)] = kind
    assert kinds[("vm show", 0)] == "vm"
    assert kinds[("vm mount-iso", 0)] == "vm" and kinds[("vm mount-iso", 1)] == "iso"
    assert kinds[("vm create", "--template")] == "template"
    assert kinds[("image list", "--cluster")] == "cluster"
    assert kinds[("node sync", 0)] == "cluster"
    assert kinds[("cluster test", 0)] == "cluster"
    assert kinds[("project use", 0)] == "project"
    assert kinds[("template add", "--image")] == "image-id"
    assert kinds[("iso enable", 0)] == "iso-id"
    assert kinds[("iso resume", 0)] == ""  # an upload id, not an ISO id
    assert kinds[("cluster add", "--project")] == ""  # the cloud's project
    assert kinds[("cluster add", "--name")] == kinds[("project add", "--name")] == ""
    assert kinds[("license import", 0)] == "file"
    assert kinds[("", "--version")] is None  # a flag
    named = {kind for kind in kinds.values() if kind and kind in completion.NAME_KINDS}
    assert {"cluster", "project", "vm", "template", "iso", "image-id"} <= named


@pytest.mark.skipif(shutil.which("zsh") is None, reason="no zsh")
def test_zsh_script(scripts: dict[str, Path], home: Path, bin_dir: Path) -> None:
    check = subprocess.run(["zsh", "-n", str(scripts["zsh"])], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    # the completion system's builtins replaced by stand-ins that print what they were given
    program = f"""
compdef() {{ :; }}
_describe() {{ local -a arr; arr=("${{(@P)${{@[-1]}}}}"); print -r -- "${{arr[*]}}"; }}
compadd() {{ local -a arr; arr=("${{(@P)2}}"); print -r -- "${{arr[*]}}"; }}
_files() {{ print files; }}
_message() {{ print; }}
source {scripts["zsh"]}
t() {{ words=("$@"); CURRENT=$#words; PREFIX=${{words[-1]}}; _ectui; }}
t ectui vm ''
t ectui vm show w
t ectui template delete ''
"""
    proc = subprocess.run(
        ["zsh", "-f", "-c", program], env=_environ(home, bin_dir), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("create:") and "show:" in lines[0]
    assert lines[1:] == ["web1 web2", "1:alpine"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="no fish")
def test_fish_script(scripts: dict[str, Path], home: Path, bin_dir: Path) -> None:
    check = subprocess.run(["fish", "-n", str(scripts["fish"])], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    program = f"source {scripts['fish']}; complete -C 'ectui vm '; echo ==; complete -C 'ectui vm show w'"
    proc = subprocess.run(
        ["fish", "--no-config", "-c", program],
        env=_environ(home, bin_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    commands, names = proc.stdout.split("==\n")
    assert {line.split("\t")[0] for line in commands.splitlines()} >= {"create", "list", "show"}
    assert names.splitlines() == ["web1", "web2"]


# ------------------------------------------------------------------ man page


def test_man_page_lists_every_command_and_the_sections() -> None:
    page = manpage()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT", "FILES", "EXIT STATUS"):
        assert f"\n.SH {section}\n" in page, section
    for name, _ in _top_level():
        assert f"\n.SS {escape(name)}\n" in page, name
    assert "\n.SS vm create\n" in page and "\\fB\\-\\-template\\fR" in page
    for variable in (
        "ECTUI_HOME",
        "ECTUI_DB_URL",
        "ECTUI_ISSUER_DB_URL",
        "ECTUI_LANG",
        "ECTUI_DB_BUSY_TIMEOUT",
    ):
        assert f"\\fB{variable}\\fR" in page
    for status in ("0", "1", "2", "141"):
        assert f".TP\n\\fB{status}\\fR\n" in page
    assert "__complete" not in page


def test_man_page_escapes_roff() -> None:
    assert escape(".leading dot") == "\\&.leading dot"
    assert escape("'quote") == "\\&'quote"
    assert escape("a\\b") == "a\\eb"
    assert escape("two\nlines") == "two lines"
    assert escape("中…") == "\\[u4E2D]\\[u2026]"
    from ectui.commands._util import Parser

    parser = Parser(prog="ectui", description="x")
    sub = parser.add_subparsers(dest="command")
    odd = sub.add_parser("odd", help=".starts with a dot \\ and a backslash")
    odd.add_argument("--x", help="'quoted")
    page = manpage(parser)
    assert "\n.starts" not in page and "\n'quoted" not in page
    assert "\\&.starts with a dot \\e and a backslash" in page


@pytest.mark.skipif(shutil.which("groff") is None, reason="no groff")
def test_man_page_renders_without_warnings(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ectui.manpage", "-o", str(tmp_path / "man" / "ectui.1")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    page = tmp_path / "man" / "ectui.1"
    render = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True, text=True, check=False
    )
    assert render.returncode == 0 and render.stderr == "", render.stderr
    if shutil.which("man"):
        shown = subprocess.run(
            ["man", "--warnings", "-l", str(page)],
            env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "100", "LC_ALL": "C.UTF-8"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert shown.returncode == 0 and shown.stderr == "", shown.stderr
        for name, _ in _top_level():
            assert name in shown.stdout
