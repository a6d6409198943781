"""The command line: `python -m ectui` in subprocesses, and what the in-process `cli` fixture returns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    """Exit code, stdout and stderr of one in-process `ectui` command."""

    code: int
    out: str
    err: str


ROOT = Path(__file__).resolve().parents[2]
"""The repository root: the working directory of `python -m ectui` subprocesses."""


def run(
    home: Path, *args: object, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """`python -m ectui ARGS` with ECTUI_HOME=home, English unless `env` says otherwise."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ECTUI_") and k not in ("LANG", "LC_ALL", "LANGUAGE", "OS_CLOUD")
    }
    environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en", "PYTHONIOENCODING": "utf-8"})
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH", "")]))
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ectui", *map(str, args)],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def ectui(
    home: Path, *args: object, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m ectui ARGS` with ECTUI_HOME=home in English, no ECTUI_/OS_ variables inherited."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
    environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en"})
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ectui", *map(str, args)],
        cwd=ROOT, env=environ, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """`result`, which must have exited 0 (else its output is the failure message)."""
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def licensed_home(root: Path, features: str, *, storage: str = "local") -> Path:
    """A console home under `root` with a license (edition Std: 2 clusters, 10 nodes) made by the CLI."""
    issuer = root / "issuer"
    ok(ectui(issuer, "issuer", "edition", "add", "--name", "Std", "--max-clusters", "2", "--max-nodes", "10",
             "--storage", storage, "--features", features))  # fmt: skip
    added = ok(ectui(issuer, "issuer", "license", "add", "--customer", "ACME", "--edition", "Std",
                     "--valid-from", "2020-01-01", "--valid-to", "2099-12-31", "--json"))  # fmt: skip
    out = root / "out"
    ok(ectui(issuer, "issuer", "license", "export", json.loads(added.stdout)["id"], "--out", out / "a.ec",
             "--properties", out / "c.properties"))  # fmt: skip
    console = root / "console"
    ok(ectui(console, "license", "import", out / "a.ec", "--properties", out / "c.properties"))
    return console
