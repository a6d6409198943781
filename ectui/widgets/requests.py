"""Workflow requests as job results: recognise one and say that it waits for approval."""

from __future__ import annotations

from typing import TypeGuard

from ectui.i18n import N_, _, render
from ectui.services.errors import ServiceError
from ectui.services.workflow import RequestInfo

KIND_LABELS = {"create_vm": N_("create VM"), "resize": N_("resize")}


def is_request(value: object) -> TypeGuard[RequestInfo]:
    """A job result that is a workflow request (the operation waits for an approver) rather than its result."""
    return isinstance(value, RequestInfo)


def submitted_text(request: RequestInfo) -> str:
    """'Request 3 (create VM) is waiting for an admin's approval; its quota is reserved.'"""
    return render(
        ServiceError("workflow.submitted", id=request.id, kind=_(KIND_LABELS.get(request.kind, request.kind)))
    )
