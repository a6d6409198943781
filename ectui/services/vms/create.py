"""Creating a VM, through the operations engine (every step persisted, compensated newest first on failure):
reserve quota → private flavor → boot (forced host, or Nova's scheduler) → wait for ACTIVE → floating IP
(if asked) → record. Nothing is recorded in the `vm` table unless every step worked.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ectui.db.models import Cluster, Keypair, Operation, Template, Vm
from ectui.i18n import N_
from ectui.services.audit import audited
from ectui.services.errors import ServiceError, ValidationError
from ectui.services.openstack import compute, network
from ectui.services.openstack.calls import (
    COMPUTE_MICROVERSION,
    call_json,
    call_keeping_errors,
    render_error,
    sdk,
)
from ectui.services.openstack.compute import HOST_PLACEMENT_MICROVERSION, supports_host_placement
from ectui.services.operations.engine import CleanupPending, RunContext, Step
from ectui.services.progress import Cancelled, CancelToken, ProgressCallback, ignore_progress
from ectui.services.projects import Amounts, ProjectInfo, QuotaError
from ectui.services.vms.base import VmBase
from ectui.services.vms.cloudinit import user_data_for, user_name_for
from ectui.services.vms.model import (
    STEP_LABELS,
    CreatePlan,
    FormChoices,
    NetworkChoice,
    NodeChoice,
    Polling,
    TemplateChoice,
    VmDraft,
    VmError,
    VmInfo,
)
from ectui.services.vms.rows import cluster_id_for

if TYPE_CHECKING:
    from ectui.db.session import Database
    from ectui.services.openstack.connection import CloudConnections
    from ectui.services.projects import ProjectService


class CreateFlow(VmBase):
    """The create form's choices and the create operation."""

    async def form_choices(self) -> FormChoices:
        """Templates, nodes (with fresh free room), networks and key pairs of the current project's cluster."""
        project = await self._projects.require_current()
        cluster_id = await asyncio.to_thread(self._cluster_id_for, project)
        cluster = await asyncio.to_thread(self._cluster_row_info, cluster_id)
        templates, keypairs = await asyncio.to_thread(self._choices_from_db, cluster_id)
        hypervisors, zones, networks = await call_keeping_errors(
            self._clusters.connections, cluster_id, read_room_and_networks
        )
        nodes = tuple(
            NodeChoice(
                name=h["name"],
                zone=zones.get(h["host"], zones.get(h["name"], "nova")),
                vcpus_free=max(h["vcpus"] - h["vcpus_used"], 0),
                ram_gb_free=max(h["memory_mb"] - h["memory_mb_used"], 0) // 1024,
                state=f"{h['state']}/{h['status']}",
            )
            for h in sorted(hypervisors, key=lambda h: h["name"])
        )
        return FormChoices(
            cluster=cluster[0],
            storage_mode=cluster[1],
            templates=templates,
            nodes=nodes,
            networks=tuple(NetworkChoice(n["id"], n["name"], n["external"]) for n in networks),
            keypairs=keypairs,
        )

    def _choices_from_db(self, cluster_id: int) -> tuple[tuple[TemplateChoice, ...], tuple[str, ...]]:
        with self._db.session() as session:
            templates = tuple(
                TemplateChoice(t.id, t.name, t.kind, t.os_type, t.min_cpu, t.min_ram_gb, t.min_disk_gb)
                for t in session.scalars(
                    select(Template)
                    .where(Template.cluster_id == cluster_id)
                    .order_by(Template.kind, Template.name)
                )
            )
            keypairs = tuple(
                session.scalars(
                    select(Keypair.name).where(Keypair.cluster_id == cluster_id).order_by(Keypair.name)
                )
            )
        return templates, keypairs

    def _cluster_row_info(self, cluster_id: int) -> tuple[str, str]:
        with self._db.session() as session:
            row = session.get(Cluster, cluster_id)
            assert row is not None
            return row.name, row.storage_mode

    def _cluster_id_for(self, project: ProjectInfo) -> int:
        """The project's cluster, or the only one configured; refusals in the create flow's order."""
        with self._db.session() as session:
            return cluster_id_for(session, project)

    async def check_create(self, draft: VmDraft, project: ProjectInfo) -> tuple[int, str, Template]:
        """What a create of `draft` in `project` checks before anything is made, in the create's order: the
        cluster, the template, the names, the placement. Returns the cluster's id and name and the template."""
        cluster_id = await asyncio.to_thread(self._cluster_id_for, project)
        template = await asyncio.to_thread(self._template_for, draft)
        await asyncio.to_thread(self._check_names, draft, project, cluster_id, template)
        cluster_name, storage_mode = await asyncio.to_thread(self._cluster_row_info, cluster_id)
        if draft.placement == "auto" and storage_mode == "local":
            raise VmError("vm.local_auto_placement")
        return cluster_id, cluster_name, template

    def _create_steps(self, draft: VmDraft, plan: CreatePlan) -> list[Step]:
        conns, operator = self._clusters.connections, self._settings.operator
        return CreateSteps(self._db, conns, self._projects, self._poll, operator, draft, plan).steps()

    @audited("vm.create", "draft.name")
    async def create(
        self,
        draft: VmDraft,
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        project_name: str | None = None,
        reservation_id: int | None = None,
    ) -> VmInfo:
        """Create a VM; any failure rolls back everything made and releases the reservation.

        `project_name` and `reservation_id` serve an approved workflow request: the requester's project
        (not the approver's current one) and the quota held since the request, consumed instead of a new one.
        """
        cancel = cancel or CancelToken()
        await self._check(write=True)
        if project_name is not None:
            project = await self._projects.get(project_name)
        else:
            project = await self._projects.require_current()
        cluster_id, cluster_name, template = await self.check_create(draft, project)
        probe = await call_keeping_errors(
            self._clusters.connections, cluster_id, lambda conn: probe_for_create(conn, draft, cluster_name)
        )
        plan = CreatePlan(
            cluster_id=cluster_id,
            cluster=cluster_name,
            project=project,
            template_id=template.id,
            template_name=template.name,
            image_id=template.image_cloud_id,
            os_type=template.os_type,
            disk_gb=template.min_disk_gb,
            zone=probe["zone"],
            network_id=probe["network_id"],
            network_name=probe["network_name"],
            external_id=probe["external_id"],
        )
        cancel.raise_if_cancelled()
        steps = self._create_steps(draft, plan)
        op_id = await asyncio.to_thread(
            self.engine.create_sync,
            "create_vm",
            steps,
            params={
                **draft.to_params(),
                "cluster": cluster_name,
                "cluster_id": cluster_id,
                "project": project.name,
            },
            project_id=project.id,
        )
        data: dict[str, Any] = {} if reservation_id is None else {"reservation_id": reservation_id}

        def error_of(step: Step, err: BaseException) -> ServiceError:
            if isinstance(err, Cancelled | asyncio.CancelledError) or cancel.cancelled:
                return Cancelled("vm.create_cancelled", name=draft.name)
            if isinstance(err, QuotaError):  # the quota refusal as the project service words it
                return err
            return VmError("vm.create_failed", name=draft.name, field=step.label, reason=render_error(err))

        try:
            await self.engine.run(
                op_id, steps, data, on_progress=on_progress, cancel=cancel, error_of=error_of
            )
        except CleanupPending as err:  # the cloud went away: the rollback is retried later, quota held
            raise VmError(
                "vm.create_cleanup_pending", name=draft.name, field=err.step, reason=render_error(err.cause),
                leftovers=err.params.get("leftovers", ""),
            ) from err.__cause__  # fmt: skip
        except ServiceError as err:
            if "leftovers" in err.params and not isinstance(err, Cancelled):
                raise VmError("vm.create_leftovers", **err.params) from err.__cause__
            raise
        await self.notify(int(data["vm_id"]), "create")
        return await self.get(int(data["vm_id"]))

    def _template_for(self, draft: VmDraft) -> Template:
        with self._db.session() as session:
            template = session.get(Template, draft.template_id)
            if template is None:
                raise ValidationError(
                    "vm.template_not_found",
                    field=N_("Template"),
                    field_id="template",
                    value=draft.template_id,
                )
            for label, field_id, asked, minimum in (
                (N_("CPU"), "cpu", draft.cpu, template.min_cpu),
                (N_("RAM (GB)"), "ram", draft.ram_gb, template.min_ram_gb),
            ):
                if asked < minimum:
                    raise ValidationError(
                        "vm.below_template", field=label, field_id=field_id, minimum=minimum,
                        template=template.name, value=asked,
                    )  # fmt: skip
            session.expunge(template)
            return template

    def _check_names(self, draft: VmDraft, project: ProjectInfo, cluster_id: int, template: Template) -> None:
        with self._db.session() as session:
            cluster = session.get(Cluster, cluster_id)
            assert cluster is not None
            if template.cluster_id != cluster_id:
                other = session.get(Cluster, template.cluster_id)
                raise ValidationError(
                    "vm.template_other_cluster",
                    field=N_("Template"),
                    field_id="template",
                    template=template.name,
                    template_cluster=other.name if other else "?",
                    cluster=cluster.name,
                )
            if draft.login == "keypair" and (
                session.scalar(
                    select(Keypair.id).where(Keypair.cluster_id == cluster_id, Keypair.name == draft.keypair)
                )
                is None
            ):
                raise ValidationError(
                    "vm.keypair_not_found", field=N_("Key pair"), field_id="keypair", value=draft.keypair,
                    cluster=cluster.name,
                )  # fmt: skip
            if (
                session.scalar(select(Vm.id).where(Vm.project_id == project.id, Vm.name == draft.name))
                is not None
            ):
                raise VmError("vm.exists", project=project.name, name=draft.name)


