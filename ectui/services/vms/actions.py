"""Acting on a VM: start, stop, reboot, the noVNC console URL, and delete (an engine operation)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ectui.db.models import Vm
from ectui.i18n import N_
from ectui.services.audit import audited
from ectui.services.openstack import compute, network
from ectui.services.openstack.calls import call_json, call_keeping_errors, render_error
from ectui.services.openstack.connection import CloudError
from ectui.services.operations.engine import RunContext, Step
from ectui.services.vms.base import VmBase, VmSteps, refuse_nova_lock
from ectui.services.vms.model import STEP_LABELS, VmError, VmInfo, VmRef

if TYPE_CHECKING:
    pass


class ActionsFlow(VmBase):
    """Power actions, the console URL and delete."""

    @audited("vm.start", "vm_id")
    async def start(self, vm_id: int, *, wait: bool = False) -> VmInfo:
        """Power on a stopped VM."""
        return await self._action(vm_id, "os-start", N_("Start"), "ACTIVE" if wait else None)

    @audited("vm.stop", "vm_id")
    async def stop(self, vm_id: int, *, wait: bool = False) -> VmInfo:
        """Power off a running VM."""
        return await self._action(vm_id, "os-stop", N_("Stop"), "SHUTOFF" if wait else None)

    @audited("vm.reboot", "vm_id")
    async def reboot(self, vm_id: int, hard: bool = False, *, wait: bool = False) -> VmInfo:
        """Reboot a VM (soft unless `hard`)."""
        return await self._action(
            vm_id, "reboot", N_("Reboot"), "ACTIVE" if wait else None, {"type": "HARD" if hard else "SOFT"}
        )

    async def _action(
        self, vm_id: int, action: str, label: str, wait_for: str | None, args: dict[str, Any] | None = None
    ) -> VmInfo:
        await self._check(write=True)
        vm = await self._unlocked(vm_id)
        poll = self._poll

        def act(conn: Any) -> dict[str, Any]:
            server = compute.get_server(conn, vm.cloud_id, vm.name)
            refuse_nova_lock(server, vm.name)
            try:
                compute.server_action(conn, vm.cloud_id, {action: args})
            except CloudError as err:
                raise VmError(
                    "vm.action_failed", action=label, name=vm.name, reason=render_error(err)
                ) from None
            if wait_for:
                return compute.wait_for_status(conn, vm.cloud_id or "", wait_for, first=poll.first, cap=poll.cap,
                                               timeout=poll.timeout, settle=True)  # fmt: skip
            return compute.get_server(conn, vm.cloud_id, vm.name)

        server = await call_keeping_errors(self._clusters.connections, vm.cluster_id, act)
        await asyncio.to_thread(self._apply_server, vm_id, server)
        await self.notify(vm_id, {"os-start": "start", "os-stop": "stop"}.get(action))
        return await self.get(vm_id)

    async def console_url(self, vm_id: int) -> str:
        """A remote console (noVNC) URL of the VM."""
        await self._check(write=False)
        vm = await self._unlocked(vm_id)

        def open_console(conn: Any) -> str:
            refuse_nova_lock(compute.get_server(conn, vm.cloud_id, vm.name), vm.name)
            body = {"remote_console": {"protocol": "vnc", "type": "novnc"}}
            answer = call_json(
                conn.compute, "post", f"/servers/{vm.cloud_id}/remote-consoles", json=body, microversion="2.6"
            )
            return str(answer["remote_console"]["url"])

        return await call_keeping_errors(self._clusters.connections, vm.cluster_id, open_console)

    @audited("vm.delete", "vm_id")
    async def delete(self, vm_id: int) -> None:
        """Delete the server, its public IP and its flavor (when unused), then the row; frees the quota."""
        await self._check(write=True)
        vm = await self._unlocked(vm_id)
        if vm.cloud_id is not None and vm.status != "DELETED":
            await call_keeping_errors(
                self._clusters.connections,
                vm.cluster_id,
                lambda conn: refuse_nova_lock(
                    compute.get_server(conn, vm.cloud_id, vm.name, missing_ok=True), vm.name
                ),  # fmt: skip
            )
        steps = self._delete_steps(vm)
        op_id = await asyncio.to_thread(self._lock_for, vm_id, steps)
        try:
            await self.engine.run(
                op_id,
                steps,
                {"vm_id": vm_id},
                error_of=lambda step, err: VmError(
                    "vm.delete_failed", name=vm.name, field=step.label, reason=render_error(err)
                ),
            )
        finally:
            await asyncio.to_thread(self._unlock, vm_id, op_id)
        await self._deleted(vm)

    def _delete_steps(self, vm: VmRef) -> list[Step]:
        return DeleteSteps(self._db, self._clusters.connections, self._poll, vm).steps()


class DeleteSteps(VmSteps):
    """The steps of a delete; each is idempotent, so an interrupted delete is resumed."""

    def steps(self) -> list[Step]:
        """The steps in order."""
        return [
            Step("server", STEP_LABELS["server"], self.drop_server),
            Step("release_ip", STEP_LABELS["release_ip"], self.release_ip),
            Step("drop_flavor", STEP_LABELS["drop_flavor"], self.drop_flavor),
            Step("forget", STEP_LABELS["forget"], self.forget),
        ]

    def drop_server(self, ctx: RunContext) -> None:
        """Delete the server and wait until it is gone."""
        if self.vm.cloud_id:
            compute.delete_server_and_wait(self.conn(), self.vm.cloud_id, self.poll.first, self.poll.cap)

    def release_ip(self, ctx: RunContext) -> None:
        """Release the VM's floating IP."""
        if self.vm.floating_ip_id:
            network.delete_floating_ip(self.conn(), self.vm.floating_ip_id)

    def drop_flavor(self, ctx: RunContext) -> None:
        """Delete the VM's private flavor when no other VM (here or in the cloud) uses it."""
        vm = self.vm
        if not vm.flavor_id:
            return
        with self.db.session() as session:
            others = session.scalar(
                select(func.count())
                .select_from(Vm)
                .where(Vm.cluster_id == vm.cluster_id, Vm.flavor_id == vm.flavor_id, Vm.id != vm.id)
            )
        if others:
            return
        c = self.conn()
        flavor = compute.find_flavor(c, vm.flavor_id)
        if flavor is None or flavor.is_public:  # never a shared flavor someone else may boot from
            return
        if not compute.servers_on_flavor(c, vm.flavor_id):
            compute.delete_flavor(c, vm.flavor_id)

    def forget(self, ctx: RunContext) -> None:
        """Delete the VM row."""
        with self.db.session() as session:
            row = session.get(Vm, self.vm.id)
            if row is not None:
                session.delete(row)
