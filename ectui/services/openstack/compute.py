"""Nova: servers (get, list, find by mark), flavors, actions, hypervisors, and the waits on them.

Everything here blocks: it runs in a worker thread (through `call_keeping_errors` or an operation step).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ectui.services.openstack.calls import COMPUTE_MICROVERSION, call_json, error_message, sdk
from ectui.services.openstack.connection import CloudError
from ectui.services.openstack.errors import VmError
from ectui.services.openstack.poll import poll_until
from ectui.services.progress import CancelToken

HOST_PLACEMENT_MICROVERSION = "2.74"
"""Nova accepts `host` / `hypervisor_hostname` on server create from this microversion."""
POLL_FIRST = 0.05
"""Seconds before the first status poll of a new server; it grows by half each time up to POLL_MAX."""
POLL_MAX = 0.25
BUILD_TIMEOUT = 900.0
DELETE_TIMEOUT = 300.0
PAGE_SIZE = 250
"""Servers per list request: small pages keep each JSON parse short (it holds the GIL the event loop needs)."""
CDROM_EXTENSION = "EC-CDROM"
"""Alias of the vendor CD-ROM extension (attachCdrom / detachCdrom) in Nova's extension list."""


def supports_host_placement(conn: Any) -> bool:
    """Whether the cloud's compute API goes up to microversion 2.74 (read from its version discovery)."""
    from keystoneauth1 import discover

    try:
        data = conn.compute.get_endpoint_data()
    except Exception:  # discovery unavailable: use the placement every Nova understands
        return False
    highest = getattr(data, "max_microversion", None) if data is not None else None
    if not highest:
        return False
    return bool(
        discover.normalize_version_number(highest)
        >= discover.normalize_version_number(HOST_PLACEMENT_MICROVERSION)
    )


# ------------------------------------------------------------------ servers


def get_server(conn: Any, server_id: str | None, name: str, *, missing_ok: bool = False) -> dict[str, Any]:
    """The server document; a server the cloud no longer has is `vm.gone` (or `{}` with `missing_ok`)."""
    try:
        return dict(call_json(conn.compute, "get", f"/servers/{server_id}")["server"])
    except CloudError as err:
        if err.params.get("status") == 404:
            if missing_ok:
                return {}
            raise VmError("vm.gone", name=name) from None
        raise


