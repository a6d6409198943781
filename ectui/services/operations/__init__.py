"""Multi-step operations persisted step by step (create VM, resize): see `engine`."""

from __future__ import annotations

from ectui.services.operations.engine import (
    OperationEngine,
    OperationFailed,
    OperationInfo,
    RunContext,
    Step,
    StepInfo,
)

__all__ = ["OperationEngine", "OperationFailed", "OperationInfo", "RunContext", "Step", "StepInfo"]
