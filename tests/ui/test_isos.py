"""Console ISO files screen against a real FTP server (pyftpdlib): sync, upload jobs, cancel, failure, resume."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from textual.widgets import Input
from textual.worker import WorkerCancelled
from uikit import notifications, started
from uikit import settle as settle_workers
from vmkit import licensed_services

from ectui.app import ConsoleApp
from ectui.screens.isos import EditIsoModal, IsosScreen, ResumeUploadsModal, UploadIsoModal
from ectui.services import ConsoleServices
from ectui.services.clusters import ClusterDraft
from ectui.widgets import ConfirmModal
from ectui.widgets.tables import table_rows
from tests.kit.files import iso_file
from tests.kit.ftp import PyFtpd
from tests.kit.isos import interrupt_after

MIB = 1 << 20


@pytest.fixture
def pyftpd(tmp_path: Path) -> Iterator[PyFtpd]:
    root = tmp_path / "share"
    root.mkdir()
    server = PyFtpd(root)
    yield server
    server.stop()


@pytest.fixture
async def services(tmp_path: Path, pyftpd: PyFtpd) -> AsyncIterator[ConsoleServices]:
    console = await licensed_services(tmp_path)
    await console.clusters.add(
        ClusterDraft.parse(
            name="dc1",
            storage_mode="local",
            auth_url="http://127.0.0.1:9/v3",
            username="u",
            password="p",
            project="p",
        )
    )
    await console.clusters.set_ftp("dc1", pyftpd.settings())
    yield console
    console.close()


async def open_isos(pilot) -> IsosScreen:  # type: ignore[no-untyped-def]
    await started(pilot)
    await pilot.app.switch_mode("isos")
    await settle(pilot, lambda: isinstance(pilot.app.screen, IsosScreen))
    screen = pilot.app.screen
    assert isinstance(screen, IsosScreen)
    return screen


async def settle(pilot, until=None) -> None:  # type: ignore[no-untyped-def]
    """uikit.settle, where a refresh replaced by a newer one (exclusive worker) is not an error."""
    for _ in range(50):
        try:
            await settle_workers(pilot, until)
            return
        except WorkerCancelled:
            continue
    raise AssertionError("the app did not settle")


def fill(modal: object, values: dict[str, str]) -> None:
    for input_id, value in values.items():
        modal.query_one(f"#{input_id}", Input).value = value  # type: ignore[attr-defined]


async def test_sync_filter_edit_toggle_and_delete_rules(services: ConsoleServices, pyftpd: PyFtpd) -> None:
    (pyftpd.root / "debian.iso").write_bytes(b"d" * 4096)
    (pyftpd.root / "windows.ISO").write_bytes(b"w" * 10)
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_isos(pilot)
        assert "dc1" in str(screen.query_one("#isos-title").content)
        await pilot.press("s")
        await settle(pilot, lambda: len(table_rows(screen.table)) == 2)
        assert {r[1] for r in table_rows(screen.table)} == {"debian.iso", "windows.ISO"}
        row = next(r for r in table_rows(screen.table) if r[1] == "debian.iso")
        assert row[2] == "4.0 KiB" and row[5] == "synced" and row[6] == "yes" and row[7] == "0"

        await pilot.press("slash", *"deb")
        await settle(pilot, lambda: len(table_rows(screen.table)) == 1)
        screen.table.focus()
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, EditIsoModal))
        fill(app.screen, {"iso-edit-os-type": "beos"})
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "OS type" in str(app.screen.query_one("#iso-edit-error").content)
        assert app.screen.query_one("#iso-edit-os-type").has_class("-invalid")
        fill(app.screen, {"iso-edit-name": "Debian 12", "iso-edit-os-type": "linux"})
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: table_rows(screen.table)[0][0] == "Debian 12")
        assert table_rows(screen.table)[0][4] == "linux"

        await pilot.press("t")
        await settle(pilot, lambda: table_rows(screen.table)[0][6] == "no")
        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, lambda: any("synced from the FTP server" in n for n in notifications(app)))
        assert (pyftpd.root / "debian.iso").exists()


async def test_upload_job_then_delete(services: ConsoleServices, pyftpd: PyFtpd, tmp_path: Path) -> None:
    src = iso_file(tmp_path / "alpine.iso", 3 * MIB)
    (tmp_path / "disk.img").write_bytes(b"x")
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_isos(pilot)
        await pilot.press("u")
        await settle(pilot, lambda: isinstance(app.screen, UploadIsoModal))
        fill(app.screen, {"iso-path": str(tmp_path / "disk.img")})
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "must end in .iso" in str(app.screen.query_one("#iso-upload-error").content)
        assert app.screen.query_one("#iso-path").has_class("-invalid")
        fill(app.screen, {"iso-path": str(tmp_path / "alp")})
        await settle(pilot, lambda: app.screen.query_one("#iso-path").suggestion.endswith("alpine.iso"))
        await pilot.press("tab")  # accept the completion
        assert app.screen.query_one("#iso-path", Input).value == str(src)
        fill(app.screen, {"iso-name": "Alpine", "iso-os-type": "linux"})
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: [r[0] for r in table_rows(screen.table)] == ["Alpine"])
        [job] = app.jobs.all()
        assert job.state == "done" and job.progress is not None and job.progress.done == 3 * MIB
        assert (pyftpd.root / "alpine.iso").read_bytes() == src.read_bytes()
        assert table_rows(screen.table)[0][5] == "uploaded"

        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, lambda: table_rows(screen.table) == [])
        assert not (pyftpd.root / "alpine.iso").exists()


async def test_cancelled_upload_leaves_nothing(
    services: ConsoleServices, pyftpd: PyFtpd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = iso_file(tmp_path / "cancel.iso", 4 * MIB)
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_isos(pilot)
        from ectui.services.isos import IsoUploadRequest

        interrupt_after(monkeypatch, MIB, lambda: app.jobs.cancel(job.id))
        job = screen.start_upload(IsoUploadRequest.parse(path=src, cluster="dc1"))
        await settle(pilot, lambda: app.jobs.get(job.id).state == "cancelled")  # type: ignore[union-attr]
        assert "removed" in app.jobs.get(job.id).message  # type: ignore[union-attr]
        assert list(pyftpd.root.iterdir()) == []
        assert table_rows(screen.table) == [] and await services.isos.interrupted() == []


async def test_failed_upload_is_resumed_or_discarded(
    services: ConsoleServices, pyftpd: PyFtpd, tmp_path: Path
) -> None:
    src = iso_file(tmp_path / "big.iso", 8 * MIB + 5)
    other = iso_file(tmp_path / "other.iso", 3 * MIB)
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_isos(pilot)
        from ectui.services.isos import IsoUploadRequest

        pyftpd.drop_after = 3 * MIB
        job = screen.start_upload(IsoUploadRequest.parse(path=src, cluster="dc1"))
        await settle(pilot, lambda: app.jobs.get(job.id).state == "failed")  # type: ignore[union-attr]
        assert "ectui iso resume" in app.jobs.get(job.id).message  # type: ignore[union-attr]
        await settle(pilot, lambda: "1 interrupted upload" in str(screen.query_one("#isos-uploads").content))
        assert not (pyftpd.root / "big.iso").exists()
        pyftpd.drop_after = MIB
        screen.start_upload(IsoUploadRequest.parse(path=other, cluster="dc1"))
        await settle(pilot, lambda: "2 interrupted" in str(screen.query_one("#isos-uploads").content))

        pyftpd.received = 0
        await pilot.press("r")
        await settle(pilot, lambda: isinstance(app.screen, ResumeUploadsModal))
        assert app.screen.query_one("#iso-uploads-table").row_count == 2
        await pilot.press("enter")  # the first: big.iso
        await settle(pilot, lambda: [r[1] for r in table_rows(screen.table)] == ["big.iso"])
        assert (pyftpd.root / "big.iso").read_bytes() == src.read_bytes()
        assert 0 < pyftpd.received <= src.stat().st_size - 3 * MIB  # only the rest was sent

        await pilot.press("r")
        await settle(pilot, lambda: isinstance(app.screen, ResumeUploadsModal))
        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, lambda: str(screen.query_one("#isos-uploads").content) == "")
        assert sorted(p.name for p in pyftpd.root.iterdir()) == ["big.iso"]
