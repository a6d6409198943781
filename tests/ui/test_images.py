"""Images screen against the real dev cloud: sync, filter, sort, detail, upload jobs (done, failed, cancelled), rules."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openstack.config
import openstack.connection
import pytest
from textual.widgets import Input
from uikit import domain_key, notifications, settle, started
from vmkit import images_console

from ectui.app import ConsoleApp
from ectui.config import Settings
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.screens.images import ImageDetailModal, ImagesScreen, ImageTable, UploadImageModal
from ectui.screens.jobs import JobsScreen
from ectui.services import ConsoleServices
from ectui.services.images import ImageUpload
from ectui.widgets import ConfirmModal
from ectui.widgets.tables import table_rows


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path / "cloud", timings=Timings.fast(0.05))
    yield handle
    handle.stop()


def settings_at(home: Path) -> Settings:
    return Settings.from_env({"ECTUI_HOME": str(home), "ECTUI_OPERATOR": "alice"}, lang="en")


@pytest.fixture
async def services(tmp_path: Path, cloud: DevCloudHandle) -> AsyncIterator[ConsoleServices]:
    console = await images_console(tmp_path, cloud)
    yield console
    console.close()


def admin_call(handle: DevCloudHandle, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        handle.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def cloud_names(cloud: DevCloudHandle) -> list[str]:
    config = openstack.config.OpenStackConfig(config_files=[str(cloud.clouds_yaml)])
    conn = openstack.connection.Connection(config=config.get_one(cloud="devcloud"))
    return [i.name for i in conn.image.images()]


def make_file(path: Path, size: int) -> Path:
    block = hashlib.sha512(path.name.encode()).digest() * 1024  # 64 KiB of non-zero bytes
    with path.open("wb") as fh:
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write(block[: size % len(block)])
    return path


async def pause_until(pilot: Any, until: Any, rounds: int = 400) -> None:
    """Like uikit.settle, but while a job's worker is meant to stay running."""
    for _ in range(rounds):
        await pilot.pause()
        if until():
            return
    raise AssertionError("condition not reached")


async def open_images(pilot: Any) -> ImagesScreen:
    app = pilot.app
    await started(pilot)
    await pilot.press(domain_key(app, "images"))
    await settle(pilot, lambda: isinstance(app.screen, ImagesScreen))
    screen = app.screen
    assert isinstance(screen, ImagesScreen)
    return screen


async def test_sync_filter_sort_and_detail(services: ConsoleServices, cloud: DevCloudHandle) -> None:
    admin_call(cloud, "POST", "/_admin/images/bulk", {"count": 40, "prefix": "bulk-"})
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_images(pilot)
        table = screen.query_one(ImageTable)
        assert table.row_count == 0
        await pilot.press("s")
        await settle(pilot, lambda: table.row_count == 44)
        assert any("dc1: 44 added, 0 updated, 0 gone." in n for n in notifications(app))
        assert table.names()[:2] == ["bulk-00000", "bulk-00001"]  # by name

        await pilot.press("slash")
        for key in "cirros":
            await pilot.press(key)
        await settle(pilot, lambda: table.names() == ["cirros-0.6.2"])
        assert "1 of 44" in str(screen.query_one("#images-title").render())
        await pilot.press("enter")  # leaves the filter for the table
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ImageDetailModal))
        detail = str(app.screen.query_one("#image-detail").render())
        assert "cirros-0.6.2" in detail and "qcow2" in detail and "synced" in detail
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is screen)

        screen.query_one("#images-filter", Input).value = ""
        await settle(pilot, lambda: table.row_count == 44)
        await pilot.press("o", "o", "o")  # name → cluster → format → size
        await settle(pilot, lambda: table.sort_key == "size")
        assert table.names()[-1] == "ubuntu-22.04-mini"  # 32 KiB, the biggest
        await pilot.click(ImageTable, offset=(1, 0))  # a click on the header sorts by that column
        await settle(pilot, lambda: table.sort_key == "name")


