"""Crash recovery of the VM operations a dead console left running, and retries of pending cleanups."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

from sqlalchemy import select

from ectui.db.models import Cluster, Operation, Vm
from ectui.services.errors import ServiceError
from ectui.services.openstack.calls import render_text
from ectui.services.operations.engine import OperationInfo, Recovered, Step
from ectui.services.vms.actions import ActionsFlow
from ectui.services.vms.cdrom import CdromFlow
from ectui.services.vms.create import create_compensations, no_step
from ectui.services.vms.model import STEP_LABELS, VM_KINDS, MountPlan, VmRef
from ectui.services.vms.rows import vm_ref
from ectui.services.vms.snapshot import SnapshotFlow

log = logging.getLogger("ectui.vms")


class RecoveryFlow(ActionsFlow, SnapshotFlow, CdromFlow):
    """Recovery at start-up (and `ectui ops resume`): roll forward or compensate, retry cleanups."""

    async def recover_interrupted(self) -> list[Recovered]:
        """Recover the VM operations a dead console left running, and retry their pending cleanups.

        Only stale operations are touched (OperationEngine.stale_running_sync: heartbeat older than the
        lease, or an owner process of this host that is gone), and each is claimed first, so two consoles
        starting together never both undo it. A create whose VM was already recorded is finished (rolled
        forward): the VM exists whole; any other create is compensated. A delete or an unmount is resumed
        (its steps are idempotent); a snapshot or a mount is compensated. A compensation that cannot
        reach the cloud leaves the operation `cleanup_pending` (quota still reserved); those are retried
        here too, until the cloud confirms everything gone. Returns what was done, one per operation.
        """
        handled: list[Recovered] = []
        for kind in VM_KINDS:
            for op_id in await asyncio.to_thread(self.engine.stale_running_sync, kind):
                if not await asyncio.to_thread(self.engine.claim_stale_sync, op_id):
                    continue
                handled.append(await self._recovered(op_id, self._recover_one(kind, op_id)))
        for kind in VM_KINDS:
            for op_id in await asyncio.to_thread(self.engine.pending_cleanup_sync, kind):
                if not await asyncio.to_thread(self.engine.claim_cleanup_sync, op_id):
                    continue
                handled.append(await self._recovered(op_id, self._retry_cleanup(op_id)))
        return handled

    async def _recovered(self, op_id: int, work: Awaitable[OperationInfo]) -> Recovered:
        """Run one recovery; a failure (e.g. the cloud is unreachable) leaves the operation for the next try."""
        try:
            info = await work
        except Exception as err:  # the next start or `ops resume` tries again
            log.warning("operation %s could not be recovered yet: %s", op_id, err)
            return Recovered(await self.engine.get(op_id), render_text(err))
        log.warning("operation %s (%s) was interrupted and is now %s", op_id, info.kind, info.state)
        return Recovered(info)

    async def _recover_one(self, kind: str, op_id: int) -> OperationInfo:
        if kind == "create_vm":
            if await asyncio.to_thread(self._roll_forward, op_id):
                return await self.engine.get(op_id)
            steps = await asyncio.to_thread(self._recovery_steps, op_id)
            return await self.engine.compensate_interrupted(op_id, steps)
        vm, params, states = await asyncio.to_thread(self._interrupted_vm_op, op_id)
        if vm is None:  # the VM row is gone: a delete got that far; nothing else can be done here
            state = "done" if kind == "delete_vm" else "failed"
            await asyncio.to_thread(self.engine.finish_sync, op_id, state)
            return await self.engine.get(op_id)
        steps = self._vm_op_steps(kind, vm, params)
        try:
            if kind in ("delete_vm", "unmount_iso") or states[-1] == "done":  # roll forward
                start = next((i for i, st in enumerate(states) if st not in ("done", "skipped")), len(states))
                done = [i for i, st in enumerate(states) if st == "done" and i < start]
                data = await asyncio.to_thread(self.engine.context_sync, op_id)
                try:
                    await self.engine.run(op_id, steps, data, start=start, done=done)
                except ServiceError as err:
                    log.warning("resumed %s %s failed: %s", kind, op_id, err)
                else:
                    if kind == "delete_vm":
                        await self._deleted(vm)
            else:
                await self.engine.compensate_interrupted(op_id, steps)
        finally:
            await asyncio.to_thread(self._unlock_if_settled, vm.id, op_id)
        return await self.engine.get(op_id)

    async def _retry_cleanup(self, op_id: int) -> OperationInfo:
        """Retry the pending cleanup of a VM operation (the cloud may be back)."""
        kind = await asyncio.to_thread(self._kind_of, op_id)
        if kind == "create_vm":
            steps = await asyncio.to_thread(self._recovery_steps, op_id)
            return await self.engine.retry_cleanup(op_id, steps)
        vm, params, _states = await asyncio.to_thread(self._interrupted_vm_op, op_id)
        if vm is None:  # the VM was deleted since: its cluster is unknown, the leftover stays named
            error = (await self.engine.get(op_id)).error
            await asyncio.to_thread(self.engine.finish_sync, op_id, "failed", error)
            return await self.engine.get(op_id)
        try:
            return await self.engine.retry_cleanup(op_id, self._vm_op_steps(kind, vm, params))
        finally:
            await asyncio.to_thread(self._unlock_if_settled, vm.id, op_id)

    def _kind_of(self, op_id: int) -> str:
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            return op.kind if op is not None else ""

    def _interrupted_vm_op(self, op_id: int) -> tuple[VmRef | None, dict[str, Any], list[str]]:
        """The VM (None when its row is gone), the saved request and the step states of an operation."""
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            if op is None:
                raise ServiceError("operation.not_found", id=op_id)
            params = json.loads(op.params or "{}")
            states = [st.state for st in op.steps]
            row = session.get(Vm, op.vm_id) if op.vm_id is not None else None
            if row is None:
                return None, params, states
            return vm_ref(session, row), params, states

    def _vm_op_steps(self, kind: str, vm: VmRef, params: dict[str, Any]) -> list[Step]:
        """The steps of a persisted delete, snapshot, mount or unmount, rebuilt from its request and VM."""
        if kind == "delete_vm":
            return self._delete_steps(vm)
        if kind == "snapshot_vm":
            return self._snapshot_steps(vm, str(params.get("template", "")), {})
        if kind == "mount_iso":
            method = str(params.get("method", "cdrom"))
            plan = MountPlan(vm.id, vm.name, 0, str(params.get("iso", "")), "", "", method)
            return self._mount_steps(vm, plan)
        return self._unmount_steps(vm)

    def _unlock_if_settled(self, vm_id: int, op_id: int) -> None:
        """Free the VM of an operation no longer running (one left running is retried: it keeps the VM)."""
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            if op is not None and op.state == "running":
                return
        self._unlock(vm_id, op_id)

    def _roll_forward(self, op_id: int) -> bool:
        """The create got as far as recording its VM: commit its reservation and mark it done."""
        data = self.engine.context_sync(op_id)
        server_id = data.get("server_id")
        if not server_id:
            return False
        with self._db.session() as session:
            vm_id = session.scalar(select(Vm.id).where(Vm.cloud_id == str(server_id)))
        if vm_id is None:
            return False
        if data.get("reservation_id"):
            self._projects.finish_sync(int(data["reservation_id"]), "committed")
        self.engine.set_vm_sync(op_id, vm_id)
        self.engine.finish_sync(op_id, "done")
        return True

    def _recovery_steps(self, op_id: int) -> list[Step]:
        """Compensations of a persisted create, rebuilt from its saved request and context."""
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            assert op is not None
            params = json.loads(op.params or "{}")
            codes = [s.code for s in op.steps]
            cluster_id = params.get("cluster_id") or session.scalar(
                select(Cluster.id).where(Cluster.name == params.get("cluster", ""))
            )
        undo = create_compensations(
            self._clusters.connections, self._projects, self._poll, cluster_id, str(params.get("name", ""))
        )
        return [
            Step(code, STEP_LABELS.get(code, code), no_step, undo.get(code), after_cleanup=code == "reserve")
            for code in codes
        ]
