"""`ectui cluster …` and `ectui node …` through the real entry point, against the dev cloud."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from tests.kit.cli import ectui, licensed_home


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05))
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A console home with a license (2 clusters, 10 nodes, local+shared) from its own issuer."""
    return licensed_home(tmp_path_factory.mktemp("home"), "platform", storage="local,shared")


def test_cluster_lifecycle(home: Path, cloud: DevCloudHandle) -> None:
    auth = cloud.cloud.cloud_config()["auth"]
    added = ectui(home, "cluster", "add", "--name", "dc1", "--auth-url", auth["auth_url"], "--username", "admin",
                  "--password-stdin", "--project", "demo", "--region", "RegionOne", "--storage", "local", "--json",
                  stdin=auth["password"] + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert data["name"] == "dc1" and data["storage"] == "local" and "password" not in added.stdout
    listed = json.loads(ectui(home, "cluster", "list", "--json").stdout)
    assert [c["name"] for c in listed["clusters"]] == ["dc1"]
    ftp = cloud.ftp
    assert ectui(home, "cluster", "ftp", "dc1", "--host", ftp["host"], "--port", ftp["port"], "--user", ftp["user"],
                 "--password-stdin", stdin=ftp["password"] + "\n").returncode == 0  # fmt: skip
    tested = ectui(home, "cluster", "test", "dc1", "--json")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    verdict = json.loads(tested.stdout)
    assert verdict["ok"] and verdict["ftp"]["ok"] and verdict["ftp"]["iso_files"] >= 1
    synced = ectui(home, "node", "sync", "dc1", "--json")
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["added"] == 3
    nodes = json.loads(ectui(home, "node", "list", "--cluster", "dc1", "--json").stdout)["nodes"]
    assert sorted(n["name"] for n in nodes) == ["node-1", "node-2", "node-3"]
    text = ectui(home, "node", "list").stdout
    assert "node-2" in text and "0/32" in text
    removed = ectui(home, "cluster", "remove", "dc1")
    assert removed.returncode == 0
    assert json.loads(ectui(home, "cluster", "list", "--json").stdout)["clusters"] == []


def test_clouds_yaml_entry_and_os_cloud(home: Path, cloud: DevCloudHandle) -> None:
    env = {"OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml), "OS_CLOUD": "devcloud"}
    added = ectui(home, "cluster", "add", "--name", "yaml", "--storage", "shared", env=env)
    assert added.returncode == 0, added.stderr
    assert ectui(home, "cluster", "test", "yaml", env=env).returncode == 0
    assert ectui(home, "cluster", "remove", "yaml").returncode == 0


def test_refusals_are_one_line(home: Path, cloud: DevCloudHandle) -> None:
    wrong = ectui(home, "cluster", "add", "--name", "bad", "--auth-url", cloud.auth_url, "--username", "admin",
                  "--password-stdin", "--project", "demo", "--json", stdin="wrong\n")  # fmt: skip
    assert wrong.returncode == 0  # adding does not need the cloud; testing tells the truth
    tested = ectui(home, "cluster", "test", "bad")
    assert tested.returncode == 1 and "Authentication failed" in tested.stdout
    ectui(home, "cluster", "remove", "bad")
    for args, code, needle in (
        (
            (
                "cluster",
                "add",
                "--name",
                "x",
                "--auth-url",
                "nope",
                "--username",
                "u",
                "--password-stdin",
                "--project",
                "p",
            ),
            2,
            "Auth URL",
        ),  # fmt: skip
        (("cluster", "test", "missing"), 1, "No cluster named 'missing'"),
        (("node", "sync", "missing"), 1, "No cluster named 'missing'"),
        (("cluster", "add", "--name", "x", "--cloud", "nothere"), 2, "No cloud named 'nothere'"),
        (("cluster", "add", "--name", "x", "--cacert", "a", "--insecure"), 2, "not allowed with"),
    ):
        proc = ectui(home, *args, stdin="pw\n")
        assert proc.returncode == code, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
