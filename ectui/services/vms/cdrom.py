"""An ISO file as a VM's CD-ROM: the vendor extension (attachCdrom / detachCdrom), or Nova stable rescue
from the ISO's Glance image (reboots the VM into it) where the cloud lacks the extension.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ectui.db.models import Cluster, IsoFile, Vm, utcnow
from ectui.services.audit import audited
from ectui.services.openstack import compute, image
from ectui.services.openstack.calls import call_keeping_errors, render_error
from ectui.services.openstack.compute import CDROM_EXTENSION
from ectui.services.operations.engine import RunContext, Step
from ectui.services.vms.base import VmBase, VmSteps, refuse_nova_lock
from ectui.services.vms.model import (
    GUEST_MOUNT_HINT,
    STEP_LABELS,
    MountInfo,
    MountPlan,
    VmError,
    VmInfo,
    VmRef,
)
from ectui.services.vms.rows import load_row

if TYPE_CHECKING:
    pass


def probe_cdrom(conn: Any) -> bool:
    """Whether Nova lists the vendor CD-ROM extension."""
    return compute.has_extension(conn, CDROM_EXTENSION)


class CdromFlow(VmBase):
    """Mounting and unmounting ISO files."""

    async def cdrom_supported(self, cluster_id: int) -> bool:
        """Whether the cluster's Nova has the vendor CD-ROM extension (probed once per cluster, then cached)."""
        if cluster_id not in self._cdrom:
            self._cdrom[cluster_id] = await call_keeping_errors(
                self._clusters.connections, cluster_id, probe_cdrom
            )
        return self._cdrom[cluster_id]

    async def mountable_isos(self, vm_id: int) -> list[tuple[int, str]]:
        """(id, name) of the enabled ISO files of the VM's cluster, by name."""

        def load() -> list[tuple[int, str]]:
            with self._db.session() as session:
                row = load_row(session, vm_id)
                query = (
                    select(IsoFile.id, IsoFile.name)
                    .where(IsoFile.cluster_id == row.cluster_id, IsoFile.enabled.is_(True), IsoFile.gone.is_(False))
                    .order_by(IsoFile.name, IsoFile.id)
                )  # fmt: skip
                return [(i, n) for i, n in session.execute(query)]

        return await asyncio.to_thread(load)

    async def mount_plan(self, vm_id: int, iso_id: int) -> MountPlan:
        """How an ISO would be mounted on a VM (CD-ROM extension, or stable rescue that reboots the VM).

        Refuses a locked VM, a VM with an ISO already mounted, and an ISO that is disabled, gone or of
        another cluster; on the rescue path also an ISO without a Glance image to boot from.
        """
        await self._check(write=True)
        vm = await self._unlocked(vm_id)
        iso = await asyncio.to_thread(self._iso_for_mount, vm_id, iso_id)
        await self._refuse_cloud_lock(vm)
        if await self.cdrom_supported(vm.cluster_id):
            return MountPlan(
                vm.id, vm.name, iso["id"], iso["name"], iso["file_name"], iso["cluster"], "cdrom"
            )
        found = await call_keeping_errors(
            self._clusters.connections, vm.cluster_id, lambda conn: image.find_rescue_image(conn, iso)
        )
        return MountPlan(
            vm.id, vm.name, iso["id"], iso["name"], iso["file_name"], iso["cluster"], "rescue",
            str(found["id"]), str(found.get("name") or ""),
        )  # fmt: skip

    @audited("vm.mount_iso", lambda a: f"{a['vm_id']} ← ISO {a['iso_id']}")
    async def mount_iso(self, vm_id: int, iso_id: int, *, confirm_reboot: bool = False) -> MountInfo:
        """Mount an enabled ISO of the VM's cluster as its CD-ROM.

        With the vendor extension: `attachCdrom`. On upstream Nova: stable rescue from the ISO's Glance
        image (`hw_rescue_device=cdrom`), which reboots the VM; refused with `vm.iso_rescue_confirm`
        unless `confirm_reboot`. The VM row and the ISO's mount count change in one transaction after
        the cloud call worked; if recording fails, the cloud call is undone.
        """
        plan = await self.mount_plan(vm_id, iso_id)
        if plan.reboots and not confirm_reboot:
            raise VmError("vm.iso_rescue_confirm", name=plan.vm, iso=plan.iso, cluster=plan.cluster)
        vm = await self._unlocked(vm_id)
        steps = self._mount_steps(vm, plan)
        op_id = await asyncio.to_thread(
            self._lock_for,
            vm_id,
            steps,
            "mount_iso",
            {"name": vm.name, "iso": plan.iso, "method": plan.method},
        )
        try:
            await self.engine.run(
                op_id,
                steps,
                {"method": plan.method},
                error_of=lambda step, err: (
                    err
                    if isinstance(err, VmError) and err.key.startswith("vm.iso")
                    else VmError("vm.mount_failed", name=vm.name, iso=plan.iso, reason=render_error(err))
                ),
            )
        finally:
            await asyncio.to_thread(self._unlock, vm_id, op_id)
        return MountInfo(await self.get(vm_id), plan.iso, plan.method, GUEST_MOUNT_HINT)

    @audited("vm.unmount_iso", "vm_id")
    async def unmount_iso(self, vm_id: int) -> VmInfo:
        """Unmount the VM's ISO: `detachCdrom`, or `unrescue` when it was mounted by stable rescue (reboots)."""
        await self._check(write=True)
        vm = await self._unlocked(vm_id)
        iso_name = await asyncio.to_thread(self._mounted_iso_name, vm_id)
        await self._refuse_cloud_lock(vm)
        steps = self._unmount_steps(vm)
        op_id = await asyncio.to_thread(
            self._lock_for, vm_id, steps, "unmount_iso", {"name": vm.name, "iso": iso_name}
        )
        try:
            await self.engine.run(
                op_id,
                steps,
                {},
                error_of=lambda step, err: VmError(
                    "vm.unmount_failed", name=vm.name, iso=iso_name, reason=render_error(err)
                ),
            )
        finally:
            await asyncio.to_thread(self._unlock, vm_id, op_id)
        return await self.get(vm_id)

    def _iso_for_mount(self, vm_id: int, iso_id: int) -> dict[str, Any]:
        with self._db.session() as session:
            row = load_row(session, vm_id)
            if row.mounted_iso_id is not None:
                mounted = session.get(IsoFile, row.mounted_iso_id)
                raise VmError("vm.iso_already_mounted", name=row.name, iso=mounted.name if mounted else "?")
            iso = session.get(IsoFile, iso_id)
            if iso is None:
                raise VmError("vm.iso_not_found", id=iso_id)
            cluster = session.get(Cluster, row.cluster_id)
            if iso.cluster_id != row.cluster_id:
                raise VmError("vm.iso_other_cluster", iso=iso.name, cluster=cluster.name if cluster else "?")
            if iso.gone:
                raise VmError("vm.iso_gone", iso=iso.name)
            if not iso.enabled:
                raise VmError("vm.iso_disabled", iso=iso.name)
            return {
                "id": iso.id,
                "name": iso.name,
                "file_name": iso.file_name,
                "cluster": cluster.name if cluster else "?",
            }

    def _mounted_iso_name(self, vm_id: int) -> str:
        with self._db.session() as session:
            row = load_row(session, vm_id)
            if row.mounted_iso_id is None:
                raise VmError("vm.iso_not_mounted", name=row.name)
            iso = session.get(IsoFile, row.mounted_iso_id)
            return iso.name if iso else "?"

    def _mount_steps(self, vm: VmRef, plan: MountPlan) -> list[Step]:
        return MountSteps(self._db, self._clusters.connections, self._poll, vm, plan).steps()

    def _unmount_steps(self, vm: VmRef) -> list[Step]:
        return UnmountSteps(self._db, self._clusters.connections, self._poll, vm).steps()


