"""Reading the VM table: VmInfo rows, the cluster of a project, lock refusals, server columns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ectui.db.models import Cluster, IsoFile, Operation, Project, Template, Vm
from ectui.services.openstack.compute import fixed_ip
from ectui.services.projects import ProjectInfo
from ectui.services.vms.model import VmError, VmInfo, VmRef


def load_row(session: Session, vm_id: int) -> Vm:
    """The VM row, or `vm.not_found`."""
    row = session.get(Vm, vm_id)
    if row is None:
        raise VmError("vm.not_found", ref=str(vm_id))
    return row


def vm_ref(session: Session, row: Vm) -> VmRef:
    """The reference data of a VM row."""
    project = session.get(Project, row.project_id) if row.project_id else None
    return VmRef(
        id=row.id, name=row.name, cluster_id=row.cluster_id, cloud_id=row.cloud_id,
        flavor_id=row.flavor_id, floating_ip_id=row.floating_ip_id, vcpus=row.vcpus,
        ram_gb=row.ram_gb, project=project.name if project else None, status=row.status,
    )  # fmt: skip


def cluster_id_for(session: Session, project: ProjectInfo) -> int:
    """The cluster VMs of a project go to: its own, or the only one configured (the create flow's third check)."""
    if project.cluster:
        cluster_id = session.scalar(select(Cluster.id).where(Cluster.name == project.cluster))
        if cluster_id is not None:
            return cluster_id
    ids = list(session.scalars(select(Cluster.id).limit(2)))
    if not ids:
        raise VmError("vm.no_cluster")
    if len(ids) > 1:
        raise VmError("vm.project_without_cluster", project=project.name)
    return ids[0]


def lock_error(session: Session, row: Vm) -> VmError:
    """The refusal of a VM that an operation of this console holds."""
    op = session.get(Operation, row.locked_by_operation) if row.locked_by_operation else None
    return VmError(
        "vm.locked_operation", name=row.name, operation=row.locked_by_operation, kind=op.kind if op else "?"
    )


def infos(session: Session, rows: list[Vm]) -> list[VmInfo]:
    """VmInfo of the rows (names of clusters, projects, templates, ISOs and locking operations joined)."""
    clusters = dict(session.execute(select(Cluster.id, Cluster.name)).all())
    projects = dict(session.execute(select(Project.id, Project.name)).all())
    template_ids = {r.template_id for r in rows if r.template_id is not None}
    templates = (
        dict(session.execute(select(Template.id, Template.name).where(Template.id.in_(template_ids))).all())
        if template_ids
        else {}
    )
    iso_ids = {r.mounted_iso_id for r in rows if r.mounted_iso_id is not None}
    isos: dict[int, str] = {}
    if iso_ids:
        isos = dict(session.execute(select(IsoFile.id, IsoFile.name).where(IsoFile.id.in_(iso_ids))).all())
    op_ids = {r.locked_by_operation for r in rows if r.locked_by_operation is not None}
    ops = (
        dict(session.execute(select(Operation.id, Operation.kind).where(Operation.id.in_(op_ids))).all())
        if op_ids
        else {}
    )
    out = []
    for r in rows:
        if r.locked_by_operation is not None:
            reason = f"operation #{r.locked_by_operation} ({ops.get(r.locked_by_operation, '?')})"
        elif r.nova_locked:
            reason = "nova"
        else:
            reason = ""
        out.append(
            VmInfo(
                id=r.id,
                cloud_id=r.cloud_id,
                name=r.name,
                project=projects.get(r.project_id) if r.project_id else None,
                cluster=clusters.get(r.cluster_id, "?"),
                status="operating" if r.locked_by_operation is not None else r.status,
                task_state=r.task_state,
                vcpus=r.vcpus,
                ram_gb=r.ram_gb,
                disk_gb=r.disk_gb,
                node=r.node,
                network=r.network,
                fixed_ip=r.fixed_ip,
                floating_ip=r.floating_ip,
                os_type=r.os_type,
                login=r.login,
                user_name=r.user_name,
                keypair_name=r.keypair_name,
                template=templates.get(r.template_id) if r.template_id else None,
                locked=bool(r.locked_by_operation is not None or r.nova_locked),
                lock_reason=reason,
                mounted_iso=isos.get(r.mounted_iso_id) if r.mounted_iso_id else None,
                description=r.description,
                created_by=r.created_by,
                created_at=r.created_at,
            )
        )
    return out


def row_values(server: dict[str, Any]) -> dict[str, Any]:
    """The VM columns a server listing updates."""
    values: dict[str, Any] = {
        "status": str(server.get("status") or ""),
        "task_state": str(server.get("OS-EXT-STS:task_state") or ""),
        "nova_locked": bool(server.get("locked")),
    }
    node = server.get("OS-EXT-SRV-ATTR:hypervisor_hostname") or server.get("OS-EXT-SRV-ATTR:host")
    if node:
        values["node"] = str(node)
    fixed = fixed_ip(server)
    if fixed:
        values["fixed_ip"] = fixed
    return values
