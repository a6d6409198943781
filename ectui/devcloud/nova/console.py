"""Consoles: VNC and serial console URLs, the console log and the console stand-in page."""

from __future__ import annotations

import datetime as dt
import html
import secrets

from aiohttp import web

from ..api import Context, base_url, ctx_of, json_response, read_json
from ..core import JSON
from ..errors import bad_request, conflict, not_found
from .common import NovaBase

CONSOLE_MAX_TICKS = 20_000
"""The console log stops growing after this many heartbeat lines (a bounded dev cloud)."""


def console_lines(s: JSON, tick: float) -> list[str]:
    """The server's console log: boot and cloud-init lines, then a heartbeat line per `tick` seconds of age.

    Deterministic from the server's name, id and age (since `launched_at`; up to `updated` when the server
    is not ACTIVE, so a stopped server's log stops growing).
    """
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


class ConsoleMixin(NovaBase):
    """Console routes and actions."""

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
        server = html.escape(request.query.get("server", ""))
        return web.Response(
            text=f"<html><body><h1>Dev cloud console</h1><p>Server {server}: this is a stand-in for noVNC.</p>"
            "</body></html>",
            content_type="text/html",
        )
