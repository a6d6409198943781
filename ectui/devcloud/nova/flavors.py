"""Flavors, their extra specs and access lists."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..api import base_url, ctx_of, json_response, read_json, read_member
from ..core import JSON, as_bool, new_id, now_iso
from ..errors import ApiError, bad_request, conflict, not_found
from .common import NovaBase


class FlavorsMixin(NovaBase):
    """Flavor routes."""

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
        flavors, links = self._paginate(flavors, request)
        detail = request.path.endswith("/detail")
        return self._listing("flavors", [self._render_flavor(f, request, detail) for f in flavors], links)

    async def show_flavor(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/flavors/{id}."""
        ctx_of(request)
        return json_response({"flavor": self._render_flavor(self._flavor(request.match_info["id"]), request)})

    async def create_flavor(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/flavors."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-flavor-manage:create")
        await self.cloud.faults.hit("compute.create_flavor")
        body = await read_member(request, "flavor")
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
        specs = await read_member(request, "extra_specs")
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
