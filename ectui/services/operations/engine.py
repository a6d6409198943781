"""A small saga engine: each step is persisted before and after it runs; a failure compensates in reverse.

An operation (`Operation` row) has ordered steps (`OperationStep` rows). Before a step runs its row
becomes `running`; after, `done` (or `failed` with the reason). What a step made (flavor id, server
id, reservation id ...) goes into the operation's JSON `context`, saved after every step, so that a
crash leaves enough on disk to compensate later (`compensate_interrupted`). On failure or cancel the
compensations of the done steps run newest first; each is persisted as `compensated`, or stays `done`
with the reason when its own compensation failed (then the operation ends `failed`, not `compensated`).

Cleanup pending: a compensation that cannot reach the cloud (connection refused, timeout, gateway
down: `cloud_unreachable`) does not fail the operation. It becomes `cleanup_pending` with the reason;
the compensations still to do are saved in its context (`_cleanup`), and the steps marked
`after_cleanup` (a quota release, the VM's lock) wait for them, so the quota stays counted. Recovery
(at start and `ectui ops resume`, see `retry_cleanup`) retries them until the cloud confirms every
resource gone; then the operation ends `compensated` (or `failed`, as before) and the release runs.

Ownership: an operation records its owner (`host:pid`) and a heartbeat the owner refreshes at every
step and every HEARTBEAT_EVERY seconds while a step runs. Another process may compensate a `running`
operation only when it is *stale*: its heartbeat is older than LEASE, or its owner is a process of this
host that no longer exists (`stale_running_sync`). So a console never undoes what a live one is doing.

Step functions are blocking (openstacksdk, SQLAlchemy) and run in a worker thread; the engine
itself runs on the event loop and never blocks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ectui.db.models import Operation, OperationStep, utcnow
from ectui.i18n import N_
from ectui.services.errors import ServiceError, register_messages
from ectui.services.progress import Cancelled, CancelToken, Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from ectui.db.session import Database

log = logging.getLogger("ectui.operations")
CLEANUP_PENDING = "cleanup_pending"
"""State of an operation whose rollback could not reach the cloud; retried by recovery."""
CLEANUP_KEY = "_cleanup"
"""Context key of a pending cleanup: {"positions": [...], "failed": position | None, "outcome": text}."""
GATEWAY_STATUSES = (502, 503, 504)
"""HTTP answers of a proxy in front of a cloud that is down: the cloud itself was not reached."""
HEARTBEAT_EVERY = 10.0
"""Seconds between two heartbeats of a running operation (on top of one per step)."""
LEASE = 60.0
"""Seconds without a heartbeat after which another process may take over (compensate) an operation."""

register_messages(
    {
        "operation.not_found": N_("No operation with id {id}."),
        "operation.step_failed": N_("Step '{step}' failed: {reason}"),
        "operation.interrupted": N_(
            "Interrupted (the console stopped while it ran); compensated on restart."
        ),
    }
)


WAITS_FOR_CLEANUP = N_("waits until the cloud confirms the cleanup")
"""Detail of an `after_cleanup` step held back by a pending cleanup."""


class SkipStep(Exception):
    """Raised by a step's `run` when it has nothing to do here (e.g. no stop in a hot resize).

    The step is persisted as `skipped` with the message as its detail, and it is not compensated.
    """


class OperationFailed(ServiceError):
    """An operation step failed; what it made was compensated (see `compensation_errors`)."""

    def __init__(
        self,
        key: str,
        *,
        step: str,
        cause: BaseException,
        compensation_errors: Sequence[str] = (),
        **params: Any,
    ) -> None:
        super().__init__(key, step=step, **params)
        self.step = step
        self.cause = cause
        self.compensation_errors = tuple(compensation_errors)


class CleanupPending(OperationFailed):
    """An operation failed and its rollback could not reach the cloud: cleanup is retried later, quota held."""


@dataclass
class RunContext:
    """What a running operation shares between its steps; `data` is persisted after every step."""

    operation_id: int
    data: dict[str, Any]
    cancel: CancelToken
    report: Callable[[str], None]
    """Report a detail of the running step (progress; throttled by the caller's callback)."""
    position: int = 0
    """Index of the running step."""


@dataclass(frozen=True)
class Step:
    """One step: `run(ctx)` does it (blocking, in a thread); `compensate(ctx)` undoes it (newest first)."""

    code: str
    label: str
    """An N_() label, translated by whoever shows it."""
    run: Callable[[RunContext], None]
    compensate: Callable[[RunContext], None] | None = None
    after_cleanup: bool = False
    """Its compensation frees what is held here (quota, the VM's lock): it waits while a newer compensation
    could not reach the cloud, so nothing is freed before the cloud confirmed the cleanup."""


@dataclass(frozen=True)
class StepInfo:
    """A persisted step as screens show it."""

    code: str
    label: str
    state: str
    """pending | running | done | failed | compensated | skipped"""
    detail: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "code": self.code,
            "label": self.label,
            "state": self.state,
            "detail": self.detail,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }


