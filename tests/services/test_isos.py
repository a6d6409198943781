"""ISO files (S1-S5) against two real FTP servers: the dev cloud's aioftp and pyftpdlib."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from ectui.config import Settings
from ectui.db.models import IsoFile, IsoUpload
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.i18n import render
from ectui.services import ConsoleServices, build_console_services
from ectui.services.clusters import FtpDraft
from ectui.services.errors import LicenseError, ValidationError
from ectui.services.ftp import FtpError
from ectui.services.isos import IsoEdit, IsoError, IsoUploadRequest
from ectui.services.progress import Cancelled, CancelToken, Progress
from tests.kit import CONSOLE_NOW, Clock, build_licensed_console
from tests.kit.files import iso_file
from tests.kit.ftp import PyFtpd
from tests.kit.isos import add_cluster, interrupt_after

MIB = 1 << 20


@dataclass
class Share:
    """An FTP server holding a cluster's ISO directory."""

    kind: str
    root: Path
    settings: FtpDraft
    pyftpd: PyFtpd | None = None


@pytest.fixture(scope="module")
def devcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05))
    yield handle
    handle.stop()


@pytest.fixture(params=["aioftp", "pyftpdlib"])
def share(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Share]:
    if request.param == "aioftp":
        cloud: DevCloudHandle = request.getfixturevalue("devcloud")
        ftp = cloud.ftp
        root = cloud.cloud.iso_dir
        yield Share(
            "aioftp", root, FtpDraft(ftp["host"], int(ftp["port"]), ftp["user"], ftp["password"], "/")
        )
        for path in root.iterdir():  # the dev cloud is shared by the module: leave only its seed
            if path.name != "virtio-tools.iso":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        return
    root = tmp_path / "share"
    root.mkdir()
    server = PyFtpd(root)
    yield Share("pyftpdlib", root, server.settings(), server)
    server.stop()


@pytest.fixture
async def console(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any], share: Share
) -> AsyncIterator[ConsoleServices]:
    services = await build_licensed_console(tmp_path)
    await add_cluster(services, share.settings)
    yield services
    services.close()


def db_rows(console: ConsoleServices, model: type) -> list[Any]:
    with console.db.session() as session:
        return list(session.scalars(select(model)))


# ------------------------------------------------------------------ sync


async def test_sync_is_incremental_and_marks_gone_files(console: ConsoleServices, share: Share) -> None:
    (share.root / "alpha.iso").write_bytes(b"a" * 1000)
    (share.root / "BETA.ISO").write_bytes(b"b" * 10)
    (share.root / "notes.txt").write_bytes(b"n")
    (share.root / ".hidden.iso.part-1").write_bytes(b"h")
    (share.root / "dir.iso").mkdir()
    first = await console.isos.sync("dc1")
    names = {i.file_name for i in first.isos}
    assert {"alpha.iso", "BETA.ISO"} <= names and "notes.txt" not in names and "dir.iso" not in names
    assert all(i.source == "synced" and i.enabled and not i.gone for i in first.isos)
    alpha = next(i for i in first.isos if i.file_name == "alpha.iso")
    assert alpha.size == 1000 and alpha.name == "alpha" and alpha.modified_at[:2] == "20"
    await console.isos.edit(alpha.id, IsoEdit.parse(name="Alpha Linux", os_type="linux", description="d"))

    (share.root / "alpha.iso").write_bytes(b"a" * 2000)
    (share.root / "BETA.ISO").unlink()
    (share.root / "gamma.iso").write_bytes(b"g")
    second = await console.isos.sync("dc1")
    assert (second.added, second.updated, second.gone) == (1, 1, 1)
    by_file = {i.file_name: i for i in await console.isos.list_all("dc1")}
    assert by_file["BETA.ISO"].gone and by_file["alpha.iso"].size == 2000
    assert by_file["alpha.iso"].name == "Alpha Linux" and by_file["alpha.iso"].os_type == "linux"
    third = await console.isos.sync("dc1")  # idempotent
    assert (third.added, third.updated, third.gone) == (0, 0, 0)
    (share.root / "BETA.ISO").write_bytes(b"b")
    assert (await console.isos.sync("dc1")).updated == 1
    assert not {i.file_name: i for i in await console.isos.list_all()}["BETA.ISO"].gone


# ------------------------------------------------------------------ upload


