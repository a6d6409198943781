"""Nova of the dev cloud through openstacksdk: flavors, servers, actions, faults, vendor extensions."""

from __future__ import annotations

from typing import Any

import openstack
import pytest

from .conftest import wait_until


def _actions(conn: openstack.connection.Connection, server: Any) -> list[Any]:
    return [conn.compute.get_server_action(a.request_id, server) for a in conn.compute.server_actions(server)]


def _wait(conn: openstack.connection.Connection, server: Any, status: str) -> Any:
    return conn.compute.wait_for_server(server, status=status, interval=0.02, wait=15)


def _settled(conn: openstack.connection.Connection, server: Any, vm_state: str) -> Any:
    return wait_until(
        lambda: (s := conn.compute.get_server(server)).vm_state == vm_state and s.task_state is None and s,
        message=f"vm_state {vm_state}",
    )


def test_version_discovery_and_vendor_extensions(conn: openstack.connection.Connection) -> None:
    root = conn.compute.get("/").json()["version"]
    assert (root["min_version"], root["version"]) == ("2.1", "2.96")
    aliases = {e.alias for e in conn.compute.extensions()}
    assert {"EC-CDROM", "EC-LIVE-RESIZE"} <= aliases
    resp = conn.compute.get("/servers", microversion="2.97")
    assert resp.status_code == 406


def test_flavor_crud_with_extra_specs(conn: openstack.connection.Connection, fault) -> None:
    flavor = conn.compute.create_flavor(name="t.flavor", vcpus=3, ram=3072, disk=10)
    conn.compute.create_flavor_extra_specs(flavor, {"hw:live_resize": "true", "quota:cpu_shares": "1024"})
    got = conn.compute.get_flavor(flavor.id)
    assert (got.vcpus, got.ram, got.disk) == (3, 3072, 10)
    assert got.extra_specs["hw:live_resize"] == "true"
    assert conn.compute.get_flavor_extra_specs_property(flavor, "quota:cpu_shares") == "1024"
    conn.compute.delete_flavor_extra_specs_property(flavor, "quota:cpu_shares")
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.compute.create_flavor(name="t.flavor", vcpus=1, ram=512, disk=1)
    fault("compute.delete_flavor", status=500)
    with pytest.raises(openstack.exceptions.HttpException):
        conn.compute.delete_flavor(flavor)
    conn.compute.delete_flavor(flavor)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_flavor(flavor.id)


def test_member_cannot_create_flavors(member_conn: openstack.connection.Connection) -> None:
    with pytest.raises(openstack.exceptions.ForbiddenException):
        member_conn.compute.create_flavor(name="nope", vcpus=1, ram=512, disk=1)


def test_forced_host_lands_on_that_node(conn: openstack.connection.Connection, make_server) -> None:
    server = make_server("forced", availability_zone="nova:node-2")
    assert server.status == "ACTIVE"
    assert server.compute_host == "node-2"
    assert server.availability_zone == "nova"
    assert server.vm_state == "active"
    assert server.power_state == 1
    assert server.task_state is None
    assert server.addresses["private"][0]["addr"].startswith("10.0.0.")


def test_microversion_274_host_runs_the_capacity_checks(
    conn: openstack.connection.Connection, make_server
) -> None:
    server = make_server("requested-host", host="node-3")
    assert server.compute_host == "node-3"
    too_big = conn.compute.create_flavor(name="t.huge", vcpus=200, ram=1024, disk=1)
    conn.compute.update_quota_set(conn.current_project_id, cores=1000)  # the quota check comes first
    try:
        big = make_server("too-big", flavor=too_big.id, host="node-1", wait=False)
        big = conn.compute.wait_for_server(big, status="ERROR", interval=0.02, wait=15)
        assert "No valid host" in big.fault["message"]
        forced = make_server("forced-big", flavor=too_big.id, availability_zone="nova:node-1")
        assert forced.compute_host == "node-1"  # a forced host skips the checks
    finally:
        conn.compute.update_quota_set(conn.current_project_id, cores=64)
        conn.compute.delete_flavor(too_big)


def test_build_goes_through_build_to_active(conn: openstack.connection.Connection, make_server) -> None:
    server = make_server("builder", wait=False, key_name=None, user_data="IyEvYmluL3NoCmVjaG8gaGk=")
    first = conn.compute.get_server(server)
    assert first.status in ("BUILD", "ACTIVE")
    server = _wait(conn, server, "ACTIVE")
    assert server.launched_at
    assert server.user_data == "IyEvYmluL3NoCmVjaG8gaGk="


