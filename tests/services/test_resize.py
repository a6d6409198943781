"""Resize (SPEC R) against the real dev cloud: cold and hot, growing and shrinking, a fault at each of the ten
steps (HTTP errors and Nova's silent failure), refusals before anything is touched, and the lock."""

# ruff: noqa: F811  (pytest fixtures imported from the sibling module are redefined as parameters)

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ectui.db.models import Vm
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.i18n import render
from ectui.services.errors import ValidationError
from ectui.services.progress import Cancelled, CancelToken, Progress
from ectui.services.projects import Amounts, QuotaError
from ectui.services.resize import RESIZE_STEPS, ResizeError, ResizeService
from ectui.services.vms import VmError
from tests.kit.cloud import admin_call, clean_cloud, fault
from tests.kit.resize import (
    CODES,
    assert_consistent,
    flavor_id_of,
    hot_vm,
    last_op,
    make_vm,
    resize_env,
    server_of,
    steps_of,
)
from tests.kit.vms import Env


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


# ------------------------------------------------------------------ helpers


# ------------------------------------------------------------------ planning and refusals


async def test_plan_validates_fields_naming_them(env: Env) -> None:
    vm = await make_vm(env)
    for cpu, ram, mode, field in (("x", "2", None, "CPU"), ("0", "2", None, "CPU"), ("2", "", None, "RAM (GB)"),
                                  ("2", "2.5", None, "RAM (GB)"), ("3", "2", "warm", "Mode"), ("2", "2", None, "CPU")):  # fmt: skip
        with pytest.raises(ValidationError) as caught:
            await env.s.resize.plan(vm, cpu, ram, mode)
        assert caught.value.field == field and field in render(caught.value)
    with pytest.raises(VmError) as missing:
        await env.s.resize.plan(999, 2, 2)
    assert missing.value.key == "vm.not_found"


async def test_quota_refusal_happens_before_anything_is_touched(env: Env) -> None:
    vm = await make_vm(env)
    with pytest.raises(QuotaError) as caught:
        await env.s.resize.plan(vm, 2, 70)
    assert caught.value.key == "project.quota_exceeded" and "RAM" in render(caught.value)
    assert await env.s.resize.operations() == [
        op for op in await env.s.resize.operations() if op.kind == "create_vm"
    ]
    assert [f.name for f in env.conn.compute.flavors(is_public=None) if f.name.startswith("ectui-r1-r")] == []
    await assert_consistent(env, vm, (2, 2), "ACTIVE")


async def test_hot_is_refused_with_the_reason(env: Env) -> None:
    vm = await make_vm(env)
    plan = await env.s.resize.plan(vm, 3, 4)  # the console's own flavor has no hw:live_resize
    assert (
        plan.mode == "cold"
        and plan.will_stop
        and not plan.hot_available
        and "hw:live_resize" in plan.hot_reason
    )
    with pytest.raises(ResizeError) as no_spec:
        await env.s.resize.plan(vm, 3, 4, "hot")
    assert no_spec.value.key == "resize.hot_unavailable" and "hw:live_resize" in render(no_spec.value)
    hot = await hot_vm(env)
    assert (await env.s.resize.plan(hot, 4, 8)).mode == "hot"
    shrink = await env.s.resize.plan(hot, 1, 4)
    assert shrink.mode == "cold" and "only grow" in shrink.hot_reason
    env.cloud.cloud.vendor_extensions = ("EC-CDROM",)
    with pytest.raises(ResizeError) as no_extension:
        await env.s.resize.plan(hot, 4, 8, "hot")
    assert "EC-LIVE-RESIZE" in render(no_extension.value)
    await env.s.vms.stop(vm, wait=True)
    stopped = await env.s.resize.plan(vm, 3, 4)
    assert stopped.mode == "cold" and not stopped.will_stop and stopped.hot_reason == "the VM is not running"


# ------------------------------------------------------------------ the happy paths


async def test_cold_grow_of_a_running_vm_runs_the_ten_steps(env: Env) -> None:
    vm = await make_vm(env)
    old = flavor_id_of(env, vm)
    seen: list[Progress] = []
    plan = await env.s.resize.plan(vm, 3, 4)
    assert plan.quota_delta == Amounts(vcpus=1, ram_gb=2) and plan.will_stop
    done = await env.s.resize.resize(plan, on_progress=seen.append)
    assert done.state == "done" and done.kind == "resize" and done.vm_id == vm
    assert [s.code for s in done.steps] == CODES
    assert steps_of(done) == {**dict.fromkeys(CODES, "done"), "rollback": "skipped"}
    assert all(s.started_at and s.finished_at for s in done.steps if s.state == "done")
    assert [p.step for p in seen if p.detail in dict(RESIZE_STEPS).values()][:10] == CODES
    assert all(p.total == 10 and p.unit == "steps" for p in seen)
    await assert_consistent(env, vm, (3, 4), "ACTIVE", gone_flavor=old)
    actions = env.conn.compute.get(f"/servers/{server_of(env, vm)['id']}/os-instance-actions").json()
    assert [a["action"] for a in actions["instanceActions"]][:6] == [
        "unlock",
        "start",
        "confirmResize",
        "resize",
        "stop",
        "lock",
    ]
    assert (await env.s.vms.get(vm)).status == "ACTIVE"


