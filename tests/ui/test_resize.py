"""Resize (SPEC R) from the VMs screen against the real dev cloud and the real resize service: the dialog
(prefill, quota delta, hot or cold, refusals, production type-name), a cold resize end to end with live
steps, and a failed resize with its compensation."""

# ruff: noqa: F811  (pytest fixtures imported from the sibling module are redefined as parameters)

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select
from uikit import domain_key, notifications, until
from vmkit import made_vm, open_vms, vm_console

from ectui.app import ConsoleApp
from ectui.db.models import Operation, Vm
from ectui.devcloud import DevCloudHandle
from ectui.screens.jobs import JobsScreen
from ectui.screens.operations import OperationsScreen
from ectui.screens.vms import VmDetailModal, VmsScreen
from ectui.screens.vms.resize import ResizeVmModal
from ectui.services import ConsoleServices
from ectui.widgets import ConfirmModal
from ectui.widgets.confirm_name import TypeNameConfirmModal
from ectui.widgets.literal import Static
from ectui.widgets.tables import table_rows
from tests.kit.cloud import admin_call

EXTENSIONS = ("EC-LIVE-RESIZE", "EC-CDROM")


@pytest.fixture
async def services(tmp_path: Path, cloud: DevCloudHandle) -> AsyncIterator[ConsoleServices]:
    cloud.cloud.vendor_extensions = EXTENSIONS
    console = await vm_console(tmp_path, cloud)
    yield console
    console.close()
    cloud.cloud.vendor_extensions = EXTENSIONS
    admin_call(cloud, "DELETE", "/_admin/faults")


async def open_resize(pilot: Pilot[Any], screen: VmsScreen) -> ResizeVmModal:
    await until(pilot, lambda: screen.selected_vm() is not None)
    await pilot.press("z")
    await until(pilot, lambda: isinstance(pilot.app.screen, ResizeVmModal))
    modal = pilot.app.screen
    assert isinstance(modal, ResizeVmModal)
    return modal


def shown(modal: ResizeVmModal, static_id: str) -> str:
    """The text of one of the dialog's lines (resize-quota, resize-note, resize-error)."""
    return str(modal.query_one(f"#{static_id}", Static).content)


def offered_modes(modal: ResizeVmModal) -> list[str]:
    """The modes the dialog offers now."""
    select = modal.query_one("#resize-mode", Select)
    return [str(value) for _label, value in select._options if value != Select.NULL]


def type_spec(modal: ResizeVmModal, cpu: str, ram: str) -> None:
    modal.query_one("#resize-cpu", Input).value = cpu
    modal.query_one("#resize-ram", Input).value = ram


async def planned(pilot: Pilot[Any], modal: ResizeVmModal, cpu: str, ram: str) -> None:
    """Type a spec and wait until the dialog shows the plan of exactly these values."""
    type_spec(modal, cpu, ram)
    await until(
        pilot,
        lambda: (
            modal.plan is not None and (modal.plan.new_vcpus, modal.plan.new_ram_gb) == (int(cpu), int(ram))
        ),
    )


async def refused(pilot: Pilot[Any], modal: ResizeVmModal, cpu: str, ram: str) -> str:
    """Type a spec and wait until the dialog shows a refusal."""
    modal.clear_error()
    type_spec(modal, cpu, ram)
    await until(pilot, lambda: modal.plan is None and shown(modal, "resize-error") != "")
    return shown(modal, "resize-error")


# ------------------------------------------------------------------------------------------ the dialog


async def test_dialog_prefills_shows_quota_delta_and_offers_hot_only_when_planned(
    services: ConsoleServices, cloud: DevCloudHandle
) -> None:
    vm = await made_vm(services, "alpha")
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        modal = await open_resize(pilot, screen)
        assert modal.values() == ("1", "1")
        assert shown(modal, "resize-quota") == "Enter the new CPU and RAM."
        await planned(pilot, modal, "2", "3")
        assert shown(modal, "resize-quota") == "Quota: reserves 1 vCPU, 2 GB RAM of the project's quota"
        plan = await services.resize.plan(vm.id, 2, 3)  # type: ignore[attr-defined]
        assert offered_modes(modal) == (["hot", "cold"] if plan.hot_available else ["cold"])
        if not plan.hot_available:
            assert "Hot resize is not offered" in shown(modal, "resize-note")
        # shrinking releases after success
        await pilot.press("escape")
    await services.resize.resize(await services.resize.plan(vm.id, 2, 2, "cold"))  # type: ignore[attr-defined]
    async with ConsoleApp(services).run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        modal = await open_resize(pilot, screen)
        assert modal.values() == ("2", "2")
        await planned(pilot, modal, "1", "1")
        assert shown(modal, "resize-quota") == "Quota: releases 1 vCPU, 1 GB RAM after it succeeds"


