"""VMs (console): the list screen, the create form, the detail and ISO dialogs, and the resize dialog."""

from ectui.screens.vms.common import AUTO, status_label
from ectui.screens.vms.create import CreateRun, CreateVmModal, ImportKeypairModal
from ectui.screens.vms.dialogs import (
    ConsoleLogModal,
    ConsoleUrlModal,
    IsoMountedModal,
    PickIsoModal,
    SnapshotTemplateModal,
    VmDetailModal,
)
from ectui.screens.vms.resize import ResizeVmModal, start_resize_job
from ectui.screens.vms.screen import VmsScreen

__all__ = [
    "AUTO",
    "ConsoleLogModal",
    "ConsoleUrlModal",
    "CreateRun",
    "CreateVmModal",
    "ImportKeypairModal",
    "IsoMountedModal",
    "PickIsoModal",
    "ResizeVmModal",
    "SnapshotTemplateModal",
    "VmDetailModal",
    "VmsScreen",
    "start_resize_job",
    "status_label",
]
