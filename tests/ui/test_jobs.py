"""Background jobs: live progress in the jobs panel and header, completion, failure, cancel."""

from __future__ import annotations

import asyncio
import threading

from uikit import domain_key, started

from ectui.app import ConsoleApp
from ectui.jobs import human_bytes, progress_text
from ectui.screens.jobs import JobsScreen
from ectui.services.errors import ServiceError
from ectui.services.progress import CancelToken, Progress, ProgressCallback
from ectui.widgets import AppHeader, ConfirmModal
from ectui.widgets.tables import table_rows


async def test_jobs_report_progress_finish_fail_and_cancel(console_app: ConsoleApp) -> None:
    app = console_app
    release = asyncio.Event()
    reported = asyncio.Event()

    async def upload(progress: ProgressCallback, cancel: CancelToken) -> str:
        # progress from a worker thread, as the SDK's reader thread does
        await asyncio.to_thread(progress, Progress("upload", 512, 1024, rate=256.0))
        reported.set()
        await release.wait()
        return "image-1"

    async def broken(progress: ProgressCallback, cancel: CancelToken) -> None:
        raise ServiceError("license.tampered")

    async def endless(progress: ProgressCallback, cancel: CancelToken) -> None:
        stop = threading.Event()
        while not cancel.cancelled:  # the work checks the token between chunks
            await asyncio.to_thread(stop.wait, 0.01)
        cancel.raise_if_cancelled()

    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        done: list[str] = []
        first = app.jobs.start("Upload a.qcow2", upload, on_done=lambda job: done.append(job.state))
        await reported.wait()
        await settle_no_wait(pilot, lambda: app.jobs.get(first.id).progress is not None)
        assert "50%" in app.jobs_text
        assert "50%" in str(app.screen.query_one(AppHeader).query_one("#header-jobs").content)
        await pilot.press(domain_key(app, "jobs"))
        await settle_no_wait(pilot, lambda: isinstance(app.screen, JobsScreen))
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        assert (
            table_rows(screen.table)[0][0] == "Upload a.qcow2"
            and "512 B / 1.0 KiB" in table_rows(screen.table)[0][3]
        )
        release.set()
        await settle_no_wait(pilot, lambda: done == ["done"])
        assert app.jobs.get(first.id).result == "image-1"
        assert table_rows(screen.table)[0][1] == "done" and app.jobs_text == ""

        app.jobs.start("Broken", broken)
        await settle_no_wait(pilot, lambda: any(r[1] == "failed" for r in table_rows(screen.table)))
        assert (
            "modified after it was issued" in [r for r in table_rows(screen.table) if r[0] == "Broken"][0][3]
        )

        job = app.jobs.start("Endless", endless)
        await settle_no_wait(pilot, lambda: len(table_rows(screen.table)) == 3)
        screen.table.move_cursor(row=[r[0] for r in table_rows(screen.table)].index("Endless"))
        await pilot.press("ctrl+x")
        await settle_no_wait(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle_no_wait(pilot, lambda: app.jobs.get(job.id).state == "cancelled")
        assert app.jobs.running() == []


async def settle_no_wait(pilot, until, rounds: int = 400) -> None:  # type: ignore[no-untyped-def]
    """Like uikit.settle, but while a job's worker is meant to stay running."""
    for _ in range(rounds):
        await pilot.pause()
        if until():
            return
    raise AssertionError("condition not reached")


def test_progress_text() -> None:
    assert human_bytes(1536) == "1.5 KiB"
    text = progress_text(Progress("upload", 512 * 1024**2, 1024**3, rate=256 * 1024**2))
    assert text == "512.0 MiB / 1.0 GiB · 256.0 MiB/s · ETA 2s"


def test_progress_text_of_steps() -> None:
    text = progress_text(Progress("boot", 3, 6, detail="Boot on the node", unit="steps"))
    assert text == "step 3/6 · Boot on the node"