async def test_cold_shrink_releases_the_difference_only_at_the_end(env: Env) -> None:
    vm = await make_vm(env, cpu=4, ram=4)
    plan = await env.s.resize.plan(vm, 2, 1)
    assert plan.growth == Amounts() and plan.shrink == Amounts(vcpus=2, ram_gb=3)
    done = await env.s.resize.resize(plan)
    assert steps_of(done)["reserve"] == "skipped" and done.state == "done"
    await assert_consistent(env, vm, (2, 1), "ACTIVE")
    assert (await env.s.projects.get("web")).used.vcpus == 2


async def test_cold_resize_of_a_stopped_vm_keeps_it_stopped(env: Env) -> None:
    vm = await make_vm(env, stopped=True)
    done = await env.s.resize.resize(await env.s.resize.plan(vm, 3, 3))
    assert (steps_of(done)["stop"], steps_of(done)["start"]) == ("skipped", "skipped")
    await assert_consistent(env, vm, (3, 3), "SHUTOFF")


async def test_hot_grow_keeps_the_vm_running_and_the_public_flavor(env: Env) -> None:
    vm = await hot_vm(env)
    plan = await env.s.resize.plan(vm, 4, 6)
    assert plan.mode == "hot" and not plan.will_stop
    done = await env.s.resize.resize(plan)
    assert done.state == "done" and (steps_of(done)["stop"], steps_of(done)["start"]) == (
        "skipped",
        "skipped",
    )
    await assert_consistent(env, vm, (4, 6), "ACTIVE", vm_name="h1")
    server = server_of(env, vm)
    assert (
        server["flavor"]["extra_specs"].get("hw:live_resize") == "true"
    )  # a later hot resize stays possible
    assert env.conn.compute.find_flavor("hot-2") is not None  # public: never deleted
    actions = env.conn.compute.get(f"/servers/{server['id']}/os-instance-actions").json()["instanceActions"]
    assert "stop" not in [a["action"] for a in actions] and actions[1]["action"] == "liveResize"


# ------------------------------------------------------------------ a fault at each step


FAULTS: list[tuple[str, str, dict[str, Any]]] = [
    ("lock", "compute.lock", {}),
    ("stop", "compute.stop", {}),
    ("flavor", "compute.create_flavor", {}),
    ("resize", "compute.resize", {}),
    ("resize", "compute.resize", {"mode": "silent", "status": None, "message": "disk full on node"}),
    ("resize", "compute.confirm_resize", {}),
]


@pytest.mark.parametrize(
    ("step", "op", "spec"), FAULTS, ids=[f"{s}-{o}-{x.get('mode', 'http')}" for s, o, x in FAULTS]
)
async def test_fault_before_the_resize_took_rolls_everything_back(
    env: Env, step: str, op: str, spec: dict[str, Any]
) -> None:
    vm = await make_vm(env)
    plan = await env.s.resize.plan(vm, 3, 4)
    fault(env.cloud, op, **spec)
    with pytest.raises(ResizeError) as caught:
        await env.s.resize.resize(plan)
    assert caught.value.key == "resize.failed" and caught.value.params["step_code"] == step
    text = render(caught.value)
    assert "rolled back" in text
    if spec.get("mode") == "silent":
        assert "disk full on node" in text and "still 2 vCPU" in text
    info = await last_op(env)
    assert info.state == "compensated" and steps_of(info)["rollback"] == "done"
    assert steps_of(info)[step] in ("failed", "compensated")
    assert all(steps_of(info)[c] == "pending" for c in CODES[CODES.index(step) + 1 :] if c != "rollback")
    await assert_consistent(env, vm, (2, 2), "ACTIVE")


async def test_quota_taken_between_plan_and_run_fails_step_one(env: Env) -> None:
    vm = await make_vm(env)
    plan = await env.s.resize.plan(vm, 3, 4)
    await env.s.projects.set_quota("web", Amounts(vcpus=2, ram_gb=64, vms=5, public_ips=2))
    with pytest.raises(QuotaError):
        await env.s.resize.resize(plan)
    info = await last_op(env)
    assert info.state == "compensated" and steps_of(info)["reserve"] in ("failed", "compensated")
    await assert_consistent(env, vm, (2, 2), "ACTIVE")


async def test_cancel_at_step_three_rolls_back(env: Env) -> None:
    vm = await make_vm(env)
    cancel = CancelToken()

    def progress(p: Progress) -> None:
        if p.step == "background":
            cancel.cancel()

    with pytest.raises(Cancelled) as caught:
        await env.s.resize.resize(await env.s.resize.plan(vm, 3, 4), on_progress=progress, cancel=cancel)
    assert caught.value.key == "resize.cancelled"
    info = await last_op(env)
    assert info.state == "compensated" and steps_of(info)["stop"] == "pending"
    await assert_consistent(env, vm, (2, 2), "ACTIVE")


