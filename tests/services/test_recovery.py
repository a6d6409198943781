"""Recovery never forgets what it made: rollbacks that cannot reach the cloud stay pending (quota held) and
are retried at the next start and by `ectui ops resume`; a killed image upload leaves nothing behind.

The dev cloud is made unreachable by stopping it (connections are refused) and brought back on the same
port with the same state; a console is "killed" by SIGKILL of a child process held inside a step.
"""

# ruff: noqa: F811  (pytest fixtures imported from the sibling modules are redefined as parameters)

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ectui.commands.ops import ops_resume
from ectui.db.models import Operation
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.services import ConsoleServices, build_console_services
from ectui.services.errors import ServiceError
from ectui.services.images import ImageUpload
from ectui.services.progress import Progress
from ectui.services.projects import Amounts
from ectui.services.resize import ResizeError
from ectui.services.vms import VmError
from tests.kit import CONSOLE_NOW, Clock, home_settings
from tests.kit.cli import ectui
from tests.kit.cloud import admin_call
from tests.kit.files import make_file, wait_for
from tests.kit.vms import Env, assert_nothing_left, assert_quota_free, draft

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[DevCloudHandle]:
    """A fresh dev cloud per test (`env` uses it); `Outage` may stop and restart it."""
    handle = run_in_thread(tmp_path / "cloud", timings=Timings.fast(0.05))
    yield handle
    handle.stop()


class Outage:
    """Take the env's cloud away (connections refused) and bring it back on the same port and state."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.restarted: list[DevCloudHandle] = []

    def down(self) -> None:
        self.env.cloud.stop()

    def up(self) -> None:
        old = self.env.cloud.cloud
        handle = run_in_thread(old.state_dir, port=old.port, timings=old.timings)
        self.restarted.append(handle)
        self.env.cloud = handle


@pytest.fixture
def outage(env: Env) -> Iterator[Outage]:
    out = Outage(env)
    yield out
    for handle in out.restarted:
        handle.stop()


async def restarted(env: Env) -> ConsoleServices:
    """Another console on the same home, started (its start-up recovery ran); the caller closes it."""
    services = build_console_services(
        home_settings(env.home / "console", ECTUI_OPERATOR="alice"), clock=Clock(CONSOLE_NOW)
    )
    await services.start()
    return services


def op_of(env: Env, kind: str) -> Operation:
    with env.s.db.session() as session:
        op = session.scalars(
            select(Operation).where(Operation.kind == kind).order_by(Operation.id.desc())
        ).first()
        assert op is not None, kind
        session.expunge(op)
        return op


async def reserved(env: Env) -> dict[str, int]:
    return (await env.s.projects.get("web")).reserved.to_json()


# ------------------------------------------------------------------ a console killed inside steps

CHILD = """
import asyncio, dataclasses, pathlib, threading
from tests.kit import CONSOLE_NOW, Clock, home_settings
from ectui.services import build_console_services, images
from ectui.services.images import ImageUpload
from ectui.services.resize import ResizeService
from ectui.services.vms import VmDraft, VmService

HOLD = {hold!r}
MARKS = pathlib.Path({marks!r})


def holding(kind, steps):
    code, first = HOLD.get(kind, (None, False))
    out = []
    for step in steps:
        if step.code == code:
            def run(ctx, inner=step.run):
                if first:
                    inner(ctx)  # the step's effect is made ...
                (MARKS / kind).write_text("held")
                threading.Event().wait()  # ... and the console dies before the step is persisted as done
            step = dataclasses.replace(step, run=run)
        out.append(step)
    return out


create_steps, resize_steps, delete_steps = VmService._create_steps, ResizeService._steps, VmService._delete_steps
VmService._create_steps = lambda self, d, p: holding("create_vm", create_steps(self, d, p))
ResizeService._steps = lambda self, plan: holding("resize", resize_steps(self, plan))
VmService._delete_steps = lambda self, vm: holding("delete_vm", delete_steps(self, vm))


