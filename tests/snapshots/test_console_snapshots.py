"""The console's main screens and dialogs at 80x24, in English and Chinese, and once without colour (SVG snapshots).

Deterministic: the console runs on a fixed clock, on a copy of one seeded home (fixed names: cluster dc1,
project web, VM web-1); input cursors do not blink; the dev cloud's port is masked where a frame shows it.
Update the snapshots with `pytest tests/snapshots --snapshot-update` and look at every changed SVG.
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from ectui.app import ConsoleApp
from ectui.screens.welcome import WelcomeScreen
from ectui.services import ConsoleServices
from tests.kit.ui import settle, started

Drive = Callable[[Pilot[Any]], Awaitable[None]]
SnapCompare = Callable[..., bool]

PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")
SVG_TEXT = re.compile(r"<text [^>]*>(.*?)</text>")
TERMINAL_ID = re.compile(r"terminal-\d+")


def frame_text(pilot: Pilot[Any]) -> str:
    """What the terminal shows now, as one string (the text runs of a screenshot, joined)."""
    return html.unescape("".join(SVG_TEXT.findall(pilot.app.export_screenshot()))).replace("\xa0", " ")


def shows(pilot: Pilot[Any], text: str) -> Callable[[], bool]:
    """A condition: the frame shows `text`."""
    return lambda: text in frame_text(pilot)


async def steady(pilot: Pilot[Any]) -> None:
    """Wait until two frames 50 ms apart are the same (a dialog may still lay out or scroll after it opened)."""
    previous = ""
    for _ in range(60):
        await pilot.pause(0.05)
        frame = TERMINAL_ID.sub("", pilot.app.export_screenshot())
        if frame == previous:
            return
        previous = frame
    raise AssertionError(f"the frame still changes after 3 s (screen: {pilot.app.screen!r})")


def mask_ports(pilot: Pilot[Any]) -> None:
    """Replace the dev cloud's (random) port by 5000 in every table cell that shows a local URL."""
    for table in pilot.app.screen.query(DataTable):
        for row in range(table.row_count):
            for column, cell in enumerate(table.get_row_at(row)):
                if PORT.search(str(cell)):
                    table.update_cell_at(Coordinate(row, column), PORT.sub(r"\1:5000", str(cell)))


def still_cursors(pilot: Pilot[Any]) -> None:
    """No blinking cursor in the frame: every input on the current screen keeps its cursor shown."""
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False


def domain(domain_id: str, expected: str) -> Drive:
    """Show a domain screen and wait until its table shows `expected`."""

    async def drive(pilot: Pilot[Any]) -> None:
        await started(pilot)
        await pilot.app.switch_mode(domain_id)
        await settle(pilot, shows(pilot, expected), what=f"{domain_id} showing {expected!r}")
        mask_ports(pilot)
        await steady(pilot)

    return drive


def dialog(
    domain_id: str, expected: str, *keys: str, ready: Callable[[Pilot[Any]], bool] | None = None
) -> Drive:
    """From a domain screen showing `expected`, press `keys` and wait for the dialog they open."""

    async def drive(pilot: Pilot[Any]) -> None:
        await domain(domain_id, expected)(pilot)
        base = pilot.app.screen
        await pilot.press(*keys)
        await settle(
            pilot,
            lambda: pilot.app.screen is not base and (ready is None or ready(pilot)),
            what=f"the dialog of {keys} on {domain_id}",
        )
        still_cursors(pilot)
        await steady(pilot)

    return drive


SCREENS: dict[str, Drive] = {
    "vms": domain("vms", "web-1"),
    "vm_form": dialog("vms", "web-1", "n"),
    "vm_detail": dialog("vms", "web-1", "i"),
    "confirm_delete_vm": dialog("vms", "web-1", "ctrl+d"),
    "help": dialog("vms", "web-1", "question_mark"),
    "palette": dialog("vms", "web-1", "ctrl+p"),
    "nodes": domain("nodes", "node-3"),
    "images": domain("images", "windows-2019-mini"),
    "isos": domain("isos", "virtio-tools"),
    "projects": domain("projects", "web"),
    "clusters": domain("clusters", "dc1"),
}
"""The audit log is not among them: its DataTable's column widths (and so its scrollbar) vary with the
order rows arrive in; tests/ui/test_audit_chain.py and the hostile-text walk cover that screen."""


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_console_screen(
    screen: str, lang: str, seeded_services: ConsoleServices, snap_compare: SnapCompare
) -> None:
    app = ConsoleApp(seeded_services)
    assert snap_compare(app, terminal_size=(80, 24), run_before=SCREENS[screen]), f"{screen} in {lang}"


def test_welcome(lang: str, empty_services: ConsoleServices, snap_compare: SnapCompare) -> None:
    app = ConsoleApp(empty_services, welcome=True)

    async def drive(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: isinstance(pilot.app.screen, WelcomeScreen), what="the welcome screen")
        await steady(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=drive), f"welcome in {lang}"


def test_vms_without_colour(
    monkeypatch: pytest.MonkeyPatch, seeded_services: ConsoleServices, snap_compare: SnapCompare
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = ConsoleApp(seeded_services)
    assert app.no_color, "NO_COLOR is read when the app is made"
    assert snap_compare(app, terminal_size=(80, 24), run_before=SCREENS["vms"]), "vms without colour"
