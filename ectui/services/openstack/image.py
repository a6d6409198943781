"""Glance: image documents as table rows, snapshot lookups, the wait for a new image, rescue images."""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable
from typing import Any

from ectui.services.openstack.calls import sdk
from ectui.services.openstack.connection import CloudError
from ectui.services.openstack.errors import VmError
from ectui.services.openstack.poll import poll_until
from ectui.services.progress import CancelToken


def glance_row(image: dict[str, Any]) -> dict[str, Any]:
    """A Glance v2 image document as the columns of the image table."""
    return {
        "cloud_id": str(image["id"]),
        "name": str(image.get("name") or "")[:255],
        "disk_format": str(image.get("disk_format") or ""),
        "container_format": str(image.get("container_format") or ""),
        "size": int(image.get("size") or 0),
        "checksum": str(image.get("checksum") or ""),
        "status": str(image.get("status") or ""),
        "visibility": str(image.get("visibility") or ""),
        "os_type": str(image.get("os_type") or "")[:16],
        "min_disk": int(image.get("min_disk") or 0),
        "min_ram": int(image.get("min_ram") or 0),
        "cloud_created_at": str(image.get("created_at") or ""),
    }


def find_marked_images(conn: Any, name: str, mark: str, operation_id: int) -> list[str]:
    """Ids of the images named `name` whose property `mark` names operation `operation_id`."""
    query = urllib.parse.urlencode({"name": name})
    response = sdk(lambda: conn.image.get(f"/images?{query}"))
    if response.status_code >= 400:
        return []
    return [str(i["id"]) for i in response.json().get("images", []) if i.get(mark) == str(operation_id)]


def delete_image(conn: Any, image_id: str) -> None:
    """Delete an image (gone already counts as done)."""
    sdk(lambda: conn.image.delete_image(image_id, ignore_missing=True))


def wait_for_image(
    conn: Any,
    image_id: str,
    *,
    cancel: CancelToken,
    report: Callable[[str], None],
    first: float,
    cap: float,
    timeout: float,
) -> dict[str, Any]:
    """Poll a Glance image (short interval growing to `cap`) until active; killed/deleted raise."""
    last = [""]

    def check() -> dict[str, Any] | None:
        cancel.raise_if_cancelled()
        response = sdk(lambda: conn.image.get(f"/images/{image_id}"))
        if response.status_code == 404:
            raise VmError("vm.image_failed", status="deleted")
        if response.status_code >= 400:
            raise CloudError("cloud.http", status=response.status_code, reason=response.reason or "")
        image = dict(response.json())
        status = str(image.get("status", ""))
        if status != last[0]:
            report("")
            last[0] = status
        if status == "active":
            return image
        if status in ("killed", "deleted", "deactivated"):
            raise VmError("vm.image_failed", status=status)
        return None

    return poll_until(
        check, first=first, cap=cap, timeout=timeout, cancel=cancel,
        on_timeout=lambda: VmError("vm.image_timeout", seconds=int(timeout), status=last[0]),
    )  # fmt: skip


def find_rescue_image(conn: Any, iso: dict[str, Any]) -> dict[str, Any]:
    """The active Glance image of an ISO (disk format iso, named as its file, display name or stem)."""
    file_name = str(iso["file_name"])
    stem = file_name[:-4] if file_name.lower().endswith(".iso") else file_name
    for name in dict.fromkeys((file_name, str(iso["name"]), stem)):
        query = urllib.parse.urlencode({"name": name, "disk_format": "iso", "status": "active"})
        response = sdk(functools.partial(conn.image.get, f"/images?{query}"))
        if response.status_code >= 400:
            raise CloudError("cloud.http", status=response.status_code, reason=response.reason or "")
        images = response.json().get("images", [])
        if images:
            image = dict(images[0])
            if not (image.get("hw_rescue_device") or image.get("hw_rescue_bus")):
                raise VmError(
                    "vm.iso_image_not_rescue", image=image.get("name") or image["id"], iso=iso["name"]
                )
            return image
    raise VmError("vm.iso_no_image", cluster=iso["cluster"], iso=iso["name"], file=file_name)
