"""VMs screen against the real dev cloud: create form (V1, V2), progress, failure, list refresh, actions (V3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select
from uikit import domain_key, notifications, until
from vmkit import (
    PASSWORD,
    detail_text,
    error_text,
    fill,
    fill_valid,
    made_vm,
    open_form,
    open_vms,
    submit_expect,
    template_id,
    vm_console,
)

from ectui.app import ConsoleApp
from ectui.devcloud import DevCloudHandle
from ectui.screens.jobs import JobsScreen
from ectui.screens.vms import (
    ConsoleUrlModal,
    VmDetailModal,
    VmsScreen,
)
from ectui.services import ConsoleServices
from ectui.services.projects import ProjectDraft
from ectui.services.vms import VmInfo
from ectui.widgets import ConfirmModal
from ectui.widgets.password_rules import PasswordRules
from ectui.widgets.tables import table_rows
from tests.kit.cloud import admin_call


@pytest.fixture
async def services(tmp_path: Path, cloud: DevCloudHandle) -> AsyncIterator[ConsoleServices]:
    console = await vm_console(tmp_path, cloud)
    yield console
    console.close()


# ---------------------------------------------------------------------------------------- the form


async def test_each_validation_message_is_shown_on_the_form(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_vms(pilot)
        form = await open_form(pilot)
        # it fits 80x24 (the fields scroll)
        box = form.query_one("#vm-form-box").region
        assert box.right <= 80 and box.bottom <= 24
        # fields in V1 order, the user name follows the template's OS and is not editable
        ids = [
            w.id for w in form.query("#vm-form-scroll .form-row > *") if w.id and not w.id.endswith("-hint")
        ]
        assert ids == ["vm-name", "vm-template", "vm-node", "vm-login", "vm-keypair", "vm-import-key",
                       "vm-user-name", "vm-password", "vm-password-confirm", "vm-cpu", "vm-ram",
                       "vm-description", "vm-network", "vm-public-ip"]  # fmt: skip
        assert str(form.query_one("#vm-user-name").render()) == "—"
        await submit_expect(pilot, form, "Name is required.", "vm-name")
        fill(form, name="bad name!")
        await submit_expect(pilot, form, "Name 'bad name!' is not valid", "vm-name")
        fill(form, name="web1")
        await submit_expect(pilot, form, "Template is required.", "vm-template")
        fill(form, template=template_id(form, "win"))
        await pilot.pause()
        assert str(form.query_one("#vm-user-name").render()) == "administrator"
        assert "min 2" in str(form.query_one("#vm-cpu-hint").render())
        fill(form, template=template_id(form, "centos"))
        await pilot.pause()
        assert str(form.query_one("#vm-user-name").render()) == "root"
        await submit_expect(pilot, form, "Node is required.", "vm-node")
        fill(form, node="node-1")
        await pilot.pause()
        assert "32 free" in str(form.query_one("#vm-cpu-hint").render())
        await submit_expect(pilot, form, "Password is required.", "vm-password")
        # the complexity rules follow what is typed
        rules = form.query_one(PasswordRules)
        form.query_one("#vm-password", Input).focus()
        await pilot.press("a", "b", "c")
        await pilot.pause()
        assert (
            not rules.all_met
            and "✓ a lower-case letter" in str(rules.content)
            and "✗ an upper-case" in str(rules.content)
        )
        await submit_expect(pilot, form, "Password does not meet the rules", "vm-password")
        fill(form, password=PASSWORD)
        await pilot.pause()
        assert rules.all_met
        fill(form, password_confirm="Secret#124")
        await submit_expect(
            pilot, form, "Confirm password does not match the password.", "vm-password-confirm"
        )
        fill(form, password_confirm=PASSWORD)
        await submit_expect(pilot, form, "CPU is required.", "vm-cpu")
        fill(form, cpu="0")
        await submit_expect(pilot, form, "CPU must be at least 1", "vm-cpu")
        fill(form, cpu="1")
        await submit_expect(pilot, form, "RAM (GB) is required.", "vm-ram")
        fill(form, ram="1", network=None)
        await submit_expect(pilot, form, "Private network is required.", "vm-network")
        fill(form, network=form.choices.networks[0].id)
        # key pair login: the password rows hide, a key pair is required
        fill(form, login="keypair")
        await pilot.pause()
        assert form.query_one("#vm-keypair-row").display and not form.query_one("#vm-password").parent.display  # type: ignore[union-attr]
        await submit_expect(pilot, form, "Key pair is required.", "vm-keypair")
        # the template minimum is checked before anything is made
        fill(form, login="password", template=template_id(form, "win"), cpu="1", ram="4")
        await submit_expect(pilot, form, "CPU must be at least 2 for template win, got 1.", "vm-cpu")
        # a manual node without the capacity is refused
        fill(form, template=template_id(form, "centos"), cpu="8", ram="512")
        await submit_expect(pilot, form, "node-1")
        assert "free" in error_text(form).lower() or "room" in error_text(form).lower()
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, VmsScreen))
    assert await services.vms.list_all() == []
    assert (await services.projects.get("web")).reserved.vcpus == 0


async def test_import_a_public_key_and_choose_it(services: ConsoleServices, tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519.pub"
    key.write_text(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC7Dqn8RJ1oJ4p0aY3tQb5sVJtk5hL3cDXw8c1J6m0Yq ops@jump\n"
    )
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_vms(pilot)
        form = await open_form(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: app.screen is not form)
        importer = app.screen
        importer.query_one("#key-name", Input).value = "ops"
        importer.query_one("#key-path", Input).value = str(key)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is form and "imported" in error_text(form))
        assert form.query_one("#vm-keypair", Select).value == "ops"
        assert form.query_one("#vm-login", Select).value == "keypair"
    assert [k.name for k in await services.keypairs.list_all(cluster="dc1")] == ["ops"]


# ---------------------------------------------------------------------------------------- the flow


async def test_create_shows_progress_and_the_vm_becomes_active(
    services: ConsoleServices, cloud: DevCloudHandle
) -> None:
    admin_call(cloud, "POST", "/_admin/faults", {"op": "compute.create_server", "delay": 0.6})
    app = ConsoleApp(services)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_vms(pilot)
            form = await open_form(pilot)
            fill_valid(form, "web1", description="first VM")
            await pilot.press("ctrl+s")
            # the form closes once the quota is reserved; the list shows the VM as it is made
            await until(pilot, lambda: app.screen is screen)
            await until(pilot, lambda: any(r[0] == "web1" and "/" in r[1] for r in table_rows(screen.table)))
            job = app.jobs.all()[0]
            assert job.title == "Create VM web1" and job.running
            assert "%" in app.jobs_text
            await until(pilot, lambda: app.jobs.get(job.id).state == "done")  # type: ignore[union-attr]
            await until(
                pilot, lambda: any(r[0] == "web1" and r[1] == "running" for r in table_rows(screen.table))
            )
            row = next(r for r in table_rows(screen.table) if r[0] == "web1")
            assert row[2] == "1C/1G" and row[3] == "node-1" and row[4].startswith("10.0.0.")
            assert any("VM web1 created" in n for n in notifications(app))
            # the job shows on the Jobs screen as done
            await pilot.press(domain_key(app, "jobs"))
            await until(pilot, lambda: isinstance(app.screen, JobsScreen))
            jobs = app.screen
            assert isinstance(jobs, JobsScreen)
            assert [r[1] for r in table_rows(jobs.table) if r[0] == "Create VM web1"] == ["done"]
    finally:
        admin_call(cloud, "DELETE", "/_admin/faults")
    vm = (await services.vms.list_all())[0]
    assert vm.status == "ACTIVE" and vm.description == "first VM"
    assert (await services.projects.get("web")).used.vms == 1


async def test_failure_at_a_cloud_step_is_shown_and_rolled_back(
    services: ConsoleServices, cloud: DevCloudHandle
) -> None:
    admin_call(cloud, "POST", "/_admin/faults", {"op": "compute.create_server", "status": 500,
                                                 "delay": 0.3, "message": "no valid host"})  # fmt: skip
    app = ConsoleApp(services)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_vms(pilot)
            form = await open_form(pilot)
            fill_valid(form, "web2")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.screen is screen)
            await until(pilot, lambda: any("VM web2 was not created" in n for n in notifications(app)))
            message = next(n for n in notifications(app) if "VM web2 was not created" in n)
            assert "Boot on the node" in message and "no valid host" in message
            job = app.jobs.all()[0]
            assert job.state == "failed" and "no valid host" in job.message
            await until(pilot, lambda: table_rows(screen.table) == [])
    finally:
        admin_call(cloud, "DELETE", "/_admin/faults")
    project = await services.projects.get("web")
    assert project.reserved.vcpus == 0 and project.used.vms == 0
    assert await services.vms.list_all() == []


async def test_quota_refusal_stays_on_the_form(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_vms(pilot)
        form = await open_form(pilot)
        fill_valid(form, "big", cpu="9", ram="1")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "quota" in error_text(form) and form.run is None)
        assert app.screen is form


# ---------------------------------------------------------------------------------------- the list


async def test_list_refreshes_by_itself_filters_sorts_and_shows_all_projects(
    services: ConsoleServices, cloud: DevCloudHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = await made_vm(services, "alpha")
    await made_vm(services, "beta")
    monkeypatch.setattr(VmsScreen, "POLL_STABLE", 0.05)
    monkeypatch.setattr(VmsScreen, "POLL_FAST", 0.05)
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        assert [r[0] for r in table_rows(screen.table)] == ["alpha", "beta"]
        assert screen.polling and screen._poll_timer is not None
        # a change made in the cloud (not by this console) shows without a key press
        conn = services.clusters.connections.get_sync(alpha.id and (await services.clusters.get("dc1")).id)
        conn.compute.stop_server(alpha.cloud_id)
        await until(
            pilot, lambda: next(r for r in table_rows(screen.table) if r[0] == "alpha")[1] == "stopped"
        )
        # filter as you type, then back to the list
        await pilot.press("slash")
        await pilot.press("b", "e")
        await until(pilot, lambda: [r[0] for r in table_rows(screen.table)] == ["beta"])
        assert "1 of 2 VMs" in str(screen.query_one("#vms-status").render())
        await pilot.press("enter")
        screen.query_one("#vms-filter", Input).value = "stopped"
        await until(pilot, lambda: [r[0] for r in table_rows(screen.table)] == ["alpha"])
        screen.query_one("#vms-filter", Input).value = ""
        await until(pilot, lambda: len(table_rows(screen.table)) == 2)
        # sort: name, status (running < stopped would put beta first: ACTIVE < SHUTOFF)
        screen.table.focus()
        await pilot.press("o")
        await until(pilot, lambda: [r[0] for r in table_rows(screen.table)] == ["beta", "alpha"])
        assert "sorted by status" in str(screen.query_one("#vms-title").render())
        # all projects: a VM of another project appears with its project and cluster
        await services.projects.add(
            ProjectDraft.parse(name="db", vcpus="4", ram_gb="4", vms="2", cluster="dc1")
        )
        await services.projects.use("db")
        await made_vm(services, "gamma")
        await services.projects.use("web")
        await pilot.press("a")
        await until(pilot, lambda: len(table_rows(screen.table)) == 3)
        assert next(r for r in table_rows(screen.table) if r[0] == "gamma")[5] == "db@dc1"
        await pilot.press("a")
        await until(pilot, lambda: len(table_rows(screen.table)) == 2)
        # polling stops while another screen is shown, and starts again on return
        await pilot.press(domain_key(app, "jobs"))
        await until(pilot, lambda: isinstance(app.screen, JobsScreen))
        assert not screen.polling and screen._poll_timer is None
        await pilot.press(domain_key(app, "vms"))
        await until(pilot, lambda: app.screen is screen and screen._poll_timer is not None)
        assert screen.polling


async def test_polling_backs_off(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        assert screen.next_delay() == screen.POLL_STABLE
        screen.vms = [_vm_like(await made_vm(services, "alpha"), status="BUILD")]
        assert screen.next_delay() == screen.POLL_FAST
        screen.vms = []
        screen.last_activity -= screen.IDLE_AFTER + 1
        assert screen.is_idle and screen.next_delay() == screen.POLL_IDLE
        await pilot.press("o")  # any key on the screen ends idle polling
        assert not screen.is_idle and screen.next_delay() == screen.POLL_STABLE
        screen.failures = 3
        assert screen.next_delay() == min(screen.POLL_STABLE * 4, screen.POLL_MAX)


def _vm_like(vm: VmInfo, **changes: Any) -> VmInfo:
    import dataclasses

    return dataclasses.replace(vm, **changes)


# ---------------------------------------------------------------------------------------- actions


async def test_every_action(services: ConsoleServices) -> None:
    vm = await made_vm(services, "alpha", public_ip=True)
    assert vm.floating_ip
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        assert table_rows(screen.table)[0][:2] == ["alpha", "running"]

        def status() -> str:
            return table_rows(screen.table)[0][1] if table_rows(screen.table) else ""

        # stop: confirm, then it powers off
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")  # no: nothing happens
        await until(pilot, lambda: app.screen is screen)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: any("Stopping alpha" in n for n in notifications(app)))
        await until(pilot, lambda: status() == "stopped")
        # start
        await pilot.press("s")
        await until(pilot, lambda: status() == "running")
        # reboot: confirm
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: any("Rebooting alpha" in n for n in notifications(app)))
        await until(pilot, lambda: status() == "running")
        # console URL, shown whole
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConsoleUrlModal))
        url = app.screen.url  # type: ignore[attr-defined]
        assert url.startswith("http") and url in str(app.screen.query_one("#console-url").render())
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        # detail: spec, node, networks, IPs, ISO, lock, history
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, VmDetailModal))
        text = detail_text(app.screen)
        for expected in ("1 vCPU · 1 GB RAM", "node-2", "private", vm.fixed_ip, vm.floating_ip, "centos",
                         "Mounted ISO  —", "not locked", "create_vm  done", "Boot on the node"):  # fmt: skip
            assert expected in text, expected
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        # delete: confirm; the quota is released
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: table_rows(screen.table) == [])
        assert any("alpha deleted" in n for n in notifications(app))
    project = await services.projects.get("web")
    assert project.used.vms == 0 and project.used.public_ips == 0