# ------------------------------------------------------------------ the steps


def ip_description(name: str, operation_id: int) -> str:
    """The description a create gives its floating IP (finds it when the answer was lost)."""
    return f"ectui VM {name} (operation {operation_id})"


def drop_made_flavor(conn: Any, data: dict[str, Any]) -> None:
    """Undo the flavor step: delete the flavor by id, or by name when its answer was lost."""
    flavor_id = data.get("flavor_id")
    if flavor_id is None and data.get("flavor_name"):  # made, but the answer was lost
        found = compute.find_flavor(conn, data["flavor_name"])
        flavor_id = found.id if found is not None else None
    if flavor_id is not None:
        compute.delete_flavor(conn, flavor_id)


def drop_made_server(conn: Any, name: str, ctx: RunContext, poll: Polling) -> None:
    """Undo the boot step: delete the server (found by its mark when the answer was lost) and its ports."""
    server_id = ctx.data.get("server_id") or compute.find_marked_server(conn, name, ctx.operation_id)
    if server_id is not None:
        compute.delete_server_and_wait(conn, server_id, poll.first, poll.cap)
        network.drop_ports(conn, server_id)


def release_made_ip(conn: Any, name: str, ctx: RunContext) -> None:
    """Undo the floating IP step: release it by id, or by the description it was made with."""
    network.release_marked_ip(conn, ctx.data.get("floating_ip_id"), ip_description(name, ctx.operation_id))


