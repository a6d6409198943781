"""Images against the real dev cloud: paginated idempotent sync, gone marking, streamed upload, rules."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ectui.config import Settings
from ectui.devcloud import DevCloudHandle
from ectui.services import ConsoleServices
from ectui.services.errors import LicenseError, ServiceError, ValidationError
from ectui.services.images import UPLOAD_MARK, ImageUpload, fetch_active_images
from ectui.services.progress import Cancelled, CancelToken, Progress
from tests.kit import build_licensed_console
from tests.kit.cloud import admin_call, cluster_draft, sdk
from tests.kit.files import make_file

SEEDED = {"cirros-0.6.2", "ubuntu-22.04-mini", "windows-2019-mini", "rescue-cd"}


@pytest.fixture
async def console(
    tmp_path: Path,
    cloud: DevCloudHandle,
    settings_for: Callable[..., Settings],
    make_license: Callable[..., Any],
) -> AsyncIterator[ConsoleServices]:
    services = await build_licensed_console(tmp_path, operator="alice")
    await services.clusters.add(cluster_draft(cloud, storage="local"))
    yield services
    services.close()


def cloud_images(cloud: DevCloudHandle, name: str) -> list[Any]:
    return list(sdk(cloud).image.images(name=name))


# ------------------------------------------------------------------ sync


async def test_sync_reads_every_page_and_is_idempotent(
    console: ConsoleServices, cloud: DevCloudHandle
) -> None:
    admin_call(cloud, "POST", "/_admin/images/bulk", {"count": 250, "prefix": "bulk-"})
    conn = sdk(cloud)
    rows, pages = fetch_active_images(conn, page_size=100)  # 254 images in three pages of 100
    assert pages == 3 and len(rows) == 254

    first = await console.images.sync("dc1")
    assert (first.added, first.updated, first.gone, first.total) == (254, 0, 0, 254)
    images = await console.images.list_all("dc1")
    assert len(images) == 254 and {i.name for i in images} >= SEEDED | {"bulk-00000", "bulk-00249"}
    assert all(i.source == "synced" and i.enabled and not i.gone for i in images)
    cirros = next(i for i in images if i.name == "cirros-0.6.2")
    assert (cirros.disk_format, cirros.size, cirros.os_type) == ("qcow2", 16 * 1024, "linux")

    again = await console.images.sync("dc1")
    assert (again.added, again.updated, again.gone) == (0, 254, 0)
    assert [i.id for i in await console.images.list_all("dc1")] == [i.id for i in images]


async def test_sync_skips_inactive_and_marks_vanished_images(
    console: ConsoleServices, cloud: DevCloudHandle
) -> None:
    conn = sdk(cloud)
    queued = conn.image.create_image(
        "queued-one", allow_duplicates=True, disk_format="raw", container_format="bare"
    )
    await console.images.sync("dc1")
    names = {i.name for i in await console.images.list_all("dc1")}
    assert names == SEEDED and "queued-one" not in names

    doomed = next(i for i in await console.images.list_all("dc1") if i.name == "ubuntu-22.04-mini")
    await console.images.set_enabled(doomed.id, False)
    conn.image.delete_image(doomed.cloud_id)
    result = await console.images.sync("dc1")
    assert result.gone == 1 and result.total == 3
    gone = await console.images.get(doomed.id)
    assert gone.gone and not gone.enabled  # kept, marked, and the operator's choice is kept too
    again = await console.images.sync("dc1")
    assert again.gone == 0  # already marked
    conn.image.delete_image(queued.id)


async def test_sync_needs_a_license_with_images(
    tmp_path: Path,
    cloud: DevCloudHandle,
    settings_for: Callable[..., Settings],
    make_license: Callable[..., Any],
) -> None:
    services = await build_licensed_console(tmp_path, operator="alice", features="statistics")
    try:
        await services.clusters.add(cluster_draft(cloud, storage="local"))
        with pytest.raises(LicenseError, match="platform.images"):
            await services.images.sync("dc1")
    finally:
        services.close()


# ------------------------------------------------------------------ upload


async def test_upload_streams_records_operator_and_checksum(
    console: ConsoleServices, cloud: DevCloudHandle, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "alpine.qcow2", 3 * 1024 * 1024 + 17)
    reports: list[Progress] = []
    request = ImageUpload.parse(path=src, cluster="dc1", os_type="linux", min_disk="2", min_ram="512")
    assert (request.name, request.disk_format) == ("alpine", "qcow2")
    image = await console.images.upload(request, on_progress=reports.append)
    assert image.source == "uploaded" and image.uploaded_by == "alice" and image.enabled
    assert image.size == src.stat().st_size
    assert image.checksum == hashlib.md5(src.read_bytes(), usedforsecurity=False).hexdigest()
    assert (image.min_disk, image.min_ram, image.os_type) == (2, 512, "linux")
    uploads = [p for p in reports if p.step == "upload"]
    assert uploads and uploads[-1].done == uploads[-1].total == src.stat().st_size
    [remote] = cloud_images(cloud, "alpine")
    assert remote.status == "active" and remote.id == image.cloud_id

    # a second upload of the same file and name makes a new image (allow_duplicates), never reuses one
    twin = await console.images.upload(request)
    assert twin.cloud_id != image.cloud_id and len(cloud_images(cloud, "alpine")) == 2

    # a sync keeps who uploaded it and the source
    await console.images.sync("dc1")
    after = await console.images.get(image.id)
    assert (after.source, after.uploaded_by, after.gone) == ("uploaded", "alice", False)


async def test_upload_cut_by_the_network_leaves_nothing(
    console: ConsoleServices, cloud: DevCloudHandle, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "big.raw", 4 * 1024 * 1024)
    admin_call(cloud, "POST", "/_admin/faults", {"op": "image.upload", "drop_after_bytes": 1024 * 1024})
    with pytest.raises(ServiceError) as err:
        await console.images.upload(ImageUpload.parse(path=src, cluster="dc1", name="dropped"))
    assert err.value.key == "image.upload_failed"
    assert "half-made image was deleted" in str(err.value)
    assert cloud_images(cloud, "dropped") == []
    assert all(i.name != "dropped" for i in await console.images.list_all())


async def test_upload_refused_by_the_cloud_leaves_nothing(
    console: ConsoleServices, cloud: DevCloudHandle, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "x.raw", 64 * 1024)
    admin_call(cloud, "POST", "/_admin/faults", {"op": "image.upload", "times": 1, "status": 500})
    with pytest.raises(ServiceError) as err:
        await console.images.upload(ImageUpload.parse(path=src, cluster="dc1", name="refused"))
    assert err.value.key == "image.upload_failed" and "500" in str(err.value)
    assert cloud_images(cloud, "refused") == []
    assert await console.images.list_all() == []


async def test_cancelled_upload_deletes_the_half_made_image(
    console: ConsoleServices, cloud: DevCloudHandle, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "slow.raw", 8 * 1024 * 1024)
    token = CancelToken()

    def cancel_midway(progress: Progress) -> None:
        if progress.step == "upload" and progress.done > 1024 * 1024:
            token.cancel()

    with pytest.raises(Cancelled) as err:
        await console.images.upload(
            ImageUpload.parse(path=src, cluster="dc1", name="cancelled"),
            on_progress=cancel_midway,
            cancel=token,
        )
    assert err.value.key == "image.upload_cancelled" and "deleted from the cloud" in str(err.value)
    assert cloud_images(cloud, "cancelled") == []
    assert await console.images.list_all() == []


async def test_upload_leaves_unrelated_images_of_the_same_name(
    console: ConsoleServices, cloud: DevCloudHandle, tmp_path: Path
) -> None:
    other = sdk(cloud).image.create_image(
        "shared-name", allow_duplicates=True, disk_format="raw", container_format="bare"
    )
    src = make_file(tmp_path / "x.raw", 64 * 1024)
    admin_call(cloud, "POST", "/_admin/faults", {"op": "image.upload", "times": 1, "status": 500})
    with pytest.raises(ServiceError):
        await console.images.upload(ImageUpload.parse(path=src, cluster="dc1", name="shared-name"))
    [left] = cloud_images(cloud, "shared-name")
    assert left.id == other.id and UPLOAD_MARK not in (left.properties or {})


def test_upload_request_is_validated(tmp_path: Path) -> None:
    src = make_file(tmp_path / "disk.bin", 10)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"path": ""}, "validation.required", "File"),
        ({"path": tmp_path / "missing.qcow2"}, "image.no_file", "File"),
        ({"path": tmp_path}, "image.no_file", "File"),
        ({"disk_format": ""}, "validation.choice", "Disk format"),
        ({"disk_format": "qcow3"}, "validation.choice", "Disk format"),
        ({"disk_format": "raw", "container_format": "zip"}, "validation.choice", "Container format"),
        ({"disk_format": "raw", "os_type": "bsd"}, "validation.choice", "OS type"),
        ({"disk_format": "raw", "min_disk": "-1"}, "validation.non_negative", "Min disk (GB)"),
        ({"disk_format": "raw", "min_ram": "lots"}, "validation.int", "Min RAM (MB)"),
        ({"disk_format": "raw", "cluster": " "}, "validation.required", "Cluster"),
    ]
    for overrides, key, field in cases:
        fields: dict[str, Any] = {"path": src, "cluster": "dc1", **overrides}
        with pytest.raises(ValidationError) as err:
            ImageUpload.parse(**fields)
        assert (err.value.key, err.value.field) == (key, field), overrides
        assert err.value.field_id == list(overrides)[-1], overrides
    (tmp_path / "empty.iso").write_bytes(b"")
    with pytest.raises(ValidationError, match="empty"):
        ImageUpload.parse(path=tmp_path / "empty.iso", cluster="dc1")
    for fmt in ("raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "ploop"):
        assert ImageUpload.parse(path=src, cluster="dc1", disk_format=fmt.upper()).disk_format == fmt


# ------------------------------------------------------------------ enable, disable, delete


async def test_only_uploaded_images_can_be_deleted(
    console: ConsoleServices, cloud: DevCloudHandle, tmp_path: Path
) -> None:
    await console.images.sync("dc1")
    synced = next(i for i in await console.images.list_all() if i.name == "cirros-0.6.2")
    with pytest.raises(ServiceError) as err:
        await console.images.delete(synced.id)
    assert err.value.key == "image.not_uploaded" and "only uploaded images" in str(err.value)
    assert len(cloud_images(cloud, "cirros-0.6.2")) == 1

    mine = await console.images.upload(
        ImageUpload.parse(path=make_file(tmp_path / "mine.raw", 4096), cluster="dc1")
    )
    await console.images.delete(mine.id)
    assert cloud_images(cloud, "mine") == []
    with pytest.raises(ServiceError, match="No image with id"):
        await console.images.get(mine.id)


async def test_enable_and_disable(console: ConsoleServices) -> None:
    await console.images.sync("dc1")
    image = (await console.images.list_all())[0]
    assert not (await console.images.set_enabled(image.id, False)).enabled
    await console.images.sync("dc1")
    assert not (await console.images.get(image.id)).enabled  # a sync keeps the operator's choice
    assert (await console.images.set_enabled(image.id, True)).enabled
    with pytest.raises(ServiceError, match="No image with id 999"):
        await console.images.set_enabled(999, True)