async def test_upload_streams_verifies_renames_and_records(
    console: ConsoleServices, share: Share, tmp_path: Path
) -> None:
    src = iso_file(tmp_path / "ubuntu.iso", 5 * MIB + 123)
    reports: list[Progress] = []
    request = IsoUploadRequest.parse(path=src, cluster="dc1", name="Ubuntu 24.04", os_type="linux")
    result = await console.isos.upload(request, on_progress=reports.append)
    assert (share.root / "ubuntu.iso").read_bytes() == src.read_bytes()
    assert not [p for p in share.root.iterdir() if p.name.startswith(".")]  # no temp file left
    iso = result.iso
    assert (iso.name, iso.file_name, iso.size, iso.os_type) == (
        "Ubuntu 24.04",
        "ubuntu.iso",
        src.stat().st_size,
        "linux",
    )
    assert iso.source == "uploaded" and iso.enabled and iso.uploaded_by == console.settings.operator
    assert result.sent == src.stat().st_size and result.resumed_from == 0
    assert reports[0].done == 0 and reports[-1].step == "done" and reports[-1].done == src.stat().st_size
    assert db_rows(console, IsoUpload) == []
    # the same name again is refused (nothing is sent)
    with pytest.raises(IsoError) as again:
        await console.isos.upload(request)
    assert again.value.key == "iso.exists"
    # a sync keeps it as uploaded
    synced = {i.file_name: i for i in (await console.isos.sync("dc1")).isos}
    assert synced["ubuntu.iso"].source == "uploaded"