def no_step(ctx: RunContext) -> None:
    """The run of a step rebuilt only to be compensated."""


@dataclass
class CreateSteps:
    """The steps of one create, each a method (run, then its compensation)."""

    db: Database
    conns: CloudConnections
    projects: ProjectService
    poll: Polling
    operator: str
    draft: VmDraft
    plan: CreatePlan

    def __post_init__(self) -> None:
        d = self.draft
        self.amounts = Amounts(vcpus=d.cpu, ram_gb=d.ram_gb, vms=1, public_ips=1 if d.public_ip else 0)
        self.flavor_name = f"ectui-{d.name}-{uuid.uuid4().hex[:8]}"[:255]
        self.user = user_name_for(self.plan.os_type)

    def steps(self) -> list[Step]:
        """The steps in order (the floating IP only when asked)."""
        steps = [
            Step("reserve", STEP_LABELS["reserve"], self.reserve, self.release, after_cleanup=True),
            Step("flavor", STEP_LABELS["flavor"], self.make_flavor, self.drop_flavor),
            Step("boot", STEP_LABELS["boot"], self.boot, self.drop_server),
            Step("wait", STEP_LABELS["wait"], self.wait),
        ]
        if self.draft.public_ip:
            steps.append(Step("floating_ip", STEP_LABELS["floating_ip"], self.attach_ip, self.release_ip))
        steps.append(Step("record", STEP_LABELS["record"], self.record, self.forget))
        return steps

    def conn(self) -> Any:
        """The cluster's connection (in the worker thread)."""
        return self.conns.get_sync(self.plan.cluster_id)

    def reserve(self, ctx: RunContext) -> None:
        """Reserve the quota (unless an approved request holds it already)."""
        if "reservation_id" in ctx.data:  # held since a workflow request was made
            ctx.report(N_("quota held by the approved request"))
            return
        reservation = self.projects.reserve_sync(
            self.plan.project.name, self.amounts, f"create VM {self.draft.name}"
        )
        ctx.data["reservation_id"] = reservation.id

    def release(self, ctx: RunContext) -> None:
        """Release the reservation."""
        if "reservation_id" in ctx.data:
            self.projects.finish_sync(int(ctx.data["reservation_id"]), "released")

    def make_flavor(self, ctx: RunContext) -> None:
        """A private flavor of the asked size."""
        ctx.data["flavor_name"] = self.flavor_name
        d = self.draft
        flavor = sdk(
            lambda: self.conn().compute.create_flavor(
                name=self.flavor_name, vcpus=d.cpu, ram=d.ram_gb * 1024, disk=self.plan.disk_gb,
                is_public=False, description=f"ectui VM {d.name}",
            )
        )  # fmt: skip
        ctx.data["flavor_id"] = flavor.id

    def drop_flavor(self, ctx: RunContext) -> None:
        """Delete the flavor made."""
        drop_made_flavor(self.conn(), ctx.data)

    def boot(self, ctx: RunContext) -> None:
        """Boot the server: on the named node (manual placement) or where Nova's scheduler puts it."""
        d, plan = self.draft, self.plan
        body: dict[str, Any] = {
            "name": d.name,
            "imageRef": plan.image_id,
            "flavorRef": ctx.data["flavor_id"],
            "networks": [{"uuid": plan.network_id}],
            "metadata": {"ectui_operation": str(ctx.operation_id), "ectui_project": plan.project.name},
            "user_data": base64.b64encode(
                user_data_for(plan.os_type, self.user, d.password or None).encode()
            ).decode(),
        }
        if d.description:
            body["description"] = d.description
        microversion = COMPUTE_MICROVERSION
        if d.placement == "manual" and d.node:
            if supports_host_placement(self.conn()):
                # 2.74: name the hypervisor; the scheduler still checks it has the room
                body["hypervisor_hostname"] = d.node
                microversion = HOST_PLACEMENT_MICROVERSION
            else:  # older Novas: the forced host of the availability zone (skips the checks)
                body["availability_zone"] = f"{plan.zone}:{d.node}"
        if d.login == "password":
            body["adminPass"] = d.password
        else:
            body["key_name"] = d.keypair
        ctx.cancel.raise_if_cancelled()
        answer = call_json(
            self.conn().compute, "post", "/servers", json={"server": body}, microversion=microversion
        )
        ctx.data["server_id"] = answer["server"]["id"]

    def drop_server(self, ctx: RunContext) -> None:
        """Delete the server made (the answer may have been lost after Nova made it: found by its mark)."""
        drop_made_server(self.conn(), self.draft.name, ctx, self.poll)

    def wait(self, ctx: RunContext) -> None:
        """Wait until the server is ACTIVE; note its node and address."""
        server = compute.wait_for_status(
            self.conn(), ctx.data["server_id"], "ACTIVE", cancel=ctx.cancel, report=ctx.report,
            first=self.poll.first, cap=self.poll.cap, timeout=self.poll.timeout,
        )  # fmt: skip
        ctx.data["node"] = (
            server.get("OS-EXT-SRV-ATTR:hypervisor_hostname")
            or server.get("OS-EXT-SRV-ATTR:host")
            or self.draft.node
            or ""
        )
        ctx.data["fixed_ip"] = compute.fixed_ip(server)

    def attach_ip(self, ctx: RunContext) -> None:
        """A floating IP of the external network on the server's port."""
        c = self.conn()
        ports = network.server_ports(c, ctx.data["server_id"])
        if not ports:
            raise VmError("vm.no_server", name=self.draft.name, status="no port")
        description = ip_description(self.draft.name, ctx.operation_id)
        fip = network.create_floating_ip(c, self.plan.external_id, ports[0].id, description)
        ctx.data["floating_ip_id"] = fip.id
        ctx.data["floating_ip"] = fip.floating_ip_address

    def release_ip(self, ctx: RunContext) -> None:
        """Release the floating IP made."""
        release_made_ip(self.conn(), self.draft.name, ctx)

    def record(self, ctx: RunContext) -> None:
        """Record the VM row and commit the reservation."""
        d, plan = self.draft, self.plan
        with self.db.session() as session:
            vm = Vm(
                cluster_id=plan.cluster_id, project_id=plan.project.id, cloud_id=ctx.data["server_id"],
                name=d.name, description=d.description, template_id=plan.template_id, os_type=plan.os_type,
                login=d.login, keypair_name=d.keypair or "", user_name=self.user, vcpus=d.cpu,
                ram_gb=d.ram_gb, disk_gb=plan.disk_gb, flavor_id=ctx.data["flavor_id"],
                node=ctx.data.get("node", ""), network=plan.network_name,
                fixed_ip=ctx.data.get("fixed_ip", ""), floating_ip=ctx.data.get("floating_ip", ""),
                floating_ip_id=ctx.data.get("floating_ip_id", ""), status="ACTIVE", created_by=self.operator,
            )  # fmt: skip
            session.add(vm)
            session.flush()
            ctx.data["vm_id"] = vm.id
            op = session.get(Operation, ctx.operation_id)
            if op is not None:
                op.vm_id = vm.id
        self.projects.finish_sync(int(ctx.data["reservation_id"]), "committed")

    def forget(self, ctx: RunContext) -> None:
        """Delete the VM row recorded."""
        if ctx.data.get("vm_id"):
            with self.db.session() as session:
                row = session.get(Vm, int(ctx.data["vm_id"]))
                if row is not None:
                    session.delete(row)
            ctx.data.pop("vm_id", None)


