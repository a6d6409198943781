"""python-openstackclient as an independent client of the dev cloud (``openstack`` in subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ectui.devcloud import DevCloudHandle, Timings, run_in_thread

from .conftest import write_file

OPENSTACK = Path(sys.executable).with_name("openstack")
pytestmark = pytest.mark.skipif(not OPENSTACK.exists(), reason="python-openstackclient is not installed")


@pytest.fixture(scope="module")
def osc_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    """A dev cloud whose transitions are immediate: `--wait` in the CLI polls only every 5 s."""
    handle = run_in_thread(tmp_path_factory.mktemp("osc"), timings=Timings.fast(0.0), ftp=False)
    yield handle
    handle.stop()


def _env(cloud: DevCloudHandle) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_CLIENT_CONFIG_FILE=str(cloud.clouds_yaml), OS_CLOUD="devcloud")
    return env


def osc(cloud: DevCloudHandle, *args: str) -> Any:
    """Run one `openstack` command; JSON output is parsed."""
    out = subprocess.run(
        [str(OPENSTACK), *args], env=_env(cloud), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, f"openstack {' '.join(args)}: {out.stderr}"
    return json.loads(out.stdout) if "-f" in args and out.stdout.strip() else out.stdout


def test_independent_commands(osc_cloud: DevCloudHandle, tmp_path: Path) -> None:
    """Commands without a dependency on each other run side by side (each CLI start costs ~1 s)."""
    disk = write_file(tmp_path / "osc.raw", 200_000)
    commands = {
        "images": ["image", "list", "-f", "json"],
        "upload": ["image", "create", "--file", str(disk), "--disk-format", "raw", "--container-format", "bare",
                   "osc-image", "-f", "json"],
        "flavor": ["flavor", "create", "--vcpus", "2", "--ram", "2048", "--disk", "10", "--property",
                   "hw:live_resize=true", "osc.flavor", "-f", "json"],
        "hypervisors": ["hypervisor", "list", "-f", "json"],
        "fip": ["floating", "ip", "create", "public", "-f", "json"],
    }  # fmt: skip
    procs = {
        name: subprocess.Popen([str(OPENSTACK), *args], env=_env(osc_cloud), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for name, args in commands.items()
    }  # fmt: skip
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {stderr}"
        results[name] = json.loads(stdout)
    assert "cirros-0.6.2" in {row["Name"] for row in results["images"]}
    assert results["upload"]["status"] == "active"
    assert results["upload"]["size"] == 200_000
    assert results["flavor"]["vcpus"] == 2
    assert "hw:live_resize" in str(results["flavor"]["properties"])
    assert {row["Hypervisor Hostname"] for row in results["hypervisors"]} == {"node-1", "node-2", "node-3"}
    assert results["fip"]["floating_ip_address"].startswith("172.24.4.")


def test_server_lifecycle(osc_cloud: DevCloudHandle) -> None:
    server = osc(osc_cloud, "server", "create", "--image", "cirros-0.6.2", "--flavor", "m1.tiny", "--network",
                 "private", "--availability-zone", "nova:node-2", "--wait", "osc-vm", "-f", "json")  # fmt: skip
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-SRV-ATTR:host"] == "node-2"
    osc(osc_cloud, "server", "resize", "--flavor", "m1.small", "--wait", "osc-vm")
    shown = osc(osc_cloud, "server", "show", "osc-vm", "-f", "json")
    assert shown["status"] == "VERIFY_RESIZE"
    osc(osc_cloud, "server", "resize", "confirm", "osc-vm")
    osc(osc_cloud, "server", "stop", "osc-vm")
    shown = osc(osc_cloud, "server", "show", "osc-vm", "-f", "json")
    assert shown["status"] == "SHUTOFF"
    assert "m1.small" in str(shown["flavor"])
