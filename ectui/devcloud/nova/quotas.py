"""Quota sets and limits."""

from __future__ import annotations

from aiohttp import web

from ..api import ctx_of, json_response, read_member
from ..core import JSON, as_bool
from ..defaults import DEFAULT_QUOTAS
from ..errors import bad_request, forbidden
from .common import NovaBase


class QuotasMixin(NovaBase):
    """Quota and limit routes."""

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
        limits = self.neutron.quota(project)
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
        return json_response({"quota_set": {"id": request.match_info["project"],
                                            **{k: DEFAULT_QUOTAS[k] for k in self._quota_keys(request)}}})  # fmt: skip

    async def update_quota(self, request: web.Request) -> web.Response:
        """PUT /compute/v2.1/os-quota-sets/{project}."""
        ctx = ctx_of(request)
        self._admin(ctx, "os_compute_api:os-quota-sets:update")
        project = request.match_info["project"]
        body = await read_member(request, "quota_set")
        doc = self.store.get("quota", project) or {"id": project}
        for key, value in body.items():
            if key == "force":
                continue
            if key not in self._quota_keys(request):
                raise bad_request(f"Additional properties are not allowed ('{key}' was unexpected)")
            doc[key] = int(value)
        self.store.put("quota", doc)
        limits = self.neutron.quota(project)
        return json_response({"quota_set": {k: limits[k] for k in self._quota_keys(request)}})

    async def limits(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/limits."""
        ctx = ctx_of(request)
        project = request.query.get("tenant_id") if ctx.is_admin else None
        project = project or ctx.project_id
        limits = self.neutron.quota(project)
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
