"""Shared pieces of the dev cloud: timings, identifiers and timestamps, timers."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

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
        """Timings where every transition takes `seconds` (a quick cloud for demos and tests)."""
        return cls(**{f.name: seconds for f in fields(cls)})

    def as_dict(self) -> dict[str, float]:
        """The timings as a plain dict (for docs and the admin endpoint)."""
        return asdict(self)


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


def as_bool(value: Any) -> bool:
    """OpenStack-style boolean of a query or JSON value."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "t", "y")


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
