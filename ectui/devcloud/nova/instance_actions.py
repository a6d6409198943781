"""The instance action log of a server (os-instance-actions)."""

from __future__ import annotations

import hashlib

from aiohttp import web

from ..api import Context, ctx_of, json_response
from ..core import JSON
from ..errors import not_found
from .common import NovaBase


class InstanceActionsMixin(NovaBase):
    """Instance action routes."""

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

    def _server_with_actions(self, request: web.Request, ctx: Context) -> str:
        """The id of the request's server, deleted or not (its action log outlives it); 404 when not the caller's."""
        server_id = request.match_info["id"]
        s = self.store.get("server", server_id)
        if s is None or (not ctx.is_admin and s["project_id"] != ctx.project_id):
            raise not_found(f"Instance {server_id} could not be found.")
        return server_id

    async def list_instance_actions(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}/os-instance-actions."""
        ctx = ctx_of(request)
        server_id = self._server_with_actions(request, ctx)
        actions = sorted(
            self.store.find("iaction", server_id=server_id), key=lambda a: a["seq"], reverse=True
        )
        return json_response(
            {"instanceActions": [self._render_action(a, request, ctx, False) for a in actions]}
        )

    async def show_instance_action(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/servers/{id}/os-instance-actions/{req}."""
        ctx = ctx_of(request)
        server_id = self._server_with_actions(request, ctx)
        a = self.store.get("iaction", request.match_info["req"])
        if a is None or a["server_id"] != server_id:
            raise not_found(
                f"Action for request_id {request.match_info['req']} on instance {server_id} not found"
            )
        return json_response({"instanceAction": self._render_action(a, request, ctx, True)})
