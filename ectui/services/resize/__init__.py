"""CPU/RAM resize of a VM, cold or hot, persisted step by step and resumed after a crash.

`model` holds the plan, the step codes and the messages; `steps` the ten steps; `service` the
ResizeService that plans, runs and recovers them.
"""

from __future__ import annotations

from ectui.services.resize.model import (
    KIND,
    MODES,
    RESIZE_STEPS,
    STEP_LABELS,
    ResizeError,
    ResizePlan,
    labels_for,
    probe_live_resize,
)
from ectui.services.resize.service import ResizeService

__all__ = [
    "KIND",
    "MODES",
    "RESIZE_STEPS",
    "STEP_LABELS",
    "ResizeError",
    "ResizePlan",
    "ResizeService",
    "labels_for",
    "probe_live_resize",
]
