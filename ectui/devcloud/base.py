"""What every service of the dev cloud shares: the view of the cloud it runs in and its base class.

Nothing here imports a service; ``server.DevCloud`` composes the services and is a `Cloud`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from aiohttp import web

from .core import Later, Timings
from .faults import Faults
from .store import Store


class Cloud(Protocol):
    """The dev cloud as a service sees it: its state, timers, fault injector and settings."""

    store: Store
    faults: Faults
    later: Later
    timings: Timings
    state_dir: Path
    iso_dir: Path
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    vendor_extensions: tuple[str, ...]


class ServiceApp:
    """One OpenStack service of the dev cloud: its routes over the shared store."""

    def __init__(self, cloud: Cloud) -> None:
        """Build the component; no I/O happens here."""
        self.cloud = cloud
        self.store = cloud.store

    def add_routes(self, app: web.Application) -> None:
        """Register the service's routes."""
        raise NotImplementedError
