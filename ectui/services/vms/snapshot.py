"""Snapshot of a VM into a custom template: Nova createImage → wait for the image → record image and template."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ectui.db.models import Cluster, Image, Template, utcnow
from ectui.i18n import N_
from ectui.services.audit import audited
from ectui.services.errors import ServiceError
from ectui.services.openstack import compute, image
from ectui.services.openstack.calls import render_error
from ectui.services.operations.engine import RunContext, Step
from ectui.services.progress import Cancelled, CancelToken, ProgressCallback, ignore_progress
from ectui.services.validation import required_text
from ectui.services.vms.base import VmBase, VmSteps
from ectui.services.vms.model import SNAPSHOT_MARK, STEP_LABELS, SnapshotInfo, VmError, VmRef
from ectui.services.vms.rows import load_row

if TYPE_CHECKING:
    pass


class SnapshotFlow(VmBase):
    """Snapshots of VMs as custom templates."""

    @audited("vm.snapshot", lambda a: f"{a['vm_id']} → {a['template_name']}")
    async def snapshot(
        self,
        vm_id: int,
        template_name: str,
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> SnapshotInfo:
        """Snapshot a VM (Nova createImage) into a new image and a custom template of its cluster.

        The template takes the VM's OS type; its minimum CPU and RAM are those of the VM's own template
        (1 when it is gone) and its minimum disk the VM's disk. The image is recorded with source
        'snapshot', so it can be deleted from the console later. Failure or cancel deletes the half-made
        image; the VM is held (locked) by the operation meanwhile.
        """
        cancel = cancel or CancelToken()
        await self._check(write=True)
        name = required_text(template_name, N_("Template name"), field_id="template_name", max_len=255)
        vm = await self._unlocked(vm_id)
        source = await asyncio.to_thread(self._snapshot_source, vm_id, name)
        await self._refuse_cloud_lock(vm)
        cancel.raise_if_cancelled()
        steps = self._snapshot_steps(vm, name, source)
        op_id = await asyncio.to_thread(
            self._lock_for, vm_id, steps, "snapshot_vm", {"name": vm.name, "template": name}
        )

        def error_of(step: Step, err: BaseException) -> ServiceError:
            if isinstance(err, Cancelled | asyncio.CancelledError) or cancel.cancelled:
                return Cancelled("vm.snapshot_cancelled", name=vm.name)
            if isinstance(err, VmError) and err.key == "template.exists":
                return err
            return VmError("vm.snapshot_failed", name=vm.name, field=step.label, reason=render_error(err))

        data: dict[str, Any] = {}
        try:
            await self.engine.run(
                op_id, steps, data, on_progress=on_progress, cancel=cancel, error_of=error_of
            )
        finally:
            await asyncio.to_thread(self._unlock, vm_id, op_id)
        return SnapshotInfo(
            vm=vm.name,
            template_id=int(data["template_id"]),
            template=name,
            image_id=int(data["image_row_id"]),
            image_cloud_id=str(data["image_id"]),
            os_type=source["os_type"],
            min_cpu=source["min_cpu"],
            min_ram_gb=source["min_ram_gb"],
            min_disk_gb=source["min_disk_gb"],
        )

    def _snapshot_steps(self, vm: VmRef, name: str, source: dict[str, Any]) -> list[Step]:
        return SnapshotSteps(
            self._db, self._clusters.connections, self._poll, vm, self._settings.operator, name, source
        ).steps()

    def _snapshot_source(self, vm_id: int, name: str) -> dict[str, Any]:
        with self._db.session() as session:
            row = load_row(session, vm_id)
            if session.scalar(
                select(Template.id).where(Template.cluster_id == row.cluster_id, Template.name == name)
            ):
                cluster = session.get(Cluster, row.cluster_id)
                raise VmError("template.exists", name=name, cluster=cluster.name if cluster else "?")
            template = session.get(Template, row.template_id) if row.template_id else None
            return {
                "cluster_id": row.cluster_id,
                "os_type": row.os_type or "linux",
                "min_cpu": template.min_cpu if template else 1,
                "min_ram_gb": template.min_ram_gb if template else 1,
                "min_disk_gb": max(row.disk_gb, 1),
                "description": f"snapshot of VM {row.name}",
            }


@dataclass
class SnapshotSteps(VmSteps):
    """The steps of a snapshot (a failure deletes the half-made image)."""

    operator: str
    name: str
    source: dict[str, Any]

    def steps(self) -> list[Step]:
        """The steps in order."""
        return [
            Step("snapshot", STEP_LABELS["snapshot"], self.create_image, self.drop_image),
            Step("wait_image", STEP_LABELS["wait_image"], self.wait_image),
            Step("record_template", STEP_LABELS["record_template"], self.record, self.forget),
        ]

    def create_image(self, ctx: RunContext) -> None:
        """Nova createImage, the image marked with the operation."""
        ctx.data["image_name"] = self.name
        body = {"createImage": {"name": self.name, "metadata": {SNAPSHOT_MARK: str(ctx.operation_id)}}}
        answer = compute.server_action(self.conn(), self.vm.cloud_id, body)
        ctx.data["image_id"] = str(answer["image_id"])

    def drop_image(self, ctx: RunContext) -> None:
        """Delete the image (the answer may have been lost after Nova made it: found by its mark)."""
        c = self.conn()
        ids = (
            [ctx.data["image_id"]]
            if ctx.data.get("image_id")
            else image.find_marked_images(c, self.name, SNAPSHOT_MARK, ctx.operation_id)
        )
        for image_id in ids:
            image.delete_image(c, image_id)

    def wait_image(self, ctx: RunContext) -> None:
        """Wait until the image is active."""
        ctx.data["image"] = image.wait_for_image(
            self.conn(), ctx.data["image_id"], cancel=ctx.cancel, report=ctx.report,
            first=self.poll.first, cap=self.poll.cap, timeout=self.poll.timeout,
        )  # fmt: skip

    def record(self, ctx: RunContext) -> None:
        """Record the image (source 'snapshot') and the custom template."""
        vm, name, source = self.vm, self.name, self.source
        with self.db.locked_session() as session:
            if session.scalar(
                select(Template.id).where(Template.cluster_id == vm.cluster_id, Template.name == name)
            ):
                raise VmError("template.exists", name=name, cluster=str(vm.cluster_id))
            row = Image(
                **image.glance_row(ctx.data["image"]),
                cluster_id=vm.cluster_id,
                source="snapshot",
                enabled=True,
                gone=False,
                uploaded_by=self.operator,
                synced_at=utcnow(),
            )
            if not row.os_type:
                row.os_type = source["os_type"]
            session.add(row)
            session.flush()
            template = Template(
                cluster_id=vm.cluster_id,
                image_id=row.id,
                image_cloud_id=row.cloud_id,
                kind="custom",
                name=name,
                os_type=source["os_type"],
                min_cpu=source["min_cpu"],
                min_ram_gb=source["min_ram_gb"],
                min_disk_gb=source["min_disk_gb"],
                description=source["description"],
                created_by=self.operator,
            )
            session.add(template)
            session.flush()
            ctx.data["image_row_id"], ctx.data["template_id"] = row.id, template.id
        ctx.data.pop("image", None)  # the whole Glance document need not stay in the operation

    def forget(self, ctx: RunContext) -> None:
        """Delete the recorded template and image."""
        with self.db.session() as session:
            for model, key in ((Template, "template_id"), (Image, "image_row_id")):
                found = session.get(model, ctx.data.get(key)) if ctx.data.get(key) else None
                if found is not None:
                    session.delete(found)
                    session.flush()
