"""CPU/RAM resize: the plan, the step codes and labels, the messages, and the reading of a server's flavor."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ectui.i18n import N_
from ectui.services.errors import ServiceError, register_messages
from ectui.services.openstack.compute import has_extension
from ectui.services.projects import Amounts
from ectui.services.vms import STEP_LABELS as VM_STEP_LABELS

FEATURE = "platform.vms"
KIND = "resize"
LIVE_RESIZE_EXTENSION = "EC-LIVE-RESIZE"
"""Alias of the vendor hot-resize extension (server action liveResize) in Nova's extension list."""
LIVE_RESIZE_SPEC = "hw:live_resize"
POLL_MAX = 0.2
"""Longest pause between two status polls (a short one keeps the overhead of a resize small)."""
COMPENSATION_TRIES = 3
"""Each compensation is tried this often (they are idempotent) before it counts as a leftover."""
ACTION_MICROVERSION = "2.84"
"""Instance actions at 2.84 carry each event's `details` (the reason of a silent failure)."""

RESIZE_STEPS: tuple[tuple[str, str], ...] = (
    ("reserve", N_("Reserve project resources")),
    ("lock", N_("Lock the VM")),
    ("background", N_("Run in the background")),
    ("stop", N_("Stop the VM")),
    ("flavor", N_("Create the new flavor")),
    ("resize", N_("Resize and confirm")),
    ("rollback", N_("On failure: delete the new flavor, release the reservation")),
    ("release", N_("On success: release the difference, delete the old flavor")),
    ("start", N_("Start the VM")),
    ("unlock", N_("Unlock the VM")),
)
"""The ten steps of a resize, in order: (code, label)."""
STEP_LABELS = dict(RESIZE_STEPS)
POS = {code: i for i, (code, _label) in enumerate(RESIZE_STEPS)}
MODES = ("hot", "cold")

HOT_NOT_RUNNING = N_("the VM is not running")
HOT_NO_EXTENSION = N_("the cloud has no live resize extension (EC-LIVE-RESIZE)")
HOT_NO_SPEC = N_("its flavor lacks the extra spec hw:live_resize=true")
HOT_SHRINKS = N_("a live resize can only grow CPU and RAM")

register_messages(
    {
        "resize.same_spec": N_(
            "{field}: VM {name} already has {vcpus} vCPU and {ram_gb} GB RAM; change CPU or RAM."
        ),
        "resize.no_project": N_("VM {name} belongs to no project, so its quota cannot be reserved."),
        "resize.bad_state": N_(
            "VM {name} is {status}{task}; a resize needs it ACTIVE or SHUTOFF with no task running."
        ),
        "resize.hot_unavailable": N_(
            "A hot resize of VM {name} is not possible: {reason}. Use a cold resize."
        ),
        "resize.node_full": N_(
            "Node {node} has {vcpus_free} vCPU and {ram_gb_free} GB RAM free; the resize needs {vcpus} vCPU and "
            "{ram_gb} GB there. Choose a smaller spec."
        ),
        "resize.not_applied": N_(
            "the cloud did not apply the new flavor (still {vcpus} vCPU, {ram_gb} GB): {reason}"
        ),
        "resize.action_error": N_("the cloud recorded an error for the resize: {reason}"),
        "resize.server_error": N_("the server went to ERROR: {fault}"),
        "resize.timeout": N_("the server did not settle within {seconds} s (status {status})."),
        "resize.nova_lock_foreign": N_("VM {name} was locked in the cloud by someone else: {reason}"),
        "resize.failed": N_(
            "Resizing VM {name} failed at step '{step}': {reason} Everything was rolled back: the VM keeps "
            "{vcpus} vCPU and {ram_gb} GB, its power state and its quota."
        ),
        "resize.failed_after_resize": N_(
            "Resizing VM {name} failed at step '{step}': {reason} The resize itself took (the VM now has {vcpus} "
            "vCPU and {ram_gb} GB); the remaining steps were finished and the VM unlocked."
        ),
        "resize.leftovers": N_(
            "Resizing VM {name} failed at step '{step}': {reason} The rollback could not finish: {leftovers}"
        ),
        "resize.changed": N_("VM {name} changed since the resize was planned; plan it again."),
        "resize.cancelled": N_("The resize of VM {name} was cancelled; everything was rolled back."),
        "ops.readonly": N_(
            "The console runs read-only (--readonly): interrupted operations are left for a writable console."
        ),
    }
)


class ResizeError(ServiceError):
    """A refused or failed resize."""


@dataclass(frozen=True)
class ResizePlan:
    """A checked resize request: what changes, what is reserved, and how (hot or cold)."""

    vm_id: int
    vm_name: str
    cluster: str
    production: bool
    old_vcpus: int
    old_ram_gb: int
    new_vcpus: int
    new_ram_gb: int
    quota_delta: Amounts
    """Positive parts are reserved at step 1; negative parts are released once the resize worked."""
    mode: str
    """hot | cold (the one that will run)"""
    hot_available: bool
    hot_reason: str
    """Why hot is not offered (an N_ text), "" when it is."""
    will_stop: bool
    """Cold on a running VM: it is stopped and started again."""
    cluster_id: int = 0
    cloud_id: str = ""
    project: str = ""
    old_flavor_id: str = ""
    disk_gb: int = 1
    running: bool = False
    """The VM was ACTIVE when planned (its power state is restored after a cold resize)."""
    node: str = ""
    extra_specs: tuple[tuple[str, str], ...] = ()
    """Extra specs of the current flavor, copied to the new one (keeps hw:live_resize)."""

    @property
    def growth(self) -> Amounts:
        """What step 1 reserves."""
        return Amounts(vcpus=max(self.quota_delta.vcpus, 0), ram_gb=max(self.quota_delta.ram_gb, 0))

    @property
    def shrink(self) -> Amounts:
        """What step 8 gives back."""
        return Amounts(vcpus=max(-self.quota_delta.vcpus, 0), ram_gb=max(-self.quota_delta.ram_gb, 0))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (also what the operation records as its request)."""
        data = asdict(self)
        data["quota_delta"] = self.quota_delta.to_json()
        data["extra_specs"] = dict(self.extra_specs)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResizePlan:
        """The plan an operation recorded."""
        values = dict(data)
        values["quota_delta"] = Amounts(**values.get("quota_delta", {}))
        values["extra_specs"] = tuple(sorted((values.get("extra_specs") or {}).items()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


def labels_for(kind: str) -> dict[str, str]:
    """Step labels of an operation kind (codes repeat across kinds with other meanings)."""
    return STEP_LABELS if kind == KIND else VM_STEP_LABELS


def server_vcpus(server: dict[str, Any]) -> int:
    return int((server.get("flavor") or {}).get("vcpus") or 0)


def server_ram_gb(server: dict[str, Any]) -> int:
    return int((server.get("flavor") or {}).get("ram") or 0) // 1024


def on_flavor(server: dict[str, Any], plan: ResizePlan, flavor_name: str) -> bool:
    """The server runs on the new flavor: its name, vCPU and RAM (Nova shows the flavor without id from 2.47)."""
    flavor = server.get("flavor") or {}
    return (
        flavor.get("original_name") == flavor_name
        and server_vcpus(server) == plan.new_vcpus
        and int(flavor.get("ram") or 0) == plan.new_ram_gb * 1024
    )


def probe_live_resize(conn: Any) -> bool:
    """Whether Nova lists the vendor liveResize extension (GET /extensions, else the version document)."""
    return has_extension(conn, LIVE_RESIZE_EXTENSION)
