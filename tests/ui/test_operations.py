"""Operations history against the real dev cloud and services: creates and resizes with their steps, live
refresh while one runs; the StepProgress widget at 80x24, without colour and in zh_CN."""

# ruff: noqa: F811  (pytest fixtures imported from the sibling module are redefined as parameters)

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import Input
from uikit import until
from vmkit import made_vm, open_operations, vm_console

from ectui.app import ConsoleApp
from ectui.devcloud import DevCloudHandle
from ectui.i18n import set_language
from ectui.screens.vms.resize import start_resize_job
from ectui.services import ConsoleServices
from ectui.services.progress import Progress
from ectui.services.resize import RESIZE_STEPS
from ectui.widgets.steps import StepProgress, StepRow
from ectui.widgets.tables import table_rows
from tests.kit.cloud import admin_call


@pytest.fixture
async def services(tmp_path: Path, cloud: DevCloudHandle) -> AsyncIterator[ConsoleServices]:
    cloud.cloud.vendor_extensions = ()
    console = await vm_console(tmp_path, cloud)
    yield console
    console.close()
    cloud.cloud.vendor_extensions = ("EC-LIVE-RESIZE", "EC-CDROM")
    admin_call(cloud, "DELETE", "/_admin/faults")


async def test_history_lists_create_and_resize_with_their_steps(services: ConsoleServices) -> None:
    vm = await made_vm(services, "alpha")
    plan = await services.resize.plan(vm.id, 2, 2)
    await services.resize.resize(plan)
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_operations(pilot)
        rows = table_rows(screen.table)
        assert [(r[1], r[2], r[3]) for r in rows] == [
            ("resize", "alpha", "✓ done"),
            ("create VM", "alpha", "✓ done"),
        ]
        assert all(r[6] for r in rows) and all(r[5].endswith("s") for r in rows)
        # the newest (the resize) is selected: its ten steps, all done or skipped
        assert screen.selected() is not None and screen.selected().kind == "resize"  # type: ignore[union-attr]
        states = screen.steps.states()
        assert list(states) == [code for code, _label in RESIZE_STEPS]
        assert set(states.values()) <= {"done", "skipped"} and states["rollback"] == "skipped"
        assert "Reserve project resources" in screen.steps.text
        # the create's steps
        await pilot.press("down")
        await until(pilot, lambda: screen.selected() is not None and screen.selected().kind == "create_vm")  # type: ignore[union-attr]
        assert "Reserve quota" in screen.steps.text and "resize" not in screen.steps.states()
        # filter
        await pilot.press("slash")
        screen.query_one("#operations-filter", Input).value = "resize"
        await until(pilot, lambda: [r[1] for r in table_rows(screen.table)] == ["resize"])
        screen.query_one("#operations-filter", Input).value = ""
        await until(pilot, lambda: len(table_rows(screen.table)) == 2)
        await pilot.press("enter", "f")  # running/failed only: none
        await until(pilot, lambda: table_rows(screen.table) == [])
        await pilot.press("f")
        await until(pilot, lambda: len(table_rows(screen.table)) == 2)


async def test_a_running_resize_shows_live_and_a_failure_names_its_step(
    services: ConsoleServices, cloud: DevCloudHandle
) -> None:
    vm = await made_vm(services, "alpha")
    admin_call(cloud, "POST", "/_admin/faults", {"op": "compute.resize", "delay": 1.0, "status": 500,
                                                 "message": "no valid host"})  # fmt: skip
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_operations(pilot)
        plan = await services.resize.plan(vm.id, 2, 2)
        job = start_resize_job(app, services, plan)
        await until(
            pilot, lambda: any(r[1] == "resize" and r[3] == "▶ running" for r in table_rows(screen.table))
        )
        await pilot.press("up")  # the cursor stays on the row it was on; the resize is the newest, on top
        await until(pilot, lambda: screen.selected() is not None and screen.selected().kind == "resize")  # type: ignore[union-attr]
        await until(pilot, lambda: screen.steps.states().get("resize") == "running")
        await until(pilot, lambda: not app.jobs.get(job.id).running, timeout=30)  # type: ignore[union-attr]
        await until(
            pilot, lambda: any(r[1] == "resize" and r[3] == "↺ compensated" for r in table_rows(screen.table))
        )
        await until(pilot, lambda: screen.steps.states().get("resize") == "failed")
        states = screen.steps.states()
        assert states["reserve"] == states["lock"] == states["flavor"] == "compensated"
        assert states["unlock"] == "not_run"
        error = str(screen.query_one("#operations-error").render())
        assert "failed at step 'Resize and confirm'" in error
        assert "✗ failed" in screen.steps.text and "↺ compensated" in screen.steps.text


# ------------------------------------------------------------------------------------------ the widget


class StepsApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StepProgress(id="steps")


def sample_rows() -> list[StepRow]:
    t0 = dt.datetime(2026, 1, 1, 8, 0, 0)
    rows = [StepRow(code, label) for code, label in RESIZE_STEPS]
    rows[0] = StepRow("reserve", rows[0].label, "compensated", "", t0, t0 + dt.timedelta(seconds=0.4))
    rows[1] = StepRow("lock", rows[1].label, "done", "", t0, t0 + dt.timedelta(seconds=1))
    rows[3] = StepRow("stop", rows[3].label, "skipped", "hot resize: the VM kept running", t0, t0)
    rows[5] = StepRow("resize", rows[5].label, "failed", "no valid host", t0, t0 + dt.timedelta(seconds=75))
    return rows


def shown_text(widget: StepProgress) -> list[str]:
    """What the terminal shows of the widget (after cropping), line by line."""
    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return ["".join(seg.text for seg in strip).rstrip() for strip in strips]


async def test_step_widget_at_80x24_without_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = StepsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        widget = app.query_one(StepProgress)
        widget.show_steps(sample_rows())
        await pilot.pause()
        lines = shown_text(widget)
        assert len(lines) == 11 and all(len(line) <= 80 for line in lines)
        assert lines[0].startswith(" 1 ↺ compensated") and "0.4s  Reserve project resources" in lines[0]
        assert lines[3].startswith(" 4 – skipped")
        assert lines[5].startswith(" 6 ✗ failed") and "1m15s  Resize and confirm" in lines[5]
        assert "↳ no valid host" in lines[6]
        assert lines[7].startswith(" 7 · pending") and "--:--:--" in lines[7]
        assert lines[8].endswith("…")  # a long label is cut, never wrapped over the next step
        # live progress: earlier steps done, this one running, then a compensation report
        widget.show_plan(RESIZE_STEPS)
        widget.advance(Progress("stop", 3, 10, "Stop the VM", unit="steps"))
        assert list(widget.states().values())[:5] == ["done", "done", "done", "running", "pending"]
        widget.advance(Progress("rollback", 1, 10, "Lock the VM", unit="steps"))
        assert widget.states()["stop"] == "failed" and widget.failed_code == "stop"
        widget.advance(Progress("done", 10, 10, "Done", unit="steps"))


async def test_step_widget_in_zh_cn() -> None:
    set_language("zh_CN")
    try:
        app = StepsApp()
        async with app.run_test(size=(80, 24)) as pilot:
            widget = app.query_one(StepProgress)
            widget.show_steps(sample_rows())
            await pilot.pause()
            text = "\n".join(shown_text(widget))
            for word in ("↺ 已补偿", "✓ 已完成", "– 已跳过", "✗ 失败", "· 等待"):
                assert word in text, word
            assert "扣除项目资源" in text and "云主机加锁" in text
    finally:
        set_language("en")
