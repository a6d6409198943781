"""The Neutron subset of the dev cloud through openstacksdk."""

from __future__ import annotations

import openstack
import pytest


def test_networks_subnets_ports(conn: openstack.connection.Connection) -> None:
    net = conn.network.create_network(name="t-net")
    subnet = conn.network.create_subnet(network_id=net.id, name="t-sub", cidr="192.168.50.0/24", ip_version=4)
    assert subnet.gateway_ip == "192.168.50.1"
    port = conn.network.create_port(network_id=net.id, name="t-port")
    assert port.fixed_ips[0]["ip_address"] == "192.168.50.2"
    assert conn.network.get_network(net).subnet_ids == [subnet.id]
    assert [p.name for p in conn.network.ports(network_id=net.id)] == ["t-port"]
    conn.network.delete_port(port)
    conn.network.delete_subnet(subnet)
    conn.network.delete_network(net)
    assert conn.network.find_network("t-net") is None


def test_external_network_is_marked(conn: openstack.connection.Connection) -> None:
    external = [n.name for n in conn.network.networks(is_router_external=True)]
    assert external == ["public"]


def test_floating_ip_allocate_associate_release(
    conn: openstack.connection.Connection, make_server, ids: dict[str, str], fault
) -> None:
    server = make_server("fip")
    port = next(conn.network.ports(device_id=server.id))
    fault("network.create_floating_ip", status=500)
    with pytest.raises(openstack.exceptions.HttpException):
        conn.network.create_ip(floating_network_id=ids["public"])
    fip = conn.network.create_ip(floating_network_id=ids["public"])
    assert fip.floating_ip_address.startswith("172.24.4.")
    assert fip.status == "DOWN"
    fip = conn.network.update_ip(fip, port_id=port.id)
    assert fip.fixed_ip_address == port.fixed_ips[0]["ip_address"]
    assert fip.status == "ACTIVE"
    addresses = conn.compute.get_server(server).addresses["private"]
    assert {"fixed", "floating"} == {a["OS-EXT-IPS:type"] for a in addresses}
    fip = conn.network.update_ip(fip, port_id=None)
    assert fip.port_id is None
    conn.network.delete_ip(fip)
    assert conn.network.find_ip(fip.id) is None


def test_floating_ip_needs_an_external_network(
    conn: openstack.connection.Connection, ids: dict[str, str]
) -> None:
    with pytest.raises(openstack.exceptions.BadRequestException):
        conn.network.create_ip(floating_network_id=ids["private"])


def test_network_quota_details(conn: openstack.connection.Connection) -> None:
    quota = conn.network.get_quota(conn.current_project_id, details=True)
    assert quota.floating_ips["limit"] == 10
