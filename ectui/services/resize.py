"""CPU/RAM resize (SPEC R1-R3): the ten steps of R, cold or hot, persisted step by step, resumed after a crash.

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
quota, delete the old flavor, start the VM, unlock). Compensations are idempotent, read the cloud's
state, and are retried a few times. After a crash (`resume_interrupted`) an operation whose resize
reached the cloud is resumed from its resize step; any other is compensated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ectui.db.models import Operation, Project, QuotaReservation, Template, Vm, utcnow
from ectui.i18n import N_, _
from ectui.services.audit import audited
from ectui.services.errors import ServiceError, ValidationError, register_messages
from ectui.services.openstack.calls import (
    COMPUTE_MICROVERSION,
    call_json,
    call_keeping_errors,
    render_error,
    sdk,
)
from ectui.services.openstack.compute import BUILD_TIMEOUT, POLL_FIRST, find_flavor, get_server
from ectui.services.operations.engine import (
    CLEANUP_PENDING,
    CleanupPending,
    OperationEngine,
    OperationInfo,
    Recovered,
    RunContext,
    SkipStep,
    Step,
)
from ectui.services.progress import Cancelled, CancelToken, ProgressCallback, ignore_progress
from ectui.services.projects import RESOURCES, Amounts, QuotaError
from ectui.services.validation import whole_number
from ectui.services.vms import STEP_LABELS as VM_STEP_LABELS
from ectui.services.vms import VmError
from ectui.services.vms.rows import lock_error, row_values

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.clusters import ClusterService
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.projects import ProjectService
    from ectui.services.vms import VmService

log = logging.getLogger("ectui.resize")
FEATURE = "platform.vms"
KIND = "resize"
LIVE_RESIZE_EXTENSION = "EC-LIVE-RESIZE"
"""Alias of the vendor hot-resize extension (server action liveResize) in Nova's extension list."""
LIVE_RESIZE_SPEC = "hw:live_resize"
POLL_MAX = 0.2
"""Longest pause between two status polls (a short one keeps the overhead of a resize small)."""
COMPENSATION_TRIES = 3
"""Each compensation is tried this often (they are idempotent) before it counts as a leftover."""
ACTION_MICROVERSION = "2.84"
"""Instance actions at 2.84 carry each event's `details` (the reason of a silent failure)."""

RESIZE_STEPS: tuple[tuple[str, str], ...] = (
    ("reserve", N_("Reserve project resources")),
    ("lock", N_("Lock the VM")),
    ("background", N_("Run in the background")),
    ("stop", N_("Stop the VM")),
    ("flavor", N_("Create the new flavor")),
    ("resize", N_("Resize and confirm")),
    ("rollback", N_("On failure: delete the new flavor, release the reservation")),
    ("release", N_("On success: release the difference, delete the old flavor")),
    ("start", N_("Start the VM")),
    ("unlock", N_("Unlock the VM")),
)
"""The ten steps of SPEC R, in order: (code, label)."""
STEP_LABELS = dict(RESIZE_STEPS)
_POS = {code: i for i, (code, _label) in enumerate(RESIZE_STEPS)}
MODES = ("hot", "cold")

HOT_NOT_RUNNING = N_("the VM is not running")
HOT_NO_EXTENSION = N_("the cloud has no live resize extension (EC-LIVE-RESIZE)")
HOT_NO_SPEC = N_("its flavor lacks the extra spec hw:live_resize=true")
HOT_SHRINKS = N_("a live resize can only grow CPU and RAM")

