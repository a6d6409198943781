"""Workflow: an operator's "create VM" and "resize" become requests that an admin approves or rejects.

A request stores the validated draft (or resize plan) as JSON, never a password in clear: a password
login's password is sealed with the console's secret box (bound to the request id) and purged as soon
as the request ends. The quota is reserved when the request is made (ProjectService.reserve), so an
approval can never oversubscribe the project; the approved operation consumes that reservation, and a
rejection, a cancel or a failed operation releases it.

States: pending → approved → running → done | failed; pending → rejected (admin, with a reason);
pending → cancelled (by the requester). Every transition happens in `Database.locked_session()` on the
request row, so two admins cannot both approve one request.

Identity: the users module tells who acts and with which role (admin, operator, auditor); without
it, the identity is the OS operator with full rights. Only an operator's create/resize needs approval;
admins (and everyone while the workflow module is not licensed) run operations directly.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from ectui.db.models import Operation, Project, QuotaReservation, Vm, WorkflowRequest, utcnow
from ectui.i18n import N_, _
from ectui.services.audit import AuditService, audited
from ectui.services.errors import ServiceError, register_messages
from ectui.services.identity import ROLES
from ectui.services.progress import CancelToken, ProgressCallback, ignore_progress
from ectui.services.projects import Amounts
from ectui.services.validation import required_text

if TYPE_CHECKING:
    import datetime as dt

    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.operations.engine import OperationInfo
    from ectui.services.projects import ProjectService
    from ectui.services.resize import ResizePlan, ResizeService
    from ectui.services.secrets import LazyKeyFileBox, SecretBox
    from ectui.services.vms import VmDraft, VmInfo, VmService

FEATURE = "workflow"
"""The licensed module of requests and approvals."""
KINDS = ("create_vm", "resize")
STATES = ("pending", "approved", "running", "done", "failed", "rejected", "cancelled")
OPEN_STATES = ("pending", "approved", "running")
FINAL_STATES = ("done", "failed", "rejected", "cancelled")
STATE_LABELS = {
    "pending": N_("pending"),
    "approved": N_("approved"),
    "running": N_("running"),
    "done": N_("done"),
    "failed": N_("failed"),
    "rejected": N_("rejected"),
    "cancelled": N_("cancelled"),
}
"""Translatable names of the states (the codes stay English in JSON)."""
KIND_LABELS = {"create_vm": N_("create VM"), "resize": N_("resize")}
MAX_REASON = 1000
_PASSWORD_PURPOSE = b"workflow-request-password:"

register_messages(
    {
        "workflow.not_found": N_("No request with id {id}. List them with: ectui request list"),
        "workflow.not_pending": N_("Request {id} is {state}; only a pending request can be {action}."),
        "workflow.admin_only": N_("Only an admin may {action} requests; {user} is {role}."),
        "workflow.auditor": N_("{user} is an auditor: auditors can read requests but change nothing."),
        "workflow.no_identity": N_("Log in first (ectui login) to see or change requests."),
        "workflow.not_requester": N_("Request {id} was made by {owner}; only they can cancel it."),
        "workflow.not_yours": N_("Request {id} was made by {owner}; operators see only their own requests."),
        "workflow.password_lost": N_(
            "The sealed password of request {id} cannot be opened (the console key changed); reject it."
        ),
        "workflow.submitted": N_(
            "Request {id} ({kind}) is waiting for an admin's approval; its quota is reserved."
        ),
    }
)


class WorkflowError(ServiceError):
    """A refused request action (wrong state, wrong role, unknown request)."""


class Identity(Protocol):
    """Who acts: what the users module's `current_identity()` returns."""

    @property
    def user(self) -> str:
        """The account name."""
        ...

    @property
    def role(self) -> str:
        """admin | operator | auditor"""
        ...


@dataclass(frozen=True)
class Actor:
    """An identity (the users module's, or the OS operator with full rights when it is not licensed)."""

    user: str
    role: str = "admin"


IdentityProvider = Callable[[], Any]
"""Returns an Identity (or an awaitable of one); set by the users module when it is wired."""


