"""The dev cloud behind the console's back: its admin API, fault arming, an SDK connection, a cluster draft."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import openstack
import openstack.config
import openstack.connection

from ectui.devcloud import DevCloudHandle, Timings
from ectui.services.clusters import ClusterDraft


def admin_call(handle: DevCloudHandle, method: str, path: str, body: Any = None) -> Any:
    """Call the dev cloud's loopback admin API (faults, bulk images)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        handle.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def fault(handle: DevCloudHandle, op: str, **spec: Any) -> None:
    """Make the next `op` of the dev cloud fail once (HTTP 500 unless `spec` says otherwise)."""
    admin_call(handle, "POST", "/_admin/faults", {"op": op, "times": 1, "status": 500, **spec})


def sdk(handle: DevCloudHandle) -> openstack.connection.Connection:
    """An independent admin connection: looks at the cloud behind the console's back."""
    config = openstack.config.OpenStackConfig(config_files=[str(handle.clouds_yaml)])
    return openstack.connection.Connection(config=config.get_one(cloud="devcloud"))


def cluster_draft(cloud: DevCloudHandle, name: str = "dc1", storage: str = "shared") -> ClusterDraft:
    """A cluster draft pointing at the dev cloud's admin credentials."""
    auth = cloud.cloud.cloud_config()["auth"]
    return ClusterDraft.parse(
        name=name,
        storage_mode=storage,
        auth_url=auth["auth_url"],
        username=auth["username"],
        password=auth["password"],
        project=auth["project_name"],
        region="RegionOne",
    )


def clean_cloud(handle: DevCloudHandle, conn: openstack.connection.Connection) -> None:
    """Back to a fresh shared cloud: no faults, default extensions and timings, no servers, no console flavors."""
    admin_call(handle, "DELETE", "/_admin/faults")
    handle.cloud.vendor_extensions = ("EC-LIVE-RESIZE", "EC-CDROM")
    handle.cloud.timings = Timings.fast(0.02)
    for server in list(conn.compute.servers(all_projects=True)):
        if server.is_locked:
            conn.compute.unlock_server(server.id)
        conn.compute.delete_server(server.id)
    for server in list(conn.compute.servers(all_projects=True)):
        conn.compute.wait_for_delete(server, interval=0.02)
    for flavor in list(conn.compute.flavors(is_public=None)):
        if flavor.name.startswith("ectui-"):
            conn.compute.delete_flavor(flavor.id)