async def test_cloud_without_hot_plug_offers_cold_and_says_the_vm_will_stop(
    services: ConsoleServices, cloud: DevCloudHandle
) -> None:
    cloud.cloud.vendor_extensions = ()
    await made_vm(services, "alpha")
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        modal = await open_resize(pilot, screen)
        await planned(pilot, modal, "2", "2")
        assert offered_modes(modal) == ["cold"]
        assert modal.plan is not None and modal.plan.will_stop and not modal.plan.hot_available
        assert "Hot resize is not offered: " in shown(modal, "resize-note")
        assert "alpha will be stopped, resized and started again." in shown(modal, "resize-note")
        await pilot.press("ctrl+s")  # explicit confirmation before the VM is stopped
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "alpha will be stopped and started again." in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("n")
        await until(pilot, lambda: app.screen is modal)
        assert modal.job is None


async def test_validation_and_refusals_are_shown_on_the_form(
    services: ConsoleServices, cloud: DevCloudHandle
) -> None:
    vm = await made_vm(services, "alpha")
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        modal = await open_resize(pilot, screen)
        # validation: the field is named and marked
        await refused(pilot, modal, "0", "1")
        assert "CPU" in shown(modal, "resize-error") and modal.query_one("#resize-cpu").has_class("-invalid")
        await refused(pilot, modal, "1", "0")
        assert "RAM" in shown(modal, "resize-error") and modal.query_one("#resize-ram").has_class("-invalid")
        # same spec: refused when submitted
        type_spec(modal, "1", "1")
        await until(pilot, lambda: shown(modal, "resize-error") == "")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: shown(modal, "resize-error") != "")
        assert modal.job is None and app.screen is modal
        # quota (project web: 8 vCPU, 16 GB): refused before anything is touched
        error = await refused(pilot, modal, "9", "1")
        assert "quota" in error.lower() or "vCPU" in error
        # a VM held by another operation: the lock is refused
        with services.db.session() as session:
            op = Operation(kind="resize", vm_id=vm.id, state="running", created_by="bob")
            session.add(op)
            session.flush()
            session.get(Vm, vm.id).locked_by_operation = op.id  # type: ignore[union-attr]
        error = await refused(pilot, modal, "2", "2")
        assert "alpha" in error or "lock" in error.lower() or "operation" in error.lower()
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
    project = await services.projects.get("web")
    assert project.reserved.vcpus == 0 and project.reserved.ram_gb == 0


async def test_production_cluster_asks_to_type_the_vm_name(tmp_path: Path, cloud: DevCloudHandle) -> None:
    cloud.cloud.vendor_extensions = EXTENSIONS
    services = await vm_console(tmp_path, cloud, production=True)
    try:
        vm = await made_vm(services, "alpha")
        app = ConsoleApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_vms(pilot)
            modal = await open_resize(pilot, screen)
            await planned(pilot, modal, "2", "2")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, TypeNameConfirmModal))
            confirm = app.screen
            assert isinstance(confirm, TypeNameConfirmModal)
            confirm.query_one("#type-name-input", Input).value = "alph"
            await pilot.press("enter")
            await until(
                pilot, lambda: "does not match" in str(confirm.query_one("#type-name-error").render())
            )
            assert modal.job is None
            confirm.query_one("#type-name-input", Input).value = "alpha"
            await pilot.press("enter")
            await until(pilot, lambda: app.screen is modal and modal.job is not None)
            await until(pilot, lambda: modal.job is not None and not modal.job.running, timeout=60)
            assert modal.job.state == "done", shown(modal, "resize-error")  # type: ignore[union-attr]
        assert (await services.vms.get(vm.id)).vcpus == 2
    finally:
        services.close()


# ------------------------------------------------------------------------------------------ running it


