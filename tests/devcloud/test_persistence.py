"""The dev cloud keeps its state across a restart, and finishes transitions that were under way."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ectui.devcloud import Timings, run_in_thread

from .conftest import admin_call, connect, write_file


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    handle = run_in_thread(state, timings=Timings.fast(0.1), ftp=False)
    try:
        conn = connect(handle)
        image = conn.image.create_image(
            "kept",
            filename=str(write_file(tmp_path / "k.raw", 70_000)),
            disk_format="raw",
            container_format="bare",
        )
        flavor = conn.compute.create_flavor(name="kept.flavor", vcpus=2, ram=1024, disk=5)
        net = conn.network.find_network("private", ignore_missing=False)
        image_ref = conn.image.find_image("cirros-0.6.2", ignore_missing=False).id
        active = conn.compute.create_server(name="kept-vm", image_id=image_ref, flavor_id=flavor.id,
                                            networks=[{"uuid": net.id}])  # fmt: skip
        conn.compute.wait_for_server(active, interval=0.02, wait=15)
        handle.cloud.timings.build = 30.0  # the next server is still BUILD when the cloud stops
        building = conn.compute.create_server(name="mid-build", image_id=image_ref, flavor_id="1",
                                              networks=[{"uuid": net.id}])  # fmt: skip
        assert conn.compute.get_server(building).status == "BUILD"
    finally:
        handle.stop()

    handle = run_in_thread(state, timings=Timings.fast(0.1), ftp=False)
    try:
        handle.cloud.timings.build = 0.1
        conn = connect(handle)  # new port: a new session and catalog
        assert conn.image.get_image(image.id).status == "active"
        assert conn.image.get_image(image.id).size == 70_000
        assert conn.compute.get_flavor(flavor.id).name == "kept.flavor"
        assert conn.compute.get_server(active.id).status == "ACTIVE"
        assert [i.name for i in conn.image.images(name="cirros-0.6.2")] == ["cirros-0.6.2"]  # seeded once
        # the pending build resumes; its remaining time was ~30 s, so nudge it through the admin reset
        server = conn.compute.get_server(building.id)
        assert server.status == "BUILD"
        conn.compute.reset_server_state(server, "active")
        assert conn.compute.get_server(building.id).status == "ACTIVE"
    finally:
        handle.stop()


def test_pending_transition_finishes_after_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    handle = run_in_thread(state, timings=Timings.fast(0.3), ftp=False)
    try:
        conn = connect(handle)
        image_ref = conn.image.find_image("cirros-0.6.2", ignore_missing=False).id
        server = conn.compute.create_server(
            name="resumed", image_id=image_ref, flavor_id="1", networks="auto"
        )
    finally:
        handle.stop()
    handle = run_in_thread(state, timings=Timings.fast(0.3), ftp=False)
    try:
        conn = connect(handle)
        server = conn.compute.wait_for_server(server, interval=0.02, wait=15)
        assert server.status == "ACTIVE"
        assert server.addresses["private"]
    finally:
        handle.stop()


def test_admin_api_lists_and_clears_faults(devcloud) -> None:
    admin_call(devcloud, "POST", "/_admin/faults", {"op": "compute.stop", "status": 500, "times": 2})
    faults = admin_call(devcloud, "GET", "/_admin/faults")["faults"]
    assert faults[0]["op"] == "compute.stop"
    assert faults[0]["times"] == 2
    admin_call(devcloud, "DELETE", "/_admin/faults")
    assert admin_call(devcloud, "GET", "/_admin/faults")["faults"] == []
    with pytest.raises(urllib.error.HTTPError) as info:
        admin_call(devcloud, "POST", "/_admin/faults", {"op": "nodot"})
    assert info.value.code == 400


def test_bulk_images_for_benchmarks(devcloud, conn) -> None:
    admin_call(devcloud, "POST", "/_admin/images/bulk", {"count": 300, "prefix": "bulk-t-"})
    names = [i.name for i in conn.image.images(limit=200) if i.name.startswith("bulk-t-")]
    assert len(names) == 300
    assert len(set(names)) == 300


def test_client_files_are_private(devcloud) -> None:
    assert devcloud.clouds_yaml.stat().st_mode & 0o077 == 0
    text = devcloud.clouds_yaml.read_text()
    assert "auth_url" in text
    assert "devcloud:" in text
    with urllib.request.urlopen(devcloud.url + "/identity/v3", timeout=10) as resp:
        assert resp.status == 200