def test_stop_start_reboot(conn: openstack.connection.Connection, make_server) -> None:
    server = make_server("power")
    conn.compute.stop_server(server)
    assert conn.compute.get_server(server).task_state == "powering-off"
    server = _wait(conn, server, "SHUTOFF")
    assert server.power_state == 4
    assert server.vm_state == "stopped"
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.compute.stop_server(server)
    conn.compute.start_server(server)
    server = _wait(conn, server, "ACTIVE")
    conn.compute.reboot_server(server, "SOFT")
    server = _settled(conn, server, "active")
    assert [a.action for a in conn.compute.server_actions(server)][:3] == ["reboot", "start", "stop"]


def test_resize_then_confirm_changes_the_flavor(conn: openstack.connection.Connection, make_server) -> None:
    server = make_server("resize-confirm")
    conn.compute.resize_server(server, "2")
    assert conn.compute.get_server(server).status == "RESIZE"
    server = _wait(conn, server, "VERIFY_RESIZE")
    assert server.flavor.name == "m1.small"
    conn.compute.confirm_server_resize(server)
    server = _settled(conn, server, "active")
    assert server.status == "ACTIVE"
    assert server.flavor.name == "m1.small"


def test_resize_of_a_stopped_server_stays_stopped(conn: openstack.connection.Connection, make_server) -> None:
    server = make_server("resize-stopped")
    conn.compute.stop_server(server)
    server = _wait(conn, server, "SHUTOFF")
    conn.compute.resize_server(server, "2")
    server = _wait(conn, server, "VERIFY_RESIZE")
    conn.compute.confirm_server_resize(server)
    server = _settled(conn, server, "stopped")
    assert server.status == "SHUTOFF"
    assert server.flavor.name == "m1.small"


def test_resize_revert_keeps_the_old_flavor(conn: openstack.connection.Connection, make_server) -> None:
    server = make_server("resize-revert")
    conn.compute.resize_server(server, "3")
    server = _wait(conn, server, "VERIFY_RESIZE")
    assert server.flavor.name == "m1.medium"
    conn.compute.revert_server_resize(server)
    server = _settled(conn, server, "active")
    assert server.flavor.name == "m1.tiny"


def test_silent_resize_fault_returns_active_on_the_old_flavor(
    conn: openstack.connection.Connection, make_server, fault
) -> None:
    server = make_server("silent")
    fault("compute.resize", mode="silent")
    conn.compute.resize_server(server, "2")  # no HTTP error
    server = wait_until(
        lambda: (s := conn.compute.get_server(server)).task_state is None and s.status == "ACTIVE" and s,
        message="failed resize to settle",
    )
    assert server.flavor.name == "m1.tiny"
    resize = next(a for a in _actions(conn, server) if a.action == "resize")
    assert resize.message == "Error"
    assert any(e.result == "Error" and e.traceback for e in resize.events)


def test_http_fault_then_success(conn: openstack.connection.Connection, make_server, fault) -> None:
    server = make_server("http-fault")
    fault("compute.resize", status=500, times=1)
    with pytest.raises(openstack.exceptions.HttpException) as info:
        conn.compute.resize_server(server, "2")
    assert info.value.status_code == 500
    assert conn.compute.get_server(server).status == "ACTIVE"
    conn.compute.resize_server(server, "2")
    _wait(conn, server, "VERIFY_RESIZE")


def test_delayed_fault_delays(conn: openstack.connection.Connection, make_server, fault) -> None:
    server = make_server("delayed")
    fault("compute.lock", delay=0.05)
    conn.compute.lock_server(server)
    assert conn.compute.get_server(server).is_locked
    conn.compute.unlock_server(server)


def test_locked_server_refuses_resize_for_a_member(
    conn: openstack.connection.Connection, member_conn: openstack.connection.Connection, make_server
) -> None:
    server = make_server("locked", connection=member_conn)
    member_conn.compute.lock_server(server, locked_reason="resize in progress")
    got = member_conn.compute.get_server(server)
    assert got.is_locked
    assert got.locked_reason == "resize in progress"
    with pytest.raises(openstack.exceptions.ConflictException, match="locked"):
        member_conn.compute.resize_server(server, "2")
    member_conn.compute.unlock_server(server)
    member_conn.compute.resize_server(server, "2")
    _wait(member_conn, server, "VERIFY_RESIZE")


def test_resize_needs_active_or_shutoff(conn: openstack.connection.Connection, make_server) -> None:
    server = make_server("rescued-no-resize")
    conn.compute.rescue_server(server)
    _settled(conn, server, "rescued")
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.compute.resize_server(server, "2")


