"""VM extras against the real dev cloud: snapshot → custom template, ISO as CD-ROM (extension and stable rescue),
the per-operator read-only setting, and crash recovery of a create left running by a killed console."""

# ruff: noqa: F811  (pytest fixtures imported from the sibling module are redefined as parameters)

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from ectui.db.models import IsoFile, Operation, OperationStep, Vm
from ectui.services import build_console_services
from ectui.services.errors import ReadOnlyError
from ectui.services.images import ImageError
from ectui.services.isos import IsoError
from ectui.services.operations.engine import Step
from ectui.services.progress import Cancelled, CancelToken, Progress
from ectui.services.vms import GUEST_MOUNT_HINT, VmError
from tests.kit import CONSOLE_NOW, Clock, home_settings
from tests.kit.cloud import fault
from tests.kit.files import wait_for
from tests.kit.vms import PASSWORD, Env, assert_nothing_left, assert_quota_free, draft

ROOT = Path(__file__).resolve().parents[2]


def add_iso(env: Env, file_name: str = "virtio-tools.iso", *, enabled: bool = True) -> int:
    """An ISO row of dc1 as a sync or an upload leaves it (the file itself is on the dev cloud's share)."""
    with env.s.db.session() as session:
        row = IsoFile(
            cluster_id=1, file_name=file_name, name=file_name[:-4], source="uploaded", enabled=enabled
        )
        session.add(row)
        session.flush()
        return row.id


def iso_count(env: Env, iso_id: int) -> int:
    with env.s.db.session() as session:
        row = session.get(IsoFile, iso_id)
        assert row is not None
        return row.mount_count


def snapshot_images(env: Env, name: str) -> list[str]:
    return [i.id for i in env.conn.image.images() if i.name == name]


# ------------------------------------------------------------------ snapshot → custom template


async def test_snapshot_makes_a_custom_template_that_creates_vms_and_whose_image_can_be_deleted(
    env: Env,
) -> None:
    vm = await env.s.vms.create(draft(env))
    steps: list[str] = []
    made = await env.s.vms.snapshot(vm.id, "golden", on_progress=lambda p: steps.append(p.step))
    assert "wait_image" in steps
    assert (made.template, made.os_type, made.min_disk_gb) == ("golden", "linux", vm.disk_gb)
    template = await env.s.templates.get(made.template_id)
    assert template.kind == "custom" and template.image_cloud_id == made.image_cloud_id
    image = await env.s.images.get(made.image_id)
    assert image.source == "snapshot" and image.deletable and image.status == "active"
    assert env.conn.image.get_image(made.image_cloud_id).status == "active"
    choices = await env.s.vms.form_choices()
    assert [(t.name, t.kind) for t in choices.templates if t.kind == "custom"] == [("golden", "custom")]
    history = await env.s.vms.history(vm.id)
    assert history[0].kind == "snapshot_vm" and history[0].state == "done"
    assert not (await env.s.vms.get(vm.id)).locked
    clone = await env.s.vms.create(draft(env, name="clone", template_id=made.template_id))
    assert clone.template == "golden"
    with pytest.raises(VmError) as again:
        await env.s.vms.snapshot(vm.id, "golden")
    assert again.value.key == "template.exists"
    await env.s.images.delete(made.image_id)
    assert snapshot_images(env, "golden") == []


async def test_snapshot_failure_and_cancel_leave_no_image(env: Env) -> None:
    vm = await env.s.vms.create(draft(env))
    fault(env.cloud, "compute.create_image")
    with pytest.raises(VmError) as failed:
        await env.s.vms.snapshot(vm.id, "broken")
    assert failed.value.key == "vm.snapshot_failed"
    assert snapshot_images(env, "broken") == []
    env.cloud.cloud.timings.snapshot = 60.0  # the image stays 'saving' until cancelled
    token = CancelToken()

    def progress(p: Progress) -> None:
        if p.step == "wait_image":
            token.cancel()

    with pytest.raises(Cancelled) as cancelled:
        await env.s.vms.snapshot(vm.id, "halfway", on_progress=progress, cancel=token)
    assert cancelled.value.key == "vm.snapshot_cancelled"
    assert snapshot_images(env, "halfway") == []
    assert [t.name for t in await env.s.templates.list_all() if t.kind == "custom"] == []
    assert not (await env.s.vms.get(vm.id)).locked


