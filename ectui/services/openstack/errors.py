"""The error of a refused or failed VM operation, shared by the cloud adapters and the VM services."""

from __future__ import annotations

from ectui.services.errors import ServiceError


class VmError(ServiceError):
    """A refused or failed VM operation."""