def test_live_resize_allowed_for_hot_flavors_only(conn: openstack.connection.Connection, make_server) -> None:
    hot = make_server("hot", flavor="hot-2")
    resp = conn.compute.post(f"/servers/{hot.id}/action", json={"liveResize": {"flavorRef": "hot-4"}})
    assert resp.status_code == 202
    assert conn.compute.get_server(hot).status == "ACTIVE"  # no reboot, no VERIFY_RESIZE
    hot = _settled(conn, hot, "active")
    assert hot.flavor.vcpus == 4
    assert hot.flavor.name == "h1.large"
    assert conn.compute.server_actions(hot).__next__().action == "liveResize"

    cold = make_server("cold", flavor="1")
    resp = conn.compute.post(f"/servers/{cold.id}/action", json={"liveResize": {"flavorRef": "2"}})
    assert resp.status_code == 409
    conn.compute.stop_server(hot)
    _wait(conn, hot, "SHUTOFF")
    resp = conn.compute.post(f"/servers/{hot.id}/action", json={"liveResize": {"flavorRef": "hot-2"}})
    assert resp.status_code == 409


def test_cdrom_attach_and_detach(conn: openstack.connection.Connection, make_server, fault) -> None:
    server = make_server("cdrom")
    action = f"/servers/{server.id}/action"
    assert conn.compute.post(action, json={"attachCdrom": {"iso": "missing.iso"}}).status_code == 404
    resp = conn.compute.post(action, json={"attachCdrom": {"iso": "virtio-tools.iso"}})
    assert resp.status_code == 202
    assert resp.json()["cdrom"]["iso"] == "virtio-tools.iso"
    assert conn.compute.get(f"/servers/{server.id}").json()["server"]["EC-CDROM:iso"] == "virtio-tools.iso"
    assert conn.compute.get(f"/servers/{server.id}/os-cdrom").json()["cdrom"]["device"] == "/dev/cdrom"
    assert conn.compute.post(action, json={"attachCdrom": {"iso": "virtio-tools.iso"}}).status_code == 409
    fault("compute.detach_cdrom", status=500)
    assert conn.compute.post(action, json={"detachCdrom": {}}).status_code == 500
    assert conn.compute.post(action, json={"detachCdrom": {}}).status_code == 202
    assert conn.compute.get(f"/servers/{server.id}").json()["server"]["EC-CDROM:iso"] is None
    assert conn.compute.post(action, json={"detachCdrom": {}}).status_code == 409


def test_stable_rescue_from_a_cdrom_image(
    conn: openstack.connection.Connection, make_server, ids: dict[str, str]
) -> None:
    server = make_server("rescue")
    conn.compute.rescue_server(server, image_ref=ids["rescue_image"])
    server = _settled(conn, server, "rescued")
    assert server.status == "RESCUE"
    conn.compute.unrescue_server(server)
    server = _settled(conn, server, "active")
    assert server.status == "ACTIVE"


def test_create_image_makes_a_glance_snapshot(conn: openstack.connection.Connection, make_server) -> None:
    server = make_server("snap")
    image = conn.compute.create_server_image(server, "snap-image", metadata={"purpose": "template"})
    image = conn.image.wait_for_status(image, "active", interval=0.02, wait=15)
    assert image.properties["image_type"] == "snapshot"
    assert image.properties["purpose"] == "template"
    assert _settled(conn, server, "active").status == "ACTIVE"
    # before 2.45 the image id comes in the Location header
    resp = conn.compute.post(
        f"/servers/{server.id}/action", json={"createImage": {"name": "old-style"}}, microversion="2.44"
    )
    assert resp.status_code == 202
    assert "/images/" in resp.headers["Location"]
    _settled(conn, server, "active")
    for name in ("snap-image", "old-style"):
        conn.image.delete_image(conn.image.find_image(name, ignore_missing=False))


def test_console_url(conn: openstack.connection.Connection, make_server) -> None:
    server = make_server("console")
    assert conn.compute.get_server_console_url(server, "novnc")["url"].startswith("http://")
    console = conn.compute.create_console(server, console_type="novnc")
    assert "vnc_auto.html" in console["url"]


def _hypervisors(conn: openstack.connection.Connection) -> dict[str, Any]:
    body = conn.compute.get("/os-hypervisors/detail", microversion="2.87").json()
    return {h["hypervisor_hostname"]: h for h in body["hypervisors"]}


