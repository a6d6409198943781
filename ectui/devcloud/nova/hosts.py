"""Hypervisors, availability zones and compute services."""

from __future__ import annotations

from aiohttp import web

from ..api import ctx_of, json_response
from ..core import JSON, as_bool, now_iso
from ..errors import not_found
from .common import NovaBase


class HostsMixin(NovaBase):
    """Host routes (admin only)."""

    # -- hypervisors, zones, services -----------------------------------------------------------
    def _render_hypervisor(self, h: JSON, request: web.Request, detail: bool) -> JSON:
        mv = self.mv(request)
        out: JSON = {
            "id": h["id"] if mv >= (2, 53) else h["int_id"],
            "hypervisor_hostname": h["name"],
            "state": h["state"],
            "status": h["status"],
        }
        if detail:
            out.update(
                {
                    "hypervisor_type": "QEMU",
                    "hypervisor_version": 8002000,
                    "host_ip": h["host_ip"],
                    "service": {"host": h["name"], "id": h["id"] if mv >= (2, 53) else h["service_id"],
                                "disabled_reason": None},
                }
            )  # fmt: skip
            if mv < (2, 88):
                use = self.host_usage(h["name"])
                out.update(
                    {
                        "vcpus": h["vcpus"],
                        "vcpus_used": use["vcpus"],
                        "memory_mb": h["memory_mb"],
                        "memory_mb_used": use["ram"] + 512,
                        "local_gb": h["local_gb"],
                        "local_gb_used": use["disk"],
                        "free_ram_mb": h["memory_mb"] - use["ram"] - 512,
                        "free_disk_gb": h["local_gb"] - use["disk"],
                        "current_workload": 0,
                        "running_vms": use["vms"],
                        "disk_available_least": h["local_gb"] - use["disk"],
                        "cpu_info": {"arch": "x86_64", "model": "Cascadelake-Server", "vendor": "Intel",
                                     "topology": {"cells": 1, "sockets": 2, "cores": 8, "threads": 2}}
                        if mv >= (2, 28) else '{"arch": "x86_64"}',
                    }
                )  # fmt: skip
            else:
                out["uptime"] = " 10:00:00 up 42 days,  1:00,  0 users,  load average: 0.10, 0.10, 0.10"
        if mv >= (2, 53) and as_bool(request.query.get("with_servers", "false")):
            out["servers"] = [{"uuid": s["id"], "name": s["instance_name"]} for s in self.store.iter("server")
                              if s.get("host") == h["name"] and self._live(s)]  # fmt: skip
        return out

    async def list_hypervisors(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-hypervisors, GET /compute/v2.1/os-hypervisors/detail."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-hypervisors:list")
        await self.cloud.faults.hit("compute.list_hypervisors")
        hosts = self.store.all("host")
        pattern = request.query.get("hypervisor_hostname_pattern")
        if pattern:
            hosts = [h for h in hosts if pattern in h["name"]]
            if not hosts:
                raise not_found(f"No hypervisor matching '{pattern}' could be found.")
        hosts, links = self._paginate(hosts, request) if self.mv(request) >= (2, 33) else (hosts, [])
        detail = request.path.endswith("/detail")
        return self._listing(
            "hypervisors", [self._render_hypervisor(h, request, detail) for h in hosts], links
        )

    async def show_hypervisor(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-hypervisors/{id}."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-hypervisors:show")
        ref = request.match_info["id"]
        for h in self.store.iter("host"):
            if ref in (h["id"], str(h["int_id"])):
                return json_response({"hypervisor": self._render_hypervisor(h, request, True)})
        raise not_found(f"Hypervisor with ID '{ref}' could not be found.")

    async def hypervisor_statistics(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-hypervisors/statistics."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-hypervisors:statistics")
        if self.mv(request) >= (2, 88):
            raise not_found("The resource could not be found.")
        stats = {k: 0 for k in ("count", "vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb",
                                "local_gb_used", "free_ram_mb", "free_disk_gb", "current_workload", "running_vms",
                                "disk_available_least")}  # fmt: skip
        for h in self.store.iter("host"):
            use = self.host_usage(h["name"])
            stats["count"] += 1
            stats["vcpus"] += h["vcpus"]
            stats["vcpus_used"] += use["vcpus"]
            stats["memory_mb"] += h["memory_mb"]
            stats["memory_mb_used"] += use["ram"] + 512
            stats["local_gb"] += h["local_gb"]
            stats["local_gb_used"] += use["disk"]
            stats["free_ram_mb"] += h["memory_mb"] - use["ram"] - 512
            stats["free_disk_gb"] += h["local_gb"] - use["disk"]
            stats["disk_available_least"] += h["local_gb"] - use["disk"]
            stats["running_vms"] += use["vms"]
        return json_response({"hypervisor_statistics": stats})

    async def list_zones(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-availability-zone, GET /compute/v2.1/os-availability-zone/detail."""
        ctx = ctx_of(request)
        detail = request.path.endswith("/detail")
        if detail:
            self._admin(ctx, "os_compute_api:os-availability-zone:detail")
        zones: dict[str, JSON] = {}
        ts = now_iso(micro=True)
        for h in self.store.iter("host"):
            zone = zones.setdefault(
                h["zone"], {"zoneName": h["zone"], "zoneState": {"available": False}, "hosts": None}
            )
            if h["status"] == "enabled" and h["state"] == "up":
                zone["zoneState"]["available"] = True
            if detail:
                zone["hosts"] = zone["hosts"] or {}
                zone["hosts"][h["name"]] = {"nova-compute": {"available": h["state"] == "up",
                                                              "active": h["status"] == "enabled", "updated_at": ts}}  # fmt: skip
        out = list(zones.values())
        if detail:
            services = {
                b: {"available": True, "active": True, "updated_at": ts}
                for b in ("nova-conductor", "nova-scheduler")
            }
            out.insert(
                0,
                {"zoneName": "internal", "zoneState": {"available": True}, "hosts": {"controller": services}},
            )
        return json_response({"availabilityZoneInfo": out})

    async def list_services(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-services."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-services:list")
        mv = self.mv(request)
        ts = now_iso(micro=True)
        out = []
        for h in self.store.iter("host"):
            if request.query.get("binary", "nova-compute") != "nova-compute":
                continue
            out.append({"id": h["id"] if mv >= (2, 53) else h["service_id"], "binary": "nova-compute", "host": h["name"],
                        "zone": h["zone"], "status": h["status"], "state": h["state"], "updated_at": ts,
                        "disabled_reason": None, "forced_down": False})  # fmt: skip
        return json_response({"services": out})