@dataclass(frozen=True)
class RequestInfo:
    """A request as the queue and the requester see it."""

    id: int
    kind: str
    state: str
    project: str
    summary: str
    requested_by: str
    decided_by: str
    reason: str
    error: str
    reserved: Amounts
    created_at: dt.datetime
    decided_at: dt.datetime | None
    finished_at: dt.datetime | None
    updated_at: dt.datetime
    vm_id: int | None = None
    operation_id: int | None = None
    has_sealed_password: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        """Still pending or being run."""
        return self.state in OPEN_STATES

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (never the sealed password)."""

        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat(timespec="seconds") if value else None

        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "project": self.project,
            "summary": self.summary,
            "requested_by": self.requested_by,
            "decided_by": self.decided_by,
            "reason": self.reason,
            "error": self.error,
            "reserved": self.reserved.to_json(),
            "vm_id": self.vm_id,
            "operation_id": self.operation_id,
            "created_at": iso(self.created_at),
            "decided_at": iso(self.decided_at),
            "finished_at": iso(self.finished_at),
            "params": self.params,
        }


@dataclass(frozen=True)
class Outcome:
    """What `submit_or_run` did: ran the operation (`result`) or made a request (`request`)."""

    request: RequestInfo | None = None
    result: Any = None
    """VmInfo of a create, OperationInfo of a resize (when it ran directly)."""

    @property
    def submitted(self) -> bool:
        """A request was made instead of running."""
        return self.request is not None


class WorkflowService:
    """Requests that need an approver: submit, list, approve (runs the operation), reject, cancel."""

    def __init__(
        self,
        db: Database,
        box: SecretBox | LazyKeyFileBox,
        projects: ProjectService,
        vms: VmService,
        resize: ResizeService,
        license_service: ConsoleLicenseService,
        settings: Settings,
        *,
        identity: IdentityProvider | None = None,
        audit: AuditService | None = None,
    ) -> None:
        self._db = db
        self._box = box
        self._projects = projects
        self._vms = vms
        self._resize = resize
        self._license = license_service
        self._settings = settings
        self.identity_provider: IdentityProvider | None = identity
        """Who acts; None: the license service's current_identity (users module), else the OS operator (admin)."""
        self._audit = audit

    # -- identity and licensing

    async def identity(self) -> Identity:
        """The acting user and role."""
        provider = self.identity_provider or self._license.current_identity
        found = provider()
        if inspect.isawaitable(found):
            found = await found
        if found is None:  # the users module knows nobody: the OS operator, with full rights
            return Actor(self._settings.operator, "admin")
        return found

    async def enabled(self) -> bool:
        """Whether the license has the workflow module."""
        await self._license.status()
        return self._license.policy().feature_enabled(FEATURE)

    async def needs_approval(self) -> bool:
        """A create or resize started now becomes a request: the module is licensed and an operator acts."""
        return await self.enabled() and (await self.identity()).role == "operator"

    async def _actor(self, *, changing: bool) -> Identity:
        who = await self.identity()
        if who.role not in ROLES:  # the users module asks for a login and nobody is logged in
            raise WorkflowError("workflow.no_identity")
        if changing and who.role == "auditor":
            raise WorkflowError("workflow.auditor", user=who.user)
        return who

    async def _admin(self, action: str) -> Identity:
        who = await self._actor(changing=True)
        if who.role != "admin":
            raise WorkflowError("workflow.admin_only", action=_(action), user=who.user, role=who.role)
        return who

    # -- submitting

    async def submit_or_run(
        self,
        item: VmDraft | ResizePlan,
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> Outcome:
        """Make a request when an operator acts with the module on; otherwise run the operation now."""
        from ectui.services.vms import VmDraft

        if await self.needs_approval():
            return Outcome(request=await self.submit(item))
        if isinstance(item, VmDraft):
            return Outcome(result=await self._vms.create(item, on_progress=on_progress, cancel=cancel))
        return Outcome(result=await self._resize.resize(item, on_progress=on_progress, cancel=cancel))

    @audited("request.submit", "item")
    async def submit(self, item: VmDraft | ResizePlan) -> RequestInfo:
        """Record a request and reserve its quota now (refused, naming the resource, when it does not fit)."""
        from ectui.services.vms import VmDraft

        await self._license.require(FEATURE, write=True)
        who = await self._actor(changing=True)
        if isinstance(item, VmDraft):
            return await self._submit_create(item, who)
        return await self._submit_resize(item, who)

    async def _submit_create(self, draft: VmDraft, who: Identity) -> RequestInfo:
        project = await self._projects.require_current()
        # the same checks as VmService.create before anything is made, so a doomed request is refused now
        _cluster_id, _cluster, template = await self._vms.check_create(draft, project)
        amounts = Amounts(vcpus=draft.cpu, ram_gb=draft.ram_gb, vms=1, public_ips=1 if draft.public_ip else 0)
        params = {**draft.to_params(), "description": draft.description, "template": template.name}
        summary = f"{draft.name}: {draft.cpu} vCPU, {draft.ram_gb} GB, {template.name}"
        return await asyncio.to_thread(
            self._record_request,
            "create_vm",
            project.name,
            None,
            summary,
            params,
            amounts,
            draft.password if draft.login == "password" else "",
            who.user,
        )

    async def _submit_resize(self, plan: ResizePlan, who: Identity) -> RequestInfo:
        summary = (
            f"{plan.vm_name}: {plan.old_vcpus}→{plan.new_vcpus} vCPU, "
            f"{plan.old_ram_gb}→{plan.new_ram_gb} GB ({plan.mode})"
        )
        return await asyncio.to_thread(
            self._record_request,
            "resize",
            plan.project,
            plan.vm_id,
            summary,
            plan.to_json(),
            plan.growth,
            "",
            who.user,
        )

    def _record_request(
        self,
        kind: str,
        project_name: str,
        vm_id: int | None,
        summary: str,
        params: dict[str, Any],
        amounts: Amounts,
        password: str,
        user: str,
    ) -> RequestInfo:
        reservation_id = None
        if amounts != Amounts():
            reservation = self._projects.reserve_sync(
                project_name, amounts, f"request: {kind} {summary}"[:200]
            )
            reservation_id = reservation.id
        try:
            with self._db.session() as session:
                project_id = session.scalar(select(Project.id).where(Project.name == project_name))
                row = WorkflowRequest(
                    kind=kind,
                    state="pending",
                    project_id=project_id,
                    project_name=project_name,
                    vm_id=vm_id,
                    summary=summary[:300],
                    params=json.dumps(params, sort_keys=True, default=str),
                    reservation_id=reservation_id,
                    requested_by=user,
                )
                session.add(row)
                session.flush()
                if password:
                    row.sealed_password = self._box.seal(password.encode(), purpose=_purpose(row.id))
                session.flush()
                return _info(session, row)
        except BaseException:
            if reservation_id is not None:
                self._projects.finish_sync(reservation_id, "released")
            raise

    # -- reading

    async def list_all(self, *, states: tuple[str, ...] | None = None, limit: int = 500) -> list[RequestInfo]:
        """Requests newest first: an operator sees their own, admins and auditors see all."""
        await self._license.require(FEATURE)
        who = await self._actor(changing=False)
        mine = who.user if who.role == "operator" else None

        def load() -> list[RequestInfo]:
            with self._db.session() as session:
                query = (
                    select(WorkflowRequest)
                    .order_by(WorkflowRequest.id.desc())
                    .limit(max(1, min(limit, 10_000)))
                )
                if mine is not None:
                    query = query.where(WorkflowRequest.requested_by == mine)
                if states:
                    query = query.where(WorkflowRequest.state.in_(states))
                return [_info(session, r) for r in session.scalars(query)]

        return await asyncio.to_thread(load)

    async def get(self, request_id: int) -> RequestInfo:
        """One request (an operator only their own)."""
        await self._license.require(FEATURE)
        who = await self._actor(changing=False)

        def load() -> RequestInfo:
            with self._db.session() as session:
                row = _row(session, request_id)
                if who.role == "operator" and row.requested_by != who.user:
                    raise WorkflowError("workflow.not_yours", id=request_id, owner=row.requested_by)
                return _info(session, row)

        return await asyncio.to_thread(load)

    # -- deciding

    @audited("request.reject", "request_id")
    async def reject(self, request_id: int, reason: str) -> RequestInfo:
        """An admin refuses a pending request, with a reason; its reservation is released."""
        text = required_text(reason, N_("Reason"), field_id="reason", max_len=MAX_REASON)
        await self._license.require(FEATURE, write=True)
        who = await self._admin(N_("reject"))
        return await asyncio.to_thread(self._end_pending, request_id, "rejected", who.user, text, None)

    @audited("request.cancel", "request_id")
    async def cancel(self, request_id: int) -> RequestInfo:
        """The requester withdraws a pending request; its reservation is released."""
        await self._license.require(FEATURE, write=True)
        who = await self._actor(changing=True)
        return await asyncio.to_thread(self._end_pending, request_id, "cancelled", who.user, "", who.user)

    def _end_pending(
        self, request_id: int, state: str, user: str, reason: str, requester: str | None
    ) -> RequestInfo:
        with self._db.locked_session() as session:
            row = _row(session, request_id, lock=True)
            if requester is not None and row.requested_by != requester:
                raise WorkflowError("workflow.not_requester", id=request_id, owner=row.requested_by)
            if row.state != "pending":
                raise WorkflowError(
                    "workflow.not_pending", id=request_id, state=_(STATE_LABELS.get(row.state, row.state)),
                    action=_(N_("cancelled") if state == "cancelled" else N_("rejected")),
                )  # fmt: skip
            now = utcnow()
            row.state, row.decided_by, row.reason = state, user, reason
            row.decided_at = row.finished_at = row.updated_at = now
            row.sealed_password = None
            reservation_id = row.reservation_id
        if reservation_id is not None:
            self._projects.finish_sync(reservation_id, "released")
        return self._load(request_id)

    @audited("request.approve", "request_id")
    async def approve(
        self,
        request_id: int,
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> RequestInfo:
        """An admin approves: the real operation runs through the same services, on the held reservation.

        Returns the request once it is done or failed (a failure is recorded on the request, not raised:
        the approval itself happened).
        """
        await self._license.require(FEATURE, write=True)
        who = await self._admin(N_("approve"))
        row = await asyncio.to_thread(self._claim, request_id, who.user)
        rid = row["reservation_id"]
        try:
            await asyncio.to_thread(self._mark_running, request_id)
            if row["kind"] == "create_vm":
                vm = await self._run_create(row, on_progress=on_progress, cancel=cancel)
                await asyncio.to_thread(
                    self._finish, request_id, "done", "", vm.id, _create_op(self._db, vm.id)
                )
            else:
                op = await self._run_resize(row, on_progress=on_progress, cancel=cancel)
                await asyncio.to_thread(self._finish, request_id, "done", "", row["vm_id"], op.id)
        except Exception as err:
            from ectui.i18n import render

            pending = isinstance(err, ServiceError) and err.key.endswith("cleanup_pending")
            if rid is not None and not pending:  # idempotent: released by the operation stays released
                # A rollback the cloud has not confirmed keeps the quota until its cleanup finishes.
                await asyncio.to_thread(self._projects.finish_sync, rid, "released")
            message = render(err) if isinstance(err, ServiceError) else f"{type(err).__name__}: {err}"
            await asyncio.to_thread(self._finish, request_id, "failed", message, None, None)
        except BaseException:  # cancelled by the event loop: release and record, then re-raise
            if rid is not None:
                await asyncio.to_thread(self._projects.finish_sync, rid, "released")
            await asyncio.to_thread(self._finish, request_id, "failed", "cancelled", None, None)
            raise
        return await asyncio.to_thread(self._load, request_id)

    def _claim(self, request_id: int, user: str) -> dict[str, Any]:
        """pending → approved → running, in one locked transaction; opens the sealed password."""
        with self._db.locked_session() as session:
            row = _row(session, request_id, lock=True)
            if row.state != "pending":
                raise WorkflowError(
                    "workflow.not_pending",
                    id=request_id,
                    state=_(STATE_LABELS.get(row.state, row.state)),
                    action=_(N_("approved")),
                )
            password = ""
            if row.sealed_password:
                from ectui.services.secrets import SecretBoxError

                try:
                    password = self._box.open(row.sealed_password, purpose=_purpose(row.id)).decode()
                except SecretBoxError:
                    raise WorkflowError("workflow.password_lost", id=request_id) from None
            now = utcnow()
            row.state, row.decided_by, row.decided_at, row.updated_at = "approved", user, now, now
            return {
                "kind": row.kind,
                "project": row.project_name,
                "vm_id": row.vm_id,
                "params": json.loads(row.params or "{}"),
                "password": password,
                "reservation_id": row.reservation_id,
            }

    async def _run_create(
        self, row: dict[str, Any], *, on_progress: ProgressCallback, cancel: CancelToken | None
    ) -> VmInfo:
        from ectui.services.vms import VmDraft

        p = row["params"]
        password = row.pop("password")
        draft = VmDraft.parse(
            name=p["name"], template_id=p["template_id"], placement=p["placement"], node=p.get("node"),
            login=p["login"], password=password, password_confirm=password, keypair=p.get("keypair"),
            cpu=p["cpu"], ram_gb=p["ram_gb"], description=p.get("description", ""), network=p["network"],
            public_ip=bool(p.get("public_ip")),
        )  # fmt: skip
        return await self._vms.create(
            draft, on_progress=on_progress, cancel=cancel, project_name=row["project"],
            reservation_id=row["reservation_id"],
        )  # fmt: skip

    async def _run_resize(
        self, row: dict[str, Any], *, on_progress: ProgressCallback, cancel: CancelToken | None
    ) -> OperationInfo:
        from ectui.services.resize import ResizePlan

        plan = ResizePlan.from_json(row["params"])
        return await self._resize.resize(
            plan, on_progress=on_progress, cancel=cancel, reservation_id=row["reservation_id"]
        )

    def _mark_running(self, request_id: int) -> None:
        with self._db.session() as session:
            row = session.get(WorkflowRequest, request_id)
            if row is not None and row.state == "approved":
                row.state, row.updated_at = "running", utcnow()

    def _finish(
        self, request_id: int, state: str, error: str, vm_id: int | None, operation_id: int | None
    ) -> None:
        with self._db.session() as session:
            row = session.get(WorkflowRequest, request_id)
            if row is None:
                return
            row.state, row.error = state, error[:4000]
            if vm_id is not None:
                row.vm_id = vm_id
            if operation_id is not None:
                row.operation_id = operation_id
            row.sealed_password = None  # the request ended: the password is never kept
            row.finished_at = row.updated_at = utcnow()

    def _load(self, request_id: int) -> RequestInfo:
        with self._db.session() as session:
            return _info(session, _row(session, request_id))


# ------------------------------------------------------------------ helpers


def _purpose(request_id: int) -> bytes:
    return _PASSWORD_PURPOSE + str(request_id).encode()


def _row(session: Any, request_id: int, *, lock: bool = False) -> WorkflowRequest:
    query = select(WorkflowRequest).where(WorkflowRequest.id == request_id)
    if lock:
        query = query.with_for_update()
    row: WorkflowRequest | None = session.scalar(query)
    if row is None:
        raise WorkflowError("workflow.not_found", id=request_id)
    return row


def _create_op(db: Database, vm_id: int) -> int | None:
    with db.session() as session:
        return session.scalar(
            select(Operation.id)
            .where(Operation.vm_id == vm_id, Operation.kind == "create_vm")
            .order_by(Operation.id.desc())
        )


def _info(session: Any, row: WorkflowRequest) -> RequestInfo:
    reserved = Amounts()
    if row.reservation_id is not None:
        r = session.get(QuotaReservation, row.reservation_id)
        if r is not None and r.state == "held":
            reserved = Amounts(r.vcpus, r.ram_gb, r.vms, r.public_ips)
    params = json.loads(row.params or "{}")
    if row.vm_id is not None and row.kind == "resize" and "vm_name" not in params:
        vm = session.get(Vm, row.vm_id)
        params["vm_name"] = vm.name if vm else ""
    return RequestInfo(
        id=row.id,
        kind=row.kind,
        state=_(STATE_LABELS.get(row.state, row.state)),
        project=row.project_name,
        summary=row.summary,
        requested_by=row.requested_by,
        decided_by=row.decided_by,
        reason=row.reason,
        error=row.error,
        reserved=reserved,
        created_at=row.created_at,
        decided_at=row.decided_at,
        finished_at=row.finished_at,
        updated_at=row.updated_at,
        vm_id=row.vm_id,
        operation_id=row.operation_id,
        has_sealed_password=row.sealed_password is not None,
        params=params,
    )