register_messages(
    {
        "resize.same_spec": N_(
            "{field}: VM {name} already has {vcpus} vCPU and {ram_gb} GB RAM; change CPU or RAM."
        ),
        "resize.no_project": N_("VM {name} belongs to no project, so its quota cannot be reserved."),
        "resize.bad_state": N_(
            "VM {name} is {status}{task}; a resize needs it ACTIVE or SHUTOFF with no task running."
        ),
        "resize.hot_unavailable": N_(
            "A hot resize of VM {name} is not possible: {reason}. Use a cold resize."
        ),
        "resize.node_full": N_(
            "Node {node} has {vcpus_free} vCPU and {ram_gb_free} GB RAM free; the resize needs {vcpus} vCPU and "
            "{ram_gb} GB there. Choose a smaller spec."
        ),
        "resize.not_applied": N_(
            "the cloud did not apply the new flavor (still {vcpus} vCPU, {ram_gb} GB): {reason}"
        ),
        "resize.action_error": N_("the cloud recorded an error for the resize: {reason}"),
        "resize.server_error": N_("the server went to ERROR: {fault}"),
        "resize.timeout": N_("the server did not settle within {seconds} s (status {status})."),
        "resize.nova_lock_foreign": N_("VM {name} was locked in the cloud by someone else: {reason}"),
        "resize.failed": N_(
            "Resizing VM {name} failed at step '{step}': {reason} Everything was rolled back: the VM keeps "
            "{vcpus} vCPU and {ram_gb} GB, its power state and its quota."
        ),
        "resize.failed_after_resize": N_(
            "Resizing VM {name} failed at step '{step}': {reason} The resize itself took (the VM now has {vcpus} "
            "vCPU and {ram_gb} GB); the remaining steps were finished and the VM unlocked."
        ),
        "resize.leftovers": N_(
            "Resizing VM {name} failed at step '{step}': {reason} The rollback could not finish: {leftovers}"
        ),
        "resize.changed": N_("VM {name} changed since the resize was planned; plan it again."),
        "resize.cancelled": N_("The resize of VM {name} was cancelled; everything was rolled back."),
        "ops.readonly": N_(
            "The console runs read-only (--readonly): interrupted operations are left for a writable console."
        ),
    }
)


class ResizeError(ServiceError):
    """A refused or failed resize."""


