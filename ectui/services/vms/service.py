"""VmService: the VM flows (create, list, actions, snapshot, CD-ROM, recovery) as one service."""

from __future__ import annotations

from ectui.services.vms.create import CreateFlow
from ectui.services.vms.listing import ListingFlow
from ectui.services.vms.recovery import RecoveryFlow


class VmService(CreateFlow, ListingFlow, RecoveryFlow):
    """Create VMs through the operations engine; list, refresh and act on them; recover their operations.

    Takes `audit` (the audit log of its `@audited` methods) and `listeners` (told of each lifecycle event,
    e.g. billing) in its constructor: see `VmBase`.
    """