async def test_cancel_leaves_no_file_and_no_row(
    console: ConsoleServices, share: Share, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = iso_file(tmp_path / "cancel.iso", 4 * MIB)
    token = CancelToken()
    interrupt_after(monkeypatch, MIB, token.cancel)
    with pytest.raises(Cancelled) as cancelled:
        await console.isos.upload(IsoUploadRequest.parse(path=src, cluster="dc1"), cancel=token)
    assert cancelled.value.key == "iso.upload_cancelled"
    assert "removed" in render(cancelled.value)
    assert [p.name for p in share.root.iterdir() if "cancel" in p.name] == []
    assert db_rows(console, IsoUpload) == [] and db_rows(console, IsoFile) == []


async def test_interrupted_upload_resumes_after_a_restart_sending_only_the_rest(
    console: ConsoleServices, share: Share, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = iso_file(tmp_path / "big.iso", 6 * MIB + 7)
    size = src.stat().st_size
    request = IsoUploadRequest.parse(path=src, cluster="dc1", os_type="windows")
    if share.pyftpd is not None:  # the server cuts the data connection
        share.pyftpd.drop_after = 2 * MIB
        with pytest.raises(IsoError) as cut:
            await console.isos.upload(request)
        assert cut.value.key == "iso.upload_interrupted"
        assert "ectui iso resume" in render(cut.value)
    else:  # the console dies mid-way (its task is cancelled)
        task = asyncio.ensure_future(console.isos.upload(request))
        interrupt_after(monkeypatch, 2 * MIB, task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task
        monkeypatch.undo()
    assert not (share.root / "big.iso").exists()
    temps = [p for p in share.root.iterdir() if p.name.startswith(".big.iso.part-")]
    assert len(temps) == 1 and 0 < temps[0].stat().st_size < size
    have = temps[0].stat().st_size
    # a fresh upload of the same file is refused while the interrupted one exists
    with pytest.raises(IsoError) as pending:
        await console.isos.upload(request)
    assert pending.value.key == "iso.upload_pending"

    # a restart: new services on the same database
    restarted = build_console_services(console.settings, clock=Clock(CONSOLE_NOW))
    await restarted.start()
    try:
        waiting = await restarted.isos.interrupted()
        assert [(u.file_name, u.size, u.status) for u in waiting] == [("big.iso", size, "interrupted")]
        if share.pyftpd is not None:
            share.pyftpd.received = 0
        result = await restarted.isos.resume(waiting[0].id)
        # the server may still have written bytes in flight after `have` was read: resuming starts from
        # what the server holds when asked, and sends only the rest
        assert have <= result.resumed_from < size and result.sent == size - result.resumed_from
        if share.pyftpd is not None:
            assert share.pyftpd.received == size - result.resumed_from  # counted by the server
        assert (share.root / "big.iso").read_bytes() == src.read_bytes()
        assert not temps[0].exists()
        assert result.iso.os_type == "windows" and result.iso.source == "uploaded"
        assert await restarted.isos.interrupted() == []
        with pytest.raises(IsoError):
            await restarted.isos.resume(waiting[0].id)
    finally:
        restarted.close()


async def test_discard_removes_the_temporary_file(
    console: ConsoleServices, share: Share, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = iso_file(tmp_path / "drop.iso", 3 * MIB)
    task = asyncio.ensure_future(console.isos.upload(IsoUploadRequest.parse(path=src, cluster="dc1")))
    interrupt_after(monkeypatch, MIB, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()
    [pending] = await console.isos.interrupted()
    assert (share.root / pending.temp_name).exists()
    await console.isos.discard(pending.id)
    assert not (share.root / pending.temp_name).exists() and await console.isos.interrupted() == []


async def test_resume_refuses_a_changed_local_file(
    console: ConsoleServices, share: Share, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = iso_file(tmp_path / "changed.iso", 3 * MIB)
    task = asyncio.ensure_future(console.isos.upload(IsoUploadRequest.parse(path=src, cluster="dc1")))
    interrupt_after(monkeypatch, MIB, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()
    iso_file(src, 2 * MIB)
    [pending] = await console.isos.interrupted()
    with pytest.raises(IsoError) as changed:
        await console.isos.resume(pending.id)
    assert changed.value.key == "iso.source_changed"
    assert not (share.root / "changed.iso").exists()


async def test_a_refused_store_leaves_nothing(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    server = PyFtpd(root, perm="elr")  # may list and read, not write
    console = await build_licensed_console(tmp_path / "home")
    try:
        await add_cluster(console, server.settings())
        src = iso_file(tmp_path / "ro.iso", MIB)
        with pytest.raises(FtpError) as refused:
            await console.isos.upload(IsoUploadRequest.parse(path=src, cluster="dc1"))
        assert refused.value.key == "ftp.refused" and "STOR" in render(refused.value)
        assert list(root.iterdir()) == []
        assert db_rows(console, IsoUpload) == [] and db_rows(console, IsoFile) == []
    finally:
        console.close()
        server.stop()


# ------------------------------------------------------------------ rules


async def test_enable_edit_and_delete_rules(console: ConsoleServices, share: Share, tmp_path: Path) -> None:
    (share.root / "synced.iso").write_bytes(b"s" * 100)
    await console.isos.sync("dc1")
    synced = next(i for i in await console.isos.list_all("dc1") if i.file_name == "synced.iso")
    with pytest.raises(IsoError) as refused:
        await console.isos.delete(synced.id)
    assert refused.value.key == "iso.delete_synced" and (share.root / "synced.iso").exists()

    uploaded = (
        await console.isos.upload(
            IsoUploadRequest.parse(path=iso_file(tmp_path / "up.iso", 1000), cluster="dc1")
        )
    ).iso
    with console.db.session() as session:
        session.execute(update(IsoFile).where(IsoFile.id == uploaded.id).values(mount_count=2))
    with pytest.raises(IsoError) as mounted:
        await console.isos.delete(uploaded.id)
    assert mounted.value.key == "iso.delete_mounted" and "2 VM" in render(mounted.value)
    assert (share.root / "up.iso").exists()
    with console.db.session() as session:
        session.execute(update(IsoFile).where(IsoFile.id == uploaded.id).values(mount_count=0))

    assert not (await console.isos.set_enabled(uploaded.id, False)).enabled
    assert (await console.isos.set_enabled(uploaded.id, True)).enabled
    edited = await console.isos.edit(uploaded.id, IsoEdit.parse(os_type="windows", description="drivers"))
    assert (edited.name, edited.os_type, edited.description) == ("up", "windows", "drivers")
    with pytest.raises(ValidationError) as bad:
        IsoEdit.parse(os_type="beos")
    assert (bad.value.field, bad.value.field_id) == ("OS type", "os_type")
    with pytest.raises(ValidationError) as empty:
        IsoEdit.parse(name="  ")
    assert empty.value.field == "Name"

    await console.isos.delete(uploaded.id)
    assert not (share.root / "up.iso").exists()
    with pytest.raises(IsoError) as gone:
        await console.isos.get(uploaded.id)
    assert gone.value.key == "iso.not_found"

    (share.root / "synced.iso").unlink()
    await console.isos.sync("dc1")
    with pytest.raises(IsoError) as gone_enable:
        await console.isos.set_enabled(synced.id, True)
    assert gone_enable.value.key == "iso.gone"


@pytest.mark.parametrize("share", ["pyftpdlib"], indirect=True)
def test_upload_request_validation(tmp_path: Path, share: Share) -> None:
    with pytest.raises(ValidationError) as missing:
        IsoUploadRequest.parse(path="", cluster="dc1")
    assert (missing.value.field, missing.value.field_id) == ("File", "path")
    with pytest.raises(ValidationError) as absent:
        IsoUploadRequest.parse(path=tmp_path / "nope.iso", cluster="dc1")
    assert absent.value.field == "File" and "nope.iso" in render(absent.value)
    (tmp_path / "disk.img").write_bytes(b"x")
    with pytest.raises(ValidationError) as not_iso:
        IsoUploadRequest.parse(path=tmp_path / "disk.img", cluster="dc1")
    assert not_iso.value.key == "iso.not_iso"
    (tmp_path / "ok.iso").write_bytes(b"x")
    with pytest.raises(ValidationError) as os_type:
        IsoUploadRequest.parse(path=tmp_path / "ok.iso", cluster="dc1", os_type="plan9")
    assert os_type.value.field == "OS type"
    with pytest.raises(ValidationError) as cluster:
        IsoUploadRequest.parse(path=tmp_path / "ok.iso", cluster="")
    assert cluster.value.field == "Cluster"
    assert IsoUploadRequest.parse(path=tmp_path / "ok.iso", cluster="dc1").name == "ok"


@pytest.mark.parametrize("share", ["pyftpdlib"], indirect=True)
async def test_the_license_must_have_the_iso_feature(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any], share: Share
) -> None:
    console = await build_licensed_console(tmp_path, features="platform.clusters")
    try:
        await add_cluster(console, share.settings)
        with pytest.raises(LicenseError) as refused:
            await console.isos.sync("dc1")
        assert "platform.isos" in render(refused.value)
        with pytest.raises(LicenseError):
            await console.isos.list_all()
    finally:
        console.close()
