"""Shared pieces of the dev cloud: timings, errors, request context, fault injection, helpers."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aiohttp import web

JSON = dict[str, Any]


@dataclass
class Timings:
    """How long each simulated transition takes, in seconds (tests use ~0.05-0.2)."""

    build: float = 3.0
    """BUILD -> ACTIVE of a new server."""
    stop: float = 1.5
    """ACTIVE (powering-off) -> SHUTOFF."""
    start: float = 1.5
    """SHUTOFF (powering-on) -> ACTIVE."""
    reboot: float = 2.0
    """REBOOT/HARD_REBOOT -> ACTIVE."""
    resize: float = 4.0
    """RESIZE -> VERIFY_RESIZE (or back to ACTIVE on a failed resize)."""
    confirm: float = 0.5
    """VERIFY_RESIZE -> ACTIVE/SHUTOFF after confirmResize."""
    revert: float = 2.0
    """REVERT_RESIZE -> ACTIVE/SHUTOFF after revertResize."""
    live_resize: float = 2.0
    """ACTIVE (task live_resizing) -> ACTIVE on the new flavor."""
    rescue: float = 1.0
    """RESCUE and unrescue transitions."""
    delete: float = 0.5
    """task deleting -> gone."""
    snapshot: float = 2.0
    """createImage: image queued -> active and server task image_snapshot -> None."""

    @classmethod
    def fast(cls, seconds: float = 0.1) -> Timings:
        """Every transition takes `seconds` (for tests)."""
        return cls(**{f.name: seconds for f in fields(cls)})

    def as_dict(self) -> dict[str, float]:
        """The timings as a plain dict (for docs and the admin endpoint)."""
        return asdict(self)


class ApiError(Exception):
    """An error answered to the client in the format of the service that raised it."""

    def __init__(
        self, status: int, message: str, *, kind: str | None = None, headers: dict[str, str] | None = None
    ):
        """Remember the status, message and extra headers."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    """A 400 with a message."""
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    """A 404 with a message."""
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    """A 409 with a message."""
    return ApiError(409, message)


def forbidden(message: str) -> ApiError:
    """A 403 with a message."""
    return ApiError(403, message)


@dataclass(frozen=True)
class Context:
    """Who is calling: the validated token's user, project and roles."""

    token: str
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        """True when the token carries the admin role."""
        return "admin" in self.roles


CTX = web.RequestKey("ctx", Context)
"""Request storage key of the caller's context."""
MV = web.RequestKey("mv", tuple)
"""Request storage key of the negotiated compute microversion."""


def ctx_of(request: web.Request) -> Context:
    """The request's authenticated context (set by the auth middleware)."""
    ctx = request.get(CTX)
    if ctx is None:
        raise ApiError(401, "The request you have made requires authentication.")
    return ctx  # type: ignore[no-any-return]


def now_iso(micro: bool = False) -> str:
    """The current UTC time as OpenStack prints it."""
    t = dt.datetime.now(dt.UTC)
    if micro:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    """A new UUID4 string."""
    return str(uuid.uuid4())


def request_id() -> str:
    """A Nova-style request id."""
    return "req-" + new_id()


async def read_json(request: web.Request) -> JSON:
    """The request body as a JSON object, or a 400."""
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise bad_request(f"Malformed request body: {err}") from None
    if not isinstance(body, dict):
        raise bad_request("Malformed request body: a JSON object is required")
    return body


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A compact JSON response."""
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def base_url(request: web.Request) -> str:
    """Scheme, host and port as the client addressed us (for links and the catalog)."""
    return f"{request.scheme}://{request.host}"


def as_bool(value: Any) -> bool:
    """OpenStack-style boolean of a query or JSON value."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "t", "y")


# -- fault injection ---------------------------------------------------------------------


