"""VMs (云主机): the create flow, the list with live status, the power/delete/console actions, snapshots,
ISO mounts and the recovery of their operations. One module per flow; `VmService` composes them.
"""

from __future__ import annotations

from ectui.services.operations.engine import OperationInfo
from ectui.services.vms.cloudinit import (
    PASSWORD_RULES,
    password_checks,
    sha512_crypt,
    user_data_for,
    user_name_for,
)
from ectui.services.vms.events import VmListener
from ectui.services.vms.model import (
    FEATURE,
    GUEST_MOUNT_HINT,
    STEP_LABELS,
    VM_KINDS,
    FormChoices,
    MountInfo,
    MountPlan,
    NetworkChoice,
    NodeChoice,
    SnapshotInfo,
    TemplateChoice,
    VmDraft,
    VmError,
    VmInfo,
    VmRef,
)
from ectui.services.vms.rows import cluster_id_for, row_values
from ectui.services.vms.service import VmService

__all__ = [
    "FEATURE",
    "GUEST_MOUNT_HINT",
    "PASSWORD_RULES",
    "STEP_LABELS",
    "VM_KINDS",
    "FormChoices",
    "MountInfo",
    "MountPlan",
    "NetworkChoice",
    "NodeChoice",
    "OperationInfo",
    "SnapshotInfo",
    "TemplateChoice",
    "VmDraft",
    "VmError",
    "VmInfo",
    "VmListener",
    "VmRef",
    "VmService",
    "cluster_id_for",
    "password_checks",
    "row_values",
    "sha512_crypt",
    "user_data_for",
    "user_name_for",
]
