"""Servers: create, list, show, update, delete; metadata, addresses and interfaces."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from typing import Any

from aiohttp import web

from ..api import Context, base_url, ctx_of, json_response, read_json, read_member
from ..core import JSON, as_bool, new_id, now_iso
from ..errors import ApiError, bad_request, conflict, not_found
from .common import POWER, NovaBase, P, password


class ServersMixin(NovaBase):
    """Server routes and the build and delete transitions."""

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
            "addresses": self.neutron.addresses(s["id"]),
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
                for addrs in self.neutron.addresses(s["id"]).values()
                for a in addrs
            ):
                continue
            servers.append(s)
        key = q.get("sort_key", "created_at")
        key = {"created_at": "created", "updated_at": "updated", "display_name": "name"}.get(key, key)
        servers.sort(
            key=lambda s: (str(s.get(key, "")), s["created_seq"]), reverse=q.get("sort_dir", "desc") != "asc"
        )
        servers, links = self._paginate(servers, request)
        if request.path.endswith("/detail"):
            items = [self.render_server(s, request, ctx) for s in servers]
        else:
            items = [{"id": s["id"], "name": s["name"], "links": self._links(base_url(request), "servers", s["id"])}
                     for s in servers]  # fmt: skip
        return self._listing("servers", items, links)

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

    # -- create / delete ---------------------------------------------------------------------------
    async def create_server(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/servers."""
        ctx = ctx_of(request)
        mv = self.mv(request)
        body = await read_member(request, "server")
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
        if image is None or not self.glance.visible(image, ctx):
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
            "zone": zone or (found["zone"] if host and (found := self._host(host)) else "nova"),
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
            wanted = str(body.get("host") or body.get("hypervisor_hostname"))
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
        neutron = self.neutron
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

    def _finish_delete(self, s: JSON, action: str) -> None:
        self.neutron.release_server_ports(s["id"], s.get("created_ports", []))
        self._event(action, "compute_terminate_instance", result="Success", host=s.get("host"))
        self.store.delete("server", s["id"])

    # -- metadata, ips, interfaces ---------------------------------------------------------------
    async def get_metadata(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}/metadata."""
        s = self._server(request.match_info["id"], ctx_of(request))
        return json_response({"metadata": s["metadata"]})

    async def update_metadata(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/servers/{id}/metadata: add or change the given items."""
        return await self._write_metadata(request, replace=False)

    async def replace_metadata(self, request: web.Request) -> web.Response:
        """PUT /compute/v2.1/servers/{id}/metadata: the given items become the whole metadata."""
        return await self._write_metadata(request, replace=True)

    async def _write_metadata(self, request: web.Request, *, replace: bool) -> web.Response:
        ctx = ctx_of(request)
        s = self._server(request.match_info["id"], ctx)
        self._check_lock(s, ctx)
        meta = await read_member(request, "metadata", "Malformed request body: metadata must be an object")
        items = {str(k): str(v) for k, v in meta.items()}
        if replace:
            s["metadata"] = items
        else:
            s["metadata"].update(items)
        self._save(s)
        return json_response({"metadata": s["metadata"]})

    async def server_ips(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}/ips."""
        s = self._server(request.match_info["id"], ctx_of(request))
        addresses = self.neutron.addresses(s["id"])
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