# ------------------------------------------------------------------ ISO as CD-ROM


async def test_mount_with_the_cdrom_extension_keeps_counts_and_refuses_deleting_the_iso(env: Env) -> None:
    vm = await env.s.vms.create(draft(env))
    iso = add_iso(env)
    disabled = add_iso(env, "other.iso", enabled=False)
    assert await env.s.vms.mountable_isos(vm.id) == [(iso, "virtio-tools")]
    with pytest.raises(VmError) as off:
        await env.s.vms.mount_iso(vm.id, disabled)
    assert off.value.key == "vm.iso_disabled"
    plan = await env.s.vms.mount_plan(vm.id, iso)
    assert plan.method == "cdrom" and not plan.reboots
    mounted = await env.s.vms.mount_iso(vm.id, iso)
    assert (
        mounted.hint
        == GUEST_MOUNT_HINT
        == "mkdir isoformount && mount -t auto -o ro /dev/cdrom ./isoformount"
    )
    assert mounted.vm.mounted_iso == "virtio-tools" and iso_count(env, iso) == 1
    server = env.conn.compute.get(f"/servers/{vm.cloud_id}", microversion="2.73").json()["server"]
    assert server["EC-CDROM:iso"] == "virtio-tools.iso"
    with pytest.raises(VmError) as twice:
        await env.s.vms.mount_iso(vm.id, iso)
    assert twice.value.key == "vm.iso_already_mounted"
    with pytest.raises(IsoError) as busy:
        await env.s.isos.delete(iso)
    assert busy.value.key == "iso.delete_mounted"
    env.conn.compute.lock_server(vm.cloud_id)
    with pytest.raises(VmError) as locked:
        await env.s.vms.unmount_iso(vm.id)
    assert locked.value.key == "vm.locked_nova"
    assert iso_count(env, iso) == 1
    env.conn.compute.unlock_server(vm.cloud_id)
    unmounted = await env.s.vms.unmount_iso(vm.id)
    assert unmounted.mounted_iso is None and iso_count(env, iso) == 0
    server = env.conn.compute.get(f"/servers/{vm.cloud_id}", microversion="2.73").json()["server"]
    assert server["EC-CDROM:iso"] is None
    fault(env.cloud, "compute.attach_cdrom")
    with pytest.raises(VmError) as cloud_failed:
        await env.s.vms.mount_iso(vm.id, iso)
    assert cloud_failed.value.key == "vm.mount_failed"
    assert (await env.s.vms.get(vm.id)).mounted_iso is None and iso_count(env, iso) == 0


async def test_mount_on_upstream_nova_uses_stable_rescue_after_confirmation(env: Env) -> None:
    env.cloud.cloud.vendor_extensions = ()
    vm = await env.s.vms.create(draft(env))
    iso = add_iso(env)
    with pytest.raises(VmError) as no_image:
        await env.s.vms.mount_iso(vm.id, iso)
    assert no_image.value.key == "vm.iso_no_image" and "hw_rescue_device=cdrom" in str(no_image.value)
    env.conn.image.create_image(
        "virtio-tools.iso", data=b"CD001" * 100, disk_format="iso", container_format="bare",
        allow_duplicates=True, hw_rescue_device="cdrom",
    )  # fmt: skip
    plan = await env.s.vms.mount_plan(vm.id, iso)
    assert plan.method == "rescue" and plan.reboots and plan.image_name == "virtio-tools.iso"
    with pytest.raises(VmError) as ask:
        await env.s.vms.mount_iso(vm.id, iso)
    assert ask.value.key == "vm.iso_rescue_confirm" and "reboots" in str(ask.value)
    assert iso_count(env, iso) == 0
    mounted = await env.s.vms.mount_iso(vm.id, iso, confirm_reboot=True)
    assert mounted.method == "rescue" and mounted.vm.mounted_iso == "virtio-tools"
    assert env.conn.compute.get_server(vm.cloud_id).status == "RESCUE" and iso_count(env, iso) == 1
    back = await env.s.vms.unmount_iso(vm.id)
    assert back.mounted_iso is None and iso_count(env, iso) == 0
    assert env.conn.compute.get_server(vm.cloud_id).status == "ACTIVE"


