"""Fault injection: the admin API arms faults that hit named operations of the services."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import asdict, dataclass

from .core import JSON
from .errors import ApiError, bad_request


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