async def test_upload_runs_as_a_job_across_screens(
    services: ConsoleServices, cloud: DevCloudHandle, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "alpine-3.20.qcow2", 2 * 1024 * 1024)
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_images(pilot)
        await pilot.press("u")
        await settle(pilot, lambda: isinstance(app.screen, UploadImageModal))
        modal = app.screen
        await pilot.press("ctrl+s")  # empty form: the file is named and marked
        await pilot.pause()
        assert "File is required" in str(modal.query_one("#upload-error").render())
        assert modal.query_one("#upload-file").has_class("-invalid")
        modal.query_one("#upload-file", Input).value = str(src)
        await pilot.pause()
        assert modal.query_one("#upload-disk-format", Input).value == "qcow2"  # guessed from the name
        modal.query_one("#upload-os-type", Input).value = "bsd"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "OS type must be one of: linux, windows" in str(modal.query_one("#upload-error").render())
        modal.query_one("#upload-os-type", Input).value = "linux"
        modal.query_one("#upload-name", Input).value = "alpine"
        await pilot.press("ctrl+s")
        await pilot.press(domain_key(app, "jobs"))  # the upload goes on while the operator looks elsewhere
        await settle(pilot, lambda: isinstance(app.screen, JobsScreen))
        jobs = app.screen
        assert isinstance(jobs, JobsScreen)
        await settle(pilot, lambda: any(r[1] == "done" for r in table_rows(jobs.table)))
        assert table_rows(jobs.table)[0][0] == "Upload image alpine"
        await pilot.press(domain_key(app, "images"))
        await settle(pilot, lambda: app.screen is screen and "alpine" in screen.table.names())
        image = screen.table.current()
        assert image is not None and image.name == "alpine"  # the new image is highlighted
        assert (image.source, image.uploaded_by, image.size) == ("uploaded", "alice", src.stat().st_size)
        assert "Image alpine uploaded" in notifications(app)
        assert "alpine" in cloud_names(cloud)


async def test_failed_upload_says_the_image_was_removed(
    services: ConsoleServices, cloud: DevCloudHandle, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "cut.raw", 4 * 1024 * 1024)
    admin_call(cloud, "POST", "/_admin/faults", {"op": "image.upload", "drop_after_bytes": 512 * 1024})
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_images(pilot)
        screen.start_upload(ImageUpload.parse(path=src, cluster="dc1", name="cut"))
        await settle(pilot, lambda: any("deleted from the cloud" in n for n in notifications(app)))
        assert "cut: Upload of 'cut' failed" in str(screen.query_one("#images-progress").render())
        assert "cut" not in cloud_names(cloud)
        assert screen.table.names() == []


async def test_cancel_an_upload_from_the_jobs_screen(
    services: ConsoleServices, cloud: DevCloudHandle, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "slow.raw", 48 * 1024 * 1024)
    admin_call(
        cloud, "POST", "/_admin/faults", {"op": "image.upload", "delay": 5.0}
    )  # the cloud reads late: the cancel lands while it waits
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_images(pilot)
        job = screen.start_upload(ImageUpload.parse(path=src, cluster="dc1", name="slow"))
        worker = next(w for w in app.workers if w.name == f"job-{job.id}")  # before it can finish and go
        await pilot.press(domain_key(app, "jobs"))
        await pause_until(pilot, lambda: isinstance(app.screen, JobsScreen))
        await pilot.press("ctrl+x")
        await pause_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await worker.wait()
        await settle(pilot, lambda: app.jobs.get(job.id).state == "cancelled")
        assert any("half-made image was deleted" in n for n in notifications(app))
        assert "half-made image was deleted" in app.jobs.get(job.id).message
        assert "slow" not in cloud_names(cloud)
        assert await services.images.list_all() == []


async def test_delete_only_uploaded_images_and_toggle_enabled(
    services: ConsoleServices, cloud: DevCloudHandle, tmp_path: Path
) -> None:
    await services.images.sync("dc1")
    mine = await services.images.upload(
        ImageUpload.parse(path=make_file(tmp_path / "mine.raw", 70_000), cluster="dc1")
    )
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_images(pilot)
        table = screen.table
        await settle(pilot, lambda: table.row_count == 5)
        table.select_id(next(i.id for i in await services.images.list_all() if i.name == "cirros-0.6.2"))
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmModal)
        assert any("only uploaded images can be deleted" in n for n in notifications(app))
        assert "cirros-0.6.2" in cloud_names(cloud)

        await pilot.press("e")
        await settle(pilot, lambda: table.current() is not None and not table.current().enabled)
        assert table.current().name == "cirros-0.6.2"  # type: ignore[union-attr]
        await pilot.press("e")
        await settle(pilot, lambda: table.current().enabled)  # type: ignore[union-attr]

        table.select_id(mine.id)
        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, lambda: "mine" not in table.names())
        assert "Image mine deleted" in notifications(app)
        assert "mine" not in cloud_names(cloud)