async def test_rollback_failing_once_is_retried_and_failing_always_names_the_leftover(env: Env) -> None:
    vm = await make_vm(env)
    fault(env.cloud, "compute.resize")
    fault(env.cloud, "compute.delete_flavor")  # the rollback's first delete fails: retried
    with pytest.raises(ResizeError):
        await env.s.resize.resize(await env.s.resize.plan(vm, 3, 4))
    assert (await last_op(env)).state == "compensated"
    await assert_consistent(env, vm, (2, 2), "ACTIVE")
    fault(env.cloud, "compute.resize")
    fault(env.cloud, "compute.delete_flavor", times=0)
    with pytest.raises(ResizeError) as caught:
        await env.s.resize.resize(await env.s.resize.plan(vm, 3, 4))
    admin_call(env.cloud, "DELETE", "/_admin/faults")
    info = await last_op(env)
    assert caught.value.key == "resize.leftovers" and "flavor" in caught.value.params["leftovers"]
    assert info.state == "failed" and steps_of(info)["rollback"] == "failed"
    left = [f for f in env.conn.compute.flavors(is_public=None) if f.name == f"ectui-r1-r{info.id}"]
    assert len(left) == 1  # named in the error; nothing else is left
    env.conn.compute.delete_flavor(left[0].id)
    await assert_consistent(env, vm, (2, 2), "ACTIVE")


AFTER: list[tuple[str, str]] = [
    ("release", "compute.delete_flavor"),
    ("start", "compute.start"),
    ("unlock", "compute.unlock"),
]


@pytest.mark.parametrize(("step", "op"), AFTER)
async def test_fault_after_the_resize_took_rolls_forward(env: Env, step: str, op: str) -> None:
    vm = await make_vm(env)
    old = flavor_id_of(env, vm)
    plan = await env.s.resize.plan(vm, 3, 4)
    fault(env.cloud, op)
    with pytest.raises(ResizeError) as caught:
        await env.s.resize.resize(plan)
    assert caught.value.key == "resize.failed_after_resize" and caught.value.params["step_code"] == step
    assert "now has 3 vCPU" in render(caught.value)
    info = await last_op(env)
    assert info.state == "compensated"
    await assert_consistent(env, vm, (3, 4), "ACTIVE", gone_flavor=old)


async def test_hot_silent_failure_is_detected_and_rolled_back(env: Env) -> None:
    vm = await hot_vm(env)
    fault(env.cloud, "compute.live_resize", mode="silent", status=None, message="no memory hot-plug slot")
    with pytest.raises(ResizeError) as caught:
        await env.s.resize.resize(await env.s.resize.plan(vm, 4, 6, "hot"))
    assert caught.value.params["step_code"] == "resize" and "no memory hot-plug slot" in render(caught.value)
    await assert_consistent(env, vm, (2, 4), "ACTIVE", vm_name="h1")


# ------------------------------------------------------------------ the lock


async def test_a_second_resize_of_the_same_vm_is_refused(env: Env) -> None:
    vm = await make_vm(env)
    first = await env.s.resize.plan(vm, 3, 4)
    second = await env.s.resize.plan(vm, 4, 4)
    env.cloud.cloud.timings.stop = 0.5  # the first one is still stopping while the second one asks
    running = asyncio.ensure_future(env.s.resize.resize(first))

    def locked() -> bool:
        with env.s.db.session() as session:
            row = session.get(Vm, vm)
            return row is not None and row.locked_by_operation is not None

    while not await asyncio.to_thread(locked):  # noqa: ASYNC110  (polls the database; no fixed wait)
        await asyncio.sleep(0)
    with pytest.raises(VmError) as planned:
        await env.s.resize.plan(vm, 4, 4)
    assert planned.value.key == "vm.locked_operation" and "resize" in render(planned.value)
    with pytest.raises(VmError) as ran:
        await env.s.resize.resize(second)
    assert ran.value.key == "vm.locked_operation"
    assert (await env.s.vms.get(vm)).status == "operating"
    done = await running
    assert done.state == "done"
    await assert_consistent(env, vm, (3, 4), "ACTIVE")


async def test_operations_listing_reads_every_kind(env: Env) -> None:
    vm = await make_vm(env)
    await env.s.resize.resize(await env.s.resize.plan(vm, 3, 2))
    ops = await env.s.resize.operations()
    assert [op.kind for op in ops] == ["resize", "create_vm"]
    assert ops[0].steps[0].label == "Reserve project resources" and ops[1].steps[0].label == "Reserve quota"
    assert [op.id for op in await env.s.resize.operations(vm_id=vm)] == [op.id for op in ops]
    assert (await env.s.resize.operation(ops[0].id)).to_json()["steps"][5]["code"] == "resize"
    assert isinstance(env.s.resize, ResizeService)
