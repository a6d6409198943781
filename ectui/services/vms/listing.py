"""Reading VMs: the list (the database's view), lookups, history, and the status refresh from the clouds."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import select

from ectui.db.models import Operation, Template, Vm, utcnow
from ectui.i18n import N_
from ectui.services.errors import ServiceError, ValidationError
from ectui.services.openstack import compute
from ectui.services.openstack.calls import call_keeping_errors
from ectui.services.openstack.connection import classify
from ectui.services.operations.engine import OperationEngine, OperationInfo
from ectui.services.vms.base import VmBase
from ectui.services.vms.model import REFRESH_SLACK, STEP_LABELS, VmError, VmInfo, is_id
from ectui.services.vms.rows import cluster_id_for, infos, load_row, row_values


class ListingFlow(VmBase):
    """The VM list, lookups by id or name, a VM's history, and the refresh of statuses from the clouds.

    `list` comes last: a method of that name would shadow the builtin in the annotations after it.
    """

    def _list(self, project_id: int | None) -> list[VmInfo]:
        with self._db.session() as session:
            query = select(Vm).order_by(Vm.name, Vm.id)
            if project_id is not None:
                query = query.where(Vm.project_id == project_id)
            rows = list(session.scalars(query))
            return infos(session, rows)

    async def find(self, ref: str, *, all_projects: bool = False) -> VmInfo:
        """A VM by console id or name: the current project's first, then (with `all_projects`) any project's."""
        current = await self._projects.current()

        def load() -> VmInfo:
            with self._db.session() as session:
                text = ref.strip()
                if is_id(text):
                    row = session.get(Vm, int(text))
                    if row is not None:
                        return infos(session, [row])[0]
                rows: list[Vm] = []
                if current is not None:
                    rows = list(
                        session.scalars(select(Vm).where(Vm.name == text, Vm.project_id == current.id))
                    )
                if not rows and (all_projects or current is None):
                    rows = list(session.scalars(select(Vm).where(Vm.name == text)))
                if not rows:
                    raise VmError("vm.not_found", ref=text)
                if len(rows) > 1:
                    raise VmError("vm.ambiguous", ref=text)
                return infos(session, rows)[0]

        return await asyncio.to_thread(load)

    async def template_ref(self, ref: str | int) -> int:
        """A template id from an id or a name (names are looked up in the current project's cluster)."""
        text = str(ref).strip()
        if is_id(text):
            return int(text)
        if not text:
            raise ValidationError("validation.required", field=N_("Template"), field_id="template")
        project = await self._projects.require_current()

        def lookup() -> int:
            with self._db.session() as session:
                cluster_id = cluster_id_for(session, project)
                found = session.scalar(
                    select(Template.id).where(Template.cluster_id == cluster_id, Template.name == text)
                )
                if found is None:
                    raise ValidationError(
                        "vm.template_not_found", field=N_("Template"), field_id="template", value=text
                    )
                return found

        return await asyncio.to_thread(lookup)

    async def history(self, vm_id: int) -> list[OperationInfo]:
        """The operations that touched a VM, newest first."""

        def load() -> list[OperationInfo]:
            with self._db.session() as session:
                load_row(session, vm_id)
                ops = session.scalars(
                    select(Operation).where(Operation.vm_id == vm_id).order_by(Operation.id.desc())
                )
                return [OperationEngine.info(op, STEP_LABELS) for op in ops]

        return await asyncio.to_thread(load)

    async def refresh(self, *, all_projects: bool = False) -> list[VmInfo]:
        """Pull statuses from the clouds (only what changed since the last pull, where Nova offers it), then list."""
        project_id = None
        if not all_projects:
            project_id = (await self._projects.require_current()).id
        cluster_ids = await asyncio.to_thread(self._clusters_in_view, project_id)
        results = await asyncio.gather(
            *(self._refresh_cluster(c) for c in cluster_ids), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and len(errors) == len(results):
            raise errors[0] if isinstance(errors[0], ServiceError) else classify(errors[0])
        return await asyncio.to_thread(self._list, project_id)

    def _clusters_in_view(self, project_id: int | None) -> list[int]:
        with self._db.session() as session:
            query = select(Vm.cluster_id).distinct()
            if project_id is not None:
                query = query.where(Vm.project_id == project_id)
            return list(session.scalars(query))

    async def _refresh_cluster(self, cluster_id: int) -> None:
        since = self._markers.get(cluster_id)
        started = dt.datetime.now(dt.UTC)
        servers = await call_keeping_errors(
            self._clusters.connections, cluster_id, lambda conn: compute.list_servers(conn, since)
        )
        await asyncio.to_thread(self.store_statuses, cluster_id, servers, full=since is None)
        self._markers[cluster_id] = (started - REFRESH_SLACK).strftime("%Y-%m-%dT%H:%M:%SZ")

    def store_statuses(self, cluster_id: int, servers: list[dict[str, Any]], *, full: bool) -> int:
        """Apply listed servers to the VM rows of a cluster; with a full list, mark missing ones DELETED."""
        by_id = {s["id"]: s for s in servers}
        changed = 0
        with self._db.session() as session:
            rows = session.scalars(select(Vm).where(Vm.cluster_id == cluster_id, Vm.cloud_id.is_not(None)))
            now = utcnow()
            for row in rows:
                server = by_id.get(row.cloud_id or "")
                if server is None:
                    if full and row.status != "DELETED":
                        row.status, row.task_state, row.updated_at = "DELETED", "", now
                        changed += 1
                    continue
                values = row_values(server)
                if any(getattr(row, k) != v for k, v in values.items()):
                    for key, value in values.items():
                        setattr(row, key, value)
                    row.updated_at = now
                    changed += 1
        return changed

    async def list_all(self, *, all_projects: bool = False) -> list[VmInfo]:
        """VMs as the database knows them: the current project's, or every project's and cluster's."""
        project_id = None
        if not all_projects:
            project_id = (await self._projects.require_current()).id
        return await asyncio.to_thread(self._list, project_id)
