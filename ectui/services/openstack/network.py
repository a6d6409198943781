"""Neutron: networks, ports and floating IPs of the VMs."""

from __future__ import annotations

import functools
from typing import Any

from ectui.services.openstack.calls import sdk


def networks(conn: Any) -> list[Any]:
    """Every network the connection sees (SDK objects)."""
    return list(sdk(lambda: list(conn.network.networks())))


def server_ports(conn: Any, server_id: str) -> list[Any]:
    """The ports bound to a server."""
    return list(sdk(lambda: list(conn.network.ports(device_id=server_id))))


def drop_ports(conn: Any, server_id: str) -> None:
    """Delete the ports still bound to a deleted server (Nova deletes those it made; a dead compute may not)."""
    for port in server_ports(conn, server_id):
        sdk(functools.partial(conn.network.delete_port, port.id, ignore_missing=True))


def create_floating_ip(conn: Any, network_id: str | None, port_id: str, description: str) -> Any:
    """A new floating IP of `network_id` bound to a port."""
    return sdk(
        lambda: conn.network.create_ip(
            floating_network_id=network_id, port_id=port_id, description=description
        )
    )


def delete_floating_ip(conn: Any, floating_ip_id: str) -> None:
    """Release a floating IP (gone already counts as done)."""
    sdk(lambda: conn.network.delete_ip(floating_ip_id, ignore_missing=True))


def release_marked_ip(conn: Any, floating_ip_id: str | None, description: str) -> None:
    """Release a floating IP by id, or (its answer was lost) every one made with `description`."""
    if floating_ip_id:
        delete_floating_ip(conn, floating_ip_id)
        return
    for ip in sdk(lambda: list(conn.network.ips(description=description))):
        delete_floating_ip(conn, ip.id)
