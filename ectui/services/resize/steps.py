"""The ten steps of a resize as methods (blocking; the engine runs them in a worker thread).

Compensations are idempotent, read the cloud's state, and are retried a few times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ectui.db.models import Project, QuotaReservation, Vm, utcnow
from ectui.i18n import N_, _
from ectui.services.errors import ServiceError
from ectui.services.openstack import compute
from ectui.services.openstack.calls import call_json, sdk
from ectui.services.openstack.compute import find_flavor, get_server
from ectui.services.openstack.poll import poll_until
from ectui.services.operations.engine import RunContext, SkipStep, Step
from ectui.services.progress import CancelToken
from ectui.services.projects import RESOURCES, Amounts
from ectui.services.resize.model import (
    ACTION_MICROVERSION,
    COMPENSATION_TRIES,
    HOT_NOT_RUNNING,
    STEP_LABELS,
    ResizeError,
    ResizePlan,
    on_flavor,
    server_ram_gb,
    server_vcpus,
)
from ectui.services.vms import VmError, row_values
from ectui.services.vms.model import Polling

if TYPE_CHECKING:
    from ectui.db.session import Database
    from ectui.services.openstack.connection import CloudConnections
    from ectui.services.projects import ProjectService

log = logging.getLogger("ectui.resize")


@dataclass
class ResizeSteps:
    """The steps of one resize plan, each a method (run, then its compensation)."""

    db: Database
    conns: CloudConnections
    projects: ProjectService
    poll: Polling
    plan: ResizePlan

    @property
    def hot(self) -> bool:
        """A live resize (the VM keeps running)."""
        return self.plan.mode == "hot"

    def steps(self) -> list[Step]:
        """The ten steps in order."""
        return [
            Step(
                "reserve",
                STEP_LABELS["reserve"],
                self.reserve,
                self.retried(self.release),
                after_cleanup=True,
            ),
            Step("lock", STEP_LABELS["lock"], self.lock, self.retried(self.unlock_all), after_cleanup=True),
            Step("background", STEP_LABELS["background"], self.background),
            Step("stop", STEP_LABELS["stop"], self.stop, self.retried(self.restore_power)),
            Step("flavor", STEP_LABELS["flavor"], self.make_flavor, self.retried(self.drop_flavor)),
            Step("resize", STEP_LABELS["resize"], self.do_resize, self.retried(self.undo_resize)),
            Step("rollback", STEP_LABELS["rollback"], self.no_rollback),
            Step("release", STEP_LABELS["release"], self.finish, self.retried(self.finish_again)),
            Step("start", STEP_LABELS["start"], self.start, self.retried(self.restore_power)),
            Step("unlock", STEP_LABELS["unlock"], self.unlock, self.retried(self.unlock_all)),
        ]

    def conn(self) -> Any:
        """The cluster's connection (in the worker thread)."""
        return self.conns.get_sync(self.plan.cluster_id)

    def flavor_name(self, ctx: RunContext) -> str:
        plan = self.plan
        return f"ectui-{plan.vm_name}-r{ctx.operation_id}"[:255]

    def purpose(self, ctx: RunContext) -> str:
        plan = self.plan
        return f"resize VM {plan.vm_name} (operation {ctx.operation_id})"

    def reserve(self, ctx: RunContext) -> None:
        plan = self.plan
        if ctx.data.get("reservation_id"):  # held since a workflow request was made
            ctx.report(N_("quota held by the approved request"))
            return
        if plan.growth == Amounts():
            raise SkipStep(N_("nothing to reserve: the new spec is not larger"))
        reservation = self.projects.reserve_sync(plan.project, plan.growth, self.purpose(ctx))
        ctx.data["reservation_id"] = reservation.id

    def release(self, ctx: RunContext) -> None:
        rid = ctx.data.get("reservation_id") or self.held_reservation(self.purpose(ctx))
        if rid:
            self.projects.finish_sync(int(rid), "released")

    def lock(self, ctx: RunContext) -> None:
        plan = self.plan
        with self.db.session() as session:
            row = session.get(Vm, plan.vm_id)
            if row is None or row.locked_by_operation != ctx.operation_id:
                raise VmError("vm.not_found", ref=str(plan.vm_id))
        c = self.conn()
        if not is_admin(c):
            ctx.report(N_("console lock only (Nova locks need admin credentials)"))
            return
        server = get_server(c, plan.cloud_id, plan.vm_name)
        if server.get("locked"):
            raise ResizeError("resize.nova_lock_foreign", name=plan.vm_name,
                              reason=server.get("locked_reason") or "locked")  # fmt: skip
        ctx.data["nova_lock"] = True
        body = {"lock": {"locked_reason": self.lock_reason(ctx.operation_id)}}
        compute.server_action(c, plan.cloud_id, body)

    def unlock_all(self, ctx: RunContext) -> None:
        plan = self.plan
        self.nova_unlock(ctx.operation_id)
        self.unlock_row(plan.vm_id, ctx.operation_id)

    def background(self, ctx: RunContext) -> None:
        plan = self.plan
        server = get_server(self.conn(), plan.cloud_id, plan.vm_name)
        status, task = str(server.get("status", "")), server.get("OS-EXT-STS:task_state") or ""
        if status not in ("ACTIVE", "SHUTOFF") or task:
            raise ResizeError("resize.bad_state", name=plan.vm_name, status=status,
                              task=f" ({task})" if task else "")  # fmt: skip
        if self.hot and status != "ACTIVE":
            raise ResizeError("resize.hot_unavailable", name=plan.vm_name, reason=_(HOT_NOT_RUNNING))
        ctx.data["was_running"] = status == "ACTIVE"
        self.apply_server(plan.vm_id, server)

    def stop(self, ctx: RunContext) -> None:
        plan = self.plan
        if self.hot:
            raise SkipStep(N_("hot resize: the VM keeps running"))
        if not ctx.data.get("was_running"):
            raise SkipStep(N_("the VM was already stopped"))
        c = self.conn()
        compute.server_action(c, plan.cloud_id, {"os-stop": None})
        self.wait(c, ctx.cancel, lambda s: s["status"] == "SHUTOFF")

    def restore_power(self, ctx: RunContext) -> None:
        plan = self.plan
        if self.hot or not ctx.data.get("was_running", plan.running):
            return
        c = self.conn()
        server = self.settled(c)
        if server["status"] == "SHUTOFF":
            compute.server_action(c, plan.cloud_id, {"os-start": None})
            server = self.settled(c)
        if server["status"] != "ACTIVE":
            raise ResizeError("resize.bad_state", name=plan.vm_name, status=server["status"], task="")

    def make_flavor(self, ctx: RunContext) -> None:
        plan = self.plan
        c = self.conn()
        name = self.flavor_name(ctx)
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

    def drop_flavor(self, ctx: RunContext) -> None:
        plan = self.plan
        c = self.conn()
        name = ctx.data.get("flavor_name") or self.flavor_name(ctx)
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
        compute.delete_flavor(c, flavor_id)

    def do_resize(self, ctx: RunContext) -> None:
        plan = self.plan
        c = self.conn()
        name = ctx.data.get("flavor_name") or self.flavor_name(ctx)
        server = self.settled(c)
        if not on_flavor(server, plan, name):
            action = "liveResize" if self.hot else "resize"
            body: dict[str, Any] = {"flavorRef": ctx.data["flavor_id"]}
            if not self.hot:
                body["OS-DCF:diskConfig"] = "AUTO"
            ctx.data["resize_sent"] = True
            compute.server_action(c, plan.cloud_id, {action: body})
            server = self.settled(c)
            check_action(c, plan, action, server, name)
        if server["status"] == "VERIFY_RESIZE":
            ctx.data["resized"] = True
            ctx.report(N_("VERIFY_RESIZE: confirming"))
            compute.server_action(c, plan.cloud_id, {"confirmResize": None})
            server = self.settled(c, verify_done=True)
        if not on_flavor(server, plan, name) or server["status"] == "VERIFY_RESIZE":
            raise ResizeError("resize.not_applied", vcpus=server_vcpus(server), ram_gb=server_ram_gb(server),
                              reason=server["status"])  # fmt: skip
        ctx.data["kept_new"] = True

    def undo_resize(self, ctx: RunContext) -> None:
        plan = self.plan
        c = self.conn()
        name = ctx.data.get("flavor_name") or self.flavor_name(ctx)
        server = self.settled(c)
        if server["status"] == "VERIFY_RESIZE":
            compute.server_action(c, plan.cloud_id, {"revertResize": None})
            server = self.settled(c, verify_done=True)
        if on_flavor(server, plan, name):
            ctx.data["kept_new"] = True  # confirmed (or live): roll forward instead
            self.record(ctx)
            self.drop_old_flavor(ctx)

    def no_rollback(self, ctx: RunContext) -> None:
        raise SkipStep(N_("the resize worked: nothing to roll back"))

    def finish(self, ctx: RunContext) -> None:
        self.record(ctx)
        self.drop_old_flavor(ctx)
        ctx.report(str(ctx.data.get("old_flavor", "")))

    def finish_again(self, ctx: RunContext) -> None:
        if ctx.data.get("kept_new"):
            self.record(ctx)
            self.drop_old_flavor(ctx)

    def start(self, ctx: RunContext) -> None:
        if self.hot:
            raise SkipStep(N_("hot resize: the VM kept running"))
        if not ctx.data.get("was_running"):
            raise SkipStep(N_("the VM was stopped before the resize"))
        self.restore_power(ctx)

    def unlock(self, ctx: RunContext) -> None:
        plan = self.plan
        self.unlock_all(ctx)
        try:
            self.apply_server(plan.vm_id, get_server(self.conn(), plan.cloud_id, plan.vm_name))
        except ServiceError as err:  # only the displayed status; the next refresh brings it
            log.warning("resize %s: status refresh failed: %s", ctx.operation_id, err)

    def retried(self, fn: Callable[[RunContext], None]) -> Callable[[RunContext], None]:
        def run(ctx: RunContext) -> None:
            for attempt in range(COMPENSATION_TRIES):
                try:
                    fn(ctx)
                    return
                except Exception:
                    if attempt == COMPENSATION_TRIES - 1:
                        raise
                    time.sleep(self.poll.cap * (attempt + 1))

        return run

    def held_reservation(self, purpose: str) -> int | None:
        """A reservation step 1 made whose id was lost in a crash (found by its purpose)."""
        with self.db.session() as session:
            return session.scalar(
                select(QuotaReservation.id).where(
                    QuotaReservation.purpose == purpose, QuotaReservation.state == "held"
                )
            )

    @staticmethod
    def lock_reason(op_id: int) -> str:
        return f"ectui resize operation {op_id}"

    def nova_unlock(self, op_id: int) -> None:
        """Remove the Nova lock of this operation (never someone else's)."""
        plan = self.plan
        c = self.conn()
        server = get_server(c, plan.cloud_id, plan.vm_name, missing_ok=True)
        if server.get("locked") and server.get("locked_reason") == self.lock_reason(op_id):
            compute.server_action(c, plan.cloud_id, {"unlock": None})

    def unlock_row(self, vm_id: int, op_id: int) -> None:
        with self.db.session() as session:
            row = session.get(Vm, vm_id)
            if row is not None and row.locked_by_operation == op_id:
                row.locked_by_operation = None

    def apply_server(self, vm_id: int, server: dict[str, Any]) -> None:
        with self.db.session() as session:
            row = session.get(Vm, vm_id)
            if row is not None and server:
                for key, value in row_values(server).items():
                    setattr(row, key, value)
                row.updated_at = utcnow()

    def record(self, ctx: RunContext) -> None:
        """The new spec into the VM row and the quota, in one transaction (idempotent: the row's flavor says)."""
        plan = self.plan
        flavor_id = ctx.data.get("flavor_id")
        if not flavor_id:
            found = find_flavor(self.conn(), ctx.data.get("flavor_name") or "")
            if found is None:
                raise ResizeError(
                    "resize.not_applied", vcpus=plan.old_vcpus, ram_gb=plan.old_ram_gb, reason="?"
                )
            flavor_id = ctx.data["flavor_id"] = found.id
        with self.db.locked_session() as session:
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
                    shift(project, "reserved", Amounts() - held)
                    shift(project, "used", held)
                    reservation.state, reservation.finished_at = "committed", utcnow()
                shift(project, "used", Amounts() - plan.shrink)
            row.vcpus, row.ram_gb, row.flavor_id, row.updated_at = (
                plan.new_vcpus, plan.new_ram_gb, str(flavor_id), utcnow(),
            )  # fmt: skip
        ctx.data["recorded"] = True

    def drop_old_flavor(self, ctx: RunContext) -> None:
        """Delete the old flavor when it is private and no VM (here or in the cloud) still uses it."""
        plan = self.plan
        old = plan.old_flavor_id
        if not old or old == ctx.data.get("flavor_id"):
            return
        with self.db.session() as session:
            others = session.scalar(
                select(func.count())
                .select_from(Vm)
                .where(Vm.cluster_id == plan.cluster_id, Vm.flavor_id == old)
            )
        if others:
            ctx.data["old_flavor"] = "kept: used by other VMs"
            return
        c = self.conn()
        flavor = find_flavor(c, old)
        if flavor is None:
            ctx.data["old_flavor"] = "deleted"
            return
        if flavor.is_public:
            ctx.data["old_flavor"] = "kept: public flavor"
            return
        if compute.servers_on_flavor(c, old):
            ctx.data["old_flavor"] = "kept: used by other servers"
            return
        compute.delete_flavor(c, old)
        ctx.data["old_flavor"] = "deleted"

    def settled(self, conn: Any, *, verify_done: bool = False) -> dict[str, Any]:
        """The server once no task runs (and, after a confirm or revert, once it left VERIFY_RESIZE)."""
        return self.wait(conn, None, lambda s: not verify_done or s["status"] != "VERIFY_RESIZE", settle=True)

    def wait(
        self,
        conn: Any,
        cancel: CancelToken | None,
        done: Callable[[dict[str, Any]], bool],
        *,
        settle: bool = True,
    ) -> dict[str, Any]:
        """Poll the server (short interval growing to the cap) until it has no task and `done(server)`."""
        plan = self.plan
        last = [""]

        def check() -> dict[str, Any] | None:
            server = get_server(conn, plan.cloud_id, plan.vm_name)
            status, task = str(server.get("status", "")), server.get("OS-EXT-STS:task_state") or ""
            last[0] = status
            if status == "ERROR":
                fault = (server.get("fault") or {}).get("message") or "no fault message"
                raise ResizeError("resize.server_error", fault=fault)
            if (not settle or not task) and done(server):
                return server
            return None

        timeout = self.poll.timeout
        return poll_until(
            check, first=self.poll.first, cap=self.poll.cap, timeout=timeout, cancel=cancel,
            on_timeout=lambda: ResizeError("resize.timeout", seconds=int(timeout), status=last[0]),
        )  # fmt: skip


def shift(project: Project, prefix: str, delta: Amounts) -> None:
    """Add `delta` to the project's used_* or reserved_* columns (never below zero)."""
    for key, _label in RESOURCES:
        column = f"{prefix}_{key}"
        setattr(project, column, max(getattr(project, column) + getattr(delta, key), 0))


def check_action(conn: Any, plan: ResizePlan, action: str, server: dict[str, Any], flavor_name: str) -> None:
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
    if not on_flavor(server, plan, flavor_name):
        raise ResizeError(
            "resize.not_applied", vcpus=server_vcpus(server), ram_gb=server_ram_gb(server),
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
