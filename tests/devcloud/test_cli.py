"""``python -m ectui.devcloud``: the foreground server, its client files, and the fault subcommand."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from .conftest import admin_call


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ectui.devcloud", *args], capture_output=True, text=True, timeout=60
    )


def test_serve_writes_client_files_and_stops_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ectui.devcloud", "--state", str(state), "--fast"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("# dev cloud on http://127.0.0.1:")
        url = first.split()[4]
        ftp = json.loads((state / "ftp.json").read_text())
        assert ftp["user"] == "iso"
        assert ftp["port"] > 0
        assert "auth_url" in (state / "clouds.yaml").read_text()
        out = _run("fault", "--url", url, "--op", "compute.resize", "--status", "500", "--times", "2")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["fault"]["times"] == 2
        listed = json.loads(_run("fault", "--url", url, "--list").stdout)
        assert [f["op"] for f in listed["faults"]] == ["compute.resize"]
        assert _run("fault", "--url", url, "--clear").returncode == 0
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        out = _run("--state", str(tmp_path), "--port", str(port), "--fast")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1
    assert "cannot listen" in out.stderr


def test_fault_errors_are_one_line(devcloud) -> None:
    out = _run("fault", "--url", devcloud.url, "--op", "nodot")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1
    assert "400" in out.stderr
    out = _run("fault", "--url", devcloud.url)
    assert out.returncode == 1
    assert "--op is required" in out.stderr
    admin_call(devcloud, "DELETE", "/_admin/faults")


def test_devcloud_imports_no_ui_and_no_console_database() -> None:
    code = (
        "import sys, ectui.devcloud, ectui.devcloud.cli; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'sqlalchemy') "
        "or m.startswith(('ectui.db', 'ectui.app', 'ectui.screens', 'ectui.widgets', 'ectui.services'))]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""