@dataclass
class MountSteps(VmSteps):
    """The steps of a mount: the cloud call (undone when recording fails), then the record."""

    plan: MountPlan

    def steps(self) -> list[Step]:
        """The steps in order."""
        return [
            Step("attach_iso", STEP_LABELS["attach_iso"], self.attach, self.detach),
            Step("record_mount", STEP_LABELS["record_mount"], self.record),
        ]

    def attach(self, ctx: RunContext) -> None:
        """attachCdrom, or rescue from the ISO's image and wait for RESCUE."""
        vm, plan, poll = self.vm, self.plan, self.poll
        c = self.conn()
        refuse_nova_lock(compute.get_server(c, vm.cloud_id, vm.name), vm.name)
        if plan.method == "cdrom":
            compute.server_action(c, vm.cloud_id, {"attachCdrom": {"iso": plan.file_name}})
        else:
            compute.server_action(c, vm.cloud_id, {"rescue": {"rescue_image_ref": plan.image_id}})
            ctx.data["rescued"] = True
            compute.wait_for_status(c, vm.cloud_id or "", "RESCUE", cancel=ctx.cancel, report=ctx.report,
                                    first=poll.first, cap=poll.cap, timeout=poll.timeout, settle=True)  # fmt: skip
        ctx.data["attached"] = True

    def detach(self, ctx: RunContext) -> None:
        """Undo the attach: detachCdrom, or unrescue when the VM was rescued."""
        c = self.conn()
        if self.plan.method == "cdrom":
            compute.detach_cdrom(c, self.vm.cloud_id or "")
        elif ctx.data.get("rescued"):
            compute.unrescue_and_wait(
                c, self.vm.cloud_id or "", self.poll.first, self.poll.cap, self.poll.timeout
            )

    def record(self, ctx: RunContext) -> None:
        """The VM row names the ISO; the ISO's mount count goes up (one transaction)."""
        with self.db.locked_session() as session:
            row = session.scalars(select(Vm).where(Vm.id == self.vm.id).with_for_update()).one()
            iso = session.scalars(
                select(IsoFile).where(IsoFile.id == self.plan.iso_id).with_for_update()
            ).first()
            if iso is None:
                raise VmError("vm.iso_not_found", id=self.plan.iso_id)
            if row.mounted_iso_id is not None:
                raise VmError("vm.iso_already_mounted", name=row.name, iso=iso.name)
            row.mounted_iso_id = iso.id
            row.updated_at = utcnow()
            iso.mount_count = (iso.mount_count or 0) + 1


