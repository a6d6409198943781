"""A licensed console ready for VMs (cluster dc1, templates, project web), VM drafts, and leftover checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack.connection

from ectui.devcloud import DevCloudHandle
from ectui.services import ConsoleServices
from ectui.services.projects import ProjectDraft
from ectui.services.templates import TemplateDraft
from ectui.services.vms import VmDraft
from tests.kit.cloud import cluster_draft, sdk

PASSWORD = "Secr3t!pass"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmSBzTLQxp2VLvRNaBvCPPGKL7S1V4Mq7j9CoJlLk3X test@ectui"


@dataclass
class Env:
    """A licensed console with cluster dc1 (shared storage), synced images, templates and project web."""

    s: ConsoleServices
    cloud: DevCloudHandle
    conn: openstack.connection.Connection
    linux: int
    windows: int
    home: Path


async def vm_env(
    s: ConsoleServices,
    cloud: DevCloudHandle,
    home: Path,
    *,
    windows: bool = True,
    quota: dict[str, str] | None = None,
    conn: openstack.connection.Connection | None = None,
) -> Env:
    """Set up `s` for VMs: cluster dc1 on `cloud`, synced images, template cirros (and win), project web (current).

    Without `windows` the Env's `windows` is the linux template. `quota` overrides the project's
    (default 16 vCPU, 256 GB, 5 VMs, 2 public IPs).
    """
    await s.clusters.add(cluster_draft(cloud))
    await s.images.sync("dc1")
    images = {i.name: i.id for i in await s.images.list_all("dc1")}
    assert {"cirros-0.6.2", "windows-2019-mini"} <= images.keys(), f"dev cloud images: {sorted(images)}"
    linux = await s.templates.create(
        TemplateDraft.parse(name="cirros", image_id=images["cirros-0.6.2"], os_type="linux")
    )
    win_id = linux.id
    if windows:
        win = await s.templates.create(
            TemplateDraft.parse(
                name="win",
                image_id=images["windows-2019-mini"],
                os_type="windows",
                min_cpu="2",
                min_ram_gb="2",
            )
        )
        win_id = win.id
    limits = {"vcpus": "16", "ram_gb": "256", "vms": "5", "public_ips": "2", **(quota or {})}
    await s.projects.add(ProjectDraft.parse(name="web", cluster="dc1", **limits))
    await s.projects.use("web")
    return Env(s, cloud, conn if conn is not None else sdk(cloud), linux.id, win_id, home)


def draft(env: Env, **over: Any) -> VmDraft:
    """A valid VM draft (vm1, cirros on node-2, password login, 2 CPU / 2 GB); `over` replaces fields."""
    fields: dict[str, Any] = {
        "name": "vm1",
        "template_id": env.linux,
        "placement": "manual",
        "node": "node-2",
        "login": "password",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "cpu": "2",
        "ram_gb": "2",
        "network": "private",
        "public_ip": False,
    }
    fields.update(over)
    return VmDraft.parse(**fields)


def assert_nothing_left(env: Env, name: str) -> None:
    """No server, flavor, floating IP or port of `name` in the cloud."""
    conn = env.conn
    servers = [s.name for s in conn.compute.servers(all_projects=True) if s.name == name]
    assert servers == [], f"servers left: {servers}"
    flavors = [f.name for f in conn.compute.flavors(is_public=None) if f.name.startswith(f"ectui-{name}-")]
    assert flavors == [], f"flavors left: {flavors}"
    ips = [ip.floating_ip_address for ip in conn.network.ips()]
    assert ips == [], f"floating IPs left: {ips}"
    ports = [p.id for p in conn.network.ports() if p.device_owner.startswith("compute:")]
    assert ports == [], f"compute ports left: {ports}"


async def assert_quota_free(env: Env) -> None:
    """Project web uses and reserves nothing, and holds no reservation."""
    project = await env.s.projects.get("web")
    zero = {"vcpus": 0, "ram_gb": 0, "vms": 0, "public_ips": 0}
    assert project.used.to_json() == zero, f"used: {project.used.to_json()}"
    assert project.reserved.to_json() == zero, f"reserved: {project.reserved.to_json()}"
    held = await env.s.projects.held("web")
    assert held == [], f"held: {held}"
