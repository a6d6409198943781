"""Keys typed ahead in one burst (as over SSH): they act in order and go to the dialog that is opening."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input
from uikit import settle, until
from vmkit import made_vm, open_form, open_vms, vm_console

from ectui.app import ConsoleApp
from ectui.screens.jobs import JobsScreen
from ectui.screens.vms import CreateVmModal, VmsScreen
from ectui.services import ConsoleServices
from ectui.services.audit import AuditFilter
from ectui.widgets.modals import ShellModal

NAMED = {"tab": "\t", "enter": "\r", "shift+tab": None, "escape": "\x1b"}


async def burst(pilot: Pilot[Any], *keys: str) -> None:
    """Post every key at once, as the terminal driver does with one read of a fast write (no pauses between
    keys, unlike pilot.press); each key is a name from NAMED or a string of characters."""
    app = pilot.app
    for key in keys:
        if key in NAMED:
            app.post_message(events.Key(key, NAMED[key]))
        else:
            for char in key:
                app.post_message(events.Key(_character_to_key(char), char))
    await pilot.pause()


@pytest.fixture
async def services(tmp_path: Path, cloud: Any) -> AsyncIterator[ConsoleServices]:
    console = await vm_console(tmp_path, cloud)
    yield console
    console.close()


def audit_actions(services: ConsoleServices) -> list[str]:
    """Every audit entry's action (the edition here has no audit menu: read the log directly)."""
    return [r.action for r in services.audit._list(AuditFilter(), 500)]


def modals(app: ConsoleApp) -> list[ShellModal[Any]]:
    return [s for s in app.screen_stack if isinstance(s, ShellModal)]


async def test_n_then_a_name_in_one_burst_fills_the_form_and_runs_no_list_action(
    services: ConsoleServices,
) -> None:
    vm = await made_vm(services, "old1")
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_vms(pilot)
        await until(pilot, lambda: screen.selected_vm() is not None)
        assert screen.selected_vm().id == vm.id  # type: ignore[union-attr]
        before = audit_actions(services)
        # n opens the form after an async step; s t a m are list keys (start, snapshot, all, mount)
        await burst(pilot, "n", "fastvm")
        await until(pilot, lambda: isinstance(app.screen, CreateVmModal))
        form = app.screen
        assert isinstance(form, CreateVmModal)
        await until(pilot, lambda: form.query_one("#vm-name", Input).value == "fastvm")
        await settle(pilot)
        assert [type(m) for m in modals(app)] == [CreateVmModal]
        assert form.query_one("#vm-name", Input).value == "fastvm"
        after = audit_actions(services)
        assert after == before, after
        assert not [j for j in app.jobs.all()]
        assert not screen.all_projects


async def test_a_form_burst_with_tabs_fills_each_field_in_order(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_vms(pilot)
        form = await open_form(pilot)
        name = form.query_one("#vm-name", Input)
        await until(pilot, lambda: app.focused is name)
        # name, then template, node and login (selects), then password, confirm and CPU
        await burst(pilot, "web7", "tab", "tab", "tab", "tab", "Passw0rd!x", "tab", "Passw0rd!x", "tab", "2")
        cpu = form.query_one("#vm-cpu", Input)
        await until(pilot, lambda: cpu.value == "2")
        assert name.value == "web7"
        assert form.query_one("#vm-password", Input).value == "Passw0rd!x"
        assert form.query_one("#vm-password-confirm", Input).value == "Passw0rd!x"
        assert app.focused is cpu
        # back one field (focus selects its text, so typing replaces it), then on past CPU to RAM
        await burst(pilot, "shift+tab", "Passw0rd!y", "tab", "tab", "1")
        ram = form.query_one("#vm-ram", Input)
        await until(pilot, lambda: ram.value == "1")
        assert form.query_one("#vm-password-confirm", Input).value == "Passw0rd!y"
        assert cpu.value == "2" and app.focused is ram


async def test_go_to_burst_with_enter_switches_domain(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_vms(pilot)
        # ':' pushes the Go to modal; 'jobs' filters; Enter goes there: all in one write
        await burst(pilot, ":", "jobs", "enter")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen))
        await settle(pilot)
        assert not modals(app) and isinstance(app.screen, JobsScreen)
        assert not isinstance(app.screen, VmsScreen)
