"""What every VM flow shares: the collaborators, the operation lock on a VM row, events to listeners."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ectui.db.models import Vm, utcnow
from ectui.services.openstack import compute
from ectui.services.openstack.calls import call_keeping_errors
from ectui.services.openstack.compute import BUILD_TIMEOUT, POLL_FIRST, POLL_MAX
from ectui.services.operations.engine import OperationEngine, Step
from ectui.services.projects import Amounts
from ectui.services.vms.events import VmListener, tell_listeners
from ectui.services.vms.model import FEATURE, Polling, VmError, VmInfo, VmRef
from ectui.services.vms.rows import infos, load_row, lock_error, row_values, vm_ref

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.audit import AuditService
    from ectui.services.clusters import ClusterService
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.openstack.connection import CloudConnections
    from ectui.services.projects import ProjectService


def refuse_nova_lock(server: dict[str, Any], name: str) -> None:
    """Refuse a server that Nova has locked."""
    if server.get("locked"):
        raise VmError("vm.locked_nova", name=name, reason=server.get("locked_reason") or "locked")


class VmBase:
    """The state and helpers the VM flows (create, actions, snapshot, CD-ROM, recovery) build on."""

    def __init__(
        self,
        db: Database,
        clusters: ClusterService,
        projects: ProjectService,
        license_service: ConsoleLicenseService,
        settings: Settings,
        *,
        audit: AuditService | None = None,
        listeners: Sequence[VmListener] = (),
        poll_first: float = POLL_FIRST,
        poll_max: float = POLL_MAX,
        build_timeout: float = BUILD_TIMEOUT,
    ) -> None:
        self._db = db
        self._clusters = clusters
        self._projects = projects
        self._license = license_service
        self._settings = settings
        self._audit = audit
        self._listeners = tuple(listeners)
        self.engine = OperationEngine(db, settings.operator)
        self._poll = Polling(poll_first, poll_max, build_timeout)
        self._markers: dict[int, str] = {}
        """Per cluster: the `changes-since` time of the next refresh (a full list first)."""
        self._cdrom: dict[int, bool] = {}
        """Per cluster: whether Nova has the vendor CD-ROM extension (probed once)."""

    async def _check(self, *, write: bool) -> None:
        await self._license.require(FEATURE, write=write)

    @property
    def listeners(self) -> tuple[VmListener, ...]:
        """Who hears of the VMs' lifecycle events (billing)."""
        return self._listeners

    async def notify(self, vm_id: int, event: str | None) -> None:
        """Tell the lifecycle listeners (billing) of an event of a VM; never raises."""
        await tell_listeners(self._listeners, vm_id, event)

    async def get(self, vm_id: int) -> VmInfo:
        """One VM by its console id."""

        def load() -> VmInfo:
            with self._db.session() as session:
                return infos(session, [load_row(session, vm_id)])[0]

        return await asyncio.to_thread(load)

    async def cloud_ref(self, vm_id: int, *, write: bool = False) -> VmRef:
        """A VM's reference data for a cloud call: license checked, refused while an operation holds it."""
        await self._check(write=write)
        return await self._unlocked(vm_id)

    async def _unlocked(self, vm_id: int) -> VmRef:
        """The VM's reference data, refused when the console's operation lock holds it."""

        def load() -> VmRef:
            with self._db.session() as session:
                row = load_row(session, vm_id)
                if row.locked_by_operation is not None:
                    raise lock_error(session, row)
                if row.cloud_id is None:
                    raise VmError("vm.no_server", name=row.name, status=row.status)
                return vm_ref(session, row)

        return await asyncio.to_thread(load)

    def _lock_for(
        self, vm_id: int, steps: list[Step], kind: str = "delete_vm", params: dict[str, Any] | None = None
    ) -> int:
        with self._db.locked_session() as session:
            row = load_row(session, vm_id)
            if row.locked_by_operation is not None:
                raise lock_error(session, row)
            op_id = self.engine.add(
                session,
                kind,
                steps,
                params=params or {"name": row.name},
                project_id=row.project_id,
                vm_id=row.id,
            )
            row.locked_by_operation = op_id
            return op_id

    def _unlock(self, vm_id: int, op_id: int) -> None:
        with self._db.session() as session:
            row = session.get(Vm, vm_id)
            if row is not None and row.locked_by_operation == op_id:
                row.locked_by_operation = None

    def _apply_server(self, vm_id: int, server: dict[str, Any]) -> None:
        with self._db.session() as session:
            row = session.get(Vm, vm_id)
            if row is not None:
                for key, value in row_values(server).items():
                    setattr(row, key, value)
                row.updated_at = utcnow()

    async def _refuse_cloud_lock(self, vm: VmRef) -> None:
        """Refuse (before any operation starts) a VM that Nova has locked."""
        await call_keeping_errors(
            self._clusters.connections,
            vm.cluster_id,
            lambda conn: refuse_nova_lock(compute.get_server(conn, vm.cloud_id, vm.name), vm.name),
        )

    async def _deleted(self, vm: VmRef) -> None:
        """What a delete does after its steps: tell the listeners, give the quota back."""
        await self.notify(vm.id, "delete")
        if vm.project is not None:
            freed = Amounts(vcpus=vm.vcpus, ram_gb=vm.ram_gb, vms=1, public_ips=1 if vm.floating_ip_id else 0)
            await self._projects.free_used(vm.project, freed)


@dataclass
class VmSteps:
    """What the steps of an operation on an existing VM share: the database, the cloud, the polling."""

    db: Database
    conns: CloudConnections
    poll: Polling
    vm: VmRef

    def conn(self) -> Any:
        """The VM's cluster connection (in the worker thread)."""
        return self.conns.get_sync(self.vm.cluster_id)
