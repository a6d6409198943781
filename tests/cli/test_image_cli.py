"""`ectui image …` and `ectui template …` through the real entry point, against the dev cloud."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from tests.kit.cli import ectui, licensed_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A console home with a license (2 clusters, 10 nodes, local+shared) from its own issuer."""
    return licensed_home(tmp_path_factory.mktemp("home"), "platform", storage="local,shared")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05))
    yield handle
    handle.stop()


def test_image_and_template_commands(home: Path, cloud: DevCloudHandle, tmp_path: Path) -> None:  # noqa: F811
    auth = cloud.cloud.cloud_config()["auth"]
    added = ectui(home, "cluster", "add", "--name", "imgs", "--auth-url", auth["auth_url"], "--username", "admin",
                  "--password-stdin", "--project", "demo", "--region", "RegionOne", "--storage", "local",
                  stdin=auth["password"] + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr

    synced = ectui(home, "image", "sync", "imgs", "--json")
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["added"] == 4
    listed = json.loads(ectui(home, "image", "list", "--cluster", "imgs", "--json").stdout)["images"]
    ids = {i["name"]: i["id"] for i in listed}
    assert set(ids) == {"cirros-0.6.2", "ubuntu-22.04-mini", "windows-2019-mini", "rescue-cd"}
    assert "cirros-0.6.2" in ectui(home, "image", "list").stdout

    src = tmp_path / "tiny.qcow2"
    src.write_bytes(b"QFI\xfb" + bytes(range(256)) * 400)
    bad = ectui(home, "image", "upload", src, "--cluster", "imgs", "--name", "tiny", "--disk-format", "qcow3")
    assert bad.returncode == 2 and "Disk format must be one of: raw, qcow2" in bad.stderr
    up = ectui(home, "image", "upload", src, "--cluster", "imgs", "--name", "tiny", "--os-type", "linux", "--json",
               env={"ECTUI_OPERATOR": "bob"})  # fmt: skip
    assert up.returncode == 0, up.stderr
    image = json.loads(up.stdout)  # one JSON object; no progress line when stderr is not a terminal
    assert (image["name"], image["disk_format"], image["size"]) == ("tiny", "qcow2", src.stat().st_size)
    assert (image["source"], image["uploaded_by"]) == ("uploaded", "bob") and up.stderr == ""

    refused = ectui(home, "image", "delete", ids["cirros-0.6.2"])
    assert refused.returncode == 1 and "only uploaded images can be deleted" in refused.stderr

    assert ectui(home, "image", "disable", ids["cirros-0.6.2"]).returncode == 0
    no = ectui(home, "template", "add", "--name", "t1", "--image", ids["cirros-0.6.2"], "--os-type", "linux")
    assert no.returncode == 1 and "is disabled" in no.stderr
    assert ectui(home, "image", "enable", ids["cirros-0.6.2"]).returncode == 0
    made = ectui(home, "template", "add", "--name", "t1", "--image", ids["cirros-0.6.2"], "--os-type", "linux",
                 "--min-cpu", "2", "--min-ram", "4", "--min-disk", "20", "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    template = json.loads(made.stdout)
    assert (template["min_cpu"], template["min_ram_gb"], template["min_disk_gb"]) == (2, 4, 20)
    templates = json.loads(ectui(home, "template", "list", "--json").stdout)["templates"]
    assert [t["name"] for t in templates] == ["t1"]
    assert ectui(home, "template", "delete", template["id"]).returncode == 0
    assert json.loads(ectui(home, "template", "list", "--json").stdout)["templates"] == []

    deleted = ectui(home, "image", "delete", image["id"], "--json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["cloud_id"] == image["cloud_id"]
    names = [i["name"] for i in json.loads(ectui(home, "image", "list", "--json").stdout)["images"]]
    assert "tiny" not in names
