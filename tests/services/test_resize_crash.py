"""Resize crash safety: a console process killed (SIGKILL) at each of the ten steps, then a restart
(`ConsoleServices.start()` → `resume_interrupted`) resumes or compensates; the end state is consistent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ectui.db.models import Operation, OperationStep
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.services import build_console_services
from ectui.services.vms import VmError
from tests.kit import CONSOLE_NOW, Clock, home_settings
from tests.kit.cloud import clean_cloud
from tests.kit.files import wait_for
from tests.kit.resize import CODES, assert_consistent, flavor_id_of, make_vm, resize_env
from tests.kit.vms import Env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    """One dev cloud for the module (each test cleans up its servers and faults)."""
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.02))
    yield handle
    handle.stop()


@pytest.fixture
async def env(tmp_path: Path, cloud: DevCloudHandle) -> AsyncIterator[Env]:
    """A licensed console on the module's cloud: cluster dc1, template cirros, project web (current)."""
    e = await resize_env(tmp_path, cloud)
    yield e
    e.s.close()
    clean_cloud(cloud, e.conn)


CHILD = """
import asyncio, pathlib, threading
from tests.kit import CONSOLE_NOW, Clock, home_settings
from ectui.services import build_console_services
from ectui.services.vms import VmError
from ectui.services.operations.engine import SkipStep, Step
from ectui.services.resize import ResizeService

TARGET, MARK = {target!r}, pathlib.Path({mark!r})
original = ResizeService._steps

def steps(self, plan):
    out = []
    for step in original(self, plan):
        if step.code == TARGET:
            def run(ctx, inner=step.run):
                try:
                    inner(ctx)          # the step's effect is made ...
                except SkipStep:
                    pass
                MARK.write_text("made")
                threading.Event().wait()  # ... and the process dies before it is persisted as done
            step = Step(step.code, step.label, run, step.compensate)
        out.append(step)
    return out

ResizeService._steps = steps

async def main():
    s = build_console_services(home_settings({home!r}, ECTUI_OPERATOR="alice"), clock=Clock(CONSOLE_NOW))
    await s.start()
    plan = await s.resize.plan({vm}, 3, 4, "cold")
    await s.resize.resize(plan)

asyncio.run(main())
"""


def spawn(env: Env, vm: int, target: str) -> tuple[subprocess.Popen[str], Path]:
    mark = env.home / f"mark-{target}"
    script = CHILD.format(target=target, mark=str(mark), home=str(env.home / "console"), vm=vm)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
    proc = subprocess.Popen(  # noqa: ASYNC220  (started once; its pipes are read only after it dies)
        [sys.executable, "-c", script], cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    return proc, mark


def reached(env: Env, proc: subprocess.Popen[str], mark: Path, target: str) -> bool:
    """The persisted current step of the child's operation is `target` and its effect is made (polls the DB)."""
    if proc.poll() is not None:
        raise AssertionError(proc.stderr.read() if proc.stderr else "child ended")
    with env.s.db.session() as session:
        running = session.scalar(
            select(OperationStep.code)
            .join(Operation, Operation.id == OperationStep.operation_id)
            .where(Operation.kind == "resize", OperationStep.state == "running")
        )
    return running == target and mark.exists()


async def restart(env: Env) -> None:
    again = build_console_services(
        home_settings(env.home / "console", ECTUI_OPERATOR="alice"), clock=Clock(CONSOLE_NOW)
    )
    await again.start()
    again.close()


RESUMED = {"resize", "rollback", "release", "start", "unlock"}
"""Steps after which the resize had taken: the restart resumes; before them it compensates."""


@pytest.mark.parametrize("target", CODES)
async def test_killed_at_each_step_ends_consistent_after_a_restart(env: Env, target: str) -> None:
    vm = await make_vm(env)
    old = flavor_id_of(env, vm)
    proc, mark = spawn(env, vm, target)
    try:
        await asyncio.to_thread(wait_for, lambda: reached(env, proc, mark, target))
        # a live console's operation is never touched by another console's start
        await restart(env)
        with env.s.db.session() as session:
            assert session.scalar(select(Operation.state).where(Operation.kind == "resize")) == "running"
        if target != "unlock":  # (once 'unlock' ran, the VM is free again)
            with pytest.raises(VmError) as locked:  # its lock holds against this process too
                await env.s.resize.plan(vm, 4, 4)
            assert locked.value.key == "vm.locked_operation"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    await restart(env)
    with env.s.db.session() as session:
        op = session.scalars(select(Operation).where(Operation.kind == "resize")).one()
        state, error = op.state, op.error
        steps = {s.code: s.state for s in op.steps}
    if target in RESUMED:
        assert state == "done", error
        assert steps["unlock"] == "done" and steps["start"] == "done"
        await assert_consistent(env, vm, (3, 4), "ACTIVE", gone_flavor=old)
    else:
        assert state == "compensated", error
        assert "Interrupted" in error and steps["rollback"] == "done"
        assert steps[target] == "compensated" or target == "background"
        await assert_consistent(env, vm, (2, 2), "ACTIVE")
