"""Nova v2.1 subset with microversions: flavors, servers and their actions, hypervisors, zones, quotas.

Vendor extensions (probe them with ``GET /compute/v2.1/extensions``):
``liveResize`` (hot CPU/RAM resize for flavors with ``hw:live_resize``) and
``attachCdrom``/``detachCdrom`` (mount an ISO of the FTP share as the server's CD-ROM).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import string
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from .core import (
    JSON,
    MV,
    ApiError,
    Context,
    as_bool,
    bad_request,
    base_url,
    conflict,
    ctx_of,
    forbidden,
    json_response,
    new_id,
    not_found,
    now_iso,
    read_json,
    request_id,
)

if TYPE_CHECKING:
    from .server import DevCloud

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 96)
P = "/compute/v2.1"
POWER = {"NOSTATE": 0, "RUNNING": 1, "PAUSED": 3, "SHUTDOWN": 4, "SUSPENDED": 7}
VENDOR_EXTENSIONS = (
    {
        "alias": "EC-LIVE-RESIZE",
        "name": "LiveResize",
        "description": "Server action liveResize: change vCPU/RAM of an ACTIVE server whose flavor has "
        "extra spec hw:live_resize=true, without a reboot.",
    },
    {
        "alias": "EC-CDROM",
        "name": "Cdrom",
        "description": "Server actions attachCdrom/detachCdrom: mount an ISO file of the ISO share as the "
        "server's CD-ROM; field EC-CDROM:iso; GET /servers/{id}/os-cdrom.",
    },
)
VENDOR_ACTIONS = {"liveResize": "EC-LIVE-RESIZE", "attachCdrom": "EC-CDROM", "detachCdrom": "EC-CDROM"}
"""Server actions of the vendor extensions (answered 400 when the extension is off)."""
STANDARD_EXTENSIONS = ("os-availability-zone", "os-extended-server-attributes", "os-flavor-extra-specs",
                       "os-hypervisors", "os-instance-actions", "os-keypairs", "os-lock-server",
                       "os-quota-sets", "os-rescue", "os-remote-consoles")  # fmt: skip

# status, vm_state and task_state pairs as Nova shows them
STATUS_OF = {
    ("active", None): "ACTIVE",
    ("building", None): "BUILD",
    ("stopped", None): "SHUTOFF",
    ("resized", None): "VERIFY_RESIZE",
    ("rescued", None): "RESCUE",
    ("paused", None): "PAUSED",
    ("suspended", None): "SUSPENDED",
    ("error", None): "ERROR",
}
TASK_STATUS = {
    "resize_prep": "RESIZE", "resize_migrating": "RESIZE", "resize_migrated": "RESIZE", "resize_finish": "RESIZE",
    "resize_reverting": "REVERT_RESIZE", "rebooting": "REBOOT", "reboot_started": "REBOOT",
    "rebooting_hard": "HARD_REBOOT", "reboot_started_hard": "HARD_REBOOT", "rescuing": "RESCUE",
    "scheduling": "BUILD", "networking": "BUILD", "spawning": "BUILD", "block_device_mapping": "BUILD",
}  # fmt: skip


def status_of(vm_state: str, task_state: str | None) -> str:
    """The API status of a vm_state/task_state pair, like nova.api.openstack.common.status_from_state."""
    if task_state in TASK_STATUS and not (vm_state == "building" and task_state is None):
        if task_state in ("rebooting", "rebooting_hard") and vm_state not in ("active", "stopped"):
            return STATUS_OF.get((vm_state, None), "ACTIVE")
        return TASK_STATUS[task_state]
    return STATUS_OF.get((vm_state, None), "ACTIVE")


def password(length: int = 12) -> str:
    """A random admin password like Nova's."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


