"""ResizeService: plan a resize, run its steps through the operations engine, resume it after a crash.

Cold: reserve the growth → lock (the console's own lock, in the database; a Nova lock too with admin
credentials) → background → stop (a running VM) → new flavor → resize, wait for VERIFY_RESIZE, confirm
→ (rollback: only on failure) → record the new spec, release a shrink's difference, delete the old
flavor when no one uses it → start (a VM that ran) → unlock. Hot: the same codes; stop and start are
skipped and the resize is the vendor action `liveResize`.

Success is judged by the server's flavor (vCPU, RAM and the new flavor's name) and by the resize's
instance-action events, never by the status: Nova can fail a resize silently, back on the old flavor.

A failure before the resize took compensates newest first: revert a resize waiting in VERIFY_RESIZE,
delete the new flavor, restore the power state, unlock, release the reservation. A confirmed (or live)
resize cannot be undone, so a failure after it rolls *forward* what remains (record the spec and the
quota, delete the old flavor, start the VM, unlock). After a crash (`resume_interrupted`) an operation
whose resize reached the cloud is resumed from its resize step; any other is compensated.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ectui.db.models import Cluster, Operation, Project, Template, Vm
from ectui.i18n import N_, _
from ectui.services.audit import audited
from ectui.services.errors import ServiceError, ValidationError
from ectui.services.openstack import compute
from ectui.services.openstack.calls import call_keeping_errors, render_error
from ectui.services.openstack.compute import BUILD_TIMEOUT, POLL_FIRST, get_server
from ectui.services.operations.engine import (
    CLEANUP_PENDING,
    CleanupPending,
    OperationEngine,
    OperationInfo,
    Recovered,
    Step,
)
from ectui.services.progress import Cancelled, CancelToken, ProgressCallback, ignore_progress
from ectui.services.projects import RESOURCES, Amounts, QuotaError
from ectui.services.resize.model import (
    FEATURE,
    HOT_NO_EXTENSION,
    HOT_NO_SPEC,
    HOT_NOT_RUNNING,
    HOT_SHRINKS,
    KIND,
    LIVE_RESIZE_SPEC,
    MODES,
    POLL_MAX,
    POS,
    ResizeError,
    ResizePlan,
    labels_for,
    on_flavor,
    probe_live_resize,
)
from ectui.services.resize.steps import ResizeSteps
from ectui.services.validation import whole_number
from ectui.services.vms import VmError
from ectui.services.vms.base import refuse_nova_lock
from ectui.services.vms.model import Polling
from ectui.services.vms.rows import lock_error

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.audit import AuditService
    from ectui.services.clusters import ClusterService
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.projects import ProjectService
    from ectui.services.vms import VmService

log = logging.getLogger("ectui.resize")


class ResizeService:
    """Plan and run resizes through the operations engine; list operations; resume them after a crash."""

    def __init__(
        self,
        db: Database,
        clusters: ClusterService,
        projects: ProjectService,
        license_service: ConsoleLicenseService,
        vms: VmService,
        settings: Settings,
        *,
        poll_first: float = POLL_FIRST,
        poll_max: float = POLL_MAX,
        timeout: float = BUILD_TIMEOUT,
        audit: AuditService | None = None,
    ) -> None:
        self._db = db
        self._clusters = clusters
        self._projects = projects
        self._license = license_service
        self._vms = vms
        self._settings = settings
        self._audit = audit
        self.engine: OperationEngine = vms.engine
        self._poll = Polling(poll_first, poll_max, timeout)
        self.recovered: list[OperationInfo] = []
        """Operations this process resumed or compensated after a crash (shown by `ectui ops resume`)."""

    # -- planning

    async def plan(
        self, vm_id: int, cpu: str | int, ram_gb: str | int, mode: str | None = None
    ) -> ResizePlan:
        """Check a resize before anything is touched: fields, spec, lock, state, node room, quota, hot or cold."""
        await self._license.require(FEATURE, write=True)
        new_vcpus = whole_number(cpu, N_("CPU"), field_id="cpu", minimum=1, maximum=1024)
        new_ram = whole_number(ram_gb, N_("RAM (GB)"), field_id="ram", minimum=1, maximum=65536)
        wanted = (mode or "").strip().lower() or None
        if wanted is not None and wanted not in MODES:
            raise ValidationError(
                "validation.choice", field=N_("Mode"), field_id="mode", choices=", ".join(MODES), value=wanted
            )
        row = await asyncio.to_thread(self._vm_for_plan, vm_id, new_vcpus, new_ram)
        project = await self._projects.get(row["project"])
        delta = Amounts(vcpus=new_vcpus - row["vcpus"], ram_gb=new_ram - row["ram_gb"])
        probe = await call_keeping_errors(
            self._clusters.connections,
            row["cluster_id"],
            lambda conn: self._probe(conn, row, new_vcpus, new_ram),
        )
        growth = Amounts(vcpus=max(delta.vcpus, 0), ram_gb=max(delta.ram_gb, 0))
        for key, label in RESOURCES:
            asked = getattr(growth, key)
            used, reserved, limit = (getattr(a, key) for a in (project.used, project.reserved, project.quota))
            if asked and used + reserved + asked > limit:
                raise QuotaError(
                    "project.quota_exceeded", resource=label, project=project.name, used=used,
                    reserved=reserved, asked=asked, limit=limit,
                )  # fmt: skip
        running = probe["status"] == "ACTIVE"
        reason = ""
        if not running:
            reason = HOT_NOT_RUNNING
        elif not probe["live_extension"]:
            reason = HOT_NO_EXTENSION
        elif not probe["live_spec"]:
            reason = HOT_NO_SPEC
        elif delta.vcpus < 0 or delta.ram_gb < 0:
            reason = HOT_SHRINKS
        if wanted == "hot" and reason:
            raise ResizeError("resize.hot_unavailable", name=row["name"], reason=_(reason))
        chosen = wanted or ("hot" if not reason else "cold")
        room_vcpus, room_ram = (
            (max(delta.vcpus, 0), max(delta.ram_gb, 0)) if chosen == "hot" else (new_vcpus, new_ram)
        )
        node = probe["node"]
        if (
            node
            and (delta.vcpus > 0 or delta.ram_gb > 0)
            and (room_vcpus > node["vcpus_free"] or room_ram > node["ram_gb_free"])
        ):
            raise ResizeError(
                "resize.node_full", node=node["name"], vcpus_free=node["vcpus_free"],
                ram_gb_free=node["ram_gb_free"], vcpus=room_vcpus, ram_gb=room_ram,
            )  # fmt: skip
        return ResizePlan(
            vm_id=vm_id,
            vm_name=row["name"],
            cluster=row["cluster"],
            production=row["production"],
            old_vcpus=row["vcpus"],
            old_ram_gb=row["ram_gb"],
            new_vcpus=new_vcpus,
            new_ram_gb=new_ram,
            quota_delta=delta,
            mode=chosen,
            hot_available=not reason,
            hot_reason=reason,
            will_stop=chosen == "cold" and running,
            cluster_id=row["cluster_id"],
            cloud_id=row["cloud_id"],
            project=project.name,
            old_flavor_id=row["flavor_id"],
            disk_gb=max(int(probe["disk_gb"]), int(row["disk_gb"])),
            running=running,
            node=node["name"] if node else probe["host"],
            extra_specs=tuple(sorted(probe["extra_specs"].items())),
        )

    def _vm_for_plan(self, vm_id: int, vcpus: int, ram_gb: int) -> dict[str, Any]:
        with self._db.session() as session:
            row = session.get(Vm, vm_id)
            if row is None:
                raise VmError("vm.not_found", ref=str(vm_id))
            if row.locked_by_operation is not None:
                raise lock_error(session, row)
            if row.cloud_id is None or row.status == "DELETED":
                raise VmError("vm.no_server", name=row.name, status=row.status)
            if row.project_id is None:
                raise ResizeError("resize.no_project", name=row.name)
            if (vcpus, ram_gb) == (row.vcpus, row.ram_gb):
                raise ValidationError(
                    "resize.same_spec",
                    field=N_("CPU"),
                    field_id="cpu",
                    name=row.name,
                    vcpus=row.vcpus,
                    ram_gb=row.ram_gb,
                )
            template = session.get(Template, row.template_id) if row.template_id else None
            if template is not None:
                for label, field_id, asked, minimum in (
                    (N_("CPU"), "cpu", vcpus, template.min_cpu),
                    (N_("RAM (GB)"), "ram", ram_gb, template.min_ram_gb),
                ):
                    if asked < minimum:
                        raise ValidationError(
                            "vm.below_template",
                            field=label,
                            field_id=field_id,
                            minimum=minimum,
                            template=template.name,
                            value=asked,
                        )
            project = session.get(Project, row.project_id)
            cluster = session.get(Cluster, row.cluster_id)
            return {
                "id": row.id,
                "name": row.name,
                "cluster_id": row.cluster_id,
                "cluster": cluster.name if cluster else "?",
                "production": bool(cluster.production) if cluster else False,
                "cloud_id": row.cloud_id,
                "project": project.name if project else "",
                "vcpus": row.vcpus,
                "ram_gb": row.ram_gb,
                "disk_gb": row.disk_gb,
                "flavor_id": row.flavor_id,
                "node": row.node,
            }

    def _probe(self, conn: Any, row: dict[str, Any], vcpus: int, ram_gb: int) -> dict[str, Any]:
        server = get_server(conn, row["cloud_id"], row["name"])
        refuse_nova_lock(server, row["name"])
        status, task = str(server.get("status", "")), server.get("OS-EXT-STS:task_state") or ""
        if status not in ("ACTIVE", "SHUTOFF") or task:
            raise ResizeError(
                "resize.bad_state", name=row["name"], status=status, task=f" ({task})" if task else ""
            )
        flavor = server.get("flavor") or {}
        specs = {str(k): str(v) for k, v in (flavor.get("extra_specs") or {}).items()}
        host = str(
            server.get("OS-EXT-SRV-ATTR:hypervisor_hostname")
            or server.get("OS-EXT-SRV-ATTR:host")
            or row["node"]
        )
        node = None
        try:
            hypervisors, _zones = compute.fetch_hypervisors(conn)
        except (
            Exception
        ):  # hypervisors are admin-only: without them Nova's own check (detected after) decides
            hypervisors = []
        found = next((h for h in hypervisors if host and host in (h["name"], h["host"])), None)
        if found is not None:
            node = {
                "name": found["name"],
                "vcpus_free": max(found["vcpus"] - found["vcpus_used"], 0),
                "ram_gb_free": max(found["memory_mb"] - found["memory_mb_used"], 0) // 1024,
            }
        return {
            "status": status,
            "live_extension": probe_live_resize(conn),
            "live_spec": specs.get(LIVE_RESIZE_SPEC, "").strip().lower() in ("true", "1", "yes"),
            "extra_specs": specs,
            "disk_gb": int(flavor.get("disk") or 0),
            "host": host,
            "node": node,
        }

    # -- running

    @audited(
        "vm.resize", lambda a: f"{a['plan'].vm_name} → {a['plan'].new_vcpus} vCPU / {a['plan'].new_ram_gb} GB"
    )
    async def resize(
        self,
        plan: ResizePlan,
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        reservation_id: int | None = None,
    ) -> OperationInfo:
        """Run the ten steps; returns the finished operation, or raises ResizeError after compensating.

        `reservation_id`: the growth held since a workflow request was made, consumed instead of step 1's own.
        """
        cancel = cancel or CancelToken()
        await self._license.status()
        self._license.policy().ensure_writable()
        steps = self._steps(plan)
        op_id = await asyncio.to_thread(self._open, plan, steps)
        data: dict[str, Any] = {"was_running": plan.running}
        if reservation_id is not None:
            data["reservation_id"] = reservation_id
        try:
            await self.engine.run(
                op_id, steps, data, on_progress=on_progress, cancel=cancel,
                error_of=lambda step, err: self._error(plan, data, step, err, cancel),
            )  # fmt: skip
        except CleanupPending as err:  # the cloud went away: the rollback is retried later, VM and quota held
            await asyncio.to_thread(self._after_failure, op_id, plan)
            raise ResizeError(
                "resize.cleanup_pending", name=plan.vm_name, step=_(err.step), reason=render_error(err.cause),
                leftovers=err.params.get("leftovers", ""),
            ) from err.__cause__  # fmt: skip
        except ServiceError as err:
            await asyncio.to_thread(self._after_failure, op_id, plan)
            if "leftovers" in err.params and not isinstance(err, Cancelled):
                raise ResizeError("resize.leftovers", **err.params) from err.__cause__
            raise
        finally:
            await asyncio.to_thread(self._unlock_settled, plan.vm_id, op_id)
            await self._vms.notify(plan.vm_id, "resize")  # a compensated one changes nothing
        return await self.operation(op_id)

    def _open(self, plan: ResizePlan, steps: list[Step]) -> int:
        """Create the operation and take the VM's lock in one transaction that checks the VM is free."""
        with self._db.locked_session() as session:
            row = session.scalars(select(Vm).where(Vm.id == plan.vm_id).with_for_update()).first()
            if row is None:
                raise VmError("vm.not_found", ref=str(plan.vm_id))
            if row.locked_by_operation is not None:
                raise lock_error(session, row)
            if (row.vcpus, row.ram_gb, row.flavor_id) != (
                plan.old_vcpus,
                plan.old_ram_gb,
                plan.old_flavor_id,
            ):
                raise ResizeError("resize.changed", name=row.name)
            op_id = self.engine.add(
                session, KIND, steps, params=plan.to_json(), project_id=row.project_id, vm_id=row.id
            )
            row.locked_by_operation = op_id
            return op_id

    def _error(
        self, plan: ResizePlan, data: dict[str, Any], step: Step, err: BaseException, cancel: CancelToken
    ) -> ServiceError:
        if (isinstance(err, Cancelled | asyncio.CancelledError) or cancel.cancelled) and not data.get(
            "kept_new"
        ):
            return Cancelled("resize.cancelled", name=plan.vm_name)
        if isinstance(err, QuotaError):
            return err
        params = {
            "name": plan.vm_name,
            "step": _(step.label),
            "step_code": step.code,
            "reason": render_error(err),
        }
        if data.get("kept_new"):
            return ResizeError(
                "resize.failed_after_resize", vcpus=plan.new_vcpus, ram_gb=plan.new_ram_gb, **params
            )
        return ResizeError("resize.failed", vcpus=plan.old_vcpus, ram_gb=plan.old_ram_gb, **params)

    def _after_failure(self, op_id: int, plan: ResizePlan) -> None:
        """Show the compensation as step 7 ('On failure ...') and bring the VM row's status up to date."""
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            state, error = (op.state, op.error) if op is not None else ("failed", "")
        detail = N_("rolled back") if state == "compensated" else error
        self.engine.mark_step_sync(
            op_id, POS["rollback"], "done" if state == "compensated" else "failed", detail
        )
        try:
            steps = self._steps_of(plan)
            steps.apply_server(plan.vm_id, get_server(steps.conn(), plan.cloud_id, plan.vm_name))
        except Exception as err:  # the status is refreshed by the next list anyway
            log.warning("resize %s: could not refresh VM %s: %s", op_id, plan.vm_id, err)

    # -- the steps (blocking; run by the engine in a thread)

    def _steps_of(self, plan: ResizePlan) -> ResizeSteps:
        return ResizeSteps(self._db, self._clusters.connections, self._projects, self._poll, plan)

    def _steps(self, plan: ResizePlan) -> list[Step]:
        return self._steps_of(plan).steps()

    def _unlock_settled(self, vm_id: int, op_id: int) -> None:
        """Free the VM unless the operation still runs or its cleanup is pending (then the VM stays held)."""
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            if op is not None and op.state in ("running", CLEANUP_PENDING):
                return
        with self._db.session() as session:
            row = session.get(Vm, vm_id)
            if row is not None and row.locked_by_operation == op_id:
                row.locked_by_operation = None

    # -- reading

    async def operations(self, *, vm_id: int | None = None, limit: int = 200) -> list[OperationInfo]:
        """Every operation (create_vm, resize, snapshot ...) newest first, with its steps."""

        def load() -> list[OperationInfo]:
            with self._db.session() as session:
                query = select(Operation).order_by(Operation.id.desc()).limit(max(1, min(limit, 10_000)))
                if vm_id is not None:
                    query = query.where(Operation.vm_id == vm_id)
                return [OperationEngine.info(op, labels_for(op.kind)) for op in session.scalars(query)]

        return await asyncio.to_thread(load)

    async def operation(self, op_id: int) -> OperationInfo:
        """One operation with its steps."""

        def load() -> OperationInfo:
            with self._db.session() as session:
                op = session.get(Operation, op_id)
                if op is None:
                    raise ServiceError("operation.not_found", id=op_id)
                return OperationEngine.info(op, labels_for(op.kind))

        return await asyncio.to_thread(load)

    # -- crash recovery

    async def resume_interrupted(self) -> list[Recovered]:
        """Resume or compensate resizes a dead console left running; retry their pending cleanups.

        Only stale operations (OperationEngine.stale_running_sync) are claimed. One whose resize reached
        the cloud (the server is on the new flavor, or waits in VERIFY_RESIZE on it) is resumed from its
        resize step; any other is compensated. One whose rollback could not reach the cloud stays
        `cleanup_pending`, the VM locked and the growth reserved, and is retried here until the cloud
        confirms the cleanup. Returns what was done, one per operation.
        """
        handled: list[Recovered] = []
        for op_id in await asyncio.to_thread(self.engine.stale_running_sync, KIND):
            if not await asyncio.to_thread(self.engine.claim_stale_sync, op_id):
                continue
            handled.append(await self._recovered(op_id, self._recover(op_id)))
        for op_id in await asyncio.to_thread(self.engine.pending_cleanup_sync, KIND):
            if not await asyncio.to_thread(self.engine.claim_cleanup_sync, op_id):
                continue
            handled.append(await self._recovered(op_id, self._retry_cleanup(op_id)))
        self.recovered.extend(r.operation for r in handled)
        return handled

    async def _recovered(self, op_id: int, work: Awaitable[OperationInfo]) -> Recovered:
        try:
            info = await work
        except Exception as err:  # left as it is for the next start (e.g. the cloud is unreachable)
            log.warning("resize operation %s could not be recovered yet: %s", op_id, err)
            reason = render_error(err) if isinstance(err, ServiceError) else str(err).strip()[:300]
            return Recovered(await self.operation(op_id), reason)
        log.warning("resize operation %s was interrupted and is now %s", op_id, info.state)
        return Recovered(info)

    async def _retry_cleanup(self, op_id: int) -> OperationInfo:
        params, _states = await asyncio.to_thread(self._persisted, op_id)
        plan = ResizePlan.from_json(params)
        await self.engine.retry_cleanup(op_id, self._steps(plan))
        if (await self.operation(op_id)).state != CLEANUP_PENDING:
            await asyncio.to_thread(self._after_failure, op_id, plan)
        await asyncio.to_thread(self._unlock_settled, plan.vm_id, op_id)
        return await self.operation(op_id)

    async def _recover(self, op_id: int) -> OperationInfo:
        params, states = await asyncio.to_thread(self._persisted, op_id)
        plan = ResizePlan.from_json(params)
        steps = self._steps(plan)
        data = await asyncio.to_thread(self.engine.context_sync, op_id)
        data.setdefault("was_running", plan.running)
        name = data.get("flavor_name") or f"ectui-{plan.vm_name}-r{op_id}"[:255]
        reached = states[POS["resize"]] in ("running", "done")
        server: dict[str, Any] = {}
        if reached:
            server = await call_keeping_errors(
                self._clusters.connections, plan.cluster_id, lambda c: self._steps_of(plan).settled(c)
            )
        if reached and on_flavor(server, plan, name):
            first = next(
                (i for i, s in enumerate(states) if s not in ("done", "skipped")), len(states)
            )  # the first step that did not finish
            start = first
            done = [i for i, s in enumerate(states) if s == "done" and i < start]
            try:
                await self.engine.run(
                    op_id, steps, data, start=start, done=done,
                    error_of=lambda step, err: self._error(plan, data, step, err, CancelToken()),
                )  # fmt: skip
            except ServiceError as err:
                log.warning("resumed resize %s failed: %s", op_id, err)
                await asyncio.to_thread(self._after_failure, op_id, plan)
        else:
            await self.engine.compensate_interrupted(op_id, steps)
            await asyncio.to_thread(self._after_failure, op_id, plan)
        await asyncio.to_thread(self._unlock_settled, plan.vm_id, op_id)
        return await self.operation(op_id)

    def _persisted(self, op_id: int) -> tuple[dict[str, Any], list[str]]:
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            if op is None:
                raise ServiceError("operation.not_found", id=op_id)
            return json.loads(op.params or "{}"), [s.state for s in op.steps]
