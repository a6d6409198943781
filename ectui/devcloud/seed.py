"""First-start content of the dev cloud: project, users, nodes, images, networks, flavors, an ISO."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .core import JSON, new_id, now_iso
from .defaults import (
    ADMIN_PASSWORD,
    ADMIN_PROJECT,
    ADMIN_USER,
    FLAVORS,
    ISO_NAME,
    MEMBER_PASSWORD,
    MEMBER_USER,
    NODE_DISK_GB,
    NODE_RAM_MB,
    NODE_VCPUS,
    NODES,
    PROJECT,
    ZONE,
)
from .store import Store

if TYPE_CHECKING:
    from .glance import Glance
    from .neutron import Neutron
    from .nova import Nova


class Seedable(Protocol):
    """The parts of the dev cloud seeding fills: the store, the services and the ISO share."""

    store: Store
    iso_dir: Path
    glance: Glance
    neutron: Neutron
    nova: Nova


def project_id(cloud: Seedable, name: str = PROJECT) -> str:
    """The id of a seeded project."""
    found = cloud.store.find("project", name=name)
    return str(found[0]["id"]) if found else ""


def _image_bytes(label: str, size: int) -> bytes:
    """Deterministic filler data for a seeded image."""
    block = hashlib.sha512(label.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def _iso_bytes(label: str) -> bytes:
    """A tiny file with an ISO 9660 primary volume descriptor, enough for `file` to call it an ISO."""
    data = bytearray(64 * 1024)
    pvd = 16 * 2048
    data[pvd : pvd + 6] = b"\x01CD001"
    data[pvd + 40 : pvd + 72] = label.upper().encode()[:32].ljust(32)
    return bytes(data)


def seed(cloud: Seedable) -> bool:
    """Fill an empty store; returns False when it was seeded before (idempotent)."""
    store = cloud.store
    if store.meta("seeded"):
        return False
    ts = now_iso()
    with store.transaction():
        projects: dict[str, JSON] = {}
        for name, description in (
            (ADMIN_PROJECT, "Admin project"),
            (PROJECT, "Demo project of the dev cloud"),
        ):
            projects[name] = store.put(
                "project",
                {
                    "id": new_id().replace("-", ""),
                    "name": name,
                    "domain_id": "default",
                    "description": description,
                    "enabled": True,
                    "is_domain": False,
                    "parent_id": "default",
                    "tags": [],
                },
            )
        demo, admin = projects[PROJECT]["id"], projects[ADMIN_PROJECT]["id"]
        all_roles = ["admin", "member", "reader"]
        for name, password, roles in (
            (ADMIN_USER, ADMIN_PASSWORD, {demo: all_roles, admin: all_roles}),
            (MEMBER_USER, MEMBER_PASSWORD, {demo: ["member", "reader"]}),
        ):
            store.put(
                "user",
                {
                    "id": new_id().replace("-", ""),
                    "name": name,
                    "domain_id": "default",
                    "enabled": True,
                    "default_project_id": demo,
                    "password_expires_at": None,
                    "options": {},
                    "password": password,
                    "roles": roles,
                },
            )
        for index, node in enumerate(NODES, start=1):
            store.put(
                "host",
                {
                    "id": new_id(),
                    "int_id": index,
                    "service_id": index + 10,
                    "name": node,
                    "zone": ZONE,
                    "vcpus": NODE_VCPUS,
                    "memory_mb": NODE_RAM_MB,
                    "local_gb": NODE_DISK_GB,
                    "host_ip": f"192.168.100.{10 + index}",
                    "state": "up",
                    "status": "enabled",
                    "created_at": ts,
                },
            )
        for fid, name, vcpus, ram, disk, specs in FLAVORS:
            store.put("flavor", cloud.nova.new_flavor(fid, name, vcpus, ram, disk, extra_specs=dict(specs)))
        for name, disk_format, size, extra in (
            ("cirros-0.6.2", "qcow2", 16 * 1024, {"os_type": "linux", "os_distro": "cirros"}),
            ("ubuntu-22.04-mini", "raw", 32 * 1024, {"os_type": "linux", "os_distro": "ubuntu"}),
            ("windows-2019-mini", "qcow2", 24 * 1024, {"os_type": "windows", "os_distro": "windows"}),
            (
                "rescue-cd",
                "iso",
                8 * 1024,
                {"hw_rescue_device": "cdrom", "hw_rescue_bus": "ide", "os_type": "linux"},
            ),
        ):
            image = cloud.glance.new_image(
                admin,
                name=name,
                disk_format=disk_format,
                container_format="bare",
                visibility="public",
                **extra,
            )
            cloud.glance.put_data(image, _image_bytes(name, size))
        private = cloud.neutron.make_network(demo, "private", external=False)
        cloud.neutron.make_subnet(private, "private-subnet", "10.0.0.0/24")
        public = cloud.neutron.make_network(admin, "public", external=True)
        cloud.neutron.make_subnet(public, "public-subnet", "172.24.4.0/24")
        store.set_meta("seeded", ts)
    (cloud.iso_dir / ISO_NAME).write_bytes(_iso_bytes("VIRTIO_TOOLS"))
    return True


def seed_names(cloud: Seedable, names: list[str]) -> dict[str, int]:
    """Add a compute node, a public image, a Keystone project and an ISO file for each name.

    For trying the console against the names real clouds hold: brackets, escape sequences, line breaks.
    A name that cannot be a file name (a '/', a NUL, too long) gets no ISO.
    """
    store = cloud.store
    ts = now_iso()
    admin = project_id(cloud, ADMIN_PROJECT)
    isos = 0
    with store.transaction():
        for name in names:
            index = store.count("host") + 1
            store.put(
                "host",
                {
                    "id": new_id(), "int_id": index, "service_id": index + 10, "name": name, "zone": ZONE,
                    "vcpus": NODE_VCPUS, "memory_mb": NODE_RAM_MB, "local_gb": NODE_DISK_GB,
                    "host_ip": f"192.168.101.{index % 250}", "state": "up", "status": "enabled",
                    "created_at": ts,
                },
            )  # fmt: skip
            image = cloud.glance.new_image(
                admin, name=name, disk_format="qcow2", container_format="bare", visibility="public",
                os_type="linux", description=name,
            )  # fmt: skip
            cloud.glance.put_data(image, _image_bytes(name, 1024))
            store.put(
                "project",
                {
                    "id": new_id().replace("-", ""), "name": name, "domain_id": "default", "description": name,
                    "enabled": True, "is_domain": False, "parent_id": "default", "tags": [],
                },
            )  # fmt: skip
    for name in names:
        file_name = f"{name}.iso"
        if "/" in name or "\0" in name or len(file_name.encode()) > 255:
            continue
        (cloud.iso_dir / file_name).write_bytes(_iso_bytes("HOSTILE"))
        isos += 1
    return {"names": len(names), "isos": isos}