async def test_cold_resize_end_to_end_with_live_steps(
    services: ConsoleServices, cloud: DevCloudHandle
) -> None:
    cloud.cloud.vendor_extensions = ()  # cold: stop, resize, start
    vm = await made_vm(services, "alpha")
    admin_call(
        cloud, "POST", "/_admin/faults", {"op": "compute.resize", "delay": 3.0}
    )  # time to look, also on a loaded machine
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        modal = await open_resize(pilot, screen)
        await planned(pilot, modal, "2", "2")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: app.screen is modal and modal.job is not None)
        # the steps move live in the dialog
        await until(pilot, lambda: "running" in modal.steps.states().values() and modal.operation is not None)
        assert len(modal.steps.steps) == 10
        await until(pilot, lambda: modal.steps.states().get("resize") == "running", timeout=30)
        assert modal.steps.states()["reserve"] == "done" and modal.steps.states()["stop"] == "done"
        # the operator moves on: the job keeps running; the list shows the VM as operating
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await until(
            pilot, lambda: [r[1] for r in table_rows(screen.table) if r[0] == "alpha"] == ["operating"]
        )
        job = modal.job
        assert job is not None and app.jobs.get(job.id).running  # type: ignore[union-attr]
        assert "1 job" in app.jobs_text
        # the Operations screen follows the running operation's steps
        await pilot.press(domain_key(app, "operations"))
        await until(pilot, lambda: isinstance(app.screen, OperationsScreen))
        ops = app.screen
        assert isinstance(ops, OperationsScreen)
        await until(pilot, lambda: any(r[1] == "resize" and "running" in r[3] for r in table_rows(ops.table)))
        await until(pilot, lambda: ops.selected() is not None and ops.selected().kind == "resize")  # type: ignore[union-attr]
        await until(pilot, lambda: "running" in ops.steps.states().values())
        # …until it ends, without a key pressed
        await until(pilot, lambda: not app.jobs.get(job.id).running, timeout=60)  # type: ignore[union-attr]
        assert app.jobs.get(job.id).state == "done", app.jobs.get(job.id).message  # type: ignore[union-attr]
        # read the notification while it is shown (it times out; a loaded machine is slow below)
        await until(pilot, lambda: any("alpha resized to 2C/2G" in n for n in notifications(app)))
        await until(pilot, lambda: any(r[1] == "resize" and "done" in r[3] for r in table_rows(ops.table)))
        await until(pilot, lambda: ops.steps.finished)
        assert set(ops.steps.states().values()) <= {"done", "skipped"}
        assert ops.steps.states()["rollback"] in ("skipped", "done")
        # the Jobs screen lists the job; the VM list shows the new spec
        await pilot.press(domain_key(app, "jobs"))
        await until(pilot, lambda: isinstance(app.screen, JobsScreen))
        assert [r[1] for r in table_rows(app.screen.table) if r[0].startswith("Resize alpha")] == ["done"]  # type: ignore[attr-defined]
        await pilot.press(domain_key(app, "vms"))
        await until(pilot, lambda: app.screen is screen)
        await until(
            pilot,
            lambda: [r[1:3] for r in table_rows(screen.table) if r[0] == "alpha"] == [["running", "2C/2G"]],
        )
    after = await services.vms.get(vm.id)
    assert (after.vcpus, after.ram_gb, after.status, after.locked) == (2, 2, "ACTIVE", False)


async def test_failed_resize_shows_the_failed_step_and_the_compensation(
    services: ConsoleServices, cloud: DevCloudHandle
) -> None:
    cloud.cloud.vendor_extensions = ()
    vm = await made_vm(services, "alpha")
    admin_call(
        cloud, "POST", "/_admin/faults", {"op": "compute.resize", "status": 500, "message": "no valid host"}
    )
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        modal = await open_resize(pilot, screen)
        await planned(pilot, modal, "2", "2")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: app.screen is modal and modal.job is not None)
        await until(pilot, lambda: modal.job is not None and not modal.job.running, timeout=60)
        assert modal.job.state == "failed"  # type: ignore[union-attr]
        await until(pilot, lambda: "Failed step:" in shown(modal, "resize-error") and modal.steps.finished)
        states = modal.steps.states()
        assert "failed" in states.values() and "compensated" in states.values(), states
        assert "failed at step 'Resize and confirm'" in shown(
            modal, "resize-error"
        ) and "no valid host" in shown(modal, "resize-error")
        assert states["resize"] == "failed" and states["stop"] == "compensated"
        assert (
            "Failed step: Resize and confirm: The cloud refused the request (HTTP 500): no valid host"
            in shown(modal, "resize-error")
        )
        assert "Undone:" in shown(modal, "resize-error")
        assert any("alpha was not resized" in n for n in notifications(app))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await until(
            pilot,
            lambda: [r[1:3] for r in table_rows(screen.table) if r[0] == "alpha"] == [["running", "1C/1G"]],
        )
    after = await services.vms.get(vm.id)
    assert (after.vcpus, after.ram_gb, after.locked) == (1, 1, False)
    project = await services.projects.get("web")
    assert project.reserved.vcpus == 0 and project.reserved.ram_gb == 0


async def test_resize_from_the_detail(services: ConsoleServices) -> None:
    await made_vm(services, "alpha")
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        await until(pilot, lambda: screen.selected_vm() is not None)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, VmDetailModal))
        await pilot.press("z")
        await until(pilot, lambda: isinstance(app.screen, ResizeVmModal))
        assert app.screen.vm.name == "alpha"  # type: ignore[attr-defined]
