"""Placement subset (read-only): resource providers of the compute nodes, their inventories and usages.

Nova 2.88 dropped vCPU/RAM figures from the hypervisor API and points clients here instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .api import ctx_of, json_response
from .base import Cloud, ServiceApp
from .core import JSON
from .errors import forbidden, not_found

if TYPE_CHECKING:
    from .nova import Nova

MAX_VERSION = "1.39"
HOST_RESERVED_RAM_MB = 512


class Placement(ServiceApp):
    """Resource providers mirror the compute nodes (same UUIDs as the hypervisors from 2.53 on)."""

    def __init__(self, cloud: Cloud, *, nova: Nova) -> None:
        """Build the component over the compute service's host usage; no I/O happens here."""
        super().__init__(cloud)
        self.nova = nova

    def add_routes(self, app: web.Application) -> None:
        """Register the placement routes."""
        r = app.router
        r.add_get("/placement", self.versions)
        r.add_get("/placement/", self.versions)
        r.add_get("/placement/resource_providers", self.list_providers)
        r.add_get("/placement/resource_providers/{uuid}", self.show_provider)
        r.add_get("/placement/resource_providers/{uuid}/inventories", self.inventories)
        r.add_get("/placement/resource_providers/{uuid}/usages", self.usages)

    async def versions(self, request: web.Request) -> web.Response:
        """GET /placement/."""
        return json_response(
            {
                "versions": [
                    {
                        "id": "v1.0",
                        "min_version": "1.0",
                        "max_version": MAX_VERSION,
                        "status": "CURRENT",
                        "links": [{"rel": "self", "href": ""}],
                    }
                ]
            }
        )

    def _host(self, request: web.Request) -> JSON:
        if not ctx_of(request).is_admin:
            raise forbidden("Policy does not allow placement:resource_providers:show to be performed.")
        uuid = request.match_info["uuid"]
        host = self.store.get("host", uuid)
        if host is None:
            raise not_found(f"No resource provider with uuid {uuid} found")
        return host

    @staticmethod
    def _provider(host: JSON) -> JSON:
        base = f"/resource_providers/{host['id']}"
        return {
            "uuid": host["id"],
            "name": host["name"],
            "generation": 1,
            "parent_provider_uuid": None,
            "root_provider_uuid": host["id"],
            "links": [{"rel": "self", "href": base}, {"rel": "inventories", "href": f"{base}/inventories"},
                      {"rel": "usages", "href": f"{base}/usages"}],
        }  # fmt: skip

    async def list_providers(self, request: web.Request) -> web.Response:
        """GET /placement/resource_providers (filter: name)."""
        if not ctx_of(request).is_admin:
            raise forbidden("Policy does not allow placement:resource_providers:list to be performed.")
        hosts = self.store.all("host")
        if "name" in request.query:
            hosts = [h for h in hosts if h["name"] == request.query["name"]]
        return json_response({"resource_providers": [self._provider(h) for h in hosts]})

    async def show_provider(self, request: web.Request) -> web.Response:
        """GET /placement/resource_providers/{uuid}."""
        return json_response(self._provider(self._host(request)))

    async def inventories(self, request: web.Request) -> web.Response:
        """GET /placement/resource_providers/{uuid}/inventories."""
        host = self._host(request)
        c = self.cloud
        inv = {
            "VCPU": {"total": host["vcpus"], "reserved": 0, "allocation_ratio": c.cpu_allocation_ratio},
            "MEMORY_MB": {"total": host["memory_mb"], "reserved": HOST_RESERVED_RAM_MB,
                          "allocation_ratio": c.ram_allocation_ratio},
            "DISK_GB": {"total": host["local_gb"], "reserved": 0, "allocation_ratio": 1.0},
        }  # fmt: skip
        for rc, item in inv.items():
            item.update(min_unit=1, step_size=1, max_unit=host["vcpus"] if rc == "VCPU" else item["total"])
        return json_response({"inventories": inv, "resource_provider_generation": 1})

    async def usages(self, request: web.Request) -> web.Response:
        """GET /placement/resource_providers/{uuid}/usages."""
        host = self._host(request)
        use = self.nova.host_usage(host["name"])
        return json_response(
            {"usages": {"VCPU": use["vcpus"], "MEMORY_MB": use["ram"], "DISK_GB": use["disk"]},
             "resource_provider_generation": 1}
        )  # fmt: skip
