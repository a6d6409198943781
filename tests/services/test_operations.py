"""The operations engine on a real console database: steps persisted, compensation newest first, cancel, recovery."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from sqlalchemy import select

from ectui.db.models import Operation
from ectui.services import ConsoleServices
from ectui.services.errors import ServiceError
from ectui.services.operations import OperationEngine, OperationFailed, RunContext, Step
from ectui.services.progress import Cancelled, CancelToken, Progress


def engine(services: ConsoleServices) -> OperationEngine:
    return OperationEngine(services.db, "alice")


def recording_steps(
    log: list[str], *, fail_at: str | None = None, fail_undo: str | None = None
) -> list[Step]:
    def make(code: str) -> Step:
        def run(ctx: RunContext) -> None:
            log.append(f"run {code}")
            ctx.data[code] = f"{code}-id"
            if code == fail_at:
                raise RuntimeError(f"{code} broke")

        def undo(ctx: RunContext) -> None:
            log.append(f"undo {code}")
            if code == fail_undo:
                raise RuntimeError(f"undo {code} broke")

        return Step(code, code.title(), run, undo)

    return [make(c) for c in ("a", "b", "c")]


def states(services: ConsoleServices, op_id: int) -> tuple[str, dict[str, str], dict[str, str]]:
    with services.db.session() as session:
        op = session.get(Operation, op_id)
        assert op is not None
        return op.state, {s.code: s.state for s in op.steps}, json.loads(op.context)


async def test_success_persists_every_step_and_the_context(console_services: ConsoleServices) -> None:
    e, log, seen = engine(console_services), [], []
    steps = recording_steps(log)
    op_id = await asyncio.to_thread(e.create_sync, "demo", steps, params={"x": 1})
    assert states(console_services, op_id)[1] == {"a": "pending", "b": "pending", "c": "pending"}
    data = await e.run(op_id, steps, {}, on_progress=seen.append)
    assert data == {"a": "a-id", "b": "b-id", "c": "c-id"} and log == ["run a", "run b", "run c"]
    assert states(console_services, op_id) == ("done", {"a": "done", "b": "done", "c": "done"}, data)
    assert [p.step for p in seen] == ["a", "b", "c", "done"] and seen[-1] == Progress(
        "done", 3, 3, "Done", unit="steps"
    )
    info = await e.get(op_id)
    assert info.created_by == "alice" and all(s.started_at and s.finished_at for s in info.steps)


async def test_failure_compensates_newest_first_including_the_failed_step(
    console_services: ConsoleServices,
) -> None:
    e, log = engine(console_services), []
    steps = recording_steps(log, fail_at="c")
    op_id = await asyncio.to_thread(e.create_sync, "demo", steps)
    with pytest.raises(OperationFailed) as caught:
        await e.run(op_id, steps, {})
    assert log == ["run a", "run b", "run c", "undo c", "undo b", "undo a"]
    assert caught.value.step == "C" and "c broke" in str(caught.value)
    state, step_states, context = states(console_services, op_id)
    assert state == "compensated" and step_states == {"a": "compensated", "b": "compensated", "c": "failed"}
    assert context["c"] == "c-id"
    info = await e.get(op_id)
    assert "c broke" in info.error


async def test_a_failed_compensation_is_reported_and_the_rest_still_undone(
    console_services: ConsoleServices,
) -> None:
    e, log = engine(console_services), []
    steps = recording_steps(log, fail_at="c", fail_undo="b")
    op_id = await asyncio.to_thread(e.create_sync, "demo", steps)
    with pytest.raises(ServiceError) as caught:
        await e.run(op_id, steps, {})
    assert log[-3:] == ["undo c", "undo b", "undo a"]
    assert "undo b broke" in caught.value.params["leftovers"]
    state, step_states, _ = states(console_services, op_id)
    assert state == "failed" and step_states == {"a": "compensated", "b": "failed", "c": "failed"}


async def test_cancel_between_steps_compensates(console_services: ConsoleServices) -> None:
    e, log, token = engine(console_services), [], CancelToken()
    steps = recording_steps(log)

    def progress(p: Progress) -> None:
        if p.step == "b":
            token.cancel()

    op_id = await asyncio.to_thread(e.create_sync, "demo", steps)
    with pytest.raises(Cancelled):
        await e.run(op_id, steps, {}, on_progress=progress, cancel=token)
    assert log == ["run a", "run b", "undo b", "undo a"]
    assert states(console_services, op_id)[0] == "compensated"


async def test_a_cancelled_worker_still_compensates(console_services: ConsoleServices) -> None:
    e, log = engine(console_services), []
    started, release = threading.Event(), threading.Event()

    def slow(ctx: RunContext) -> None:
        log.append("run slow")
        started.set()
        release.wait(10)

    steps = [*recording_steps(log)[:1], Step("slow", "Slow", slow, lambda ctx: log.append("undo slow"))]
    op_id = await asyncio.to_thread(e.create_sync, "demo", steps)
    task = asyncio.create_task(e.run(op_id, steps, {}))
    await asyncio.to_thread(started.wait, 10)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["run a", "run slow", "undo slow", "undo a"]
    assert states(console_services, op_id)[0] == "compensated"


async def test_an_interrupted_operation_is_compensated_from_its_saved_context(
    console_services: ConsoleServices,
) -> None:
    e, log = engine(console_services), []
    steps = recording_steps(log)
    op_id = await asyncio.to_thread(e.create_sync, "demo", steps)
    # a crash after step a finished and step b started: what is on disk is all there is
    e._mark_step(op_id, 0, "done", data={"a": "a-id"})
    e._mark_step(op_id, 1, "running")
    assert await asyncio.to_thread(e.running_sync, "demo") == [op_id]
    seen: list[str] = []
    undo_steps = [
        Step(s.code, s.label, s.run, lambda ctx, c=s.code: seen.append(f"{c}:{ctx.data}")) for s in steps
    ]
    info = await e.compensate_interrupted(op_id, undo_steps)
    assert seen == ["b:{'a': 'a-id'}", "a:{'a': 'a-id'}"]
    assert info.state == "compensated" and "Interrupted" in info.error
    with console_services.db.session() as session:
        assert session.scalar(select(Operation.state).where(Operation.id == op_id)) == "compensated"