# ------------------------------------------------------------------ per-operator read-only setting


async def test_operator_readonly_setting_acts_like_the_flag(env: Env) -> None:
    vm = await env.s.vms.create(draft(env))
    assert (await env.s.operator_settings.show()).to_json() == {"operator": "alice", "readonly": False}
    assert (await env.s.operator_settings.set_readonly(True)).readonly
    status = await env.s.license.status()
    assert not status.writable and status.reason is not None and status.reason.key == "readonly.setting"
    with pytest.raises(ReadOnlyError) as refused:
        await env.s.vms.stop(vm.id)
    assert "alice" in str(refused.value) and "ectui settings readonly off" in str(refused.value)
    with pytest.raises(ReadOnlyError):
        await env.s.vms.snapshot(vm.id, "x")
    other = build_console_services(
        home_settings(env.home / "console", ECTUI_OPERATOR="bob"), clock=Clock(CONSOLE_NOW)
    )
    await other.start()
    try:
        assert (await other.license.status()).writable  # the setting is alice's, not bob's
    finally:
        other.close()
    await env.s.operator_settings.set_readonly(False)
    assert (await env.s.license.status()).writable
    with pytest.raises(ImageError):
        await env.s.images.delete(10_000)  # writable again: refused only because it does not exist


# ------------------------------------------------------------------ crash safety of create


async def test_create_killed_mid_way_is_compensated_at_the_next_start(env: Env) -> None:
    env.cloud.cloud.timings.build = 600.0  # the server stays BUILD: the create waits in step 'wait'
    # another console process (on the services' fixed clock, inside the license) creates crash1 ...
    script = f"""
import asyncio
from tests.kit import CONSOLE_NOW, Clock, home_settings
from ectui.services import build_console_services
from ectui.services.vms import VmDraft

async def main():
    s = build_console_services(home_settings({str(env.home / "console")!r}, ECTUI_OPERATOR="alice"),
                               clock=Clock(CONSOLE_NOW))
    await s.start()
    await s.vms.create(VmDraft.parse(name="crash1", template_id={env.linux}, placement="manual", node="node-1",
                                     login="password", password={PASSWORD!r}, password_confirm={PASSWORD!r},
                                     cpu=1, ram_gb=1, network="private", public_ip=True))

asyncio.run(main())
"""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
    proc = subprocess.Popen(  # noqa: ASYNC220  (started once; its pipes are read only after it dies)
        [sys.executable, "-c", script], cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip

    def waiting() -> bool:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "")
        with env.s.db.session() as session:
            return (
                session.scalar(
                    select(OperationStep.id).where(
                        OperationStep.code == "wait", OperationStep.state == "running"
                    )
                )
                is not None
            )

    await asyncio.to_thread(wait_for, waiting)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert [s.name for s in env.conn.compute.servers() if s.name == "crash1"] == ["crash1"]
    assert (await env.s.projects.get("web")).reserved.vcpus == 1

    # a create that a live console runs is left alone
    live = env.s.vms.engine.create_sync("create_vm", [Step("reserve", "Reserve quota", lambda ctx: None)])

    # ... and is killed while it waits for the server: the next console start compensates it
    again = build_console_services(
        home_settings(env.home / "console", ECTUI_OPERATOR="alice"), clock=Clock(CONSOLE_NOW)
    )
    await again.start()
    again.close()
    with env.s.db.session() as session:
        crashed = session.scalars(select(Operation).where(Operation.id != live)).one()
        assert crashed.state == "compensated", crashed.error
        assert "Interrupted" in crashed.error
        assert session.get(Operation, live).state == "running"  # type: ignore[union-attr]
        assert list(session.scalars(select(Vm.name))) == []
    assert_nothing_left(env, "crash1")
    await assert_quota_free(env)
    env.s.vms.engine.finish_sync(live, "failed", "test")
