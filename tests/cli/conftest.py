"""Fixtures of the CLI tests: a dev cloud per module and a console home ready for VMs, both made through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from tests.kit.cli import ectui, licensed_home, ok


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    """One dev cloud for the module."""
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05))
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, cloud: DevCloudHandle) -> Path:
    """A licensed console with cluster dc1, its images synced, template 'cirros' and project web (current)."""
    console = licensed_home(tmp_path_factory.mktemp("home"), "platform", storage="local,shared")
    auth = cloud.cloud.cloud_config()["auth"]
    ok(ectui(console, "cluster", "add", "--name", "dc1", "--auth-url", auth["auth_url"], "--username", "admin",
             "--password-stdin", "--project", "demo", "--region", "RegionOne", "--storage", "shared",
             stdin=auth["password"] + "\n"))  # fmt: skip
    ok(ectui(console, "image", "sync", "dc1"))
    images = json.loads(ok(ectui(console, "image", "list", "--json")).stdout)["images"]
    cirros = next(i["id"] for i in images if i["name"] == "cirros-0.6.2")
    ok(ectui(console, "template", "add", "--name", "cirros", "--image", cirros, "--os-type", "linux"))
    ok(ectui(console, "project", "add", "--name", "web", "--cluster", "dc1", "--vcpus", "8", "--ram", "16",
             "--vms", "3", "--public-ips", "1"))  # fmt: skip
    return console
