"""Fixtures of the dev cloud tests: a server in a background thread, SDK connections, fault arming."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openstack
import openstack.config
import openstack.connection
import pytest
from openstack import utils

from ectui.devcloud import DevCloudHandle, Timings, run_in_thread

FAST = Timings.fast(0.1)
"""Every transition of the shared test cloud takes 0.1 s."""


def connect(handle: DevCloudHandle, cloud: str = "devcloud") -> openstack.connection.Connection:
    """An SDK connection from the clouds.yaml the dev cloud wrote."""
    config = openstack.config.OpenStackConfig(config_files=[str(handle.clouds_yaml)])
    return openstack.connection.Connection(config=config.get_one(cloud=cloud))


def admin_call(handle: DevCloudHandle, method: str, path: str, body: Any = None) -> Any:
    """Call the dev cloud's loopback admin API (faults, bulk images)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        handle.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def wait_until(predicate: Callable[[], Any], timeout: float = 15, message: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy (bounded by `timeout`, via the SDK's loop)."""
    for _ in utils.iterate_timeout(timeout, f"timed out waiting for {message}", wait=0.02):
        value = predicate()
        if value:
            return value
    return None  # pragma: no cover - iterate_timeout raises


@pytest.fixture(scope="session")
def devcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    """One dev cloud for the session (fast timings, tmp state dir)."""
    handle = run_in_thread(tmp_path_factory.mktemp("devcloud"), timings=FAST)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def conn(devcloud: DevCloudHandle) -> openstack.connection.Connection:
    """Admin connection (project demo)."""
    return connect(devcloud)


@pytest.fixture(scope="session")
def member_conn(devcloud: DevCloudHandle) -> openstack.connection.Connection:
    """Non-admin connection (user member, project demo)."""
    return connect(devcloud, "devcloud-member")


@pytest.fixture
def fault(devcloud: DevCloudHandle) -> Iterator[Callable[..., Any]]:
    """Arm a fault for one test; all faults are cleared afterwards."""

    def arm(op: str, **spec: Any) -> Any:
        return admin_call(devcloud, "POST", "/_admin/faults", {"op": op, **spec})["fault"]

    yield arm
    admin_call(devcloud, "DELETE", "/_admin/faults")


@pytest.fixture(scope="session")
def ids(conn: openstack.connection.Connection) -> dict[str, str]:
    """Ids of seeded things: image, networks."""
    return {
        "image": conn.image.find_image("cirros-0.6.2", ignore_missing=False).id,
        "rescue_image": conn.image.find_image("rescue-cd", ignore_missing=False).id,
        "private": conn.network.find_network("private", ignore_missing=False).id,
        "public": conn.network.find_network("public", ignore_missing=False).id,
    }


@pytest.fixture
def make_server(conn: openstack.connection.Connection, ids: dict[str, str]) -> Iterator[Callable[..., Any]]:
    """Create ACTIVE servers for a test and delete them afterwards."""
    made: list[Any] = []

    def make(
        name: str = "vm", flavor: str = "1", wait: bool = True, connection: Any = None, **kw: Any
    ) -> Any:
        c = connection or conn
        kw.setdefault("networks", [{"uuid": ids["private"]}])
        server = c.compute.create_server(name=name, image_id=ids["image"], flavor_id=flavor, **kw)
        made.append(server)
        if wait:
            server = c.compute.wait_for_server(server, status="ACTIVE", interval=0.02, wait=15)
        return server

    yield make
    for server in made:
        conn.compute.delete_server(server, ignore_missing=True, force=False)
    for server in made:
        conn.compute.wait_for_delete(server, interval=0.02, wait=15)


def write_file(path: Path, size: int, seed: int = 7) -> Path:
    """A file of `size` pseudo-random bytes."""
    import random

    rnd = random.Random(seed)
    path.write_bytes(rnd.randbytes(size))
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Silence openstacksdk's own deprecation notices (they come from inside the SDK, not from these tests)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackWarning"))
            item.add_marker(
                pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackDeprecationWarning")
            )
            item.add_marker(pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"))