@dataclass(frozen=True)
class ResizePlan:
    """A checked resize request: what changes, what is reserved, and how (hot or cold)."""

    vm_id: int
    vm_name: str
    cluster: str
    production: bool
    old_vcpus: int
    old_ram_gb: int
    new_vcpus: int
    new_ram_gb: int
    quota_delta: Amounts
    """Positive parts are reserved at step 1; negative parts are released once the resize worked."""
    mode: str
    """hot | cold (the one that will run)"""
    hot_available: bool
    hot_reason: str
    """Why hot is not offered (an N_ text), "" when it is."""
    will_stop: bool
    """Cold on a running VM: it is stopped and started again."""
    cluster_id: int = 0
    cloud_id: str = ""
    project: str = ""
    old_flavor_id: str = ""
    disk_gb: int = 1
    running: bool = False
    """The VM was ACTIVE when planned (its power state is restored after a cold resize)."""
    node: str = ""
    extra_specs: tuple[tuple[str, str], ...] = ()
    """Extra specs of the current flavor, copied to the new one (keeps hw:live_resize)."""

    @property
    def growth(self) -> Amounts:
        """What step 1 reserves."""
        return Amounts(vcpus=max(self.quota_delta.vcpus, 0), ram_gb=max(self.quota_delta.ram_gb, 0))

    @property
    def shrink(self) -> Amounts:
        """What step 8 gives back."""
        return Amounts(vcpus=max(-self.quota_delta.vcpus, 0), ram_gb=max(-self.quota_delta.ram_gb, 0))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (also what the operation records as its request)."""
        data = asdict(self)
        data["quota_delta"] = self.quota_delta.to_json()
        data["extra_specs"] = dict(self.extra_specs)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResizePlan:
        """The plan an operation recorded."""
        values = dict(data)
        values["quota_delta"] = Amounts(**values.get("quota_delta", {}))
        values["extra_specs"] = tuple(sorted((values.get("extra_specs") or {}).items()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


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
    ) -> None:
        self._db = db
        self._clusters = clusters
        self._projects = projects
        self._license = license_service
        self._vms = vms
        self._settings = settings
        self.engine: OperationEngine = vms.engine
        self._poll_first = poll_first
        self._poll_max = poll_max
        self._timeout = timeout
        self.recovered: list[OperationInfo] = []
        """Operations this process resumed or compensated after a crash (shown by `ectui ops resume`)."""

    # -- planning

    async def plan(
        self, vm_id: int, cpu: str | int, ram_gb: str | int, mode: str | None = None
    ) -> ResizePlan:
        """Check a resize before anything is touched: fields, spec, lock, state, node room, quota, hot or cold."""
        await self._license.status()
        policy = self._license.policy()
        policy.ensure_writable()
        policy.require_feature(FEATURE)
        new_vcpus = whole_number(cpu, N_("CPU"), minimum=1, maximum=1024)
        new_ram = whole_number(ram_gb, N_("RAM (GB)"), minimum=1, maximum=65536)
        wanted = (mode or "").strip().lower() or None
        if wanted is not None and wanted not in MODES:
            raise ValidationError(
                "validation.choice", field=N_("Mode"), choices=", ".join(MODES), value=wanted
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
        from ectui.db.models import Cluster

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
                    "resize.same_spec", field=N_("CPU"), name=row.name, vcpus=row.vcpus, ram_gb=row.ram_gb
                )
            template = session.get(Template, row.template_id) if row.template_id else None
            if template is not None:
                for label, asked, minimum in (
                    (N_("CPU"), vcpus, template.min_cpu),
                    (N_("RAM (GB)"), ram_gb, template.min_ram_gb),
                ):
                    if asked < minimum:
                        raise ValidationError(
                            "vm.below_template",
                            field=label,
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
        if server.get("locked"):
            raise VmError("vm.locked_nova", name=row["name"], reason=server.get("locked_reason") or "locked")
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
            from ectui.services.clusters import _fetch_hypervisors

            hypervisors, _zones = _fetch_hypervisors(conn)
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
            op_id, _POS["rollback"], "done" if state == "compensated" else "failed", detail
        )
        try:
            server = get_server(self._conn(plan), plan.cloud_id, plan.vm_name)
            self._apply_server(plan.vm_id, server)
        except Exception as err:  # the status is refreshed by the next list anyway
            log.warning("resize %s: could not refresh VM %s: %s", op_id, plan.vm_id, err)

    # -- the steps (blocking; run by the engine in a thread)

    def _conn(self, plan: ResizePlan) -> Any:
        return self._clusters.connections.get_sync(plan.cluster_id)

    def _steps(self, plan: ResizePlan) -> list[Step]:  # noqa: C901  (the ten steps of SPEC R, one closure each)
        hot = plan.mode == "hot"

        def flavor_name(ctx: RunContext) -> str:
            return f"ectui-{plan.vm_name}-r{ctx.operation_id}"[:255]

        def purpose(ctx: RunContext) -> str:
            return f"resize VM {plan.vm_name} (operation {ctx.operation_id})"

        def reserve(ctx: RunContext) -> None:
            if ctx.data.get("reservation_id"):  # held since a workflow request was made
                ctx.report(N_("quota held by the approved request"))
                return
            if plan.growth == Amounts():
                raise SkipStep(N_("nothing to reserve: the new spec is not larger"))
            reservation = self._projects.reserve_sync(plan.project, plan.growth, purpose(ctx))
            ctx.data["reservation_id"] = reservation.id

        def release(ctx: RunContext) -> None:
            rid = ctx.data.get("reservation_id") or self._held_reservation(plan, purpose(ctx))
            if rid:
                self._projects.finish_sync(int(rid), "released")

        def lock(ctx: RunContext) -> None:
            with self._db.session() as session:
                row = session.get(Vm, plan.vm_id)
                if row is None or row.locked_by_operation != ctx.operation_id:
                    raise VmError("vm.not_found", ref=str(plan.vm_id))
            c = self._conn(plan)
            if not is_admin(c):
                ctx.report(N_("console lock only (Nova locks need admin credentials)"))
                return
            server = get_server(c, plan.cloud_id, plan.vm_name)
            if server.get("locked"):
                raise ResizeError("resize.nova_lock_foreign", name=plan.vm_name,
                                  reason=server.get("locked_reason") or "locked")  # fmt: skip
            ctx.data["nova_lock"] = True
            body = {"lock": {"locked_reason": self._lock_reason(ctx.operation_id)}}
            call_json(c.compute, "post", f"/servers/{plan.cloud_id}/action", json=body)

        def unlock_all(ctx: RunContext) -> None:
            self._nova_unlock(plan, ctx.operation_id)
            self._unlock_row(plan.vm_id, ctx.operation_id)

        def background(ctx: RunContext) -> None:
            server = get_server(self._conn(plan), plan.cloud_id, plan.vm_name)
            status, task = str(server.get("status", "")), server.get("OS-EXT-STS:task_state") or ""
            if status not in ("ACTIVE", "SHUTOFF") or task:
                raise ResizeError("resize.bad_state", name=plan.vm_name, status=status,
                                  task=f" ({task})" if task else "")  # fmt: skip
            if hot and status != "ACTIVE":
                raise ResizeError("resize.hot_unavailable", name=plan.vm_name, reason=_(HOT_NOT_RUNNING))
            ctx.data["was_running"] = status == "ACTIVE"
            self._apply_server(plan.vm_id, server)

        def stop(ctx: RunContext) -> None:
            if hot:
                raise SkipStep(N_("hot resize: the VM keeps running"))
            if not ctx.data.get("was_running"):
                raise SkipStep(N_("the VM was already stopped"))
            c = self._conn(plan)
            call_json(c.compute, "post", f"/servers/{plan.cloud_id}/action", json={"os-stop": None})
            self._wait(c, plan, ctx.cancel, lambda s: s["status"] == "SHUTOFF")

        def restore_power(ctx: RunContext) -> None:
            if hot or not ctx.data.get("was_running", plan.running):
                return
            c = self._conn(plan)
            server = self._settled(c, plan)
            if server["status"] == "SHUTOFF":
                call_json(c.compute, "post", f"/servers/{plan.cloud_id}/action", json={"os-start": None})
                server = self._settled(c, plan)
            if server["status"] != "ACTIVE":
                raise ResizeError("resize.bad_state", name=plan.vm_name, status=server["status"], task="")

        def make_flavor(ctx: RunContext) -> None:
            c = self._conn(plan)
            name = flavor_name(ctx)
            ctx.data["flavor_name"] = name
            flavor = find_flavor(c, name)  # a rerun finds the flavor an earlier attempt made
            if flavor is None:
                flavor = sdk(
                    lambda: c.compute.create_flavor(
                        name=name, vcpus=plan.new_vcpus, ram=plan.new_ram_gb * 1024, disk=plan.disk_gb,
                        is_public=False, description=f"ectui VM {plan.vm_name}",
                    )
                )  # fmt: skip
            ctx.data["flavor_id"] = flavor.id
            specs = dict(plan.extra_specs)
            if specs:
                sdk(lambda: c.compute.create_flavor_extra_specs(flavor.id, specs))

        def drop_flavor(ctx: RunContext) -> None:
            c = self._conn(plan)
            name = ctx.data.get("flavor_name") or flavor_name(ctx)
            flavor_id = ctx.data.get("flavor_id")
            if flavor_id is None:
                found = find_flavor(c, name)
                flavor_id = found.id if found is not None else None
            if flavor_id is None:
                return
            server = get_server(c, plan.cloud_id, plan.vm_name, missing_ok=True)
            if server and (server.get("flavor") or {}).get("original_name") == name:
                ctx.data["kept_new"] = True  # the server runs on it: the resize took and cannot be undone
                return
            sdk(lambda: c.compute.delete_flavor(flavor_id, ignore_missing=True))

        def do_resize(ctx: RunContext) -> None:
            c = self._conn(plan)
            name = ctx.data.get("flavor_name") or flavor_name(ctx)
            server = self._settled(c, plan)
            if not _on_flavor(server, plan, name):
                action = "liveResize" if hot else "resize"
                body: dict[str, Any] = {"flavorRef": ctx.data["flavor_id"]}
                if not hot:
                    body["OS-DCF:diskConfig"] = "AUTO"
                ctx.data["resize_sent"] = True
                call_json(c.compute, "post", f"/servers/{plan.cloud_id}/action", json={action: body})
                server = self._settled(c, plan)
                _check_action(c, plan, action, server, name)
            if server["status"] == "VERIFY_RESIZE":
                ctx.data["resized"] = True
                ctx.report(N_("VERIFY_RESIZE: confirming"))
                call_json(c.compute, "post", f"/servers/{plan.cloud_id}/action", json={"confirmResize": None})
                server = self._settled(c, plan, verify_done=True)
            if not _on_flavor(server, plan, name) or server["status"] == "VERIFY_RESIZE":
                raise ResizeError("resize.not_applied", vcpus=_vcpus(server), ram_gb=_ram_gb(server),
                                  reason=server["status"])  # fmt: skip
            ctx.data["kept_new"] = True

        def undo_resize(ctx: RunContext) -> None:
            c = self._conn(plan)
            name = ctx.data.get("flavor_name") or flavor_name(ctx)
            server = self._settled(c, plan)
            if server["status"] == "VERIFY_RESIZE":
                call_json(c.compute, "post", f"/servers/{plan.cloud_id}/action", json={"revertResize": None})
                server = self._settled(c, plan, verify_done=True)
            if _on_flavor(server, plan, name):
                ctx.data["kept_new"] = True  # confirmed (or live): roll forward instead
                self._record(plan, ctx)
                self._drop_old_flavor(plan, ctx)

        def no_rollback(ctx: RunContext) -> None:
            raise SkipStep(N_("the resize worked: nothing to roll back"))

        def finish(ctx: RunContext) -> None:
            self._record(plan, ctx)
            self._drop_old_flavor(plan, ctx)
            ctx.report(str(ctx.data.get("old_flavor", "")))

        def finish_again(ctx: RunContext) -> None:
            if ctx.data.get("kept_new"):
                self._record(plan, ctx)
                self._drop_old_flavor(plan, ctx)

        def start(ctx: RunContext) -> None:
            if hot:
                raise SkipStep(N_("hot resize: the VM kept running"))
            if not ctx.data.get("was_running"):
                raise SkipStep(N_("the VM was stopped before the resize"))
            restore_power(ctx)

        def unlock(ctx: RunContext) -> None:
            unlock_all(ctx)
            try:
                self._apply_server(plan.vm_id, get_server(self._conn(plan), plan.cloud_id, plan.vm_name))
            except ServiceError as err:  # only the displayed status; the next refresh brings it
                log.warning("resize %s: status refresh failed: %s", ctx.operation_id, err)

        def retried(fn: Callable[[RunContext], None]) -> Callable[[RunContext], None]:
            def run(ctx: RunContext) -> None:
                for attempt in range(COMPENSATION_TRIES):
                    try:
                        fn(ctx)
                        return
                    except Exception:
                        if attempt == COMPENSATION_TRIES - 1:
                            raise
                        time.sleep(self._poll_max * (attempt + 1))

            return run

        labels = STEP_LABELS
        return [
            Step("reserve", labels["reserve"], reserve, retried(release), after_cleanup=True),
            Step("lock", labels["lock"], lock, retried(unlock_all), after_cleanup=True),
            Step("background", labels["background"], background),
            Step("stop", labels["stop"], stop, retried(restore_power)),
            Step("flavor", labels["flavor"], make_flavor, retried(drop_flavor)),
            Step("resize", labels["resize"], do_resize, retried(undo_resize)),
            Step("rollback", labels["rollback"], no_rollback),
            Step("release", labels["release"], finish, retried(finish_again)),
            Step("start", labels["start"], start, retried(restore_power)),
            Step("unlock", labels["unlock"], unlock, retried(unlock_all)),
        ]

    # -- helpers of the steps

    def _held_reservation(self, plan: ResizePlan, purpose: str) -> int | None:
        """A reservation step 1 made whose id was lost in a crash (found by its purpose)."""
        with self._db.session() as session:
            return session.scalar(
                select(QuotaReservation.id).where(
                    QuotaReservation.purpose == purpose, QuotaReservation.state == "held"
                )
            )

    @staticmethod
    def _lock_reason(op_id: int) -> str:
        return f"ectui resize operation {op_id}"

    def _nova_unlock(self, plan: ResizePlan, op_id: int) -> None:
        """Remove the Nova lock of this operation (never someone else's)."""
        c = self._conn(plan)
        server = get_server(c, plan.cloud_id, plan.vm_name, missing_ok=True)
        if server.get("locked") and server.get("locked_reason") == self._lock_reason(op_id):
            call_json(c.compute, "post", f"/servers/{plan.cloud_id}/action", json={"unlock": None})

    def _unlock_row(self, vm_id: int, op_id: int) -> None:
        with self._db.session() as session:
            row = session.get(Vm, vm_id)
            if row is not None and row.locked_by_operation == op_id:
                row.locked_by_operation = None

    def _unlock_settled(self, vm_id: int, op_id: int) -> None:
        """Free the VM unless the operation still runs or its cleanup is pending (then the VM stays held)."""
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            if op is not None and op.state in ("running", CLEANUP_PENDING):
                return
        self._unlock_row(vm_id, op_id)

    def _apply_server(self, vm_id: int, server: dict[str, Any]) -> None:
        with self._db.session() as session:
            row = session.get(Vm, vm_id)
            if row is not None and server:
                for key, value in row_values(server).items():
                    setattr(row, key, value)
                row.updated_at = utcnow()

    def _record(self, plan: ResizePlan, ctx: RunContext) -> None:
        """The new spec into the VM row and the quota, in one transaction (idempotent: the row's flavor says)."""
        flavor_id = ctx.data.get("flavor_id")
        if not flavor_id:
            found = find_flavor(self._conn(plan), ctx.data.get("flavor_name") or "")
            if found is None:
                raise ResizeError(
                    "resize.not_applied", vcpus=plan.old_vcpus, ram_gb=plan.old_ram_gb, reason="?"
                )
            flavor_id = ctx.data["flavor_id"] = found.id
        with self._db.locked_session() as session:
            row = session.scalars(select(Vm).where(Vm.id == plan.vm_id).with_for_update()).first()
            if row is None or row.flavor_id == flavor_id:
                return
            project = session.scalars(
                select(Project).where(Project.name == plan.project).with_for_update()
            ).first()
            rid = ctx.data.get("reservation_id")
            reservation = session.get(QuotaReservation, int(rid)) if rid else None
            if project is not None:
                if reservation is not None and reservation.state == "held":
                    held = Amounts(
                        reservation.vcpus, reservation.ram_gb, reservation.vms, reservation.public_ips
                    )
                    _shift(project, "reserved", Amounts() - held)
                    _shift(project, "used", held)
                    reservation.state, reservation.finished_at = "committed", utcnow()
                _shift(project, "used", Amounts() - plan.shrink)
            row.vcpus, row.ram_gb, row.flavor_id, row.updated_at = (
                plan.new_vcpus, plan.new_ram_gb, str(flavor_id), utcnow(),
            )  # fmt: skip
        ctx.data["recorded"] = True

    def _drop_old_flavor(self, plan: ResizePlan, ctx: RunContext) -> None:
        """Delete the old flavor when it is private and no VM (here or in the cloud) still uses it."""
        old = plan.old_flavor_id
        if not old or old == ctx.data.get("flavor_id"):
            return
        with self._db.session() as session:
            others = session.scalar(
                select(func.count())
                .select_from(Vm)
                .where(Vm.cluster_id == plan.cluster_id, Vm.flavor_id == old)
            )
        if others:
            ctx.data["old_flavor"] = "kept: used by other VMs"
            return
        c = self._conn(plan)
        flavor = find_flavor(c, old)
        if flavor is None:
            ctx.data["old_flavor"] = "deleted"
            return
        if flavor.is_public:
            ctx.data["old_flavor"] = "kept: public flavor"
            return
        listed = call_json(c.compute, "get", f"/servers?flavor={old}&all_tenants=1&limit=1")
        if listed.get("servers"):
            ctx.data["old_flavor"] = "kept: used by other servers"
            return
        sdk(lambda: c.compute.delete_flavor(old, ignore_missing=True))
        ctx.data["old_flavor"] = "deleted"

    def _settled(self, conn: Any, plan: ResizePlan, *, verify_done: bool = False) -> dict[str, Any]:
        """The server once no task runs (and, after a confirm or revert, once it left VERIFY_RESIZE)."""
        return self._wait(
            conn, plan, None, lambda s: not verify_done or s["status"] != "VERIFY_RESIZE", settle=True
        )

    def _wait(
        self,
        conn: Any,
        plan: ResizePlan,
        cancel: CancelToken | None,
        done: Callable[[dict[str, Any]], bool],
        *,
        settle: bool = True,
    ) -> dict[str, Any]:
        """Poll the server (short interval growing to poll_max) until it has no task and `done(server)`."""
        deadline = time.monotonic() + self._timeout
        interval = self._poll_first
        while True:
            server = get_server(conn, plan.cloud_id, plan.vm_name)
            status, task = str(server.get("status", "")), server.get("OS-EXT-STS:task_state") or ""
            if status == "ERROR":
                fault = (server.get("fault") or {}).get("message") or "no fault message"
                raise ResizeError("resize.server_error", fault=fault)
            if (not settle or not task) and done(server):
                return server
            if time.monotonic() > deadline:
                raise ResizeError("resize.timeout", seconds=int(self._timeout), status=status)
            if cancel is not None and cancel.wait(interval):
                cancel.raise_if_cancelled()
            elif cancel is None:
                time.sleep(interval)
            interval = min(interval * 1.5, self._poll_max)

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
        reached = states[_POS["resize"]] in ("running", "done")
        server: dict[str, Any] = {}
        if reached:
            server = await call_keeping_errors(
                self._clusters.connections, plan.cluster_id, lambda c: self._settled(c, plan)
            )
        if reached and _on_flavor(server, plan, name):
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


# ------------------------------------------------------------------ module helpers


def labels_for(kind: str) -> dict[str, str]:
    """Step labels of an operation kind (codes repeat across kinds with other meanings)."""
    return STEP_LABELS if kind == KIND else VM_STEP_LABELS


def _shift(project: Project, prefix: str, delta: Amounts) -> None:
    for key, _label in RESOURCES:
        column = f"{prefix}_{key}"
        setattr(project, column, max(getattr(project, column) + getattr(delta, key), 0))


def _vcpus(server: dict[str, Any]) -> int:
    return int((server.get("flavor") or {}).get("vcpus") or 0)


def _ram_gb(server: dict[str, Any]) -> int:
    return int((server.get("flavor") or {}).get("ram") or 0) // 1024


def _on_flavor(server: dict[str, Any], plan: ResizePlan, flavor_name: str) -> bool:
    """The server runs on the new flavor: its name, vCPU and RAM (Nova shows the flavor without id from 2.47)."""
    flavor = server.get("flavor") or {}
    return (
        flavor.get("original_name") == flavor_name
        and _vcpus(server) == plan.new_vcpus
        and int(flavor.get("ram") or 0) == plan.new_ram_gb * 1024
    )


def _check_action(conn: Any, plan: ResizePlan, action: str, server: dict[str, Any], flavor_name: str) -> None:
    """Judge the resize by the flavor AND its instance-action events: Nova may fail without an HTTP error."""
    listed = call_json(conn.compute, "get", f"/servers/{plan.cloud_id}/os-instance-actions")
    ours = next((a for a in listed.get("instanceActions", []) if a.get("action") == action), None)
    reason = ""
    if ours is not None:
        detail = call_json(
            conn.compute, "get", f"/servers/{plan.cloud_id}/os-instance-actions/{ours['request_id']}",
            microversion=ACTION_MICROVERSION,
        )["instanceAction"]  # fmt: skip
        for event in detail.get("events") or []:
            if event.get("result") == "Error":
                lines = (event.get("traceback") or "").strip().splitlines()
                text = event.get("details") or (lines[-1] if lines else "Error")
                reason = f"{event.get('event')}: {text}"[:300]
        if not reason and ours.get("message") == "Error":
            reason = "Error"
    if not _on_flavor(server, plan, flavor_name):
        raise ResizeError(
            "resize.not_applied", vcpus=_vcpus(server), ram_gb=_ram_gb(server),
            reason=reason or f"status {server.get('status')}",
        )  # fmt: skip
    if reason:
        raise ResizeError("resize.action_error", reason=reason)


def is_admin(conn: Any) -> bool:
    """Whether the connection's token carries the admin role (only then may the console add a Nova lock)."""
    try:
        access = conn.session.auth.get_access(conn.session)
        return "admin" in {r.lower() for r in (access.role_names or [])}
    except Exception:  # no token information: behave as a member
        return False


def probe_live_resize(conn: Any) -> bool:
    """Whether Nova lists the vendor liveResize extension (GET /extensions, else the version document)."""
    response = sdk(lambda: conn.compute.get("/extensions", microversion=COMPUTE_MICROVERSION))
    if response.status_code < 400:
        try:
            extensions = response.json().get("extensions", [])
        except ValueError:
            extensions = []
        if any(e.get("alias") == LIVE_RESIZE_EXTENSION for e in extensions if isinstance(e, dict)):
            return True
    response = sdk(lambda: conn.compute.get("/", microversion=COMPUTE_MICROVERSION))
    if response.status_code < 400:
        try:
            version = response.json().get("version") or {}
        except ValueError:
            version = {}
        return LIVE_RESIZE_EXTENSION in (version.get("x-vendor-extensions") or [])
    return False
