"""Resize tests: a console on a shared cloud, VMs to resize, and the cloud/database agreement check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from ectui.db.models import Operation, Vm
from ectui.devcloud import DevCloudHandle
from ectui.services.operations.engine import OperationInfo
from ectui.services.projects import Amounts
from ectui.services.resize import RESIZE_STEPS
from tests.kit.base import build_licensed_console
from tests.kit.cloud import clean_cloud, sdk
from tests.kit.vms import Env, draft, vm_env

CODES = [code for code, _label in RESIZE_STEPS]


async def resize_env(home: Path, cloud: DevCloudHandle) -> Env:
    """On a cleaned `cloud`: a console (operator alice), cluster dc1, template cirros, project web (16 vCPU, 64 GB)."""
    conn = sdk(cloud)
    clean_cloud(cloud, conn)
    s = await build_licensed_console(home, storage="local,shared", operator="alice")
    try:
        return await vm_env(s, cloud, home, windows=False, quota={"ram_gb": "64"}, conn=conn)
    except BaseException:
        s.close()
        raise


async def make_vm(env: Env, name: str = "r1", cpu: int = 2, ram: int = 2, *, stopped: bool = False) -> int:
    vm = await env.s.vms.create(draft(env, name=name, cpu=str(cpu), ram_gb=str(ram)))
    if stopped:
        await env.s.vms.stop(vm.id, wait=True)
    return vm.id


async def hot_vm(env: Env, name: str = "h1") -> int:
    """A VM on the seeded flavor hot-2 (2 vCPU, 4 GB, hw:live_resize=true), adopted into project web."""
    conn = env.conn
    image = next(i for i in conn.image.images() if i.name == "cirros-0.6.2")
    network = next(n for n in conn.network.networks() if n.name == "private")
    server = conn.compute.create_server(
        name=name, image_id=image.id, flavor_id="hot-2", networks=[{"uuid": network.id}]
    )
    server = conn.compute.wait_for_server(server, interval=0.02)
    with env.s.db.session() as session:
        row = Vm(
            cluster_id=1, project_id=1, cloud_id=server.id, name=name, vcpus=2, ram_gb=4, disk_gb=1,
            flavor_id="hot-2", status="ACTIVE", node=server.hypervisor_hostname or "",
        )  # fmt: skip
        session.add(row)
        session.flush()
        vm_id = row.id
    project = await env.s.projects.reserve("web", Amounts(vcpus=2, ram_gb=4, vms=1), purpose="adopt")
    await env.s.projects.commit(project.id)
    return vm_id


def server_of(env: Env, vm_id: int) -> dict[str, Any]:
    with env.s.db.session() as session:
        row = session.get(Vm, vm_id)
        assert row is not None
        cloud_id = row.cloud_id
    return dict(env.conn.compute.get(f"/servers/{cloud_id}", microversion="2.73").json()["server"])


def steps_of(info: OperationInfo) -> dict[str, str]:
    return {s.code: s.state for s in info.steps}


async def last_op(env: Env) -> OperationInfo:
    return (await env.s.resize.operations(limit=1))[0]


async def assert_consistent(
    env: Env,
    vm_id: int,
    spec: tuple[int, int],
    power: str,
    *,
    vm_name: str = "r1",
    gone_flavor: str | None = None,
) -> None:
    """Cloud and database agree: flavor, power, no locks, no orphan flavor, quota = the VM rows, nothing held."""
    server = server_of(env, vm_id)
    flavor = server["flavor"]
    assert (flavor["vcpus"], flavor["ram"] // 1024) == spec
    assert server["status"] == power and not server["OS-EXT-STS:task_state"]
    assert not server["locked"], server.get("locked_reason")
    with env.s.db.session() as session:
        row = session.get(Vm, vm_id)
        assert row is not None
        assert (row.vcpus, row.ram_gb) == spec and row.locked_by_operation is None
        rows = list(session.scalars(select(Vm)))
        flavor_id = row.flavor_id
        assert session.scalar(select(Operation.id).where(Operation.state == "running")) is None
    in_db = env.conn.compute.find_flavor(flavor_id, is_public=None)
    assert in_db is not None and in_db.name == flavor["original_name"]  # the row names the server's flavor
    ours = sorted(
        f.name for f in env.conn.compute.flavors(is_public=None) if f.name.startswith(f"ectui-{vm_name}-")
    )
    used_names = {server_of(env, r.id)["flavor"]["original_name"] for r in rows}
    assert set(ours) <= used_names, ours  # no orphan flavor of this VM
    if gone_flavor is not None:
        assert env.conn.compute.find_flavor(gone_flavor, is_public=None) is None
    project = await env.s.projects.get("web")
    assert project.used.vcpus == sum(r.vcpus for r in rows) and project.used.ram_gb == sum(
        r.ram_gb for r in rows
    )
    assert project.reserved.to_json() == {"vcpus": 0, "ram_gb": 0, "vms": 0, "public_ips": 0}
    assert await env.s.projects.held("web") == []


def flavor_id_of(env: Env, vm_id: int) -> str:
    with env.s.db.session() as session:
        row = session.get(Vm, vm_id)
        assert row is not None
        return row.flavor_id