def create_compensations(
    conns: CloudConnections, projects: ProjectService, poll: Polling, cluster_id: int | None, name: str
) -> dict[str, Callable[[RunContext], None] | None]:
    """The compensation of each create step, for a create rebuilt from its saved request and context."""

    def conn() -> Any:
        if cluster_id is None:
            raise VmError("vm.no_cluster")
        return conns.get_sync(int(cluster_id))

    def release(ctx: RunContext) -> None:
        if ctx.data.get("reservation_id"):
            projects.finish_sync(int(ctx.data["reservation_id"]), "released")

    return {
        "reserve": release,
        "flavor": lambda ctx: drop_made_flavor(conn(), ctx.data),
        "boot": lambda ctx: drop_made_server(conn(), name, ctx, poll),
        "floating_ip": lambda ctx: release_made_ip(conn(), name, ctx),
    }


# ------------------------------------------------------------------ cloud reads before a create


def read_room_and_networks(conn: Any) -> tuple[list[dict[str, Any]], dict[str, str], list[dict[str, Any]]]:
    """Hypervisors with their room, host zones, and the networks (private first) for the create form."""
    hypervisors, zones = compute.fetch_hypervisors(conn)
    networks = [
        {"id": n.id, "name": n.name, "external": bool(n.is_router_external)} for n in network.networks(conn)
    ]
    networks.sort(key=lambda n: (n["external"], n["name"]))
    return hypervisors, zones, networks