@dataclass
class Fault:
    """One injected fault, matched by operation name (``compute.resize`` ...)."""

    op: str
    times: int | None = 1
    """How many calls it hits; None or 0 means every call until cleared."""
    status: int | None = None
    """HTTP status to answer instead of doing the operation (None: no HTTP error)."""
    delay: float = 0.0
    """Seconds to wait before answering or failing."""
    mode: str | None = None
    """``silent``: the operation fails without an HTTP error (resize: back to the old flavor)."""
    drop_after_bytes: int | None = None
    """Uploads: cut the connection after this many body bytes."""
    message: str | None = None
    """Error message to answer (a default names the operation)."""
    id: int = 0
    hits: int = 0

    def as_dict(self) -> JSON:
        """The fault as JSON."""
        return asdict(self)


KNOWN_OPS = (
    "identity.authenticate",
    "image.list", "image.create", "image.upload", "image.download", "image.delete",
    "compute.list_servers", "compute.list_flavors", "compute.list_hypervisors",
    "compute.create_server", "compute.delete_server", "compute.create_flavor", "compute.delete_flavor",
    "compute.set_extra_specs", "compute.start", "compute.stop", "compute.reboot", "compute.resize",
    "compute.confirm_resize", "compute.revert_resize", "compute.live_resize", "compute.lock", "compute.unlock",
    "compute.create_image", "compute.rescue", "compute.unrescue", "compute.attach_cdrom", "compute.detach_cdrom",
    "compute.pause", "compute.unpause", "compute.suspend", "compute.resume",
    "network.create_network", "network.create_subnet", "network.create_port", "network.create_floating_ip",
    "network.update_floating_ip", "network.delete_network", "network.delete_subnet", "network.delete_port",
    "network.delete_floating_ip",
)  # fmt: skip
"""Operations a fault can hit (``<service>.<operation>``)."""


class Faults:
    """The armed faults; the first one matching an operation is consumed on each call."""

    KNOWN_MODES = (None, "silent")

    def __init__(self) -> None:
        """No fault is armed at first."""
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: JSON) -> Fault:
        """Arm a fault from its JSON description; raises ApiError(400) when malformed."""
        op = spec.get("op")
        if not isinstance(op, str) or op not in KNOWN_OPS:
            raise bad_request(f"unknown operation {op!r}; known: {', '.join(KNOWN_OPS)}")
        mode = spec.get("mode")
        if mode not in self.KNOWN_MODES:
            raise bad_request(f"unknown fault mode {mode!r} (known: silent)")
        try:
            times = spec.get("times", 1)
            fault = Fault(
                op=op,
                times=None if times in (None, 0) else int(times),
                status=None if spec.get("status") is None else int(spec["status"]),
                delay=float(spec.get("delay") or 0),
                mode=mode,
                drop_after_bytes=None
                if spec.get("drop_after_bytes") is None
                else int(spec["drop_after_bytes"]),
                message=spec.get("message"),
                id=next(self._ids),
            )
        except (TypeError, ValueError) as err:
            raise bad_request(f"malformed fault: {err}") from None
        if fault.status is not None and not 400 <= fault.status <= 599:
            raise bad_request("'status' must be an HTTP error status (400-599)")
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    def list(self) -> list[Fault]:
        """The armed faults."""
        return list(self._faults)

    def take(self, op: str) -> Fault | None:
        """Consume the first fault armed for `op`, if any."""
        for fault in self._faults:
            if fault.op == op:
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    async def hit(self, op: str) -> Fault | None:
        """Apply the fault armed for `op`: wait its delay, raise its HTTP status, else return it."""
        fault = self.take(op)
        if fault is None:
            return None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status is not None and fault.mode is None:
            raise ApiError(fault.status, fault.message or f"Injected fault on {op}")
        return fault


@dataclass
class Later:
    """Pending timers of the dev cloud, cancelled together on stop."""

    handles: set[asyncio.TimerHandle] = field(default_factory=set)

    def call(self, delay: float, fn: Any, *args: Any) -> None:
        """Run `fn(*args)` after `delay` seconds on the running loop."""
        loop = asyncio.get_running_loop()

        def run() -> None:
            self.handles.discard(handle)
            fn(*args)

        handle = loop.call_later(max(0.0, delay), run)
        self.handles.add(handle)

    def cancel_all(self) -> None:
        """Cancel every pending timer."""
        for handle in self.handles:
            handle.cancel()
        self.handles.clear()
