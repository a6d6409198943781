"""A console for people without a browser: a VM's console log, its serial console URL, an SSH tunnel to noVNC.

`console_log` reads Nova's `os-getConsoleOutput` (boot messages, cloud-init lines), bounded in lines and
bytes; `new_lines` tells what a later read added (for following a log). `serial_console` asks Nova for a
`serial` remote console (a `ws://` URL) and says clearly when the cloud has none. `ssh_tunnel` turns the
noVNC URL into an `ssh -L` line through a jump host the operator fills in, and the localhost URL to open.

The log text is foreign data: callers show it with ectui.text.visible (escape sequences shown, never obeyed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ectui.i18n import N_
from ectui.services.errors import ServiceError, register_messages
from ectui.services.openstack.calls import call_json, call_keeping_errors
from ectui.services.openstack.compute import server_action
from ectui.services.openstack.connection import CloudError

if TYPE_CHECKING:
    from ectui.services.clusters import ClusterService
    from ectui.services.vms import VmInfo, VmService

DEFAULT_LINES = 200
"""Lines of the log shown when not told otherwise."""
MAX_LINES = 10_000
"""The most lines asked for at once."""
MAX_BYTES = 1024 * 1024
"""The most log text kept from one answer (UTF-8 bytes); older text is cut at a line start."""
JUMP_HOST = "JUMPHOST"
"""Placeholder of the SSH jump host in the tunnel line: the operator puts their own host there."""

register_messages(
    {
        "console.bad_lines": N_("{field} must be between 1 and {max}, got {value}."),
        "console.log_failed": N_("The console log of VM {name} cannot be read: {reason}"),
        "console.serial_unavailable": N_(
            "Cloud of VM {name} offers no serial console ({reason}); use the console log or the noVNC URL."
        ),
        "console.no_tunnel": N_("The console URL {url} has no host to tunnel to."),
    }
)


class ConsoleError(ServiceError):
    """A console log, serial console or tunnel that cannot be had."""


@dataclass(frozen=True)
class Tunnel:
    """An SSH port forward to a console host: the command to run and the URL to open afterwards."""

    command: str
    """`ssh -L PORT:HOST:PORT JUMPHOST` (the jump host a placeholder)."""
    local_url: str
    """The console URL with its host replaced by localhost."""


def check_lines(lines: int) -> int:
    """`lines` when 1..MAX_LINES, else a ConsoleError."""
    if isinstance(lines, bool) or not isinstance(lines, int) or not 1 <= lines <= MAX_LINES:
        raise ConsoleError("console.bad_lines", field=N_("Lines"), max=MAX_LINES, value=lines)
    return lines


def bound_text(text: str, lines: int, max_bytes: int = MAX_BYTES) -> str:
    """The last `lines` lines of `text`, and at most `max_bytes` UTF-8 bytes of them (cut at a line start)."""
    parts = text.splitlines(keepends=True)[-lines:]
    out = "".join(parts)
    if len(out.encode("utf-8", "replace")) <= max_bytes:
        return out
    kept: list[str] = []
    size = 0
    for part in reversed(parts):
        size += len(part.encode("utf-8", "replace"))
        if size > max_bytes:
            break
        kept.append(part)
    return "".join(reversed(kept))


OVERLAP = 20
"""Lines of the earlier read that `new_lines` looks for in the later one."""


def new_lines(old: list[str], new: list[str]) -> list[str]:
    """The lines `new` added after `old` (two reads of a growing log's tail, of any lengths).

    The latest place in `new` preceded by the last lines of `old` (up to OVERLAP of them; fewer at the
    start of `new`, when its window begins inside them) ends the overlap; without one every line is new.
    """
    if not old:
        return list(new)
    tail = old[-OVERLAP:]
    for end in range(len(new), 0, -1):
        k = min(len(tail), end)
        if new[end - k : end] == tail[len(tail) - k :]:
            return new[end:]
    return list(new)


def serial_attach(url: str) -> str:
    """How to attach to a serial console from a terminal: a WebSocket client on the URL (websocat)."""
    import shlex

    return f"websocat --binary {shlex.quote(url)}"


def ssh_tunnel(url: str, jump_host: str = JUMP_HOST) -> Tunnel:
    """The `ssh -L` line forwarding the console URL's host and port through `jump_host`, and the local URL."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ConsoleError("console.no_tunnel", url=url)
    try:
        port = parts.port or {"https": 443, "wss": 443}.get(parts.scheme, 80)
    except ValueError:
        raise ConsoleError("console.no_tunnel", url=url) from None
    target = f"[{host}]" if ":" in host else host
    local = urlunsplit((parts.scheme, f"localhost:{port}", parts.path, parts.query, parts.fragment))
    return Tunnel(command=f"ssh -L {port}:{target}:{port} {jump_host}", local_url=local)


class ConsoleService:
    """Console log, serial console and noVNC tunnel of the VMs (reads only; Nova does the work)."""

    def __init__(self, vms: VmService, clusters: ClusterService) -> None:
        self._vms = vms
        self._clusters = clusters

    async def _vm(self, vm_ref: int | str) -> VmInfo:
        if isinstance(vm_ref, int):
            return await self._vms.get(vm_ref)
        return await self._vms.find(vm_ref)

    async def console_log(self, vm_ref: int | str, lines: int = DEFAULT_LINES) -> str:
        """The last `lines` lines of the VM's console log (at most MAX_BYTES of text)."""
        lines = check_lines(lines)
        info = await self._vm(vm_ref)
        vm = await self._vms.cloud_ref(info.id)

        def read(conn: Any) -> str:
            body = {"os-getConsoleOutput": {"length": lines}}
            try:
                answer = server_action(conn, vm.cloud_id, body)
            except CloudError as err:
                raise ConsoleError("console.log_failed", name=vm.name, reason=_reason(err)) from None
            return str(answer.get("output") or "")

        text = await call_keeping_errors(self._clusters.connections, vm.cluster_id, read)
        return bound_text(text, lines)

    async def serial_console(self, vm_ref: int | str) -> str:
        """The VM's serial console URL (`ws://…`), or a ConsoleError when the cloud offers none."""
        info = await self._vm(vm_ref)
        vm = await self._vms.cloud_ref(info.id)

        def open_serial(conn: Any) -> str:
            body = {"remote_console": {"protocol": "serial", "type": "serial"}}
            path = f"/servers/{vm.cloud_id}/remote-consoles"
            try:
                answer = call_json(conn.compute, "post", path, json=body, microversion="2.6")
            except CloudError as err:
                raise ConsoleError("console.serial_unavailable", name=vm.name, reason=_reason(err)) from None
            url = str((answer.get("remote_console") or {}).get("url") or "")
            if not url:
                raise ConsoleError("console.serial_unavailable", name=vm.name, reason="no URL")
            return url

        return await call_keeping_errors(self._clusters.connections, vm.cluster_id, open_serial)

    async def novnc_tunnel(self, vm_ref: int | str, jump_host: str = JUMP_HOST) -> tuple[str, Tunnel]:
        """The VM's noVNC URL and the `ssh -L` tunnel to reach it without a route to the console host."""
        info = await self._vm(vm_ref)
        url = await self._vms.console_url(info.id)
        return url, ssh_tunnel(url, jump_host)


def _reason(err: BaseException) -> str:
    from ectui.i18n import render

    return render(err) if isinstance(err, ServiceError) else type(err).__name__