def probe_for_create(conn: Any, draft: VmDraft, cluster: str) -> dict[str, Any]:
    """Fresh node room (manual placement), the private network and, if asked, the external one."""
    zone = ""
    if draft.placement == "manual":
        hypervisors, zones = compute.fetch_hypervisors(conn)
        node = next((h for h in hypervisors if draft.node in (h["name"], h["host"])), None)
        if node is None:
            raise VmError("vm.node_not_found", node=draft.node, cluster=cluster)
        if node["state"] not in ("up", "") or node["status"] not in ("enabled", ""):
            raise VmError("vm.node_down", node=draft.node, state=node["state"], status=node["status"])
        vcpus_free = max(node["vcpus"] - node["vcpus_used"], 0)
        ram_gb_free = max(node["memory_mb"] - node["memory_mb_used"], 0) // 1024
        if draft.cpu > vcpus_free or draft.ram_gb > ram_gb_free:
            raise VmError(
                "vm.node_full",
                node=draft.node,
                vcpus_free=vcpus_free,
                ram_gb_free=ram_gb_free,
                vcpus=draft.cpu,
                ram_gb=draft.ram_gb,
            )
        zone = zones.get(node["host"], zones.get(node["name"], "")) or "nova"
    networks = network.networks(conn)
    chosen = next((n for n in networks if draft.network in (n.id, n.name)), None)
    if chosen is None:
        raise ValidationError(
            "vm.network_not_found", field=N_("Private network"), field_id="network", value=draft.network,
            cluster=cluster,
        )  # fmt: skip
    if chosen.is_router_external:
        raise ValidationError(
            "vm.network_external", field=N_("Private network"), field_id="network", value=draft.network
        )
    external_id = None
    if draft.public_ip:
        external = next((n for n in networks if n.is_router_external), None)
        if external is None:
            raise VmError("vm.no_external_network", cluster=cluster)
        external_id = external.id
    return {"zone": zone, "network_id": chosen.id, "network_name": chosen.name, "external_id": external_id}