def server_action(conn: Any, server_id: str | None, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """POST a server action (`{"os-start": None}`, `{"reboot": {...}}`, ...); the JSON answer."""
    return call_json(conn.compute, "post", f"/servers/{server_id}/action", json=body, **kw)


def list_servers(conn: Any, since: str | None) -> list[dict[str, Any]]:
    """Every server of the connection's project (pages of PAGE_SIZE), or only those changed since `since`."""
    servers: list[dict[str, Any]] = []
    marker = None
    while True:
        query = f"/servers/detail?limit={PAGE_SIZE}"
        if since:
            query += f"&changes-since={since}"
        if marker:
            query += f"&marker={marker}"
        page = call_json(conn.compute, "get", query).get("servers", [])
        servers.extend(page)
        if len(page) < PAGE_SIZE:
            return servers
        marker = page[-1]["id"]


def find_marked_server(conn: Any, name: str, operation_id: int) -> str | None:
    """The id of the server named `name` that operation `operation_id` made (its metadata mark), or None."""
    listed = call_json(conn.compute, "get", f"/servers/detail?name=^{re.escape(name)}$")
    for server in listed.get("servers", []):
        if (server.get("metadata") or {}).get("ectui_operation") == str(operation_id):
            return str(server["id"])
    return None


def fixed_ip(server: dict[str, Any]) -> str:
    """The server's first fixed (private) address, or ''."""
    for addresses in (server.get("addresses") or {}).values():
        for address in addresses:
            if address.get("OS-EXT-IPS:type", "fixed") == "fixed":
                return str(address.get("addr", ""))
    return ""


def servers_on_flavor(conn: Any, flavor_id: str) -> bool:
    """Whether any server of any project still boots from the flavor."""
    listed = call_json(conn.compute, "get", f"/servers?flavor={flavor_id}&all_tenants=1&limit=1")
    return bool(listed.get("servers"))


# ------------------------------------------------------------------ flavors


def find_flavor(conn: Any, name_or_id: str) -> Any:
    """A flavor by id or name (private ones too), or None."""
    from openstack import exceptions as sdk_exc

    def find() -> Any:
        try:
            return conn.compute.find_flavor(name_or_id, ignore_missing=False, is_public=None)
        except sdk_exc.NotFoundException:
            return None

    return sdk(find)


def delete_flavor(conn: Any, flavor_id: str) -> None:
    """Delete a flavor (gone already counts as done)."""
    sdk(lambda: conn.compute.delete_flavor(flavor_id, ignore_missing=True))


# ------------------------------------------------------------------ hypervisors


def fetch_hypervisors(conn: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Hypervisors with their usage (microversion 2.53: usage fields were dropped in 2.88) and host zones."""
    response = conn.compute.get("/os-hypervisors/detail", microversion="2.53")
    if response.status_code >= 400:
        raise CloudError("cloud.http", status=response.status_code, reason=response.text[:200])
    hypervisors = []
    for h in response.json().get("hypervisors", []):
        service = h.get("service") or {}
        hypervisors.append(
            {
                "id": h.get("id"),
                "name": h.get("hypervisor_hostname") or service.get("host") or str(h.get("id")),
                "host": service.get("host") or h.get("hypervisor_hostname") or "",
                "state": h.get("state") or "",
                "status": h.get("status") or "",
                "vcpus": int(h.get("vcpus") or 0),
                "vcpus_used": int(h.get("vcpus_used") or 0),
                "memory_mb": int(h.get("memory_mb") or 0),
                "memory_mb_used": int(h.get("memory_mb_used") or 0),
                "running_vms": int(h.get("running_vms") or 0),
            }
        )
    zones: dict[str, str] = {}
    response = conn.compute.get("/os-availability-zone/detail")
    if response.status_code < 400:
        for zone in response.json().get("availabilityZoneInfo", []):
            for host in zone.get("hosts") or {}:
                zones[host] = zone.get("zoneName", "")
    return hypervisors, zones


# ------------------------------------------------------------------ extensions


def has_extension(conn: Any, alias: str) -> bool:
    """Whether Nova lists a vendor extension (GET /extensions, else the version document)."""
    response = sdk(lambda: conn.compute.get("/extensions", microversion=COMPUTE_MICROVERSION))
    if response.status_code < 400:
        try:
            extensions = response.json().get("extensions", [])
        except ValueError:
            extensions = []
        if any(e.get("alias") == alias for e in extensions if isinstance(e, dict)):
            return True
    response = sdk(lambda: conn.compute.get("/", microversion=COMPUTE_MICROVERSION))
    if response.status_code < 400:
        try:
            version = response.json().get("version") or {}
        except ValueError:
            version = {}
        return alias in (version.get("x-vendor-extensions") or [])
    return False


def detach_cdrom(conn: Any, server_id: str) -> None:
    """`detachCdrom`; nothing mounted (409) counts as done, so a retried unmount finishes."""
    try:
        server_action(conn, server_id, {"detachCdrom": {}})
    except CloudError as err:
        if err.params.get("status") != 409 or "no iso" not in str(err.params.get("reason", "")).lower():
            raise


# ------------------------------------------------------------------ waits


def wait_for_status(
    conn: Any,
    server_id: str,
    status: str,
    *,
    cancel: CancelToken | None = None,
    report: Callable[[str], None] | None = None,
    first: float = POLL_FIRST,
    cap: float = POLL_MAX,
    timeout: float = BUILD_TIMEOUT,
    settle: bool = False,
) -> dict[str, Any]:
    """Poll the server (short interval growing to `cap`) until it has `status`; ERROR raises with Nova's fault."""
    last = [""]

    def check() -> dict[str, Any] | None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        server = dict(call_json(conn.compute, "get", f"/servers/{server_id}")["server"])
        current = str(server.get("status", ""))
        task = server.get("OS-EXT-STS:task_state") or ""
        if report is not None and f"{current}/{task}" != last[0]:
            report("")
        last[0] = f"{current}/{task}"
        if current == status and (not settle or not task):
            return server
        if current == "ERROR":
            fault = (server.get("fault") or {}).get("message") or "no fault message"
            raise VmError("vm.build_failed", fault=fault)
        return None

    return poll_until(
        check, first=first, cap=cap, timeout=timeout, cancel=cancel,
        on_timeout=lambda: VmError("vm.build_timeout", seconds=int(timeout), status=last[0].split("/")[0]),
    )  # fmt: skip


def delete_server_and_wait(conn: Any, server_id: str, first: float, cap: float) -> None:
    """Delete a server and wait until the cloud no longer has it (its Nova-made port goes with it)."""
    response = sdk(lambda: conn.compute.delete(f"/servers/{server_id}", microversion=COMPUTE_MICROVERSION))
    if response.status_code == 404:
        return
    if response.status_code >= 400:
        raise CloudError("cloud.http", status=response.status_code, reason=error_message(response))

    def gone() -> bool | None:
        answer = sdk(lambda: conn.compute.get(f"/servers/{server_id}", microversion=COMPUTE_MICROVERSION))
        return True if answer.status_code == 404 else None

    poll_until(
        gone, first=first, cap=cap, timeout=DELETE_TIMEOUT,
        on_timeout=lambda: CloudError("cloud.request_failed", reason=f"server {server_id} still exists after delete"),
    )  # fmt: skip


def unrescue_and_wait(conn: Any, server_id: str, first: float, cap: float, timeout: float) -> None:
    """Leave stable rescue and wait until the server is ACTIVE again with no task."""
    server_action(conn, server_id, {"unrescue": None})
    wait_for_status(conn, server_id, "ACTIVE", first=first, cap=cap, timeout=timeout, settle=True)