class Stalled(images.ChunkReader):
    def read(self, size=-1):
        if self.position:  # one chunk went out: the Glance image exists and is saving
            (MARKS / "image_upload").write_text("held")
            threading.Event().wait()
        return super().read(size)


images.ChunkReader = Stalled


async def main():
    s = build_console_services(home_settings({home!r}, ECTUI_OPERATOR="alice"), clock=Clock(CONSOLE_NOW))
    await s.start()
    work = []
    if "create_vm" in HOLD:
        work.append(s.vms.create(VmDraft.parse(**{draft!r})))
    if "resize" in HOLD:
        work.append(s.resize.resize(await s.resize.plan({resize_vm!r}, 3, 4, "cold")))
    if "delete_vm" in HOLD:
        work.append(s.vms.delete({delete_vm!r}))
    if {upload!r}:
        work.append(s.images.upload(ImageUpload.parse(path={upload!r}, cluster="dc1", name="half")))
    await asyncio.gather(*work)

asyncio.run(main())
"""


def kill_inside(
    env: Env,
    hold: dict[str, tuple[str, bool]],
    *,
    vm_draft: dict[str, Any] | None = None,
    resize_vm: int | None = None,
    delete_vm: int | None = None,
    upload: Path | None = None,
) -> None:
    """Run operations in another console process, wait until each is held inside its step, then SIGKILL it."""
    marks = env.home / "marks"
    marks.mkdir(exist_ok=True)
    script = CHILD.format(
        hold=hold, marks=str(marks), home=str(env.home / "console"), draft=vm_draft or {},
        resize_vm=resize_vm, delete_vm=delete_vm, upload=str(upload) if upload else "",
    )  # fmt: skip
    kinds = [*hold, *(["image_upload"] if upload else [])]
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip

    def held() -> bool:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "the child ended")
        return all((marks / kind).exists() for kind in kinds)

    try:
        wait_for(held, timeout=60)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def draft_fields(env: Env, name: str, **over: Any) -> dict[str, Any]:
    fields = {
        "name": name, "template_id": env.linux, "placement": "manual", "node": "node-2", "login": "password",
        "password": "Secr3t!pass", "password_confirm": "Secr3t!pass", "cpu": "2", "ram_gb": "2",
        "network": "private", "public_ip": True,
    }  # fmt: skip
    fields.update(over)
    return fields


def made_in_cloud(env: Env, name: str) -> dict[str, int]:
    conn = env.conn
    servers = [s for s in conn.compute.servers(all_projects=True) if s.name == name]
    return {
        "servers": len(servers),
        "ports": sum(1 for s in servers for _p in conn.network.ports(device_id=s.id)),
        "flavors": sum(
            1 for f in conn.compute.flavors(is_public=None) if f.name.startswith(f"ectui-{name}-")
        ),
        "floating_ips": len(list(conn.network.ips())),
    }


async def test_killed_create_with_the_cloud_gone_stays_pending_until_resume_cleans_it(
    env: Env, outage: Outage
) -> None:
    kill_inside(env, {"create_vm": ("record", False)}, vm_draft=draft_fields(env, "crash1"))
    assert made_in_cloud(env, "crash1") == {"servers": 1, "ports": 1, "flavors": 1, "floating_ips": 1}
    outage.down()
    again = await restarted(env)  # start-up recovery: the rollback cannot reach the cloud
    again.close()
    op = op_of(env, "create_vm")
    assert op.state == "cleanup_pending", op.error
    assert "unreachable" in op.error and "ops resume" in op.error
    assert await reserved(env) == {"vcpus": 2, "ram_gb": 2, "vms": 1, "public_ips": 1}  # still counted
    assert len(await env.s.projects.held("web")) == 1
    # a second start with the cloud still away keeps it pending (and the quota held)
    again = await restarted(env)
    again.close()
    assert op_of(env, "create_vm").state == "cleanup_pending"
    assert await reserved(env) == {"vcpus": 2, "ram_gb": 2, "vms": 1, "public_ips": 1}

    outage.up()
    result = await asyncio.to_thread(ectui, env.home / "console", "ops", "resume")
    assert result.returncode == 0, result.stderr
    assert f"Operation #{op.id} (create_vm): rolled back" in result.stdout
    assert_nothing_left(env, "crash1")
    await assert_quota_free(env)
    op = op_of(env, "create_vm")
    assert op.state == "compensated" and "Interrupted" in op.error


async def test_create_whose_cloud_goes_away_mid_rollback_is_pending_then_cleaned(
    env: Env, outage: Outage
) -> None:
    admin_call(env.cloud, "POST", "/_admin/faults", {"op": "network.create_floating_ip", "status": 500})

    def cloud_goes_away(progress: Progress) -> None:
        if progress.step == "rollback":  # the step failed; the cloud is gone before the rollback starts
            outage.down()

    with pytest.raises(VmError) as caught:
        await env.s.vms.create(draft(env, name="gone1", public_ip=True), on_progress=cloud_goes_away)
    assert caught.value.key == "vm.create_cleanup_pending"
    assert "unreachable" in str(caught.value) and "ops resume" in str(caught.value)
    op = op_of(env, "create_vm")
    assert op.state == "cleanup_pending" and op.finished_at is None
    assert "unreachable" in op.error
    assert await reserved(env) == {"vcpus": 2, "ram_gb": 2, "vms": 1, "public_ips": 1}
    outage.up()
    assert made_in_cloud(env, "gone1")["servers"] == 1  # left behind while the cloud was away
    done = await env.s.recover()
    assert [(r.operation.id, r.operation.state) for r in done] == [(op.id, "compensated")]
    assert "rolled back and the reservation released" in done[0].operation.error
    assert_nothing_left(env, "gone1")
    await assert_quota_free(env)


async def test_resize_whose_cloud_goes_away_keeps_the_vm_locked_and_the_growth_held(
    env: Env, outage: Outage
) -> None:
    vm = await env.s.vms.create(draft(env, name="rz1"))
    plan = await env.s.resize.plan(vm.id, 3, 4, "cold")
    admin_call(env.cloud, "POST", "/_admin/faults", {"op": "compute.resize", "status": 500})

    def cloud_goes_away(progress: Progress) -> None:
        if progress.step == "rollback":
            outage.down()

    with pytest.raises(ResizeError) as caught:
        await env.s.resize.resize(plan, on_progress=cloud_goes_away)
    assert caught.value.key == "resize.cleanup_pending"
    op = op_of(env, "resize")
    assert op.state == "cleanup_pending"
    assert await reserved(env) == {"vcpus": 1, "ram_gb": 2, "vms": 0, "public_ips": 0}  # the growth
    with pytest.raises(VmError) as locked:
        await env.s.resize.plan(vm.id, 4, 4)
    assert locked.value.key == "vm.locked_operation"
    outage.up()
    done = await env.s.recover()
    assert [(r.operation.id, r.operation.state) for r in done] == [(op.id, "compensated")]
    assert await reserved(env) == Amounts().to_json()
    assert [f.name for f in env.conn.compute.flavors(is_public=None) if f.name == f"ectui-rz1-r{op.id}"] == []
    again = await env.s.resize.plan(vm.id, 3, 4, "cold")  # unlocked again
    assert (again.old_vcpus, again.old_ram_gb) == (2, 2)


async def test_upload_killed_mid_way_leaves_no_image_after_the_next_start(env: Env, tmp_path: Path) -> None:
    src = make_file(tmp_path / "half.raw", 1024 * 1024)
    kill_inside(env, {}, upload=src)
    [left] = [i for i in env.conn.image.images() if i.name == "half"]
    assert left.status in ("queued", "saving")  # what nothing tracked before
    op = op_of(env, "image_upload")
    assert op.state == "running"
    again = await restarted(env)
    try:
        assert [(r.operation.kind, r.operation.state) for r in again.recovered] == [
            ("image_upload", "compensated")
        ]
    finally:
        again.close()
    assert [i for i in env.conn.image.images() if i.name == "half"] == []
    assert op_of(env, "image_upload").state == "compensated"
    assert all(i.name != "half" for i in await env.s.images.list_all())


async def test_upload_rollback_behind_a_dead_gateway_is_kept_for_the_next_start(
    env: Env, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "cut.raw", 256 * 1024)
    admin_call(env.cloud, "POST", "/_admin/faults", {"op": "image.upload", "status": 500})
    # every delete answers 502 (a proxy whose cloud is gone): neither the SDK nor the rollback can delete
    admin_call(env.cloud, "POST", "/_admin/faults", {"op": "image.delete", "status": 502, "times": 0})
    with pytest.raises(ServiceError) as caught:
        await env.s.images.upload(ImageUpload.parse(path=src, cluster="dc1", name="cut"))
    assert caught.value.key == "image.upload_cleanup_pending" and "next start" in str(caught.value)
    op = op_of(env, "image_upload")
    assert op.state == "cleanup_pending" and "502" in op.error
    assert [i.status for i in env.conn.image.images() if i.name == "cut"] == ["queued"]
    assert (await env.s.recover())[0].operation.state == "cleanup_pending"  # still behind the dead gateway
    admin_call(env.cloud, "DELETE", "/_admin/faults")
    done = await env.s.recover()
    assert [(r.operation.kind, r.operation.state) for r in done] == [("image_upload", "compensated")]
    assert [i for i in env.conn.image.images() if i.name == "cut"] == []


async def test_ops_resume_handles_and_lists_every_kind(env: Env, tmp_path: Path) -> None:
    kept = await env.s.vms.create(draft(env, name="keep1", cpu="2", ram_gb="2"))
    doomed = await env.s.vms.create(draft(env, name="doomed1", cpu="1", ram_gb="1"))
    kill_inside(
        env,
        {"create_vm": ("record", False), "resize": ("flavor", True), "delete_vm": ("release_ip", True)},
        vm_draft=draft_fields(env, "crash2", public_ip=False, cpu="1", ram_gb="1"),
        resize_vm=kept.id,
        delete_vm=doomed.id,
        upload=make_file(tmp_path / "half.raw", 1024 * 1024),
    )
    ops = {kind: op_of(env, kind) for kind in ("create_vm", "resize", "delete_vm", "image_upload")}
    assert all(op.state == "running" for op in ops.values())
    result = await asyncio.to_thread(ectui, env.home / "console", "ops", "resume")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"Operation #{ops['create_vm'].id} (create_vm): rolled back" in out
    assert f"Operation #{ops['resize'].id} (resize): rolled back" in out
    assert f"Operation #{ops['delete_vm'].id} (delete_vm): resumed and finished" in out
    assert f"Operation #{ops['image_upload'].id} (image_upload): rolled back" in out
    assert "half-made image was deleted" in out
    assert {kind: op_of(env, kind).state for kind in ops} == {
        "create_vm": "compensated", "resize": "compensated", "delete_vm": "done", "image_upload": "compensated",
    }  # fmt: skip
    assert [s.name for s in env.conn.compute.servers(all_projects=True)] == ["keep1"]
    assert [i for i in env.conn.image.images() if i.name == "half"] == []
    project = await env.s.projects.get("web")
    assert project.used.to_json() == {"vcpus": 2, "ram_gb": 2, "vms": 1, "public_ips": 0}
    assert project.reserved.to_json() == Amounts().to_json()
    # nothing left: a second resume (here in-process) says so for each group of kinds
    _data, text = await ops_resume(env.s, argparse.Namespace(json=False))
    assert "No interrupted VM operation" in text and "No interrupted resize" in text
    assert "No interrupted image upload" in text