def test_hypervisor_usage_follows_servers(conn: openstack.connection.Connection, make_server) -> None:
    before = _hypervisors(conn)["node-1"]
    assert before["vcpus"] == 32
    assert before["memory_mb"] == 128 * 1024
    make_server("hv", flavor="3", availability_zone="nova:node-1")
    after = _hypervisors(conn)["node-1"]
    assert after["vcpus_used"] == before["vcpus_used"] + 2
    assert after["memory_mb_used"] == before["memory_mb_used"] + 4096
    assert after["running_vms"] == before["running_vms"] + 1
    stats = conn.compute.get("/os-hypervisors/statistics", microversion="2.87").json()[
        "hypervisor_statistics"
    ]
    assert stats["count"] == 3
    assert stats["vcpus"] == 96
    listed = {h.name for h in conn.compute.hypervisors(details=True)}  # SDK default microversion (2.88)
    assert listed == {"node-1", "node-2", "node-3"}
    zones = conn.compute.get("/os-availability-zone/detail").json()["availabilityZoneInfo"]
    nova = next(z for z in zones if z["zoneName"] == "nova")
    assert set(nova["hosts"]) == {"node-1", "node-2", "node-3"}


def test_quota_and_limits_count_usage(conn: openstack.connection.Connection, make_server) -> None:
    project = conn.current_project_id
    before = conn.compute.get_quota_set(project, usage=True).usage
    make_server("quota", flavor="3")
    after = conn.compute.get_quota_set(project, usage=True).usage
    assert after["cores"] == before["cores"] + 2
    assert after["instances"] == before["instances"] + 1
    limits = conn.compute.get_limits().absolute
    assert limits.total_cores_used == after["cores"]
    assert limits.instances == 20


def test_quota_exceeded_is_403(conn: openstack.connection.Connection, make_server) -> None:
    project = conn.current_project_id
    conn.compute.update_quota_set(project, cores=1)
    try:
        with pytest.raises(openstack.exceptions.ForbiddenException, match="Quota exceeded for cores"):
            make_server("over-quota", flavor="5", wait=False)
    finally:
        conn.compute.update_quota_set(project, cores=64)


def test_keypairs(conn: openstack.connection.Connection, make_server) -> None:
    generated = conn.compute.create_keypair(name="gen-key")
    assert generated.private_key
    assert generated.fingerprint.count(":") == 15
    imported = conn.compute.create_keypair(name="imp-key", public_key=generated.public_key)
    assert imported.fingerprint == generated.fingerprint
    assert {k.name for k in conn.compute.keypairs()} >= {"gen-key", "imp-key"}
    server = make_server("with-key", key_name="gen-key")
    assert server.key_name == "gen-key"
    with pytest.raises(openstack.exceptions.BadRequestException):
        make_server("bad-key", key_name="no-such-key", wait=False)
    conn.compute.delete_keypair("gen-key")
    conn.compute.delete_keypair("imp-key")
    assert conn.compute.find_keypair("gen-key") is None


def test_server_list_filters_and_pagination(conn: openstack.connection.Connection, make_server) -> None:
    for i in range(3):
        make_server(f"listed-{i}", wait=False)
    names = [s.name for s in conn.compute.servers(name="^listed-", limit=2)]
    assert sorted(names) == ["listed-0", "listed-1", "listed-2"]
    wait_until(
        lambda: len(list(conn.compute.servers(name="^listed-", status="ACTIVE"))) == 3, message="3 ACTIVE"
    )
    assert len(list(conn.compute.servers(name="^listed-", host="node-9"))) == 0


def test_delete_server(conn: openstack.connection.Connection, make_server) -> None:
    server = make_server("deleted")
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.02, wait=15)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_server(server.id)
    assert not list(conn.network.ports(device_id=server.id))


def test_placement_reports_inventory_and_usage(conn: openstack.connection.Connection, make_server) -> None:
    providers = {rp.name: rp for rp in conn.placement.resource_providers()}
    assert set(providers) == {"node-1", "node-2", "node-3"}
    node = providers["node-3"]
    inventories = conn.placement.get(f"/resource_providers/{node.id}/inventories").json()["inventories"]
    assert inventories["VCPU"]["total"] == 32 and inventories["MEMORY_MB"]["total"] == 128 * 1024

    def usage() -> dict[str, int]:
        return conn.placement.get(f"/resource_providers/{node.id}/usages").json()["usages"]

    before = usage()
    make_server("placed", flavor="3", availability_zone="nova:node-3")
    after = usage()
    assert after["VCPU"] == before["VCPU"] + 2
    assert after["MEMORY_MB"] == before["MEMORY_MB"] + 4096