class Nova:
    """Compute service: servers, flavors, hosts; transitions run on timers and survive restarts."""

    def __init__(self, cloud: DevCloud) -> None:
        """Build the component; no I/O happens here."""
        self.cloud = cloud
        self.store = cloud.store
        self.t = cloud.timings

    # -- microversions -----------------------------------------------------------------------
    def negotiate(self, request: web.Request) -> tuple[int, int]:
        """The requested compute microversion (2.1 when absent); 406 when out of range."""
        raw = None
        header = request.headers.get("OpenStack-API-Version", "")
        for part in header.split(","):
            service, _, value = part.strip().partition(" ")
            if service.lower() == "compute":
                raw = value.strip()
        if raw is None:
            raw = request.headers.get("X-OpenStack-Nova-API-Version")
        if not raw:
            return MIN_VERSION
        if raw.lower() == "latest":
            return MAX_VERSION
        try:
            major, minor = (int(x) for x in raw.split("."))
        except ValueError:
            raise ApiError(400, f"Invalid format for API version: {raw}.") from None
        if not MIN_VERSION <= (major, minor) <= MAX_VERSION:
            raise ApiError(
                406,
                f"Version {raw} is not supported by the API. Minimum is 2.1 and maximum is "
                f"{MAX_VERSION[0]}.{MAX_VERSION[1]}.",
            )
        return major, minor

    def add_routes(self, app: web.Application) -> None:
        """Register the compute routes."""
        r = app.router
        r.add_get("/compute", self.versions)
        r.add_get("/compute/", self.versions)
        r.add_get(P, self.version)
        r.add_get(P + "/", self.version)
        r.add_get(P + "/extensions", self.list_extensions)
        r.add_get(P + "/extensions/{alias}", self.show_extension)
        # flavors
        r.add_get(P + "/flavors", self.list_flavors)
        r.add_get(P + "/flavors/detail", self.list_flavors)
        r.add_post(P + "/flavors", self.create_flavor)
        r.add_get(P + "/flavors/{id}", self.show_flavor)
        r.add_put(P + "/flavors/{id}", self.update_flavor)
        r.add_delete(P + "/flavors/{id}", self.delete_flavor)
        r.add_get(P + "/flavors/{id}/os-extra_specs", self.list_extra_specs)
        r.add_post(P + "/flavors/{id}/os-extra_specs", self.set_extra_specs)
        r.add_get(P + "/flavors/{id}/os-extra_specs/{key}", self.show_extra_spec)
        r.add_put(P + "/flavors/{id}/os-extra_specs/{key}", self.update_extra_spec)
        r.add_delete(P + "/flavors/{id}/os-extra_specs/{key}", self.delete_extra_spec)
        r.add_get(P + "/flavors/{id}/os-flavor-access", self.flavor_access)
        # servers
        r.add_get(P + "/servers", self.list_servers)
        r.add_get(P + "/servers/detail", self.list_servers)
        r.add_post(P + "/servers", self.create_server)
        r.add_get(P + "/servers/{id}", self.show_server)
        r.add_put(P + "/servers/{id}", self.update_server)
        r.add_delete(P + "/servers/{id}", self.delete_server)
        r.add_post(P + "/servers/{id}/action", self.server_action)
        r.add_get(P + "/servers/{id}/os-instance-actions", self.list_instance_actions)
        r.add_get(P + "/servers/{id}/os-instance-actions/{req}", self.show_instance_action)
        r.add_post(P + "/servers/{id}/remote-consoles", self.remote_console)
        r.add_get(P + "/servers/{id}/metadata", self.get_metadata)
        r.add_post(P + "/servers/{id}/metadata", self.update_metadata)
        r.add_put(P + "/servers/{id}/metadata", self.replace_metadata)
        r.add_get(P + "/servers/{id}/ips", self.server_ips)
        r.add_get(P + "/servers/{id}/os-interface", self.server_interfaces)
        r.add_get(P + "/servers/{id}/os-cdrom", self.server_cdrom)
        # hosts, zones, services
        r.add_get(P + "/os-hypervisors", self.list_hypervisors)
        r.add_get(P + "/os-hypervisors/detail", self.list_hypervisors)
        r.add_get(P + "/os-hypervisors/statistics", self.hypervisor_statistics)
        r.add_get(P + "/os-hypervisors/{id}", self.show_hypervisor)
        r.add_get(P + "/os-availability-zone", self.list_zones)
        r.add_get(P + "/os-availability-zone/detail", self.list_zones)
        r.add_get(P + "/os-services", self.list_services)
        # keypairs, quotas, limits
        r.add_get(P + "/os-keypairs", self.list_keypairs)
        r.add_post(P + "/os-keypairs", self.create_keypair)
        r.add_get(P + "/os-keypairs/{name}", self.show_keypair)
        r.add_delete(P + "/os-keypairs/{name}", self.delete_keypair)
        r.add_get(P + "/os-quota-sets/{project}", self.show_quota)
        r.add_get(P + "/os-quota-sets/{project}/detail", self.show_quota)
        r.add_get(P + "/os-quota-sets/{project}/defaults", self.show_quota_defaults)
        r.add_put(P + "/os-quota-sets/{project}", self.update_quota)
        r.add_get(P + "/limits", self.limits)
        r.add_get("/vnc_auto.html", self.vnc_page)

    # -- versions / extensions -----------------------------------------------------------------
    def _version_doc(self, base: str) -> JSON:
        return {
            "id": "v2.1",
            "status": "CURRENT",
            "version": f"{MAX_VERSION[0]}.{MAX_VERSION[1]}",
            "min_version": f"{MIN_VERSION[0]}.{MIN_VERSION[1]}",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base}{P}/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
            ],
            "x-vendor-extensions": [e["alias"] for e in self._vendor()],
        }

    async def versions(self, request: web.Request) -> web.Response:
        """GET /compute, GET /compute/."""
        base = base_url(request)
        v20 = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z",
               "links": [{"rel": "self", "href": f"{base}/compute/v2/"}]}  # fmt: skip
        return json_response({"versions": [v20, self._version_doc(base)]})

    async def version(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1, GET /compute/v2.1/."""
        return json_response({"version": self._version_doc(base_url(request))})

    def _extensions(self, base: str) -> list[JSON]:
        out = [{"alias": a, "name": a, "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
                "description": a, "updated": "2014-12-03T00:00:00Z", "links": []} for a in STANDARD_EXTENSIONS]  # fmt: skip
        for ext in self._vendor():
            out.append({**ext, "namespace": f"{base}/compute/ext/{ext['alias'].lower()}",
                        "updated": "2026-01-01T00:00:00Z", "links": []})  # fmt: skip
        return out

    def _vendor(self) -> list[JSON]:
        """The vendor extensions this cloud has (DevCloud.vendor_extensions; none = an upstream Nova)."""
        return [e for e in VENDOR_EXTENSIONS if e["alias"] in self.cloud.vendor_extensions]

    async def list_extensions(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/extensions."""
        ctx_of(request)
        return json_response({"extensions": self._extensions(base_url(request))})

    async def show_extension(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/extensions/{alias}."""
        ctx_of(request)
        for ext in self._extensions(base_url(request)):
            if ext["alias"] == request.match_info["alias"]:
                return json_response({"extension": ext})
        raise not_found("Extension could not be found.")

    # -- common helpers -------------------------------------------------------------------------
    @staticmethod
    def mv(request: web.Request) -> tuple[int, int]:
        """The negotiated microversion of a request."""
        return request.get(MV, MIN_VERSION)  # type: ignore[no-any-return]

    def _admin(self, ctx: Context, rule: str) -> None:
        if not ctx.is_admin:
            raise forbidden(f"Policy doesn't allow {rule} to be performed.")

    def _links(self, base: str, kind: str, item_id: str) -> list[JSON]:
        return [
            {"rel": "self", "href": f"{base}{P}/{kind}/{item_id}"},
            {"rel": "bookmark", "href": f"{base}/compute/{kind}/{item_id}"},
        ]

    # -- flavors --------------------------------------------------------------------------------
    def new_flavor(
        self,
        fid: str,
        name: str,
        vcpus: int,
        ram: int,
        disk: int,
        *,
        extra_specs: dict[str, str] | None = None,
        **kw: Any,
    ) -> JSON:
        """A flavor document (not yet stored)."""
        return {
            "id": fid,
            "name": name,
            "vcpus": int(vcpus),
            "ram": int(ram),
            "disk": int(disk),
            "ephemeral": int(kw.get("ephemeral", 0) or 0),
            "swap": int(kw.get("swap", 0) or 0),
            "rxtx_factor": float(kw.get("rxtx_factor", 1.0) or 1.0),
            "is_public": bool(kw.get("is_public", True)),
            "description": kw.get("description"),
            "extra_specs": extra_specs or {},
            "created_at": now_iso(),
        }

    def _flavor(self, fid: str) -> JSON:
        flavor = self.store.get("flavor", fid)
        if flavor is None:
            raise not_found(f"Flavor {fid} could not be found.")
        return flavor

    def _render_flavor(self, f: JSON, request: web.Request, detail: bool = True) -> JSON:
        base, mv = base_url(request), self.mv(request)
        out: JSON = {"id": f["id"], "name": f["name"], "links": self._links(base, "flavors", f["id"])}
        if mv >= (2, 55):
            out["description"] = f.get("description")
        if not detail:
            return out
        out.update(
            {
                "ram": f["ram"],
                "vcpus": f["vcpus"],
                "disk": f["disk"],
                "OS-FLV-EXT-DATA:ephemeral": f["ephemeral"],
                "OS-FLV-DISABLED:disabled": False,
                "swap": f["swap"] if (f["swap"] or mv >= (2, 75)) else "",
                "rxtx_factor": f["rxtx_factor"],
                "os-flavor-access:is_public": f["is_public"],
            }
        )
        if mv >= (2, 61):
            out["extra_specs"] = dict(f["extra_specs"])
        return out

    async def list_flavors(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/flavors, GET /compute/v2.1/flavors/detail."""
        ctx = ctx_of(request)
        await self.cloud.faults.hit("compute.list_flavors")
        q = request.query
        flavors = self.store.all("flavor")
        is_public = q.get("is_public", "true").lower()
        if is_public not in ("none", "all") or not ctx.is_admin:
            want = as_bool(is_public) if is_public not in ("none", "all") else True
            flavors = [
                f for f in flavors if f["is_public"] == want or (ctx.is_admin and want is not f["is_public"])
            ]
        if "minRam" in q:
            flavors = [f for f in flavors if f["ram"] >= int(q["minRam"])]
        if "minDisk" in q:
            flavors = [f for f in flavors if f["disk"] >= int(q["minDisk"])]
        key = q.get("sort_key", "flavorid")
        key = {"flavorid": "id", "memory_mb": "ram", "root_gb": "disk"}.get(key, key)
        flavors.sort(key=lambda f: (f.get(key) is None, f.get(key) if not isinstance(f.get(key), str) else f[key]),
                     reverse=q.get("sort_dir", "asc") == "desc")  # fmt: skip
        flavors, links = self._paginate(flavors, request, "flavors")
        detail = request.path.endswith("/detail")
        body: JSON = {"flavors": [self._render_flavor(f, request, detail) for f in flavors]}
        if links:
            body["flavors_links"] = links
        return json_response(body)

    def _paginate(self, items: list[JSON], request: web.Request, kind: str) -> tuple[list[JSON], list[JSON]]:
        q = request.query
        if "marker" in q:
            ids = [i["id"] for i in items]
            if q["marker"] not in ids:
                raise bad_request(f"marker [{q['marker']}] not found")
            items = items[ids.index(q["marker"]) + 1 :]
        limit = min(int(q.get("limit", 1000)), 1000)
        if limit < 0:
            raise bad_request("Invalid input for query parameters limit.")
        if len(items) > limit:
            items = items[:limit]
            params = [(k, v) for k, v in q.items() if k != "marker"] + [("marker", items[-1]["id"])]
            return items, [{"rel": "next", "href": f"{base_url(request)}{request.path}?{urlencode(params)}"}]
        return items, []

    async def show_flavor(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/flavors/{id}."""
        ctx_of(request)
        return json_response({"flavor": self._render_flavor(self._flavor(request.match_info["id"]), request)})

    async def create_flavor(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/flavors."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-flavor-manage:create")
        await self.cloud.faults.hit("compute.create_flavor")
        body = (await read_json(request)).get("flavor")
        if not isinstance(body, dict):
            raise bad_request("Invalid input for field/attribute flavor.")
        name = str(body.get("name") or "").strip()
        if not name or len(name) > 255:
            raise bad_request("Invalid input for field/attribute name.")
        try:
            vcpus, ram, disk = int(body["vcpus"]), int(body["ram"]), int(body.get("disk", 0))
        except (KeyError, TypeError, ValueError):
            raise bad_request(
                "Invalid input for field/attribute flavor: vcpus, ram and disk must be integers."
            ) from None
        if vcpus < 1 or ram < 1 or disk < 0:
            raise bad_request("Invalid input for field/attribute flavor: vcpus and ram must be positive.")
        fid = body.get("id")
        fid = new_id() if fid in (None, "", "auto") else str(fid)
        if self.store.get("flavor", fid):
            raise conflict(f"Flavor with ID {fid} already exists.")
        if self.store.find("flavor", name=name):
            raise conflict(f"Flavor with name {name} already exists.")
        flavor = self.new_flavor(
            fid, name, vcpus, ram, disk,
            ephemeral=body.get("OS-FLV-EXT-DATA:ephemeral", 0), swap=body.get("swap", 0),
            rxtx_factor=body.get("rxtx_factor", 1.0), is_public=body.get("os-flavor-access:is_public", True),
            description=body.get("description"),
        )  # fmt: skip
        self.store.put("flavor", flavor)
        return json_response({"flavor": self._render_flavor(flavor, request)})

    async def update_flavor(self, request: web.Request) -> web.Response:
        """PUT /compute/v2.1/flavors/{id}."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-flavor-manage:update")
        if self.mv(request) < (2, 55):
            raise ApiError(405, "The method PUT is not allowed for this resource.")
        flavor = self._flavor(request.match_info["id"])
        body = (await read_json(request)).get("flavor") or {}
        flavor["description"] = body.get("description")
        self.store.put("flavor", flavor)
        return json_response({"flavor": self._render_flavor(flavor, request)})

    async def delete_flavor(self, request: web.Request) -> web.Response:
        """DELETE /compute/v2.1/flavors/{id}."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-flavor-manage:delete")
        flavor = self._flavor(request.match_info["id"])
        await self.cloud.faults.hit("compute.delete_flavor")
        self.store.delete("flavor", flavor["id"])
        return web.Response(status=202)

    async def list_extra_specs(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/flavors/{id}/os-extra_specs."""
        ctx_of(request)
        return json_response({"extra_specs": self._flavor(request.match_info["id"])["extra_specs"]})

    async def set_extra_specs(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/flavors/{id}/os-extra_specs."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-flavor-extra-specs:create")
        await self.cloud.faults.hit("compute.set_extra_specs")
        flavor = self._flavor(request.match_info["id"])
        specs = (await read_json(request)).get("extra_specs")
        if not isinstance(specs, dict):
            raise bad_request("Invalid input for field/attribute extra_specs.")
        flavor["extra_specs"].update({str(k): str(v) for k, v in specs.items()})
        self.store.put("flavor", flavor)
        return json_response({"extra_specs": flavor["extra_specs"]})

    async def show_extra_spec(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/flavors/{id}/os-extra_specs/{key}."""
        ctx_of(request)
        specs = self._flavor(request.match_info["id"])["extra_specs"]
        key = request.match_info["key"]
        if key not in specs:
            raise not_found(f"Flavor {request.match_info['id']} has no extra specs with key {key}.")
        return json_response({key: specs[key]})

    async def update_extra_spec(self, request: web.Request) -> web.Response:
        """PUT /compute/v2.1/flavors/{id}/os-extra_specs/{key}."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-flavor-extra-specs:update")
        flavor = self._flavor(request.match_info["id"])
        key = request.match_info["key"]
        body = await read_json(request)
        if list(body) != [key]:
            raise bad_request("Request body and URI mismatch")
        flavor["extra_specs"][key] = str(body[key])
        self.store.put("flavor", flavor)
        return json_response({key: flavor["extra_specs"][key]})

    async def delete_extra_spec(self, request: web.Request) -> web.Response:
        """DELETE /compute/v2.1/flavors/{id}/os-extra_specs/{key}."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-flavor-extra-specs:delete")
        flavor = self._flavor(request.match_info["id"])
        key = request.match_info["key"]
        if flavor["extra_specs"].pop(key, None) is None:
            raise not_found(f"Flavor {flavor['id']} has no extra specs with key {key}.")
        self.store.put("flavor", flavor)
        return web.Response(status=200)

    async def flavor_access(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/flavors/{id}/os-flavor-access."""
        ctx_of(request)
        flavor = self._flavor(request.match_info["id"])
        if flavor["is_public"]:
            raise not_found("Access list not available for public flavors.")
        return json_response({"flavor_access": []})

    # -- capacity and quotas -----------------------------------------------------------------------
    @staticmethod
    def _live(server: JSON) -> bool:
        return not server.get("deleted")

    def host_usage(self, host: str) -> dict[str, int]:
        """vCPU, RAM, disk and VM count held on a host (both flavors while a resize is unconfirmed)."""
        use = {"vcpus": 0, "ram": 0, "disk": 0, "vms": 0}
        for s in self.store.iter("server"):
            if s.get("host") != host or not self._live(s):
                continue
            flavors = [s["flavor"]]
            if s.get("task_state") in ("resize_prep", "resize_migrating", "resize_finish") and s.get(
                "new_flavor"
            ):
                flavors.append(s["new_flavor"])
            elif s.get("old_flavor") and (
                s["vm_state"] == "resized" or s.get("task_state") == "resize_reverting"
            ):
                flavors.append(s["old_flavor"])
            for f in flavors:
                use["vcpus"] += f["vcpus"]
                use["ram"] += f["ram"]
                use["disk"] += f["disk"]
            use["vms"] += 1
        return use

    def _fits(self, host: JSON, vcpus: int, ram: int, ignore: JSON | None = None) -> bool:
        use = self.host_usage(host["name"])
        if ignore is not None:
            use["vcpus"] -= ignore["vcpus"]
            use["ram"] -= ignore["ram"]
        return (
            use["vcpus"] + vcpus <= host["vcpus"] * self.cloud.cpu_allocation_ratio
            and use["ram"] + ram <= host["memory_mb"] * self.cloud.ram_allocation_ratio
            and host["status"] == "enabled"
            and host["state"] == "up"
        )

    def _host(self, name: str) -> JSON | None:
        found = self.store.find("host", name=name)
        return found[0] if found else None

    def project_usage(self, project: str) -> dict[str, int]:
        """Cores, RAM and instances counted from the project's servers (no reservations)."""
        use = {"instances": 0, "cores": 0, "ram": 0}
        for s in self.store.iter("server"):
            if s["project_id"] == project and self._live(s):
                f = s["flavor"]
                if s.get("old_flavor") and s["vm_state"] == "resized":
                    f = {
                        "vcpus": max(f["vcpus"], s["old_flavor"]["vcpus"]),
                        "ram": max(f["ram"], s["old_flavor"]["ram"]),
                    }
                use["instances"] += 1
                use["cores"] += f["vcpus"]
                use["ram"] += f["ram"]
        return use

    def _check_quota(self, project: str, instances: int, cores: int, ram: int) -> None:
        limits = self.cloud.neutron.quota(project)
        used = self.project_usage(project)
        for key, delta in (("instances", instances), ("cores", cores), ("ram", ram)):
            if delta > 0 and limits[key] >= 0 and used[key] + delta > limits[key]:
                raise forbidden(
                    f"Quota exceeded for {key}: Requested {delta}, but already used {used[key]} of {limits[key]} {key}"
                )

    # -- servers: lookup and rendering ----------------------------------------------------------------
    def _server(self, server_id: str, ctx: Context) -> JSON:
        s = self.store.get("server", server_id)
        if s is None or not self._live(s) or (not ctx.is_admin and s["project_id"] != ctx.project_id):
            raise not_found(f"Instance {server_id} could not be found.")
        return s

    def _save(self, s: JSON) -> JSON:
        s["status"] = status_of(s["vm_state"], s["task_state"])
        s["updated"] = now_iso()
        return self.store.put("server", s)

    def render_server(self, s: JSON, request: web.Request, ctx: Context) -> JSON:
        """A server as Nova shows it at the request's microversion."""
        base, mv = base_url(request), self.mv(request)
        f = s["flavor"]
        if mv >= (2, 47):
            flavor: JSON = {"vcpus": f["vcpus"], "ram": f["ram"], "disk": f["disk"], "ephemeral": f["ephemeral"],
                            "swap": f["swap"], "original_name": f["name"], "extra_specs": dict(f["extra_specs"])}  # fmt: skip
        else:
            flavor = {
                "id": f["id"],
                "links": [{"rel": "bookmark", "href": f"{base}/compute/flavors/{f['id']}"}],
            }
        host_id = (
            hashlib.sha224((s["project_id"] + (s.get("host") or "")).encode()).hexdigest()
            if s.get("host")
            else ""
        )
        out: JSON = {
            "id": s["id"],
            "name": s["name"],
            "status": s["status"],
            "tenant_id": s["project_id"],
            "user_id": s["user_id"],
            "metadata": s["metadata"],
            "hostId": host_id,
            "image": {
                "id": s["image_id"],
                "links": [{"rel": "bookmark", "href": f"{base}/compute/images/{s['image_id']}"}],
            }
            if s["image_id"]
            else "",
            "flavor": flavor,
            "created": s["created"],
            "updated": s["updated"],
            "addresses": self.cloud.neutron.addresses(s["id"]),
            "accessIPv4": "",
            "accessIPv6": "",
            "links": self._links(base, "servers", s["id"]),
            "OS-DCF:diskConfig": s.get("disk_config", "MANUAL"),
            "progress": s.get("progress", 0),
            "OS-EXT-AZ:availability_zone": s.get("zone") or "",
            "config_drive": "True" if s.get("config_drive") else "",
            "key_name": s.get("key_name"),
            "OS-SRV-USG:launched_at": s.get("launched_at"),
            "OS-SRV-USG:terminated_at": None,
            "security_groups": [{"name": "default"}] if s.get("ports") else [],
            "os-extended-volumes:volumes_attached": [],
            "OS-EXT-STS:task_state": s["task_state"],
            "OS-EXT-STS:vm_state": s["vm_state"],
            "OS-EXT-STS:power_state": s["power_state"],
            "EC-CDROM:iso": (s.get("cdrom") or {}).get("iso"),
        }
        if ctx.is_admin:
            out["OS-EXT-SRV-ATTR:host"] = s.get("host")
            out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = s.get("host")
            out["OS-EXT-SRV-ATTR:instance_name"] = s["instance_name"]
            if mv >= (2, 3):
                out.update(
                    {
                        "OS-EXT-SRV-ATTR:reservation_id": s["reservation_id"],
                        "OS-EXT-SRV-ATTR:launch_index": 0,
                        "OS-EXT-SRV-ATTR:hostname": re.sub(r"[^a-z0-9-]", "-", s["name"].lower())[:63],
                        "OS-EXT-SRV-ATTR:kernel_id": "",
                        "OS-EXT-SRV-ATTR:ramdisk_id": "",
                        "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                        "OS-EXT-SRV-ATTR:user_data": s.get("user_data"),
                    }
                )
            if mv >= (2, 16):
                out["host_status"] = "UP" if s.get("host") else ""
        if mv >= (2, 9):
            out["locked"] = bool(s.get("locked"))
        if mv >= (2, 73):
            out["locked_reason"] = s.get("locked_reason")
        if mv >= (2, 19):
            out["description"] = s.get("description")
        if mv >= (2, 26):
            out["tags"] = s.get("tags", [])
        if mv >= (2, 63):
            out["trusted_image_certificates"] = None
        if mv >= (2, 71):
            out["server_groups"] = []
        if mv >= (2, 96):
            out["pinned_availability_zone"] = s.get("pinned_zone")
        if s["vm_state"] == "error" and s.get("fault"):
            fault = dict(s["fault"])
            if not ctx.is_admin:
                fault.pop("details", None)
            out["fault"] = fault
        return out

    async def list_servers(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers, GET /compute/v2.1/servers/detail."""
        ctx = ctx_of(request)
        await self.cloud.faults.hit("compute.list_servers")
        q = request.query
        all_tenants = ctx.is_admin and as_bool(q.get("all_tenants", "false"))
        project = q.get("project_id") or q.get("tenant_id")
        servers = []
        name_re = re.compile(q["name"]) if "name" in q else None
        for s in self.store.iter("server"):
            if not self._live(s):
                continue
            if project and ctx.is_admin:
                if s["project_id"] != project:
                    continue
            elif not all_tenants and s["project_id"] != ctx.project_id:
                continue
            if name_re is not None and not name_re.search(s["name"]):
                continue
            if "status" in q and s["status"] not in [v.upper() for v in q.getall("status")]:
                continue
            if (
                ctx.is_admin
                and ("host" in q or "node" in q)
                and s.get("host") != q.get("host", q.get("node"))
            ):
                continue
            if "flavor" in q and s["flavor"]["id"] != q["flavor"]:
                continue
            if "image" in q and s["image_id"] != q["image"]:
                continue
            if "availability_zone" in q and s.get("zone") != q["availability_zone"]:
                continue
            if "locked" in q and bool(s.get("locked")) != as_bool(q["locked"]):
                continue
            if "changes-since" in q and s["updated"] < q["changes-since"][:19] + "Z":
                continue
            if "ip" in q and not any(
                re.search(q["ip"], a["addr"])
                for addrs in self.cloud.neutron.addresses(s["id"]).values()
                for a in addrs
            ):
                continue
            servers.append(s)
        key = q.get("sort_key", "created_at")
        key = {"created_at": "created", "updated_at": "updated", "display_name": "name"}.get(key, key)
        servers.sort(
            key=lambda s: (str(s.get(key, "")), s["created_seq"]), reverse=q.get("sort_dir", "desc") != "asc"
        )
        servers, links = self._paginate(servers, request, "servers")
        if request.path.endswith("/detail"):
            items = [self.render_server(s, request, ctx) for s in servers]
        else:
            items = [{"id": s["id"], "name": s["name"], "links": self._links(base_url(request), "servers", s["id"])}
                     for s in servers]  # fmt: skip
        body: JSON = {"servers": items}
        if links:
            body["servers_links"] = links
        return json_response(body)

    async def show_server(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}."""
        ctx = ctx_of(request)
        return json_response(
            {"server": self.render_server(self._server(request.match_info["id"], ctx), request, ctx)}
        )

    async def update_server(self, request: web.Request) -> web.Response:
        """PUT /compute/v2.1/servers/{id}."""
        ctx = ctx_of(request)
        s = self._server(request.match_info["id"], ctx)
        body = (await read_json(request)).get("server") or {}
        if "name" in body:
            if not str(body["name"]).strip():
                raise bad_request("Invalid input for field/attribute name.")
            s["name"] = str(body["name"])
        if "description" in body:
            s["description"] = body["description"]
        self._save(s)
        return json_response({"server": self.render_server(s, request, ctx)})

    # -- instance actions -------------------------------------------------------------------------
    def _record(self, s: JSON, action: str, ctx: Context, req_id: str | None = None) -> JSON:
        doc = {
            "id": req_id or request_id(),
            "server_id": s["id"],
            "action": action,
            "message": None,
            "project_id": ctx.project_id,
            "user_id": ctx.user_id,
            "start_time": now_iso(micro=True),
            "updated_at": now_iso(micro=True),
            "events": [],
            "seq": self.store.next_int("action_seq"),
        }
        return self.store.put("iaction", doc)

    def _event(
        self, action_id: str, event: str, *, result: str | None = "Success", host: str | None = None,
        traceback: str | None = None, details: str | None = None,
    ) -> None:  # fmt: skip
        doc = self.store.get("iaction", action_id)
        if doc is None:
            return
        ts = now_iso(micro=True)
        existing = next((e for e in doc["events"] if e["event"] == event and e["finish_time"] is None), None)
        if existing is None:
            existing = {"event": event, "start_time": ts, "finish_time": None, "result": None, "traceback": None,
                        "host": host, "details": None}  # fmt: skip
            doc["events"].append(existing)
        if result is not None:
            existing.update(finish_time=ts, result=result, traceback=traceback, details=details)
            if result == "Error":
                doc["message"] = "Error"
        doc["updated_at"] = ts
        self.store.put("iaction", doc)

    def _render_action(self, a: JSON, request: web.Request, ctx: Context, with_events: bool) -> JSON:
        mv = self.mv(request)
        out = {k: a[k] for k in ("action", "message", "project_id", "user_id", "start_time")}
        out["instance_uuid"] = a["server_id"]
        out["request_id"] = a["id"]
        if mv >= (2, 58):
            out["updated_at"] = a["updated_at"]
        if with_events:
            events = []
            for e in a["events"]:
                ev = {k: e[k] for k in ("event", "start_time", "finish_time", "result")}
                if ctx.is_admin:
                    ev["traceback"] = e["traceback"]
                if mv >= (2, 62):
                    ev["hostId"] = hashlib.sha224(
                        (a["project_id"] + (e.get("host") or "")).encode()
                    ).hexdigest()
                    if ctx.is_admin:
                        ev["host"] = e.get("host") or ""
                if mv >= (2, 84):
                    ev["details"] = e.get("details")
                events.append(ev)
            out["events"] = events
        return out

    async def list_instance_actions(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}/os-instance-actions."""
        ctx = ctx_of(request)
        server_id = request.match_info["id"]
        s = self.store.get("server", server_id)
        if s is None or (not ctx.is_admin and s["project_id"] != ctx.project_id):
            raise not_found(f"Instance {server_id} could not be found.")
        actions = sorted(
            self.store.find("iaction", server_id=server_id), key=lambda a: a["seq"], reverse=True
        )
        return json_response(
            {"instanceActions": [self._render_action(a, request, ctx, False) for a in actions]}
        )

    async def show_instance_action(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}/os-instance-actions/{req}."""
        ctx = ctx_of(request)
        server_id = request.match_info["id"]
        s = self.store.get("server", server_id)
        if s is None or (not ctx.is_admin and s["project_id"] != ctx.project_id):
            raise not_found(f"Instance {server_id} could not be found.")
        a = self.store.get("iaction", request.match_info["req"])
        if a is None or a["server_id"] != server_id:
            raise not_found(
                f"Action for request_id {request.match_info['req']} on instance {server_id} not found"
            )
        return json_response({"instanceAction": self._render_action(a, request, ctx, True)})

    # -- transitions ------------------------------------------------------------------------------------
    def _schedule(self, s: JSON, op: str, delay: float, **args: Any) -> None:
        token = new_id()
        s["pending"] = {"op": op, "at": time.time() + delay, "token": token, "args": args}
        self._save(s)
        self.cloud.later.call(delay, self._complete, s["id"], token)

    def resume_pending(self) -> None:
        """After a restart: finish the transitions that were under way (remaining time, at least zero)."""
        for s in self.store.all("server"):
            pending = s.get("pending")
            if pending:
                self.cloud.later.call(
                    max(0.0, pending["at"] - time.time()), self._complete, s["id"], pending["token"]
                )
        for image in self.store.find("image", status="saving"):
            if not image.get("_snapshot_of"):
                image["status"] = "queued"  # the upload died with the previous process
                self.store.put("image", image)

    def _complete(self, server_id: str, token: str) -> None:
        s = self.store.get("server", server_id)
        if s is None or not s.get("pending") or s["pending"]["token"] != token:
            return
        pending = s.pop("pending")
        getattr(self, f"_finish_{pending['op']}")(s, **pending["args"])

    def _finish_build(self, s: JSON, action: str, networks: Any, fail: str | None = None) -> None:
        if fail:
            s.update(vm_state="error", task_state=None, power_state=POWER["NOSTATE"])
            s["fault"] = {
                "code": 500,
                "message": fail,
                "created": now_iso(),
                "details": f"nova.exception.{fail}",
            }
            self._event(action, "conductor_schedule_and_build_instances", result="Error",
                        traceback=f"nova.exception.NoValidHost: {fail}")  # fmt: skip
            self._save(s)
            return
        try:
            self._attach_networks(s, networks)
        except ApiError as err:
            s.update(vm_state="error", task_state=None, power_state=POWER["NOSTATE"])
            s["fault"] = {"code": 500, "message": f"Build of instance {s['id']} aborted: {err.message}",
                          "created": now_iso(), "details": err.message}  # fmt: skip
            self._event(
                action,
                "compute__do_build_and_run_instance",
                result="Error",
                host=s["host"],
                traceback=err.message,
            )
            self._save(s)
            return
        s.update(vm_state="active", task_state=None, power_state=POWER["RUNNING"], launched_at=now_iso(micro=True),
                 progress=0)  # fmt: skip
        self._event(action, "conductor_schedule_and_build_instances", result="Success")
        self._event(action, "compute__do_build_and_run_instance", result="Success", host=s["host"])
        self._save(s)

    def _attach_networks(self, s: JSON, networks: Any) -> None:
        neutron = self.cloud.neutron
        if networks == "none":
            return
        if networks in (None, "auto"):
            candidates = [n for n in self.store.iter("network") if not n.get("router:external")
                          and (n["project_id"] == s["project_id"] or n.get("shared")) and n["subnets"]]  # fmt: skip
            if not candidates:
                return
            networks = [{"uuid": candidates[0]["id"]}]
        for spec in networks:
            if spec.get("port"):
                port = self.store.get("port", spec["port"])
                if port is None:
                    raise not_found(f"Port {spec['port']} could not be found.")
            else:
                network = self.store.get("network", spec["uuid"])
                if network is None:
                    raise not_found(f"Network {spec['uuid']} could not be found.")
                port = neutron.make_port(s["project_id"], network)
                s.setdefault("created_ports", []).append(port["id"])
            neutron.bind_port(port, s["id"], s["host"])
            s.setdefault("ports", []).append(port["id"])

    def _finish_simple(
        self, s: JSON, action: str, event: str, vm_state: str, power: str, **extra: Any
    ) -> None:
        s.update(vm_state=vm_state, task_state=None, power_state=POWER[power], **extra)
        self._event(action, event, result="Success", host=s.get("host"))
        self._save(s)

    def _finish_resize(self, s: JSON, action: str, flavor: JSON, fail: str | None = None) -> None:
        s.pop("new_flavor", None)
        if fail:
            # Nova's silent failure: back to the old flavor and state, an error event, no HTTP error.
            s.update(vm_state=s.pop("pre_resize_vm_state", "active"), task_state=None)
            s["power_state"] = POWER["RUNNING"] if s["vm_state"] == "active" else POWER["SHUTDOWN"]
            self._event(action, "compute_prep_resize", result="Error", host=s.get("host"),
                        traceback=f"Traceback (most recent call last):\nnova.exception.ResizeError: Resize error: {fail}",
                        details=f"Resize error: {fail}")  # fmt: skip
            self._save(s)
            return
        s["old_flavor"] = s["flavor"]
        s["flavor"] = flavor
        s.update(vm_state="resized", task_state=None)
        for event in ("compute_prep_resize", "compute_resize_instance", "compute_finish_resize"):
            self._event(action, event, result="Success", host=s.get("host"))
        self._save(s)

    def _finish_confirm(self, s: JSON, action: str) -> None:
        pre = s.pop("pre_resize_vm_state", "active")
        s.pop("old_flavor", None)
        s.update(
            vm_state=pre, task_state=None, power_state=POWER["RUNNING" if pre == "active" else "SHUTDOWN"]
        )
        self._event(action, "compute_confirm_resize", result="Success", host=s.get("host"))
        self._save(s)

    def _finish_revert(self, s: JSON, action: str) -> None:
        pre = s.pop("pre_resize_vm_state", "active")
        s["flavor"] = s.pop("old_flavor", s["flavor"])
        s.update(
            vm_state=pre, task_state=None, power_state=POWER["RUNNING" if pre == "active" else "SHUTDOWN"]
        )
        self._event(action, "compute_revert_resize", result="Success", host=s.get("host"))
        self._event(action, "compute_finish_revert_resize", result="Success", host=s.get("host"))
        self._save(s)

    def _finish_live_resize(self, s: JSON, action: str, flavor: JSON, fail: str | None = None) -> None:
        if fail:
            self._event(action, "compute_live_resize", result="Error", host=s.get("host"),
                        traceback=f"nova.exception.ResizeError: Resize error: {fail}", details=fail)  # fmt: skip
        else:
            s["flavor"] = flavor
            self._event(action, "compute_live_resize", result="Success", host=s.get("host"))
        s["task_state"] = None
        self._save(s)

    def _finish_snapshot(self, s: JSON, action: str, image_id: str) -> None:
        image = self.store.get("image", image_id)
        if image is not None:
            data = f"snapshot of {s['id']} at {now_iso()}\n".encode() * 64
            image.pop("_snapshot_of", None)
            self.cloud.glance.put_data(image, data)
        s["task_state"] = None
        self._event(action, "compute_snapshot_instance", result="Success", host=s.get("host"))
        self._save(s)

    def _finish_delete(self, s: JSON, action: str) -> None:
        self.cloud.neutron.release_server_ports(s["id"], s.get("created_ports", []))
        self._event(action, "compute_terminate_instance", result="Success", host=s.get("host"))
        self.store.delete("server", s["id"])

    # -- create / delete ---------------------------------------------------------------------------
    async def create_server(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/servers."""
        ctx = ctx_of(request)
        mv = self.mv(request)
        body = (await read_json(request)).get("server")
        if not isinstance(body, dict):
            raise bad_request("Invalid input for field/attribute server.")
        name = str(body.get("name") or "").strip()
        if not name:
            raise bad_request(
                "Invalid input for field/attribute name. Value: None. None is not of type 'string'"
            )
        flavor = self.store.get("flavor", str(body.get("flavorRef", "")).rsplit("/", 1)[-1])
        if flavor is None:
            raise bad_request(f"Flavor {body.get('flavorRef')} could not be found.")
        image_id = str(body.get("imageRef") or "").rsplit("/", 1)[-1]
        if not image_id:
            raise bad_request("Block Device Mapping is Invalid: Boot sequence for the instance and image/block "
                              "device mapping combination is not valid.")  # fmt: skip
        image = self.store.get("image", image_id)
        if image is None or not self.cloud.glance._visible(image, ctx):
            raise bad_request(f"Image {image_id} could not be found.")
        if image["status"] != "active":
            raise bad_request(f"Image {image_id} is not active.")
        if (
            flavor["ram"] < int(image.get("min_ram") or 0)
            or flavor["disk"]
            and flavor["disk"] < int(image.get("min_disk") or 0)
        ):
            raise bad_request("Flavor's memory or disk is too small for requested image.")
        networks = body.get("networks")
        if networks is None and mv >= (2, 37):
            raise bad_request(
                "Invalid input for field/attribute server. Value: ... 'networks' is a required property"
            )
        if isinstance(networks, list):
            for spec in networks:
                if not isinstance(spec, dict) or not (spec.get("uuid") or spec.get("port")):
                    raise bad_request("Bad networks format: network uuid is not in proper format")
                if spec.get("uuid") and self.store.get("network", spec["uuid"]) is None:
                    raise bad_request(f"Network {spec['uuid']} could not be found.")
                if spec.get("port"):
                    port = self.store.get("port", spec["port"])
                    if port is None:
                        raise bad_request(f"Port {spec['port']} could not be found.")
                    if port["device_id"]:
                        raise conflict(f"Port {spec['port']} is still in use.")
        elif networks not in (None, "auto", "none"):
            raise bad_request("Bad networks format")
        key_name = body.get("key_name")
        if key_name and self.store.get("keypair", f"{ctx.user_id}:{key_name}") is None:
            raise bad_request("Invalid key_name provided.")
        user_data = body.get("user_data")
        if user_data is not None:
            try:
                base64.b64decode(user_data, validate=True)
            except (binascii.Error, ValueError):
                raise bad_request("Invalid input for field/attribute user_data. Value: not base64.") from None
            if len(user_data) > 65535:
                raise bad_request(
                    "User data too large. User data must be no larger than 65535 bytes once base64 encoded."
                )
        zone, host, forced = self._placement_request(body, ctx, mv)
        self._check_quota(ctx.project_id, 1, flavor["vcpus"], flavor["ram"])
        await self.cloud.faults.hit("compute.create_server")

        fail = None
        if host is None or not forced:
            candidates = [
                h
                for h in self.store.all("host")
                if (zone in (None, h["zone"])) and (host in (None, h["name"]))
            ]
            fitting = [h for h in candidates if self._fits(h, flavor["vcpus"], flavor["ram"])]
            if fitting:
                best = max(fitting, key=lambda h: (h["memory_mb"] * self.cloud.ram_allocation_ratio
                                                   - self.host_usage(h["name"])["ram"], h["name"]))  # fmt: skip
                host = best["name"]
                zone = best["zone"]
            else:
                host = None
                fail = "No valid host was found. There are not enough hosts available."
        seq = self.store.next_int("instance_seq")
        ts = now_iso()
        admin_pass = body.get("adminPass") or password()
        s: JSON = {
            "id": new_id(),
            "name": name,
            "project_id": ctx.project_id,
            "user_id": ctx.user_id,
            "vm_state": "building",
            "task_state": "scheduling",
            "power_state": POWER["NOSTATE"],
            "status": "BUILD",
            "host": host,
            "zone": zone or (self._host(host)["zone"] if host and self._host(host) else "nova"),
            "pinned_zone": zone if body.get("availability_zone") else None,
            "image_id": image_id,
            "flavor": {
                k: flavor[k]
                for k in ("id", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "extra_specs")
            },
            "key_name": key_name,
            "metadata": {str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
            "user_data": user_data,
            "description": body.get("description"),
            "tags": list(body.get("tags") or []),
            "config_drive": bool(body.get("config_drive")),
            "disk_config": body.get("OS-DCF:diskConfig", "MANUAL"),
            "locked": False,
            "locked_reason": None,
            "created": ts,
            "updated": ts,
            "created_seq": seq,
            "instance_name": f"instance-{seq:08x}",
            "reservation_id": "r-" + secrets.token_hex(4),
            "launched_at": None,
            "cdrom": None,
            "ports": [],
            "created_ports": [],
        }
        if fail:
            s["task_state"] = "scheduling"
        else:
            s["task_state"] = "spawning"
        action = self._record(s, "create", ctx)
        self._event(action["id"], "conductor_schedule_and_build_instances", result=None)
        if not fail:
            self._event(action["id"], "compute__do_build_and_run_instance", result=None, host=host)
        self._schedule(s, "build", self.t.build, action=action["id"], networks=networks, fail=fail)
        headers = {"Location": f"{base_url(request)}{P}/servers/{s['id']}"}
        out: JSON = {"id": s["id"], "links": self._links(base_url(request), "servers", s["id"]),
                     "OS-DCF:diskConfig": s["disk_config"], "security_groups": [{"name": "default"}],
                     "adminPass": admin_pass}  # fmt: skip
        return json_response({"server": out}, status=202, headers=headers)

    def _placement_request(
        self, body: JSON, ctx: Context, mv: tuple[int, int]
    ) -> tuple[str | None, str | None, bool]:
        """Zone, host and whether the host is forced (``zone:host`` skips the capacity checks)."""
        az = body.get("availability_zone")
        zone, host, forced = None, None, False
        if az:
            zone_part, _, rest = str(az).partition(":")
            host_part = rest.split(":")[0] if rest else ""
            node_part = rest.split(":")[1] if rest.count(":") >= 1 else ""
            zone = zone_part or None
            if zone and not any(h["zone"] == zone for h in self.store.iter("host")):
                raise bad_request(f"The requested availability zone is not available: {zone}")
            if host_part or node_part:
                self._admin(ctx, "os_compute_api:servers:create:forced_host")
                host = host_part or node_part
                if self._host(host) is None:
                    raise bad_request(f"No valid host was found. Compute host {host} could not be found.")
                forced = True
        if body.get("host") or body.get("hypervisor_hostname"):
            if mv < (2, 74):
                raise bad_request(
                    "Additional properties are not allowed ('host', 'hypervisor_hostname' were unexpected)"
                )
            self._admin(ctx, "compute:servers:create:requested_destination")
            wanted = body.get("host") or body.get("hypervisor_hostname")
            if (
                body.get("host")
                and body.get("hypervisor_hostname")
                and body["host"] != body["hypervisor_hostname"]
            ):
                raise bad_request("Compute host and hypervisor hostname do not match.")
            if self._host(wanted) is None:
                raise bad_request(f"Compute host {wanted} could not be found.")
            host, forced = wanted, False
        return zone, host, forced

    async def delete_server(self, request: web.Request) -> web.Response:
        """DELETE /compute/v2.1/servers/{id}."""
        ctx = ctx_of(request)
        s = self._server(request.match_info["id"], ctx)
        self._check_lock(s, ctx)
        await self.cloud.faults.hit("compute.delete_server")
        action = self._record(s, "delete", ctx)
        s["task_state"] = "deleting"
        self._event(action["id"], "compute_terminate_instance", result=None, host=s.get("host"))
        self._schedule(s, "delete", self.t.delete, action=action["id"])
        return web.Response(status=204)

    # -- actions ---------------------------------------------------------------------------------------
    def _check_lock(self, s: JSON, ctx: Context) -> None:
        if s.get("locked") and not ctx.is_admin:
            raise conflict(f"Instance {s['id']} is locked")

    @staticmethod
    def _check_state(
        s: JSON, action: str, vm_states: tuple[str, ...], task_states: tuple[str | None, ...] = (None,)
    ) -> None:
        if s["vm_state"] not in vm_states:
            raise conflict(f"Cannot '{action}' instance {s['id']} while it is in vm_state {s['vm_state']}")
        if s["task_state"] not in task_states:
            raise conflict(
                f"Cannot '{action}' instance {s['id']} while it is in task_state {s['task_state']}"
            )

    async def server_action(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/servers/{id}/action."""
        ctx = ctx_of(request)
        s = self._server(request.match_info["id"], ctx)
        body = await read_json(request)
        if len(body) != 1:
            raise bad_request("There is either no action or more than one action in the request body.")
        name, args = next(iter(body.items()))
        handler = {
            "os-start": self._act_start, "os-stop": self._act_stop, "reboot": self._act_reboot,
            "resize": self._act_resize, "confirmResize": self._act_confirm, "revertResize": self._act_revert,
            "lock": self._act_lock, "unlock": self._act_unlock, "createImage": self._act_create_image,
            "os-getVNCConsole": self._act_vnc, "rescue": self._act_rescue, "unrescue": self._act_unrescue,
            "liveResize": self._act_live_resize, "attachCdrom": self._act_attach_cdrom,
            "detachCdrom": self._act_detach_cdrom, "pause": self._act_pause, "unpause": self._act_unpause,
            "suspend": self._act_suspend, "resume": self._act_resume, "changePassword": self._act_password,
            "os-resetState": self._act_reset_state, "os-getConsoleOutput": self._act_console_output,
        }.get(name)  # fmt: skip
        if VENDOR_ACTIONS.get(name, "") not in ("", *self.cloud.vendor_extensions):
            handler = None  # upstream Nova does not know the vendor's actions: 400
        if handler is None:
            raise bad_request(f"Unsupported server action {name!r}.")
        return await handler(request, ctx, s, args if isinstance(args, dict) else {})  # type: ignore[operator]

    async def _act_start(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "start", ("stopped",))
        await self.cloud.faults.hit("compute.start")
        action = self._record(s, "start", ctx)
        self._event(action["id"], "compute_start_instance", result=None, host=s.get("host"))
        s["task_state"] = "powering-on"
        self._schedule(s, "simple", self.t.start, action=action["id"], event="compute_start_instance",
                       vm_state="active", power="RUNNING")  # fmt: skip
        return web.Response(status=202)

    async def _act_stop(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "stop", ("active", "error", "rescued"))
        await self.cloud.faults.hit("compute.stop")
        action = self._record(s, "stop", ctx)
        self._event(action["id"], "compute_stop_instance", result=None, host=s.get("host"))
        s["task_state"] = "powering-off"
        self._schedule(s, "simple", self.t.stop, action=action["id"], event="compute_stop_instance",
                       vm_state="stopped", power="SHUTDOWN")  # fmt: skip
        return web.Response(status=202)

    async def _act_reboot(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        kind = str(args.get("type", "SOFT")).upper()
        if kind not in ("SOFT", "HARD"):
            raise bad_request("Invalid input for field/attribute type.")
        states = ("active",) if kind == "SOFT" else ("active", "stopped", "error", "paused", "suspended")
        self._check_state(s, "reboot", states, (None, "rebooting") if kind == "HARD" else (None,))
        await self.cloud.faults.hit("compute.reboot")
        action = self._record(s, "reboot", ctx)
        self._event(action["id"], "compute_reboot_instance", result=None, host=s.get("host"))
        s["task_state"] = "rebooting" if kind == "SOFT" else "rebooting_hard"
        self._schedule(s, "simple", self.t.reboot, action=action["id"], event="compute_reboot_instance",
                       vm_state="active", power="RUNNING")  # fmt: skip
        return web.Response(status=202)

    def _target_flavor(self, args: JSON) -> JSON:
        ref = str(args.get("flavorRef", "")).rsplit("/", 1)[-1]
        if not ref:
            raise bad_request("Invalid input for field/attribute flavorRef.")
        flavor = self.store.get("flavor", ref)
        if flavor is None:
            raise bad_request(f"Flavor {ref} could not be found.")
        return {
            k: flavor[k] for k in ("id", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "extra_specs")
        }

    async def _act_resize(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "resize", ("active", "stopped"))
        new = self._target_flavor(args)
        old = s["flavor"]
        if new["id"] == old["id"]:
            raise bad_request("When resizing, instances must change flavor!")
        if new["disk"] < old["disk"] and new["disk"] != 0:
            raise bad_request("Resize error: Unable to resize disk down.")
        self._check_quota(s["project_id"], 0, new["vcpus"] - old["vcpus"], new["ram"] - old["ram"])
        fault = await self.cloud.faults.hit("compute.resize")
        action = self._record(s, "resize", ctx)
        self._event(action["id"], "conductor_migrate_server", result="Success")
        self._event(action["id"], "compute_prep_resize", result=None, host=s.get("host"))
        fail = None
        if fault is not None and fault.mode == "silent":
            fail = fault.message or "injected fault (silent)"
        else:
            host = self._host(s.get("host") or "")
            if host is None or not self._fits(host, new["vcpus"], new["ram"]):
                fail = "No valid host was found. There are not enough hosts available."
        s["pre_resize_vm_state"] = s["vm_state"]
        s["task_state"] = "resize_migrating"
        s["new_flavor"] = new
        self._schedule(s, "resize", self.t.resize, action=action["id"], flavor=new, fail=fail)
        return web.Response(status=202)

    async def _act_confirm(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "confirmResize", ("resized",))
        await self.cloud.faults.hit("compute.confirm_resize")
        action = self._record(s, "confirmResize", ctx)
        self._event(action["id"], "compute_confirm_resize", result=None, host=s.get("host"))
        # Nova answers 204; the server leaves VERIFY_RESIZE once the compute host has confirmed.
        self._schedule(s, "confirm", self.t.confirm, action=action["id"])
        return web.Response(status=204)

    async def _act_revert(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "revertResize", ("resized",))
        await self.cloud.faults.hit("compute.revert_resize")
        action = self._record(s, "revertResize", ctx)
        self._event(action["id"], "compute_revert_resize", result=None, host=s.get("host"))
        s["task_state"] = "resize_reverting"
        self._schedule(s, "revert", self.t.revert, action=action["id"])
        return web.Response(status=202)

    async def _act_live_resize(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "liveResize", ("active",))
        new = self._target_flavor(args)
        old = s["flavor"]
        if not as_bool(old["extra_specs"].get("hw:live_resize", "false")):
            raise conflict(f"Cannot 'liveResize' instance {s['id']}: its flavor {old['name']} has no extra spec "
                           "hw:live_resize=true")  # fmt: skip
        if new["id"] == old["id"]:
            raise bad_request("When resizing, instances must change flavor!")
        if new["vcpus"] < old["vcpus"] or new["ram"] < old["ram"] or new["disk"] < old["disk"]:
            raise bad_request("Live resize can only grow vCPUs, RAM and disk.")
        self._check_quota(s["project_id"], 0, new["vcpus"] - old["vcpus"], new["ram"] - old["ram"])
        host = self._host(s.get("host") or "")
        if host is None or not self._fits(host, new["vcpus"] - old["vcpus"], new["ram"] - old["ram"]):
            raise conflict(f"Not enough free vCPU or RAM on host {s.get('host')} for a live resize.")
        fault = await self.cloud.faults.hit("compute.live_resize")
        fail = (
            (fault.message or "injected fault (silent)")
            if fault is not None and fault.mode == "silent"
            else None
        )
        action = self._record(s, "liveResize", ctx)
        self._event(action["id"], "compute_live_resize", result=None, host=s.get("host"))
        s["task_state"] = "live_resizing"
        self._schedule(s, "live_resize", self.t.live_resize, action=action["id"], flavor=new, fail=fail)
        return web.Response(status=202)

    async def _act_lock(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        await self.cloud.faults.hit("compute.lock")
        reason = args.get("locked_reason") if self.mv(request) >= (2, 73) else None
        if reason is not None and self.mv(request) < (2, 73):
            raise bad_request("locked_reason needs microversion 2.73")
        self._record(s, "lock", ctx)
        s.update(locked=True, locked_reason=reason, locked_by="admin" if ctx.is_admin else "owner")
        self._save(s)
        return web.Response(status=202)

    async def _act_unlock(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        await self.cloud.faults.hit("compute.unlock")
        if s.get("locked_by") == "admin" and not ctx.is_admin:
            raise forbidden(
                "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed."
            )
        self._record(s, "unlock", ctx)
        s.update(locked=False, locked_reason=None, locked_by=None)
        self._save(s)
        return web.Response(status=202)

    async def _act_create_image(
        self, request: web.Request, ctx: Context, s: JSON, args: JSON
    ) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "createImage", ("active", "stopped", "paused", "suspended"))
        name = str(args.get("name") or "").strip()
        if not name:
            raise bad_request("Invalid input for field/attribute name.")
        await self.cloud.faults.hit("compute.create_image")
        base_image = self.store.get("image", s["image_id"]) or {}
        props = {k: v for k, v in base_image.items() if k.startswith(("os_", "hw_")) and k not in ("os_hash_algo",
                 "os_hash_value", "os_hidden")}  # fmt: skip
        props.update({str(k): str(v) for k, v in (args.get("metadata") or {}).items()})
        image = self.cloud.glance.new_image(
            s["project_id"], name=name, disk_format=base_image.get("disk_format") or "qcow2",
            container_format="bare", visibility="private", image_type="snapshot", instance_uuid=s["id"],
            base_image_ref=s["image_id"], user_id=ctx.user_id, min_disk=s["flavor"]["disk"],
            min_ram=int(base_image.get("min_ram") or 0), _snapshot_of=s["id"], **props,
        )  # fmt: skip
        image["status"] = "saving"
        self.store.put("image", image)
        action = self._record(s, "createImage", ctx)
        self._event(action["id"], "compute_snapshot_instance", result=None, host=s.get("host"))
        s["task_state"] = "image_uploading"
        self._schedule(s, "snapshot", self.t.snapshot, action=action["id"], image_id=image["id"])
        location = f"{base_url(request)}/image/v2/images/{image['id']}"
        body = {"image_id": image["id"]} if self.mv(request) >= (2, 45) else None
        if body is None:
            return web.Response(status=202, headers={"Location": location})
        return json_response(body, status=202)

    def _console_url(self, request: web.Request, s: JSON, kind: str) -> str:
        if s["vm_state"] != "active":
            raise conflict(f"Instance {s['id']} is not ready")
        token = secrets.token_hex(16)
        return f"{base_url(request)}/vnc_auto.html?path=%3Ftoken%3D{token}&server={s['id']}&type={kind}"

    async def _act_vnc(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        kind = args.get("type", "novnc")
        if kind not in ("novnc", "xvpvnc"):
            raise bad_request("Invalid input for field/attribute type.")
        return json_response({"console": {"type": kind, "url": self._console_url(request, s, kind)}})

    async def _act_console_output(
        self, request: web.Request, ctx: Context, s: JSON, args: JSON
    ) -> web.Response:
        raw = args.get("length")
        try:
            length = None if raw is None else int(raw)
        except (TypeError, ValueError):
            raise bad_request("Invalid input for field/attribute length.") from None
        if length is not None and length < -1:
            raise bad_request("Invalid input for field/attribute length.")
        if not s.get("launched_at"):
            raise conflict(f"Instance {s['id']} is not ready")
        lines = console_lines(s, self.t.build)
        if length is not None and length >= 0:
            lines = lines[-length:] if length else []
        return json_response({"output": "".join(line + "\n" for line in lines)})

    async def remote_console(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/servers/{id}/remote-consoles."""
        ctx = ctx_of(request)
        if self.mv(request) < (2, 6):
            raise not_found("The resource could not be found.")
        s = self._server(request.match_info["id"], ctx)
        body = (await read_json(request)).get("remote_console") or {}
        protocol, kind = body.get("protocol", "vnc"), body.get("type", "novnc")
        if protocol not in ("vnc", "spice", "serial", "rdp", "mks"):
            raise bad_request("Invalid input for field/attribute protocol.")
        if protocol == "serial":
            if kind != "serial":
                raise bad_request("Invalid input for field/attribute type.")
            if s["vm_state"] != "active":
                raise conflict(f"Instance {s['id']} is not ready")
            host = request.url.host or "127.0.0.1"
            url = f"ws://{host}:6083/?token={secrets.token_hex(16)}"
        else:
            url = self._console_url(request, s, kind)
        return json_response({"remote_console": {"protocol": protocol, "type": kind, "url": url}})

    async def vnc_page(self, request: web.Request) -> web.Response:
        """GET /vnc_auto.html."""
        server = html_escape(request.query.get("server", ""))
        return web.Response(
            text=f"<html><body><h1>Dev cloud console</h1><p>Server {server}: this is a stand-in for noVNC.</p>"
            "</body></html>",
            content_type="text/html",
        )

    async def _act_rescue(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "rescue", ("active", "stopped", "error"))
        await self.cloud.faults.hit("compute.rescue")
        ref = args.get("rescue_image_ref")
        stable = False
        if ref:
            image = self.store.get("image", str(ref))
            if image is None or not self.cloud.glance._visible(image, ctx):
                raise bad_request(f"Image {ref} could not be found.")
            stable = bool(image.get("hw_rescue_device") or image.get("hw_rescue_bus"))
        action = self._record(s, "rescue", ctx)
        self._event(action["id"], "compute_rescue_instance", result=None, host=s.get("host"))
        s["task_state"] = "rescuing"
        s["rescue"] = {"image": ref or s["image_id"], "stable": stable,
                       "device": (self.store.get("image", str(ref)) or {}).get("hw_rescue_device") if ref else None}  # fmt: skip
        self._schedule(s, "simple", self.t.rescue, action=action["id"], event="compute_rescue_instance",
                       vm_state="rescued", power="RUNNING")  # fmt: skip
        return json_response({"adminPass": args.get("adminPass") or password()})

    async def _act_unrescue(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "unrescue", ("rescued",))
        await self.cloud.faults.hit("compute.unrescue")
        action = self._record(s, "unrescue", ctx)
        self._event(action["id"], "compute_unrescue_instance", result=None, host=s.get("host"))
        s["task_state"] = "unrescuing"
        self._schedule(s, "simple", self.t.rescue, action=action["id"], event="compute_unrescue_instance",
                       vm_state="active", power="RUNNING", rescue=None)  # fmt: skip
        return web.Response(status=202)

    async def _act_attach_cdrom(
        self, request: web.Request, ctx: Context, s: JSON, args: JSON
    ) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "attachCdrom", ("active", "stopped"))
        iso = str(args.get("iso") or "").strip()
        if not iso or "/" in iso or iso.startswith("."):
            raise bad_request(
                "Invalid input for field/attribute iso: a file name of the ISO share is required."
            )
        if not (self.cloud.iso_dir / iso).is_file():
            raise not_found(f"ISO file {iso} could not be found on the ISO share.")
        if s.get("cdrom"):
            raise conflict(
                f"Instance {s['id']} already has ISO {s['cdrom']['iso']} mounted; detach it first."
            )
        await self.cloud.faults.hit("compute.attach_cdrom")
        action = self._record(s, "attachCdrom", ctx)
        s["cdrom"] = {"iso": iso, "device": "/dev/cdrom", "attached_at": now_iso()}
        self._event(action["id"], "compute_attach_cdrom", result="Success", host=s.get("host"))
        self._save(s)
        return json_response({"cdrom": s["cdrom"]}, status=202)

    async def _act_detach_cdrom(
        self, request: web.Request, ctx: Context, s: JSON, args: JSON
    ) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "detachCdrom", ("active", "stopped"))
        if not s.get("cdrom"):
            raise conflict(f"Instance {s['id']} has no ISO mounted.")
        await self.cloud.faults.hit("compute.detach_cdrom")
        action = self._record(s, "detachCdrom", ctx)
        s["cdrom"] = None
        self._event(action["id"], "compute_detach_cdrom", result="Success", host=s.get("host"))
        self._save(s)
        return web.Response(status=202)

    async def server_cdrom(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}/os-cdrom."""
        ctx = ctx_of(request)
        s = self._server(request.match_info["id"], ctx)
        return json_response({"cdrom": s.get("cdrom")})

    async def _simple_toggle(
        self, ctx: Context, s: JSON, action: str, from_state: str, to_state: str, power: str
    ) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, action, (from_state,))
        await self.cloud.faults.hit(f"compute.{action}")
        self._record(s, action, ctx)
        s.update(vm_state=to_state, task_state=None, power_state=POWER[power])
        self._save(s)
        return web.Response(status=202)

    async def _act_pause(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        return await self._simple_toggle(ctx, s, "pause", "active", "paused", "PAUSED")

    async def _act_unpause(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        return await self._simple_toggle(ctx, s, "unpause", "paused", "active", "RUNNING")

    async def _act_suspend(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        return await self._simple_toggle(ctx, s, "suspend", "active", "suspended", "SUSPENDED")

    async def _act_resume(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        return await self._simple_toggle(ctx, s, "resume", "suspended", "active", "RUNNING")

    async def _act_password(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "changePassword", ("active",))
        if not args.get("adminPass"):
            raise bad_request("Invalid input for field/attribute adminPass.")
        self._record(s, "changePassword", ctx)
        return web.Response(status=202)

    async def _act_reset_state(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._admin(ctx, "os_compute_api:os-admin-actions:reset_state")
        state = args.get("state")
        if state not in ("active", "error"):
            raise bad_request("Invalid input for field/attribute state.")
        s.pop("pending", None)
        s.update(vm_state=state, task_state=None)
        self._record(s, "resetState", ctx)
        self._save(s)
        return web.Response(status=202)

    # -- metadata, ips, interfaces ---------------------------------------------------------------
    async def get_metadata(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}/metadata."""
        s = self._server(request.match_info["id"], ctx_of(request))
        return json_response({"metadata": s["metadata"]})

    async def update_metadata(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/servers/{id}/metadata."""
        ctx = ctx_of(request)
        s = self._server(request.match_info["id"], ctx)
        self._check_lock(s, ctx)
        meta = (await read_json(request)).get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("Malformed request body: metadata must be an object")
        s["metadata"].update({str(k): str(v) for k, v in meta.items()})
        self._save(s)
        return json_response({"metadata": s["metadata"]})

    async def replace_metadata(self, request: web.Request) -> web.Response:
        """PUT /compute/v2.1/servers/{id}/metadata."""
        ctx = ctx_of(request)
        s = self._server(request.match_info["id"], ctx)
        self._check_lock(s, ctx)
        meta = (await read_json(request)).get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("Malformed request body: metadata must be an object")
        s["metadata"] = {str(k): str(v) for k, v in meta.items()}
        self._save(s)
        return json_response({"metadata": s["metadata"]})

    async def server_ips(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}/ips."""
        s = self._server(request.match_info["id"], ctx_of(request))
        addresses = self.cloud.neutron.addresses(s["id"])
        return json_response({"addresses": {n: [{"version": a["version"], "addr": a["addr"]} for a in v]
                                            for n, v in addresses.items()}})  # fmt: skip

    async def server_interfaces(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}/os-interface."""
        s = self._server(request.match_info["id"], ctx_of(request))
        out = [
            {"port_id": p["id"], "net_id": p["network_id"], "mac_addr": p["mac_address"], "port_state": p["status"],
             "fixed_ips": p["fixed_ips"]}
            for p in self.store.find("port", device_id=s["id"])
        ]  # fmt: skip
        return json_response({"interfaceAttachments": out})

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
        hosts, links = (
            self._paginate(hosts, request, "hypervisors") if self.mv(request) >= (2, 33) else (hosts, [])
        )
        detail = request.path.endswith("/detail")
        body: JSON = {"hypervisors": [self._render_hypervisor(h, request, detail) for h in hosts]}
        if links:
            body["hypervisors_links"] = links
        return json_response(body)

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

    # -- keypairs -------------------------------------------------------------------------------------
    def _render_keypair(self, k: JSON, request: web.Request, full: bool) -> JSON:
        out = {"name": k["name"], "public_key": k["public_key"], "fingerprint": k["fingerprint"]}
        if self.mv(request) >= (2, 2):
            out["type"] = k["type"]
        if full:
            out.update(user_id=k["user_id"], created_at=k["created_at"], deleted=False, deleted_at=None,
                       updated_at=None, id=k["int_id"])  # fmt: skip
        return out

    async def list_keypairs(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-keypairs."""
        ctx = ctx_of(request)
        user = request.query.get("user_id") if ctx.is_admin else None
        keys = [k for k in self.store.iter("keypair") if k["user_id"] == (user or ctx.user_id)]
        return json_response(
            {"keypairs": [{"keypair": self._render_keypair(k, request, False)} for k in keys]}
        )

    async def show_keypair(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-keypairs/{name}."""
        ctx = ctx_of(request)
        k = self.store.get("keypair", f"{ctx.user_id}:{request.match_info['name']}")
        if k is None:
            raise not_found(f"Keypair {request.match_info['name']} not found for user {ctx.user_id}")
        return json_response({"keypair": self._render_keypair(k, request, True)})

    async def delete_keypair(self, request: web.Request) -> web.Response:
        """DELETE /compute/v2.1/os-keypairs/{name}."""
        ctx = ctx_of(request)
        if not self.store.delete("keypair", f"{ctx.user_id}:{request.match_info['name']}"):
            raise not_found(f"Keypair {request.match_info['name']} not found for user {ctx.user_id}")
        return web.Response(status=202 if self.mv(request) < (2, 2) else 204)

    async def create_keypair(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/os-keypairs."""
        ctx = ctx_of(request)
        mv = self.mv(request)
        body = (await read_json(request)).get("keypair")
        if not isinstance(body, dict):
            raise bad_request("Invalid input for field/attribute keypair.")
        name = str(body.get("name") or "")
        if not name or len(name) > 255 or not re.fullmatch(r"[A-Za-z0-9 _.@-]+", name):
            raise bad_request("Keypair data is invalid: Keypair name contains unsafe characters")
        if self.store.get("keypair", f"{ctx.user_id}:{name}"):
            raise conflict(f"Key pair '{name}' already exists.")
        limit = self.cloud.neutron.quota(ctx.project_id)["key_pairs"]
        if sum(1 for k in self.store.iter("keypair") if k["user_id"] == ctx.user_id) >= limit >= 0:
            raise forbidden("Quota exceeded, too many key pairs.")
        public_key = body.get("public_key")
        private_key = None
        if not public_key:
            if mv >= (2, 92):
                raise bad_request(
                    "Invalid input for field/attribute keypair. 'public_key' is a required property"
                )
            public_key, private_key = _generate_keypair(name)
        try:
            blob = base64.b64decode(str(public_key).split()[1])
        except (IndexError, binascii.Error, ValueError):
            raise bad_request("Keypair data is invalid: failed to generate fingerprint") from None
        digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
        k = {
            "id": f"{ctx.user_id}:{name}",
            "int_id": self.store.next_int("keypair_seq"),
            "name": name,
            "user_id": ctx.user_id,
            "public_key": str(public_key).strip(),
            "fingerprint": ":".join(digest[i : i + 2] for i in range(0, 32, 2)),
            "type": body.get("type", "ssh"),
            "created_at": now_iso(micro=True),
        }
        self.store.put("keypair", k)
        out = self._render_keypair(k, request, False)
        out["user_id"] = ctx.user_id
        if private_key:
            out["private_key"] = private_key
        return json_response({"keypair": out}, status=201 if mv >= (2, 2) else 200)

    # -- quotas and limits ------------------------------------------------------------------------------
    QUOTA_NOVA = (
        "instances",
        "cores",
        "ram",
        "key_pairs",
        "metadata_items",
        "server_groups",
        "server_group_members",
    )
    QUOTA_OLD = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")

    def _quota_keys(self, request: web.Request) -> tuple[str, ...]:
        return self.QUOTA_NOVA + (self.QUOTA_OLD if self.mv(request) < (2, 57) else ())

    async def show_quota(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-quota-sets/{project}, GET /compute/v2.1/os-quota-sets/{project}/detail."""
        ctx = ctx_of(request)
        project = request.match_info["project"]
        if project != ctx.project_id and not ctx.is_admin:
            raise forbidden("Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.")
        limits = self.cloud.neutron.quota(project)
        detail = request.path.endswith("/detail") or as_bool(request.query.get("usage", "false"))
        used = self.project_usage(project)
        keys_used = sum(1 for k in self.store.iter("keypair") if k["user_id"] == ctx.user_id)
        out: JSON = {"id": project}
        for key in self._quota_keys(request):
            if detail:
                in_use = used.get(key, keys_used if key == "key_pairs" else 0)
                out[key] = {"limit": limits[key], "in_use": in_use, "reserved": 0}
            else:
                out[key] = limits[key]
        return json_response({"quota_set": out})

    async def show_quota_defaults(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-quota-sets/{project}/defaults."""
        ctx_of(request)
        from .seed import DEFAULT_QUOTAS

        return json_response({"quota_set": {"id": request.match_info["project"],
                                            **{k: DEFAULT_QUOTAS[k] for k in self._quota_keys(request)}}})  # fmt: skip

    async def update_quota(self, request: web.Request) -> web.Response:
        """PUT /compute/v2.1/os-quota-sets/{project}."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-quota-sets:update")
        project = request.match_info["project"]
        body = (await read_json(request)).get("quota_set")
        if not isinstance(body, dict):
            raise bad_request("Invalid input for field/attribute quota_set.")
        doc = self.store.get("quota", project) or {"id": project}
        for key, value in body.items():
            if key == "force":
                continue
            if key not in self._quota_keys(request):
                raise bad_request(f"Additional properties are not allowed ('{key}' was unexpected)")
            doc[key] = int(value)
        self.store.put("quota", doc)
        limits = self.cloud.neutron.quota(project)
        return json_response({"quota_set": {k: limits[k] for k in self._quota_keys(request)}})

    async def limits(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/limits."""
        ctx = ctx_of(request)
        project = request.query.get("tenant_id") if ctx.is_admin else None
        project = project or ctx.project_id
        limits = self.cloud.neutron.quota(project)
        used = self.project_usage(project)
        mv = self.mv(request)
        absolute: JSON = {
            "maxTotalCores": limits["cores"],
            "maxTotalInstances": limits["instances"],
            "maxTotalRAMSize": limits["ram"],
            "maxTotalKeypairs": limits["key_pairs"],
            "maxServerMeta": limits["metadata_items"],
            "maxServerGroups": limits["server_groups"],
            "maxServerGroupMembers": limits["server_group_members"],
            "totalCoresUsed": used["cores"],
            "totalInstancesUsed": used["instances"],
            "totalRAMUsed": used["ram"],
            "totalServerGroupsUsed": 0,
        }
        if mv < (2, 57):
            absolute.update(
                maxPersonality=limits["injected_files"],
                maxPersonalitySize=limits["injected_file_content_bytes"],
            )
        if mv < (2, 39):
            absolute["maxImageMeta"] = 128
        if mv < (2, 36):
            fips = sum(1 for f in self.store.iter("floatingip") if f["project_id"] == project)
            absolute.update(maxTotalFloatingIps=limits["floatingip"], totalFloatingIpsUsed=fips, maxSecurityGroups=10,
                            maxSecurityGroupRules=20, totalSecurityGroupsUsed=1)  # fmt: skip
        return json_response({"limits": {"rate": [], "absolute": absolute}})


CONSOLE_MAX_TICKS = 20_000
"""The console log stops growing after this many heartbeat lines (a bounded dev cloud)."""


def console_lines(s: JSON, tick: float) -> list[str]:
    """The server's console log: boot and cloud-init lines, then a heartbeat line per `tick` seconds of age.

    Deterministic from the server's name, id and age (since `launched_at`; up to `updated` when the server
    is not ACTIVE, so a stopped server's log stops growing).
    """
    import datetime as dt

    name, sid = str(s.get("name", "")), str(s["id"])
    lines = [
        "[    0.000000] Linux version 5.15.0-devcloud (builder@devcloud) #1 SMP",
        f"[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=LABEL=cloudimg-rootfs console=ttyS0 uuid={sid}",
        "[    0.412000] Run /sbin/init as init process",
        "[    1.020000] systemd[1]: Reached target Basic System.",
        f"[    2.100000] cloud-init[412]: Cloud-init v. 23.1 running 'init' (instance {sid})",
        f"[    2.200000] cloud-init[412]: hostname: {name}",
        "[    2.900000] cloud-init[412]: Cloud-init v. 23.1 running 'modules:final'",
        f"[    3.000000] cloud-init[412]: Cloud-init v. 23.1 finished; datasource DataSourceOpenStack [{name}]",
        f"{name} login: ",
    ]
    try:
        start = dt.datetime.fromisoformat(str(s["launched_at"])).replace(tzinfo=dt.UTC)
    except (KeyError, TypeError, ValueError):
        return lines
    end = dt.datetime.now(dt.UTC)
    updated = str(s.get("updated") or "").rstrip("Z")
    if s.get("vm_state") != "active" and updated[:4].isdigit():
        end = min(end, dt.datetime.fromisoformat(updated).replace(tzinfo=dt.UTC))
    ticks = min(CONSOLE_MAX_TICKS, max(0, int((end - start).total_seconds() / max(tick, 0.05))))
    step = max(tick, 0.05)
    lines.extend(
        f"[{3 + n * step:12.6f}] devcloud-agent: heartbeat {n} of {name}" for n in range(1, ticks + 1)
    )
    return lines


def html_escape(text: str) -> str:
    """Escape text for the console stand-in page."""
    import html

    return html.escape(text)


def _generate_keypair(name: str) -> tuple[str, str]:
    """An ed25519 key pair in OpenSSH format (Nova before 2.92 generates one when no public key is given)."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - cryptography is an ectui dependency
        raise bad_request("Key generation is unavailable; pass public_key") from None
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return f"{public} {name}", private
