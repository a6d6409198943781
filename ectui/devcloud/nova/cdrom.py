"""The CD-ROM vendor extension: mount an ISO file of the ISO share as a server's CD-ROM."""

from __future__ import annotations

from aiohttp import web

from ..api import Context, ctx_of, json_response
from ..core import JSON, now_iso
from ..errors import bad_request, conflict, not_found
from .common import NovaBase


class CdromMixin(NovaBase):
    """CD-ROM actions and route."""

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