class UnmountSteps(VmSteps):
    """The steps of an unmount (idempotent, so an interrupted unmount is resumed)."""

    def steps(self) -> list[Step]:
        """The steps in order."""
        return [
            Step("detach_iso", STEP_LABELS["detach_iso"], self.detach),
            Step("record_unmount", STEP_LABELS["record_unmount"], self.record),
        ]

    def detach(self, ctx: RunContext) -> None:
        """detachCdrom, or unrescue when the ISO was mounted by stable rescue (reboots)."""
        vm = self.vm
        c = self.conn()
        server = compute.get_server(c, vm.cloud_id, vm.name)
        refuse_nova_lock(server, vm.name)
        if server.get("status") == "RESCUE":  # mounted by stable rescue
            compute.unrescue_and_wait(c, vm.cloud_id or "", self.poll.first, self.poll.cap, self.poll.timeout)
        else:
            compute.detach_cdrom(c, vm.cloud_id or "")

    def record(self, ctx: RunContext) -> None:
        """The VM row names no ISO; the ISO's mount count goes down."""
        with self.db.locked_session() as session:
            row = session.scalars(select(Vm).where(Vm.id == self.vm.id).with_for_update()).one()
            if row.mounted_iso_id is not None:
                iso = session.scalars(
                    select(IsoFile).where(IsoFile.id == row.mounted_iso_id).with_for_update()
                ).first()
                if iso is not None:
                    iso.mount_count = max((iso.mount_count or 0) - 1, 0)
            row.mounted_iso_id = None
            row.updated_at = utcnow()
