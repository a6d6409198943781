"""VM lifecycle events: who is told when a VM is created, started, stopped, resized or deleted."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

log = logging.getLogger("ectui.vms")


class VmListener(Protocol):
    """Told of each lifecycle event of a VM after the operation did it (billing meters them)."""

    async def vm_event(self, vm_id: int, event: str) -> None:
        """React to `event` ('create', 'start', 'stop', 'resize', 'delete') of VM `vm_id`."""


async def tell_listeners(listeners: Sequence[VmListener], vm_id: int, event: str | None) -> None:
    """Tell every listener of an event (None: not one they hear of); a listener's failure is logged, never raised."""
    if event is None:
        return
    for listener in listeners:
        try:
            await listener.vm_event(vm_id, event)
        except Exception as err:  # a listener must never fail or undo the VM operation
            log.warning("VM %s event '%s': listener %r failed: %s", vm_id, event, listener, err)