@dataclass(frozen=True)
class OperationInfo:
    """A persisted operation with its steps."""

    id: int
    kind: str
    state: str
    """running | done | failed | compensated | cleanup_pending"""
    error: str
    created_by: str
    created_at: dt.datetime
    steps: tuple[StepInfo, ...] = field(default=())
    vm_id: int | None = None
    finished_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "error": self.error,
            "vm_id": self.vm_id,
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at),
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass(frozen=True)
class Recovered:
    """What recovery (at start, `ectui ops resume`) did with one operation: its state afterwards."""

    operation: OperationInfo
    note: str = ""
    """Why it was left as it was (e.g. the cloud is unreachable), when it was."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**self.operation.to_json(), "note": self.note}


@dataclass
class _Undo:
    """The outcome of one round of compensations."""

    errors: list[str] = field(default_factory=list)
    """'code: reason' of each compensation that failed."""
    retry: list[int] = field(default_factory=list)
    """Positions whose compensation is still to do (failed, or waiting for the cloud)."""
    unreachable: bool = False
    """A compensation could not reach the cloud: the cleanup is pending."""

    def leftovers(self) -> str:
        """The failed compensations, codes grouped by their reason."""
        grouped: dict[str, list[str]] = {}
        for item in self.errors:
            code, _sep, reason = item.partition(": ")
            grouped.setdefault(reason, []).append(code)
        return "; ".join(f"{', '.join(codes)}: {reason}" for reason, codes in grouped.items())


STEP_LABELS_BY_KIND: dict[str, dict[str, str]] = {}
"""Step labels of operation kinds whose service registers them (`register_step_labels`)."""


def register_step_labels(kind: str, labels: dict[str, str]) -> None:
    """Name the steps of an operation kind (N_ labels) for screens and `ectui ops show`."""
    STEP_LABELS_BY_KIND.setdefault(kind, {}).update(labels)


def cloud_unreachable(err: BaseException) -> bool:
    """Whether a failure says the cloud could not be reached (refused, timed out, gateway down)."""
    if isinstance(err, ServiceError):
        if err.key == "cloud.unreachable":
            return True
        return err.key == "cloud.http" and err.params.get("status") in GATEWAY_STATUSES
    if isinstance(err, ConnectionError | TimeoutError):
        return True
    from ectui.services.openstack.connection import classify

    return cloud_unreachable(classify(err))


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


class OperationEngine:
    """Creates, runs and compensates persisted operations."""

    def __init__(self, db: Database, operator: str) -> None:
        self._db = db
        self._operator = operator
        self.owner = f"{socket.gethostname()}:{os.getpid()}"[:200]
        """Who runs the operations started here (host:pid)."""
        self.lease = LEASE
        self.heartbeat_every = HEARTBEAT_EVERY

    # -- persistence (blocking; called in threads)

    def create_sync(
        self,
        kind: str,
        steps: Sequence[Step],
        *,
        params: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        project_id: int | None = None,
        vm_id: int | None = None,
    ) -> int:
        """Persist a new running operation with all its steps pending; returns its id."""
        with self._db.locked_session() as session:
            return self.add(
                session, kind, steps, params=params, context=context, project_id=project_id, vm_id=vm_id
            )

    def add(
        self,
        session: Session,
        kind: str,
        steps: Sequence[Step],
        *,
        params: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        project_id: int | None = None,
        vm_id: int | None = None,
    ) -> int:
        """`create_sync` inside the caller's unit of work (e.g. together with taking the VM's lock)."""
        op = Operation(
            kind=kind,
            project_id=project_id,
            vm_id=vm_id,
            state="running",
            params=json.dumps(params or {}, sort_keys=True),
            context=json.dumps(context or {}, sort_keys=True),
            created_by=self._operator,
            owner=self.owner,
            heartbeat_at=utcnow(),
        )
        op.steps = [OperationStep(position=i, code=s.code, state="pending") for i, s in enumerate(steps)]
        session.add(op)
        session.flush()
        return op.id

    def _mark_step(
        self,
        op_id: int,
        position: int,
        state: str,
        *,
        detail: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        now = utcnow()
        with self._db.locked_session() as session:
            step = session.scalar(
                select(OperationStep).where(
                    OperationStep.operation_id == op_id, OperationStep.position == position
                )
            )
            if step is None:  # pragma: no cover - rows are made together with the operation
                return
            step.state = state
            if detail is not None:
                step.detail = detail[:2000]
            if state == "running":
                step.started_at = now
            elif state != "pending":
                step.finished_at = now
            op = session.get(Operation, op_id)
            if op is not None:
                op.heartbeat_at = now
                if data is not None:
                    op.context = json.dumps(data, sort_keys=True, default=str)

    def mark_step_sync(self, op_id: int, position: int, state: str, detail: str | None = None) -> None:
        """Persist a step's state from outside a run (a summary step such as a resize's rollback)."""
        self._mark_step(op_id, position, state, detail=detail)

    def beat_sync(self, op_id: int) -> None:
        """Refresh the heartbeat of an operation this process runs (or whose cleanup it retries)."""
        with self._db.locked_session() as session:
            op = session.get(Operation, op_id)
            claimed = op is not None and op.heartbeat_at is not None and op.owner == self.owner
            if op is not None and (op.state == "running" or (op.state == CLEANUP_PENDING and claimed)):
                op.heartbeat_at = utcnow()

    @contextlib.asynccontextmanager
    async def beating(self, op_id: int) -> AsyncIterator[None]:
        """Keep an operation's heartbeat fresh while the block runs (work done outside `run`, e.g. an upload)."""
        task = asyncio.ensure_future(self._heartbeat(op_id))
        try:
            yield
        finally:
            task.cancel()

    async def _heartbeat(self, op_id: int) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_every)
            try:
                await asyncio.to_thread(self.beat_sync, op_id)
            except Exception as err:  # a missed beat only shortens the lease; never stop the operation
                log.warning("operation %s: heartbeat failed: %s", op_id, err)

    def _finish(self, op_id: int, state: str, error: str = "", data: dict[str, Any] | None = None) -> None:
        with self._db.locked_session() as session:
            op = session.get(Operation, op_id)
            if op is None:  # pragma: no cover
                return
            op.state, op.error = state, error[:2000]
            # a pending cleanup is not finished; no heartbeat means no one is retrying it now
            op.finished_at = None if state == CLEANUP_PENDING else utcnow()
            if state == CLEANUP_PENDING:
                op.heartbeat_at = None
            if data is not None:
                op.context = json.dumps(data, sort_keys=True, default=str)

    def set_vm_sync(self, op_id: int, vm_id: int | None) -> None:
        """Link the operation to its VM (a create links it once the VM row exists)."""
        with self._db.locked_session() as session:
            op = session.get(Operation, op_id)
            if op is not None:
                op.vm_id = vm_id

    # -- running

    async def run(
        self,
        op_id: int,
        steps: Sequence[Step],
        data: dict[str, Any],
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        error_of: Callable[[Step, BaseException], ServiceError] | None = None,
        start: int = 0,
        done: Sequence[int] = (),
    ) -> dict[str, Any]:
        """Run the steps in order; on failure or cancel compensate the done ones (newest first) and raise.

        Raises the error made by `error_of(step, cause)` (default: OperationFailed naming the step), or
        `Cancelled` when the operator cancelled. `asyncio.CancelledError` (a worker cancelled) also
        compensates, then propagates. `start` resumes an interrupted operation at that step; `done`
        are the positions before it that ran (they are compensated on a later failure).
        """
        cancel = cancel or CancelToken()
        total = len(steps)

        def report(detail: str) -> None:
            step = steps[ctx.position]
            on_progress(Progress(step.code, ctx.position, total, detail or step.label, unit="steps"))

        ctx = RunContext(op_id, data, cancel, report)
        beating = asyncio.ensure_future(self._heartbeat(op_id))
        try:
            return await self._run_steps(op_id, steps, ctx, on_progress, error_of, start, done)
        finally:
            beating.cancel()

    async def _run_steps(
        self,
        op_id: int,
        steps: Sequence[Step],
        ctx: RunContext,
        on_progress: ProgressCallback,
        error_of: Callable[[Step, BaseException], ServiceError] | None,
        start: int = 0,
        done_before: Sequence[int] = (),
    ) -> dict[str, Any]:
        cancel, data, total = ctx.cancel, ctx.data, len(steps)
        done: list[int] = [p for p in done_before if p < start]
        for position, step in enumerate(steps):
            if position < start:
                continue
            ctx.position = position
            try:
                cancel.raise_if_cancelled()
                await asyncio.to_thread(self._mark_step, op_id, position, "running")
                on_progress(Progress(step.code, position, total, step.label, unit="steps"))
                try:
                    await asyncio.to_thread(step.run, ctx)
                except SkipStep as skipped:
                    await asyncio.to_thread(
                        self._mark_step, op_id, position, "skipped", detail=str(skipped), data=data
                    )
                    continue
                cancel.raise_if_cancelled()
            except BaseException as err:
                if isinstance(err, asyncio.CancelledError):
                    cancel.cancel()  # the step's thread runs on: stop it at its next check
                reason = _reason(err)
                step_state = "failed" if position not in done else "done"
                await _shielded(
                    asyncio.to_thread(self._mark_step, op_id, position, step_state, detail=reason, data=data)
                )
                # the failed step may have made something before failing: compensate it too
                undo: _Undo = await _shielded(
                    self._compensate(op_id, steps, [*done, position], ctx, on_progress, failed=position)
                )
                error = _build_error(step, err, undo.errors, error_of)
                if undo.unreachable:
                    outcome = _error_text(_build_error(step, err, [], error_of))
                    cause = _error_text(ServiceError("operation.step_failed", step=step.label, reason=reason))
                    error = self._pending(data, undo, position, outcome, cause, step, err)
                    final, text = CLEANUP_PENDING, _error_text(error)
                else:
                    final = "failed" if undo.errors else "compensated"
                    text = _error_text(error)
                await _shielded(asyncio.to_thread(self._finish, op_id, final, text, data))
                if isinstance(err, asyncio.CancelledError):
                    raise
                raise error from err
            done.append(position)
            await asyncio.to_thread(self._mark_step, op_id, position, "done", data=data)
        await asyncio.to_thread(self._finish, op_id, "done", "", data)
        on_progress(Progress("done", total, total, N_("Done"), unit="steps"))
        return data

    async def _compensate(
        self,
        op_id: int,
        steps: Sequence[Step],
        positions: Sequence[int],
        ctx: RunContext,
        on_progress: ProgressCallback,
        *,
        failed: int | None = None,
        stop_when_unreachable: bool = False,
    ) -> _Undo:
        """Undo the given steps newest first; returns what could not be undone (never raises).

        The step that failed (`failed`) keeps its `failed` state and reason once undone, so the record
        still says which step failed and why. Once a compensation could not reach the cloud, the
        `after_cleanup` ones wait (they are returned in `retry`, not run); with `stop_when_unreachable`
        (a retry) all the rest waits, so a cloud that times out costs one timeout per retry, not one per step.
        """
        undo = _Undo()
        for position in reversed(positions):
            step = steps[position]
            if step.compensate is None:
                continue
            if undo.unreachable and stop_when_unreachable and not step.after_cleanup:
                undo.retry.append(position)
                continue
            if step.after_cleanup and undo.unreachable:
                undo.retry.append(position)
                await asyncio.to_thread(
                    self._mark_step,
                    op_id,
                    position,
                    "failed" if position == failed else "done",
                    detail=WAITS_FOR_CLEANUP,
                    data=ctx.data,
                )
                continue
            on_progress(Progress("rollback", position, len(steps), step.label, unit="steps"))
            try:
                await asyncio.to_thread(step.compensate, ctx)
            except Exception as err:  # keep undoing the others; report every leftover
                log.warning("operation %s: compensation of %s failed: %s", op_id, step.code, _reason(err))
                undo.errors.append(f"{step.code}: {_reason(err)}")
                undo.retry.append(position)
                undo.unreachable = undo.unreachable or cloud_unreachable(err)
                await asyncio.to_thread(
                    self._mark_step,
                    op_id,
                    position,
                    "failed",
                    detail=f"rollback: {_reason(err)}",
                    data=ctx.data,
                )
                continue
            if position != failed:
                await asyncio.to_thread(self._mark_step, op_id, position, "compensated", data=ctx.data)
        undo.retry.sort()
        return undo

    def _pending(
        self,
        data: dict[str, Any],
        undo: _Undo,
        failed: int | None,
        outcome: str,
        reason: str,
        step: Step | None = None,
        err: BaseException | None = None,
    ) -> CleanupPending:
        """Save what is left to undo in the context; the error that says the cleanup is pending.

        `outcome` is the text the operation ends with once the cleanup is done; `reason` why it failed.
        """
        data[CLEANUP_KEY] = {"positions": undo.retry, "failed": failed, "outcome": outcome, "reason": reason}
        error = CleanupPending(
            "operation.cleanup_pending",
            step=step.label if step is not None else "",
            cause=err if err is not None else RuntimeError(reason),
            compensation_errors=undo.errors,
            reason=reason,
            leftovers=undo.leftovers(),
        )
        return error

    async def compensate_interrupted(self, op_id: int, steps: Sequence[Step]) -> OperationInfo:
        """After a crash: undo the done (and the running) steps of a still-`running` operation from its saved context.

        When a compensation cannot reach the cloud the operation becomes `cleanup_pending` (see `retry_cleanup`).
        """
        data, positions = await asyncio.to_thread(self._interrupted_state, op_id)
        ctx = RunContext(op_id, data, CancelToken(), lambda _detail: None)
        undo = await self._compensate(op_id, steps, positions, ctx, ignore_progress)
        outcome = str(ServiceError("operation.interrupted"))
        if undo.unreachable:
            label = steps[positions[-1]].label if positions else "?"
            cause = _error_text(ServiceError("operation.stopped", field=label))
            text = _error_text(self._pending(data, undo, None, outcome, cause))
            await asyncio.to_thread(self._finish, op_id, CLEANUP_PENDING, text, data)
            return await self.get(op_id)
        text = outcome + ("" if not undo.errors else " " + "; ".join(undo.errors))
        await asyncio.to_thread(self._finish, op_id, "failed" if undo.errors else "compensated", text, data)
        return await self.get(op_id)

    def _interrupted_state(self, op_id: int) -> tuple[dict[str, Any], list[int]]:
        with self._db.locked_session() as session:
            op = session.get(Operation, op_id)
            if op is None:
                raise ServiceError("operation.not_found", id=op_id)
            positions = [s.position for s in op.steps if s.state in ("done", "running")]
            return json.loads(op.context or "{}"), positions

    # -- pending cleanups (blocking parts run in threads)

    def pending_cleanup_sync(self, kind: str | None = None) -> list[int]:
        """Ids of operations whose cleanup is pending (oldest first)."""
        with self._db.locked_session() as session:
            query = select(Operation.id).where(Operation.state == CLEANUP_PENDING).order_by(Operation.id)
            if kind is not None:
                query = query.where(Operation.kind == kind)
            return list(session.scalars(query))

    def claim_cleanup_sync(self, op_id: int) -> bool:
        """Take a pending cleanup to retry it: no one retries it now, or its retrier is gone (or is us)."""
        with self._db.locked_session() as session:
            op = session.scalars(select(Operation).where(Operation.id == op_id).with_for_update()).first()
            if op is None or op.state != CLEANUP_PENDING:
                return False
            beat = op.heartbeat_at
            free = (
                beat is None
                or op.owner == self.owner
                or (utcnow() - beat).total_seconds() >= self.lease
                or _dead_local_owner(op.owner, socket.gethostname())
            )
            if not free:
                return False
            op.owner, op.heartbeat_at = self.owner, utcnow()
            return True

    async def retry_cleanup(self, op_id: int, steps: Sequence[Step]) -> OperationInfo:
        """Retry the compensations a pending cleanup still owes (claim it first: `claim_cleanup_sync`).

        All confirmed: the operation ends `compensated` with the outcome it would have had (the
        `after_cleanup` steps, e.g. the quota release, run last). The cloud still unreachable: it stays
        `cleanup_pending` with the new reason. Reached but refused: `failed`, naming the leftovers.
        """
        data = await asyncio.to_thread(self.context_sync, op_id)
        pending = dict(data.get(CLEANUP_KEY) or {})
        positions = [int(p) for p in pending.get("positions", []) if 0 <= int(p) < len(steps)]
        failed = pending.get("failed")
        ctx = RunContext(op_id, data, CancelToken(), lambda _detail: None)
        async with self.beating(op_id):
            undo = await _shielded(
                self._compensate(
                    op_id, steps, positions, ctx, ignore_progress, failed=failed, stop_when_unreachable=True
                )
            )
        outcome = str(pending.get("outcome") or ServiceError("operation.interrupted"))
        if undo.unreachable:
            reason = str(pending.get("reason") or outcome)
            text = _error_text(self._pending(data, undo, failed, outcome, reason))
            await asyncio.to_thread(self._finish, op_id, CLEANUP_PENDING, text, data)
        else:
            data.pop(CLEANUP_KEY, None)
            text = outcome + ("" if not undo.errors else " " + "; ".join(undo.errors))
            await asyncio.to_thread(
                self._finish, op_id, "failed" if undo.errors else "compensated", text, data
            )
        return await self.get(op_id)

    # -- reading

    async def get(self, op_id: int) -> OperationInfo:
        """One operation with its steps."""

        def load() -> OperationInfo:
            with self._db.locked_session() as session:
                op = session.get(Operation, op_id)
                if op is None:
                    raise ServiceError("operation.not_found", id=op_id)
                return self.info(op)

        return await asyncio.to_thread(load)

    def running_sync(self, kind: str | None = None) -> list[int]:
        """Ids of operations still marked running (after a crash: to compensate or resume)."""
        with self._db.locked_session() as session:
            query = select(Operation.id).where(Operation.state == "running").order_by(Operation.id)
            if kind is not None:
                query = query.where(Operation.kind == kind)
            return list(session.scalars(query))

    def stale_running_sync(self, kind: str | None = None) -> list[int]:
        """Running operations whose owner is gone: heartbeat older than the lease, or a dead process of this host."""
        now = utcnow()
        host = socket.gethostname()
        out = []
        with self._db.locked_session() as session:
            query = select(Operation).where(Operation.state == "running").order_by(Operation.id)
            if kind is not None:
                query = query.where(Operation.kind == kind)
            for op in session.scalars(query):
                beat = op.heartbeat_at or op.created_at
                if (now - beat).total_seconds() >= self.lease or _dead_local_owner(op.owner, host):
                    out.append(op.id)
        return out

    def claim_stale_sync(self, op_id: int) -> bool:
        """Take over a stale running operation (one process wins when several start at once)."""
        with self._db.locked_session() as session:
            op = session.scalars(select(Operation).where(Operation.id == op_id).with_for_update()).first()
            if op is None or op.state != "running":
                return False
            beat = op.heartbeat_at or op.created_at
            stale = (utcnow() - beat).total_seconds() >= self.lease or _dead_local_owner(
                op.owner, socket.gethostname()
            )
            if not stale:
                return False
            op.owner, op.heartbeat_at = self.owner, utcnow()
            return True

    def finish_sync(self, op_id: int, state: str, error: str = "") -> None:
        """Mark an operation finished (recovery that rolls a complete operation forward)."""
        self._finish(op_id, state, error)

    def context_sync(self, op_id: int) -> dict[str, Any]:
        """The saved context of an operation."""
        with self._db.locked_session() as session:
            op = session.get(Operation, op_id)
            return json.loads(op.context or "{}") if op is not None else {}

    @staticmethod
    def info(op: Operation, labels: dict[str, str] | None = None) -> OperationInfo:
        """An Operation row as a DTO (labels: step code → N_ label)."""
        labels = {**(labels or {}), **STEP_LABELS_BY_KIND.get(op.kind, {})}
        return OperationInfo(
            id=op.id,
            kind=op.kind,
            state=op.state,
            error=op.error,
            created_by=op.created_by,
            created_at=op.created_at,
            steps=tuple(
                StepInfo(s.code, labels.get(s.code, s.code), s.state, s.detail, s.started_at, s.finished_at)
                for s in op.steps
            ),
            vm_id=op.vm_id,
            finished_at=op.finished_at,
        )


def _dead_local_owner(owner: str, host: str) -> bool:
    """The owner is a process of this host that no longer runs (this process is never dead)."""
    owner_host, _sep, pid_text = (owner or "").rpartition(":")
    if owner_host != host or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists but belongs to someone else
        return False
    return False


async def _shielded(awaitable: Any) -> Any:
    """Finish bookkeeping and rollback even when the awaiting task is being cancelled."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        return await task


def _reason(err: BaseException) -> str:
    if isinstance(err, ServiceError):
        return str(err)
    if isinstance(err, asyncio.CancelledError):
        return str(Cancelled())
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def _build_error(
    step: Step,
    err: BaseException,
    compensation_errors: list[str],
    error_of: Callable[[Step, BaseException], ServiceError] | None,
) -> ServiceError:
    if error_of is not None:
        built = error_of(step, err)
    elif isinstance(err, Cancelled | asyncio.CancelledError):
        built = Cancelled()
    else:
        built = OperationFailed("operation.step_failed", step=step.label, cause=err, reason=_reason(err))
    if compensation_errors:
        built.params.setdefault("leftovers", "; ".join(compensation_errors))
    return built


def _error_text(err: ServiceError) -> str:
    from ectui.i18n import render

    return render(err)
