"""The ISO share's FTP server, driven by the aioftp client."""

from __future__ import annotations

from pathlib import Path

import aioftp
import pytest

from ectui.devcloud import DevCloudHandle

from .conftest import write_file


async def _client(devcloud: DevCloudHandle) -> aioftp.Client:
    ftp = devcloud.ftp
    client = aioftp.Client()
    await client.connect(ftp["host"], ftp["port"])
    await client.login(ftp["user"], ftp["password"])
    return client


async def test_list_shows_the_seeded_iso(devcloud: DevCloudHandle) -> None:
    client = await _client(devcloud)
    try:
        names = {path.name: info for path, info in await client.list("/")}
        assert "virtio-tools.iso" in names
        assert names["virtio-tools.iso"]["type"] == "file"
        assert int(names["virtio-tools.iso"]["size"]) == 64 * 1024
        code, info = await client.command("SIZE virtio-tools.iso", "213")
        assert info[0].strip() == str(64 * 1024)
    finally:
        await client.quit()


async def test_upload_resume_and_rename(devcloud: DevCloudHandle, tmp_path: Path) -> None:
    src = write_file(tmp_path / "big.iso", 3 * 1024 * 1024 + 7)
    data = src.read_bytes()
    client = await _client(devcloud)
    try:
        # an interrupted upload: only the first MiB arrived
        async with client.upload_stream("partial.iso") as stream:
            await stream.write(data[: 1024 * 1024])
        assert (await client.stat("partial.iso"))["size"] == str(1024 * 1024)
        # resume with REST at the size the server has
        offset = int((await client.stat("partial.iso"))["size"])
        async with client.upload_stream("partial.iso", offset=offset) as stream:
            await stream.write(data[offset:])
        assert (devcloud.cloud.iso_dir / "partial.iso").read_bytes() == data
        # append (APPE) then rename (RNFR/RNTO)
        async with client.append_stream("partial.iso") as stream:
            await stream.write(b"tail")
        await client.rename("partial.iso", "done.iso")
        names = {path.name for path, _ in await client.list("/")}
        assert "done.iso" in names
        assert "partial.iso" not in names
        assert (devcloud.cloud.iso_dir / "done.iso").stat().st_size == len(data) + 4
        await client.remove_file("done.iso")
    finally:
        await client.quit()


async def test_wrong_password_is_refused(devcloud: DevCloudHandle) -> None:
    ftp = devcloud.ftp
    client = aioftp.Client()
    await client.connect(ftp["host"], ftp["port"])
    try:
        with pytest.raises(aioftp.StatusCodeError) as info:
            await client.login(ftp["user"], "wrong")
        assert "530" in str(info.value.received_codes)
    finally:
        client.close()


async def test_uploaded_iso_can_be_mounted(
    devcloud: DevCloudHandle, tmp_path: Path, conn, make_server
) -> None:
    client = await _client(devcloud)
    try:
        await client.upload(write_file(tmp_path / "new.iso", 4096), "new.iso", write_into=True)
    finally:
        await client.quit()
    server = make_server("mount-new")
    resp = conn.compute.post(f"/servers/{server.id}/action", json={"attachCdrom": {"iso": "new.iso"}})
    assert resp.status_code == 202
