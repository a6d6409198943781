"""Operating safely: flow refusals on the form (zh_CN exact), locked VMs, read-only console, production clusters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Button, Input
from uikit import domain_key, notifications, settings_for, until
from vmkit import PASSWORD, fill, fill_valid, made_vm, open_form, open_vms, vm_console

from ectui.app import ConsoleApp
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.i18n import set_language
from ectui.screens.clusters import ClusterFormModal, ClustersScreen
from ectui.screens.vms import AUTO, CreateVmModal, VmsScreen
from ectui.services import build_console_services
from ectui.widgets import AppHeader, ConfirmModal
from ectui.widgets.confirm_name import TypeNameConfirmModal
from ectui.widgets.tables import table_rows


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05))
    yield handle
    handle.stop()


@pytest.fixture
def zh_cn() -> Iterator[None]:
    set_language("zh_CN")
    yield
    set_language("en")


def form_error(form: CreateVmModal) -> str:
    return str(form.query_one("#vm-error").render())


@pytest.mark.usefixtures("zh_cn")
async def test_flow_refusals_are_shown_on_the_form_in_order(tmp_path: Path, cloud: DevCloudHandle) -> None:
    # no project selected
    services = await vm_console(tmp_path / "a", cloud, project=False)
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_vms(pilot)
            form = await open_form(pilot)
            assert "请先选择项目！" in form_error(form)
            fill(form, name="web1")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "请先选择项目！" in form_error(form) and app.screen is form
    finally:
        services.close()
    # a project but no cluster configured
    services = await vm_console(tmp_path / "b", None)
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_vms(pilot)
            form = await open_form(pilot)
            assert "请先配置集群信息！" in form_error(form)
            await pilot.press("ctrl+s")  # the fields are checked first
            await pilot.pause()
            assert "名称" in form_error(form) or "Name" in form_error(form)
            fill(form, name="web1")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "请先配置集群信息！" in form_error(form)
    finally:
        services.close()
    # system placement on a local-storage cluster
    services = await vm_console(tmp_path / "c", cloud, storage="local")
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_vms(pilot)
            form = await open_form(pilot)
            fill_valid(form, "web1", node=AUTO, network=form.choices.networks[0].id)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "本地存储节点不能系统适配！" in form_error(form) and form.run is None)
            assert app.screen is form
        assert await services.vms.list_all() == []
    finally:
        services.close()


async def test_locked_vm_refuses_every_action_with_the_reason(tmp_path: Path, cloud: DevCloudHandle) -> None:
    services = await vm_console(tmp_path, cloud)
    try:
        vm = await made_vm(services, "alpha")
        cluster_id = (await services.clusters.get("dc1")).id
        services.clusters.connections.get_sync(cluster_id).compute.lock_server(vm.cloud_id)
        app = ConsoleApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_vms(pilot)
            await until(
                pilot, lambda: table_rows(screen.table) != [] and table_rows(screen.table)[0][6] == "locked"
            )
            for key in ("s", "ctrl+s", "ctrl+r", "ctrl+d"):
                app.clear_notifications()
                await pilot.press(key)
                await until(pilot, lambda: any("alpha is locked" in n for n in notifications(app)))
                assert "Nova lock" in notifications(app)[-1]
                assert app.screen is screen  # no confirmation was even asked
            # the service refuses too (the console URL is not a change, but a locked VM has none)
            app.clear_notifications()
            await pilot.press("c")
            await until(pilot, lambda: any("locked" in n for n in notifications(app)))
        assert (await services.vms.get(vm.id)).status == "ACTIVE"
    finally:
        services.close()


async def test_read_only_console_refuses_changes_with_the_banner_reason(
    tmp_path: Path,
    cloud: DevCloudHandle,
) -> None:
    services = await vm_console(tmp_path, cloud)
    try:
        await made_vm(services, "alpha")
    finally:
        services.close()
    readonly = build_console_services(
        settings_for(tmp_path / "console"), readonly=True
    )  # the same, --readonly
    try:
        await readonly.start()
        app = ConsoleApp(readonly)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_vms(pilot)
            await until(pilot, lambda: bool(app.readonly_reason) and table_rows(screen.table) != [])
            banner = str(screen.query_one("#readonly-banner").render())
            assert "--readonly" in banner
            for key in ("n", "s", "ctrl+s", "ctrl+r", "ctrl+d"):
                app.clear_notifications()
                await pilot.press(key)
                await until(
                    pilot, lambda: any("Read-only:" in n and "--readonly" in n for n in notifications(app))
                )
                assert app.screen is screen
        assert (await readonly.vms.list_all())[0].status == "ACTIVE"
    finally:
        readonly.close()


async def test_production_cluster_asks_to_type_the_name(tmp_path: Path, cloud: DevCloudHandle) -> None:
    services = await vm_console(tmp_path, cloud, production=True)
    try:
        await made_vm(services, "alpha")
        app = ConsoleApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_vms(pilot)
            header = screen.query_one(AppHeader)
            await until(pilot, lambda: header.production)
            assert "PRODUCTION" in str(header.query_one("#header-context").render())
            # stop asks to type the name; a wrong name does not confirm
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, TypeNameConfirmModal))
            modal = app.screen
            await pilot.press("a", "l", "p")
            assert modal.query_one("#type-name-yes", Button).disabled
            await pilot.press("enter")
            assert "does not match" in str(modal.query_one("#type-name-error").render())
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen)
            assert table_rows(screen.table)[0][1] == "running"
            # delete: type the exact name
            await pilot.press("ctrl+d")
            await until(pilot, lambda: isinstance(app.screen, TypeNameConfirmModal))
            for char in "alpha":
                await pilot.press(char)
            assert not app.screen.query_one("#type-name-yes", Button).disabled
            await pilot.press("enter")
            await until(pilot, lambda: table_rows(screen.table) == [])
            # the cluster form has the flag; clearing it uncolours the header
            await pilot.press(domain_key(app, "clusters"))
            await until(pilot, lambda: isinstance(app.screen, ClustersScreen))
            clusters = app.screen
            assert table_rows(clusters.table)[0][-1] == "yes"  # type: ignore[attr-defined]
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, ClusterFormModal))
            form = app.screen
            form.query_one("#cluster-production").value = False  # type: ignore[attr-defined]
            form.query_one("#cluster-password", Input).value = ""
            await pilot.press("ctrl+s")
            await until(
                pilot, lambda: table_rows(clusters.table) != [] and table_rows(clusters.table)[0][-1] == ""
            )  # type: ignore[attr-defined]
            await pilot.press(domain_key(app, "vms"))
            await until(pilot, lambda: app.screen is screen and not header.production)
            await made_vm(services, "beta")
            await pilot.press("r")
            await until(pilot, lambda: table_rows(screen.table) != [])
            await pilot.press("ctrl+d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmModal))  # a plain yes/no again
        assert PASSWORD
    finally:
        services.close()


async def test_vms_screen_is_reachable_from_the_palette_and_help(
    tmp_path: Path, cloud: DevCloudHandle
) -> None:
    services = await vm_console(tmp_path, cloud)
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_vms(pilot)
            commands = [c.title for c in app.get_system_commands(screen)]
            for title in ("Start", "Stop", "Reboot", "Delete", "Console", "New", "All projects", "Sort"):
                assert title in commands, title
            assert isinstance(screen, VmsScreen)
    finally:
        services.close()
