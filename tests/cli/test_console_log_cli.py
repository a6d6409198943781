"""`ectui vm console-log` and `ectui vm console --serial/--tunnel` through the real entry point, on the dev cloud."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit.cli import ROOT, ectui, ok
from tests.kit.vms import PASSWORD


@pytest.fixture(scope="module")
def vm(home: Path) -> str:  # noqa: F811
    ok(ectui(home, "project", "use", "web"))
    ok(ectui(home, "vm", "create", "--name", "c1", "--template", "cirros", "--cpu", "1", "--ram", "1",
             "--network", "private", "--password-stdin", "--node", "node-1", stdin=PASSWORD + "\n"))  # fmt: skip
    return "c1"


def test_console_log_lines_and_json(home: Path, vm: str) -> None:  # noqa: F811
    three = ok(ectui(home, "vm", "console-log", vm, "--lines", "3")).stdout.splitlines()
    assert len(three) == 3
    doc = json.loads(ok(ectui(home, "vm", "console-log", vm, "--lines", "10000", "--json")).stdout)
    assert doc["name"] == "c1" and any("hostname: c1" in line for line in doc["lines"])
    bad = ectui(home, "vm", "console-log", vm, "--lines", "0")
    assert bad.returncode != 0 and "between 1 and 10000" in bad.stderr


def test_console_log_follow_until_bound(home: Path, vm: str) -> None:  # noqa: F811
    followed = ok(ectui(home, "vm", "console-log", vm, "--lines", "2", "--follow", "--interval", "0.1",
                        "--max-seconds", "1.5"))  # fmt: skip
    lines = followed.stdout.splitlines()
    assert len(lines) > 2 and all("heartbeat" in line for line in lines[2:])
    numbers = [int(line.split("heartbeat ")[1].split()[0]) for line in lines if "heartbeat" in line]
    assert numbers == sorted(set(numbers))  # nothing printed twice, in order


def test_console_log_follow_ctrl_c_is_quiet_130(home: Path, vm: str) -> None:  # noqa: F811
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
    environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "ectui", "vm", "console-log", vm, "--lines", "1", "--follow", "--interval", "0.1"],
        cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the first line printed: following has begun
        assert "heartbeat" in first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and err == ""


def test_console_serial_and_tunnel(home: Path, vm: str, cloud) -> None:  # noqa: F811, ANN001
    doc = json.loads(ok(ectui(home, "vm", "console", vm, "--serial", "--tunnel", "--json")).stdout)
    assert doc["serial_url"].startswith("ws://")
    assert doc["serial_attach"] == f"websocat --binary '{doc['serial_url']}'"  # how to attach from a terminal
    port = cloud.url.rsplit(":", 1)[1].split("/")[0]
    assert doc["tunnel"]["command"] == f"ssh -L {port}:127.0.0.1:{port} JUMPHOST"
    text = ok(ectui(home, "vm", "console", vm, "--tunnel", "--jump-host", "bastion")).stdout
    assert f"ssh -L {port}:127.0.0.1:{port} bastion" in text and f"http://localhost:{port}/" in text
    assert ok(ectui(home, "vm", "console", vm)).stdout.strip().startswith(cloud.url)
