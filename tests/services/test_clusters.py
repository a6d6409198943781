"""Clusters, FTP settings and compute nodes against the real dev cloud, within the license limits."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ectui.config import Settings
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.services import ConsoleServices, build_console_services
from ectui.services.clusters import ClusterDraft, FtpDraft
from ectui.services.errors import LicenseError, ReadOnlyError, ServiceError, ValidationError
from tests.kit import CONSOLE_NOW, Clock, build_licensed_console


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05))
    yield handle
    handle.stop()


def draft_for(cloud: DevCloudHandle, name: str = "dc1", **overrides: Any) -> ClusterDraft:
    auth = cloud.cloud.cloud_config()["auth"]
    fields: dict[str, Any] = {
        "name": name,
        "storage_mode": "local",
        "auth_url": auth["auth_url"],
        "username": auth["username"],
        "password": auth["password"],
        "project": auth["project_name"],
        "region": "RegionOne",
    }
    fields.update(overrides)
    return ClusterDraft.parse(**fields)


@pytest.fixture
async def console(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> AsyncIterator[ConsoleServices]:
    # the conftest default edition: 2 clusters, 10 nodes, local storage only
    services = await build_licensed_console(tmp_path)
    yield services
    services.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------ clusters


async def test_add_list_and_test_a_cluster(console: ConsoleServices, cloud: DevCloudHandle) -> None:
    info = await console.clusters.add(draft_for(cloud))
    assert [c.name for c in await console.clusters.list_all()] == ["dc1"]
    assert info.source == cloud.auth_url and info.storage_mode == "local"
    verdict = await console.clusters.test("dc1")
    assert verdict.ok and verdict.verdict == "ok"
    assert set(verdict.services) == {"compute", "image", "network"}
    status = await console.license.status()
    assert status.usage.clusters == 1


async def test_password_is_encrypted_at_rest(console: ConsoleServices, cloud: DevCloudHandle) -> None:
    secret = "s3cret-Passw0rd-for-test"
    await console.clusters.add(draft_for(cloud, password=secret))
    await console.clusters.set_ftp(
        "dc1", FtpDraft.parse(host="h", port="21", username="u", password="ftp-" + secret)
    )
    console.db.dispose()
    data = b"".join(p.read_bytes() for p in console.settings.data_dir.glob("console.db*"))
    assert secret.encode() not in data
    assert "ftp-" + secret not in repr(await console.clusters.list_all())


async def test_wrong_password_and_unreachable_give_plain_verdicts(
    console: ConsoleServices, cloud: DevCloudHandle
) -> None:
    wrong = await console.clusters.test_credentials(draft_for(cloud, password="wrong"))
    assert not wrong.ok and wrong.verdict == "auth_failed"
    dead = await console.clusters.test_credentials(
        draft_for(cloud, auth_url=f"http://127.0.0.1:{free_port()}/identity")
    )
    assert not dead.ok and dead.verdict == "unreachable"
    assert dead.error is not None and "unreachable" in str(dead.error)


async def test_cluster_from_a_clouds_yaml_entry(
    console: ConsoleServices, cloud: DevCloudHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml))
    info = await console.clusters.add(
        ClusterDraft.parse(name="fromyaml", storage_mode="local", cloud="devcloud")
    )
    assert info.source == "clouds.yaml:devcloud"
    assert (await console.clusters.test("fromyaml")).ok
    with pytest.raises(ValidationError) as err:
        ClusterDraft.parse(name="x", storage_mode="local", cloud="no-such-cloud")
    assert err.value.key == "cluster.no_cloud_entry"


async def test_license_cluster_limit_and_storage_mode(
    console: ConsoleServices, cloud: DevCloudHandle
) -> None:
    with pytest.raises(LicenseError) as err:
        await console.clusters.add(draft_for(cloud, storage_mode="shared"))
    assert err.value.key == "license.storage_mode"
    await console.clusters.add(draft_for(cloud, "a"))
    await console.clusters.add(draft_for(cloud, "b"))
    with pytest.raises(LicenseError) as err:
        await console.clusters.add(draft_for(cloud, "c"))
    assert err.value.key == "license.limit_clusters"
    assert "import a license" in str(err.value)
    assert [c.name for c in await console.clusters.list_all()] == ["a", "b"]
    await console.clusters.remove("b")
    await console.clusters.add(draft_for(cloud, "c"))


async def test_without_a_license_nothing_can_be_added(
    tmp_path: Path, settings_for: Callable[..., Settings], cloud: DevCloudHandle
) -> None:
    services = build_console_services(settings_for(tmp_path / "bare"), clock=Clock(CONSOLE_NOW))
    await services.start()
    try:
        with pytest.raises(ReadOnlyError):
            await services.clusters.add(draft_for(cloud))
        assert await services.clusters.list_all() == []
    finally:
        services.close()


async def test_duplicate_names_and_edit(console: ConsoleServices, cloud: DevCloudHandle) -> None:
    await console.clusters.add(draft_for(cloud))
    with pytest.raises(ServiceError) as err:
        await console.clusters.add(draft_for(cloud))
    assert err.value.key == "cluster.exists"
    edited = ClusterDraft.parse(
        name="renamed",
        storage_mode="local",
        auth_url=cloud.auth_url,
        username="admin",
        password="",
        project="demo",
        region="RegionOne",
        password_required=False,
    )
    info = await console.clusters.update("dc1", edited)
    assert info.name == "renamed"
    assert (await console.clusters.test("renamed")).ok  # the stored password was kept


async def test_production_flag_is_kept_and_can_be_cleared(
    console: ConsoleServices, cloud: DevCloudHandle
) -> None:
    info = await console.clusters.add(draft_for(cloud, production=True))
    assert info.production and info.to_json()["production"] is True
    assert (await console.clusters.get("dc1")).production
    assert [c.production for c in await console.clusters.list_all()] == [True]
    info = await console.clusters.update("dc1", draft_for(cloud))
    assert not info.production and not (await console.clusters.get("dc1")).production


@pytest.mark.parametrize(
    ("fields", "key", "field"),
    [
        ({"name": "bad name!"}, "cluster.bad_name", "Cluster name"),
        ({"auth_url": "keystone:5000"}, "cluster.bad_url", "Auth URL"),
        ({"password": ""}, "validation.required", "Password"),
        ({"cacert": "/no/such/ca.pem"}, "cluster.no_cacert", "CA file"),
        ({"cacert": __file__, "insecure": True}, "cluster.cacert_and_insecure", "CA file"),
        ({"storage_mode": "nfs"}, "validation.choice", "Storage mode"),
        ({"project": ""}, "validation.required", "Project"),
    ],
)
def test_cluster_validation(fields: dict[str, Any], key: str, field: str) -> None:
    values: dict[str, Any] = {
        "name": "ok",
        "storage_mode": "local",
        "auth_url": "http://keystone:5000/v3",
        "username": "admin",
        "password": "pw",
        "project": "demo",
    }
    values.update(fields)
    with pytest.raises(ValidationError) as err:
        ClusterDraft.parse(**values)
    assert (err.value.key, err.value.field) == (key, field)
    assert err.value.field_id == next(iter(fields)), "the id names the parameter of the wrong value"


# ------------------------------------------------------------------ FTP


async def test_ftp_settings_and_test(console: ConsoleServices, cloud: DevCloudHandle) -> None:
    await console.clusters.add(draft_for(cloud))
    ftp = cloud.ftp
    good = FtpDraft.parse(host=ftp["host"], port=ftp["port"], username=ftp["user"], password=ftp["password"])
    info = await console.clusters.set_ftp("dc1", good)
    assert info.ftp == f"{ftp['user']}@{ftp['host']}:{ftp['port']}/"
    verdict = await console.clusters.test_ftp("dc1")
    assert verdict.ok and verdict.iso_count >= 1
    await console.clusters.set_ftp(
        "dc1", FtpDraft.parse(host=ftp["host"], port=ftp["port"], username=ftp["user"], password="wrong")
    )
    assert (await console.clusters.test_ftp("dc1")).verdict == "auth_failed"
    await console.clusters.set_ftp(
        "dc1",
        FtpDraft.parse(
            host=ftp["host"],
            port=ftp["port"],
            username=ftp["user"],
            password=ftp["password"],
            iso_dir="/nope",
        ),
    )
    assert (await console.clusters.test_ftp("dc1")).verdict == "no_dir"
    await console.clusters.set_ftp(
        "dc1", FtpDraft.parse(host="127.0.0.1", port=free_port(), username="u", password="p")
    )
    assert (await console.clusters.test_ftp("dc1", timeout=5)).verdict == "unreachable"


def test_ftp_validation() -> None:
    with pytest.raises(ValidationError) as err:
        FtpDraft.parse(host="h", port="99999", username="u", password="p")
    assert (err.value.field, err.value.field_id) == ("FTP port", "port")
    with pytest.raises(ValidationError) as err:
        FtpDraft.parse(host="h", port="21", username="u", password="p", iso_dir="iso")
    assert err.value.key == "cluster.bad_dir"


# ------------------------------------------------------------------ nodes


async def test_node_sync_is_idempotent_and_counts_against_the_license(
    console: ConsoleServices, cloud: DevCloudHandle
) -> None:
    await console.clusters.add(draft_for(cloud))
    first = await console.clusters.sync_nodes("dc1")
    assert (first.added, first.updated, first.gone) == (3, 0, 0)
    assert {n.name for n in first.nodes} == {"node-1", "node-2", "node-3"}
    assert all(n.zone == "nova" and n.vcpus == 32 and n.memory_mb == 128 * 1024 for n in first.nodes)
    again = await console.clusters.sync_nodes("dc1")
    assert (again.added, again.updated, again.gone) == (0, 3, 0)
    assert (await console.license.status()).usage.nodes == 3
    assert len(await console.clusters.list_nodes("dc1")) == 3
    await console.clusters.remove("dc1")
    assert (await console.license.status()).usage.nodes == 0


async def test_node_limit_refuses_the_whole_sync(
    tmp_path: Path,
    settings_for: Callable[..., Settings],
    make_license: Callable[..., Any],
    cloud: DevCloudHandle,
) -> None:
    services = await build_licensed_console(tmp_path, edition="Tiny", max_nodes="2")
    try:
        await services.clusters.add(draft_for(cloud))
        with pytest.raises(LicenseError) as err:
            await services.clusters.sync_nodes("dc1")
        assert err.value.key == "license.limit_nodes"
        assert err.value.params["max"] == 2
        assert await services.clusters.list_nodes() == []
    finally:
        services.close()


async def test_slow_calls_do_not_block_the_event_loop(
    console: ConsoleServices, cloud: DevCloudHandle
) -> None:
    await console.clusters.add(draft_for(cloud))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        await console.clusters.sync_nodes("dc1")
    finally:
        task.cancel()
    assert ticks > 10  # the loop kept running while the SDK worked in a thread
