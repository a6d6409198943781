"""The console-log viewer and the console-URL modal's serial URL and ssh -L line, against the real dev cloud."""

# ruff: noqa: F811  (pytest fixtures imported from the sibling module are redefined as parameters)

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from uikit import notifications, until
from vmkit import made_vm, open_vms, vm_console

from ectui.app import ConsoleApp
from ectui.devcloud import DevCloudHandle
from ectui.screens.vms import ConsoleLogModal, ConsoleUrlModal
from ectui.services import ConsoleServices


@pytest.fixture
async def services(tmp_path: Path, cloud: DevCloudHandle) -> AsyncIterator[ConsoleServices]:
    console = await vm_console(tmp_path, cloud)
    yield console
    console.close()


def log_text(modal: Any) -> str:
    return str(modal.query_one("#console-log").render())


def heartbeats(modal: ConsoleLogModal) -> list[int]:
    return [int(line.split("heartbeat ")[1].split()[0]) for line in modal.lines if "heartbeat " in line]


async def test_viewer_shows_follows_and_searches(
    services: ConsoleServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ConsoleLogModal, "FOLLOW_SECONDS", 0.1)
    await made_vm(services, "alpha")
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_vms(pilot)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, ConsoleLogModal))
        modal = app.screen
        assert isinstance(modal, ConsoleLogModal)
        await until(pilot, lambda: "hostname: alpha" in log_text(modal))
        # f: follow; a newer heartbeat line shows up without a key press
        first = max(heartbeats(modal), default=0)
        await pilot.press("f")
        assert modal.following
        await until(pilot, lambda: max(heartbeats(modal), default=0) > first + 2)
        newest = max(heartbeats(modal))
        await until(pilot, lambda: f"heartbeat {newest} of alpha" in log_text(modal))
        assert heartbeats(modal) == sorted(set(heartbeats(modal)))  # no line twice
        await pilot.press("f")  # stop following: the poll timer is gone
        assert not modal.following and modal._timer is None
        # /: search jumps to the line and highlights it
        await pilot.press("slash")
        await pilot.press(*"cloud-init")
        await pilot.press("enter")
        await until(pilot, lambda: modal.match is not None)
        assert modal.match is not None and "cloud-init" in modal.lines[modal.match]
        assert "matches" in str(modal.query_one("#console-log-status").render())
        previous = modal.match
        await pilot.press("enter")  # the next (older) match
        await until(pilot, lambda: modal.match != previous)
        assert modal.match is not None and modal.match < previous
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        # the console URL modal: the ssh -L line and the serial URL, each copyable
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConsoleUrlModal))
        url_modal = app.screen
        assert isinstance(url_modal, ConsoleUrlModal)
        assert url_modal.serial is not None and url_modal.serial.startswith("ws://")
        assert url_modal.tunnel is not None and url_modal.tunnel.command.startswith("ssh -L ")
        assert url_modal.tunnel.command in str(url_modal.query_one("#console-tunnel").render())
        assert url_modal.serial in str(url_modal.query_one("#console-serial").render())
        assert "websocat" in str(url_modal.query_one("#console-serial-attach").render())
        await pilot.press("t")
        await until(pilot, lambda: any("SSH tunnel line copied" in n for n in notifications(app)))
        await pilot.press("s")
        await until(pilot, lambda: any("Serial console URL copied" in n for n in notifications(app)))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)


async def test_hostile_log_lines_are_shown_escaped(
    services: ConsoleServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    await made_vm(services, "beta")
    hostile = "boot ok\n\x1b[2Jcleared?\n\x1b]52;c;ZXZpbA==\x07 [bold]markup[/]\n"

    async def fake_log(vm_ref: object, lines: int = 200) -> str:
        return hostile

    monkeypatch.setattr(services.console, "console_log", fake_log)
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_vms(pilot)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, ConsoleLogModal))
        modal = app.screen
        await until(pilot, lambda: "cleared?" in log_text(modal))
        shown = log_text(modal)
        assert "\\x1b[2Jcleared?" in shown and "\x1b" not in shown
        assert "\\x1b]52;c;ZXZpbA==\\x07 [bold]markup[/]" in shown
