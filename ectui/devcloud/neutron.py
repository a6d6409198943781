"""Neutron v2.0 subset: networks, subnets, ports, floating IPs and quotas."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from aiohttp import web

from .api import Context, base_url, ctx_of, json_response, read_json, read_member
from .base import ServiceApp
from .core import JSON, as_bool, new_id, now_iso
from .defaults import DEFAULT_QUOTAS
from .errors import ApiError, bad_request, conflict, forbidden

COLLECTIONS = {"networks": "network", "subnets": "subnet", "ports": "port", "floatingips": "floatingip"}
QUOTA_KEYS = ("floatingip", "network", "subnet", "port", "router", "security_group", "security_group_rule")


class Neutron(ServiceApp):
    """Network service over the shared store (Nova creates and deletes server ports here)."""

    def add_routes(self, app: web.Application) -> None:
        """Register the network routes."""
        r = app.router
        r.add_get("/network", self.versions)
        r.add_get("/network/", self.versions)
        r.add_get("/network/v2.0", self.version)
        r.add_get("/network/v2.0/", self.version)
        r.add_get("/network/v2.0/extensions", self.extensions)
        for plural, kind in COLLECTIONS.items():
            r.add_get(f"/network/v2.0/{plural}", self._bind(self.list, plural, kind))
            r.add_post(f"/network/v2.0/{plural}", self._bind(self.create, plural, kind))
            r.add_get(f"/network/v2.0/{plural}/{{id}}", self._bind(self.show, plural, kind))
            r.add_put(f"/network/v2.0/{plural}/{{id}}", self._bind(self.update, plural, kind))
            r.add_delete(f"/network/v2.0/{plural}/{{id}}", self._bind(self.delete, plural, kind))
        r.add_get("/network/v2.0/quotas", self.list_quotas)
        r.add_get("/network/v2.0/quotas/{project}", self.show_quota)
        r.add_get("/network/v2.0/quotas/{project}/details", self.show_quota_details)
        r.add_get("/network/v2.0/quotas/{project}/default", self.show_quota_default)
        r.add_put("/network/v2.0/quotas/{project}", self.update_quota)

    @staticmethod
    def _bind(fn: Any, plural: str, kind: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return await fn(request, plural, kind)

        return handler

    # -- helpers for seeding and Nova -------------------------------------------------------
    def make_network(self, project: str, name: str, *, external: bool = False, shared: bool = False) -> JSON:
        """Create and store a network."""
        ts = now_iso()
        return self.store.put(
            "network",
            {
                "id": new_id(),
                "name": name,
                "project_id": project,
                "tenant_id": project,
                "status": "ACTIVE",
                "admin_state_up": True,
                "shared": shared,
                "router:external": external,
                "subnets": [],
                "mtu": 1450 if not external else 1500,
                "provider:network_type": "flat" if external else "vxlan",
                "provider:physical_network": "public" if external else None,
                "provider:segmentation_id": None if external else random.randint(100, 4000),
                "availability_zones": ["nova"],
                "availability_zone_hints": [],
                "port_security_enabled": True,
                "is_default": external,
                "description": "",
                "tags": [],
                "ipv4_address_scope": None,
                "ipv6_address_scope": None,
                "created_at": ts,
                "updated_at": ts,
                "revision_number": 1,
            },
        )

    def make_subnet(self, network: JSON, name: str, cidr: str, *, gateway: str | None = None) -> JSON:
        """Create and store an IPv4 subnet of `network`."""
        net = ipaddress.ip_network(cidr, strict=False)
        hosts = list(net.hosts())
        if len(hosts) < 3:
            raise bad_request(f"Subnet {cidr} is too small")
        gateway_ip = gateway or str(hosts[0])
        ts = now_iso()
        subnet = self.store.put(
            "subnet",
            {
                "id": new_id(),
                "name": name,
                "network_id": network["id"],
                "project_id": network["project_id"],
                "tenant_id": network["project_id"],
                "cidr": str(net),
                "ip_version": net.version,
                "gateway_ip": gateway_ip,
                "allocation_pools": [{"start": str(hosts[1]), "end": str(hosts[-1])}],
                "enable_dhcp": True,
                "dns_nameservers": [],
                "host_routes": [],
                "ipv6_address_mode": None,
                "ipv6_ra_mode": None,
                "subnetpool_id": None,
                "service_types": [],
                "description": "",
                "tags": [],
                "created_at": ts,
                "updated_at": ts,
                "revision_number": 0,
            },
        )
        network["subnets"].append(subnet["id"])
        self.store.put("network", network)
        return subnet

    def _used_ips(self, subnet: JSON) -> set[str]:
        used = {subnet["gateway_ip"]}
        for port in self.store.iter("port"):
            for fixed in port["fixed_ips"]:
                if fixed["subnet_id"] == subnet["id"]:
                    used.add(fixed["ip_address"])
        for fip in self.store.iter("floatingip"):
            if fip.get("_subnet_id") == subnet["id"]:
                used.add(fip["floating_ip_address"])
        return used

    def allocate_ip(self, network: JSON) -> tuple[JSON, str]:
        """A free address on the network's first subnet with room; 409 when exhausted."""
        for subnet_id in network["subnets"]:
            subnet = self.store.get("subnet", subnet_id)
            if subnet is None:
                continue
            used = self._used_ips(subnet)
            for pool in subnet["allocation_pools"]:
                start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
                addr = start
                while int(addr) <= int(end):
                    if str(addr) not in used:
                        return subnet, str(addr)
                    addr += 1
        raise ApiError(
            409,
            f"No more IP addresses available on network {network['id']}.",
            kind="IpAddressGenerationFailure",
        )

    def make_port(self, ctx_project: str, network: JSON, **fields: Any) -> JSON:
        """Create and store a port with one fixed IP on `network`."""
        self._check_quota(ctx_project, "port", 1)
        subnet, ip = self.allocate_ip(network)
        ts = now_iso()
        mac = "fa:16:3e:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))
        port = {
            "id": new_id(),
            "name": "",
            "network_id": network["id"],
            "project_id": ctx_project,
            "tenant_id": ctx_project,
            "mac_address": mac,
            "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": ip}],
            "device_id": "",
            "device_owner": "",
            "status": "DOWN",
            "admin_state_up": True,
            "binding:host_id": "",
            "binding:vif_type": "unbound",
            "binding:vnic_type": "normal",
            "security_groups": [],
            "allowed_address_pairs": [],
            "extra_dhcp_opts": [],
            "port_security_enabled": True,
            "description": "",
            "tags": [],
            "created_at": ts,
            "updated_at": ts,
            "revision_number": 1,
        }
        port.update(fields)
        return self.store.put("port", port)

    def bind_port(self, port: JSON, server_id: str, host: str) -> JSON:
        """Attach a port to a server on a host."""
        port.update(
            device_id=server_id, device_owner="compute:nova", status="ACTIVE",
            **{"binding:host_id": host, "binding:vif_type": "ovs"}, updated_at=now_iso(),
        )  # fmt: skip
        return self.store.put("port", port)

    def release_server_ports(self, server_id: str, created: list[str]) -> None:
        """On server delete: delete the ports Nova created, unbind the others, disassociate floating IPs."""
        for port in self.store.find("port", device_id=server_id):
            self._disassociate_port(port["id"])
            if port["id"] in created:
                self.store.delete("port", port["id"])
            else:
                port.update(device_id="", device_owner="", status="DOWN", **{"binding:host_id": ""})
                self.store.put("port", port)

    def _disassociate_port(self, port_id: str) -> None:
        for fip in self.store.find("floatingip", port_id=port_id):
            fip.update(
                port_id=None, fixed_ip_address=None, router_id=None, status="DOWN", updated_at=now_iso()
            )
            self.store.put("floatingip", fip)

    def addresses(self, server_id: str) -> JSON:
        """Nova's ``addresses`` of a server: fixed and floating IPs by network name."""
        out: JSON = {}
        for port in self.store.find("port", device_id=server_id):
            network = self.store.get("network", port["network_id"]) or {"name": port["network_id"]}
            entries = out.setdefault(network["name"], [])
            for fixed in port["fixed_ips"]:
                entries.append(
                    {"version": 4, "addr": fixed["ip_address"], "OS-EXT-IPS:type": "fixed",
                     "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]}
                )  # fmt: skip
            for fip in self.store.find("floatingip", port_id=port["id"]):
                entries.append(
                    {"version": 4, "addr": fip["floating_ip_address"], "OS-EXT-IPS:type": "floating",
                     "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]}
                )  # fmt: skip
        return out

    def quota(self, project: str) -> dict[str, int]:
        """Effective quota limits of a project (Nova and Neutron keys)."""
        limits = dict(DEFAULT_QUOTAS)
        limits.update({k: v for k, v in (self.store.get("quota", project) or {}).items() if k != "id"})
        return limits

    def usage(self, project: str) -> dict[str, int]:
        """Neutron resources counted per project."""
        counts = {k: 0 for k in QUOTA_KEYS}
        for key, kind in (
            ("floatingip", "floatingip"),
            ("network", "network"),
            ("subnet", "subnet"),
            ("port", "port"),
        ):
            counts[key] = sum(1 for d in self.store.iter(kind) if d.get("project_id") == project)
        return counts

    def _check_quota(self, project: str, key: str, delta: int) -> None:
        limit = self.quota(project)[key]
        used = self.usage(project)[key]
        if limit >= 0 and used + delta > limit:
            raise ApiError(409, f"Quota exceeded for resources: ['{key}'].", kind="OverQuota")

    # -- versions / extensions ---------------------------------------------------------------
    async def versions(self, request: web.Request) -> web.Response:
        """GET /network, GET /network/."""
        href = f"{base_url(request)}/network/v2.0/"
        return json_response(
            {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}
        )

    async def version(self, request: web.Request) -> web.Response:
        """GET /network/v2.0, GET /network/v2.0/."""
        base = f"{base_url(request)}/network/v2.0"
        resources = [{"name": k[:-1], "collection": k, "links": [{"rel": "self", "href": f"{base}/{k}"}]}
                     for k in COLLECTIONS]  # fmt: skip
        return json_response({"resources": resources})

    async def extensions(self, request: web.Request) -> web.Response:
        """GET /network/v2.0/extensions."""
        ctx_of(request)
        names = (
            "external-net",
            "router",
            "quotas",
            "quota_details",
            "binding",
            "port-security",
            "standard-attr-timestamp",
        )
        return json_response(
            {"extensions": [{"alias": a, "name": a, "description": a, "updated": "2013-01-01T00:00:00-00:00",
                             "links": []} for a in names]}
        )  # fmt: skip

    # -- generic CRUD ------------------------------------------------------------------------
    def _visible(self, doc: JSON, ctx: Context, kind: str) -> bool:
        if ctx.is_admin or doc.get("project_id") == ctx.project_id:
            return True
        return kind == "network" and bool(doc.get("shared") or doc.get("router:external"))

    def _get(self, kind: str, doc_id: str, ctx: Context) -> JSON:
        doc = self.store.get(kind, doc_id)
        if doc is None or not self._visible(doc, ctx, kind):
            name = {"floatingip": "Floating IP"}.get(kind, kind.capitalize())
            raise ApiError(
                404, f"{name} {doc_id} could not be found.", kind=f"{name.replace(' ', '')}NotFound"
            )
        return doc

    @staticmethod
    def render(doc: JSON) -> JSON:
        """The document without internal keys."""
        return {k: v for k, v in doc.items() if not k.startswith("_")}

    async def list(self, request: web.Request, plural: str, kind: str) -> web.Response:
        """GET /network/v2.0/{plural}: equality filters on any field, limit/marker."""
        ctx = ctx_of(request)
        q = request.query
        skip = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}
        docs = []
        for doc in self.store.iter(kind):
            if not self._visible(doc, ctx, kind):
                continue
            ok = True
            for key in {k for k in q if k not in skip}:
                wanted = q.getall(key)
                value = doc.get(key)
                if key == "fixed_ips":
                    continue
                if isinstance(value, bool):
                    ok = any(as_bool(w) == value for w in wanted)
                elif isinstance(value, list):
                    ok = any(w in value for w in wanted)
                else:
                    ok = any(w == ("" if value is None else str(value)) for w in wanted)
                if not ok:
                    break
            if ok:
                docs.append(doc)
        body: JSON = {}
        if "marker" in q:
            ids = [d["id"] for d in docs]
            docs = docs[ids.index(q["marker"]) + 1 :] if q["marker"] in ids else []
        if "limit" in q:
            limit = int(q["limit"])
            if len(docs) > limit:
                docs = docs[:limit]
                params = "&".join(f"{k}={v}" for k, v in q.items() if k != "marker")
                href = f"{base_url(request)}/network/v2.0/{plural}?{params}&marker={docs[-1]['id']}"
                body[f"{plural}_links"] = [{"rel": "next", "href": href}]
        body[plural] = [self.render(d) for d in docs]
        return json_response(body)

    async def show(self, request: web.Request, plural: str, kind: str) -> web.Response:
        """GET /network/v2.0/{plural}/{id}."""
        doc = self._get(kind, request.match_info["id"], ctx_of(request))
        return json_response({kind: self.render(doc)})

    async def create(self, request: web.Request, plural: str, kind: str) -> web.Response:
        """POST /network/v2.0/{plural}."""
        ctx = ctx_of(request)
        body = await read_member(request, kind, f"Resource body required: '{kind}'")
        project = body.get("project_id") or body.get("tenant_id") or ctx.project_id
        if project != ctx.project_id and not ctx.is_admin:
            raise forbidden("Only admin can create resources of other projects.")
        if kind == "network":
            await self.cloud.faults.hit("network.create_network")
            if body.get("router:external") and not ctx.is_admin:
                raise forbidden(
                    "(rule:create_network and rule:create_network:router:external) is disallowed by policy"
                )
            self._check_quota(project, "network", 1)
            doc = self.make_network(project, body.get("name", ""), external=bool(body.get("router:external")),
                                    shared=bool(body.get("shared")))  # fmt: skip
            doc.update({k: v for k, v in body.items() if k in ("admin_state_up", "description", "mtu")})
        elif kind == "subnet":
            await self.cloud.faults.hit("network.create_subnet")
            network = self._get("network", body.get("network_id", ""), ctx)
            if not body.get("cidr"):
                raise bad_request("cidr is required")
            self._check_quota(project, "subnet", 1)
            try:
                doc = self.make_subnet(
                    network, body.get("name", ""), body["cidr"], gateway=body.get("gateway_ip")
                )
            except ValueError as err:
                raise bad_request(f"Invalid input for cidr: {err}") from None
            doc.update(
                {k: v for k, v in body.items() if k in ("enable_dhcp", "dns_nameservers", "description")}
            )
        elif kind == "port":
            await self.cloud.faults.hit("network.create_port")
            network = self._get("network", body.get("network_id", ""), ctx)
            extra = {k: v for k, v in body.items() if k in ("name", "description", "device_id", "device_owner",
                                                              "admin_state_up", "security_groups")}  # fmt: skip
            doc = self.make_port(project, network, **extra)
        else:
            doc = await self._create_fip(ctx, project, body)
        self.store.put(kind, doc)
        return json_response({kind: self.render(doc)}, status=201)

    async def _create_fip(self, ctx: Context, project: str, body: JSON) -> JSON:
        await self.cloud.faults.hit("network.create_floating_ip")
        net_id = body.get("floating_network_id")
        if not net_id:
            raise bad_request("Invalid input for floating_network_id. Reason: 'None' is not a valid UUID.")
        network = self.store.get("network", net_id)
        if network is None:
            raise ApiError(404, f"Network {net_id} could not be found.", kind="NetworkNotFound")
        if not network.get("router:external"):
            raise bad_request(f"Bad floatingip request: Network {net_id} is not a valid external network.")
        self._check_quota(project, "floatingip", 1)
        subnet, ip = self.allocate_ip(network)
        if body.get("floating_ip_address"):
            ip = body["floating_ip_address"]
            if any(f["floating_ip_address"] == ip for f in self.store.iter("floatingip")):
                raise conflict(f"IP address {ip} already allocated in subnet {subnet['id']}")
        ts = now_iso()
        fip: JSON = {
            "id": new_id(),
            "floating_ip_address": ip,
            "floating_network_id": net_id,
            "project_id": project,
            "tenant_id": project,
            "port_id": None,
            "fixed_ip_address": None,
            "router_id": None,
            "status": "DOWN",
            "description": body.get("description", ""),
            "dns_domain": "",
            "dns_name": "",
            "port_details": None,
            "qos_policy_id": None,
            "tags": [],
            "created_at": ts,
            "updated_at": ts,
            "revision_number": 0,
            "_subnet_id": subnet["id"],
        }
        if body.get("port_id"):
            self._associate(fip, body["port_id"], body.get("fixed_ip_address"), ctx)
        return fip

    def _associate(self, fip: JSON, port_id: str, fixed_ip: str | None, ctx: Context) -> None:
        port = self._get("port", port_id, ctx)
        if not port["fixed_ips"]:
            raise bad_request(f"Port {port_id} has no fixed IP to associate a floating IP with.")
        for other in self.store.find("floatingip", port_id=port_id):
            if other["id"] != fip["id"]:
                raise conflict(
                    f"Cannot associate floating IP {fip['floating_ip_address']} ({fip['id']}) with port {port_id} "
                    f"using fixed IP {port['fixed_ips'][0]['ip_address']}, as that fixed IP already has a floating "
                    f"IP on external network {fip['floating_network_id']}."
                )
        fip.update(
            port_id=port_id,
            fixed_ip_address=fixed_ip or port["fixed_ips"][0]["ip_address"],
            router_id="router-" + fip["floating_network_id"][:8],
            status="ACTIVE",
            updated_at=now_iso(),
        )

    async def update(self, request: web.Request, plural: str, kind: str) -> web.Response:
        """PUT /network/v2.0/{plural}/{id} (floating IPs: associate or disassociate)."""
        ctx = ctx_of(request)
        doc = self._get(kind, request.match_info["id"], ctx)
        body = await read_member(request, kind, f"Resource body required: '{kind}'")
        if kind == "floatingip":
            await self.cloud.faults.hit("network.update_floating_ip")
            if "port_id" in body:
                if body["port_id"]:
                    self._associate(doc, body["port_id"], body.get("fixed_ip_address"), ctx)
                else:
                    doc.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN")
            if "description" in body:
                doc["description"] = body["description"]
        else:
            readonly = {"id", "project_id", "tenant_id", "network_id", "created_at", "subnets", "mac_address"}
            for key, value in body.items():
                if key in readonly:
                    raise bad_request(f"Cannot update read-only attribute {key}")
                doc[key] = value
        doc["updated_at"] = now_iso()
        doc["revision_number"] = doc.get("revision_number", 0) + 1
        self.store.put(kind, doc)
        return json_response({kind: self.render(doc)})

    async def delete(self, request: web.Request, plural: str, kind: str) -> web.Response:
        """DELETE /network/v2.0/{plural}/{id}."""
        ctx = ctx_of(request)
        doc = self._get(kind, request.match_info["id"], ctx)
        if not ctx.is_admin and doc.get("project_id") != ctx.project_id:
            raise forbidden(f"Not allowed to delete {kind} {doc['id']}")
        await self.cloud.faults.hit(f"network.delete_{'floating_ip' if kind == 'floatingip' else kind}")
        if kind == "network":
            if any(p["network_id"] == doc["id"] and p["device_owner"] for p in self.store.iter("port")):
                raise ApiError(409, f"Unable to complete operation on network {doc['id']}. "
                               "There are one or more ports still in use on the network.", kind="NetworkInUse")  # fmt: skip
            for sid in doc["subnets"]:
                self.store.delete("subnet", sid)
            for port in self.store.find("port", network_id=doc["id"]):
                self.store.delete("port", port["id"])
        elif kind == "subnet":
            if any(f["subnet_id"] == doc["id"] for p in self.store.iter("port") for f in p["fixed_ips"]):
                raise ApiError(409, f"Unable to complete operation on subnet {doc['id']}: "
                               "One or more ports have an IP allocation from this subnet.", kind="SubnetInUse")  # fmt: skip
            network = self.store.get("network", doc["network_id"])
            if network is not None:
                network["subnets"] = [s for s in network["subnets"] if s != doc["id"]]
                self.store.put("network", network)
        elif kind == "port":
            if doc["device_owner"].startswith("compute:") and not ctx.is_admin:
                pass  # Neutron allows it; Nova sees the interface vanish.
            self._disassociate_port(doc["id"])
        self.store.delete(kind, doc["id"])
        return web.Response(status=204)

    # -- quotas ------------------------------------------------------------------------------
    def _quota_body(self, project: str) -> JSON:
        limits = self.quota(project)
        return {k: limits[k] for k in QUOTA_KEYS}

    async def list_quotas(self, request: web.Request) -> web.Response:
        """GET /network/v2.0/quotas."""
        ctx = ctx_of(request)
        if not ctx.is_admin:
            raise forbidden("Only admins can list quotas")
        return json_response({"quotas": [{**self._quota_body(p["id"]), "project_id": p["id"]}
                                          for p in self.store.all("project")]})  # fmt: skip

    async def show_quota(self, request: web.Request) -> web.Response:
        """GET /network/v2.0/quotas/{project}."""
        ctx_of(request)
        return json_response({"quota": self._quota_body(request.match_info["project"])})

    async def show_quota_default(self, request: web.Request) -> web.Response:
        """GET /network/v2.0/quotas/{project}/default."""
        ctx_of(request)
        return json_response({"quota": {k: DEFAULT_QUOTAS[k] for k in QUOTA_KEYS}})

    async def show_quota_details(self, request: web.Request) -> web.Response:
        """GET /network/v2.0/quotas/{project}/details."""
        ctx_of(request)
        project = request.match_info["project"]
        limits = self._quota_body(project)
        used = self.usage(project)
        return json_response(
            {"quota": {k: {"limit": limits[k], "used": used[k], "reserved": 0} for k in QUOTA_KEYS}}
        )

    async def update_quota(self, request: web.Request) -> web.Response:
        """PUT /network/v2.0/quotas/{project}."""
        ctx = ctx_of(request)
        if not ctx.is_admin:
            raise forbidden("Only admins can update quotas")
        body = (await read_json(request)).get("quota") or {}
        project = request.match_info["project"]
        doc = self.store.get("quota", project) or {"id": project}
        for key, value in body.items():
            if key not in QUOTA_KEYS:
                raise bad_request(f"Unrecognized attribute(s) '{key}'")
            doc[key] = int(value)
        self.store.put("quota", doc)
        return json_response({"quota": self._quota_body(project)})
