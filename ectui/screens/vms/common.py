"""VM texts shared by the list and the dialogs: status labels, lock, spec, sort and filter."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ectui.i18n import N_, _

if TYPE_CHECKING:
    from ectui.services.vms import VmInfo


TRANSITIONAL = frozenset(
    {"BUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE", "MIGRATING", "REBUILD",
     "RESCUE", "UNRESCUING", "operating", "creating"}
)  # fmt: skip
"""Statuses that change soon: the list polls fast while a VM shows one."""

STATUS_LABELS = {
    "ACTIVE": N_("running"),
    "SHUTOFF": N_("stopped"),
    "BUILD": N_("building"),
    "REBOOT": N_("rebooting"),
    "HARD_REBOOT": N_("rebooting"),
    "RESIZE": N_("resizing"),
    "VERIFY_RESIZE": N_("resizing"),
    "ERROR": N_("error"),
    "PAUSED": N_("paused"),
    "SUSPENDED": N_("suspended"),
    "RESCUE": N_("rescue (ISO)"),
    "DELETED": N_("deleted"),
    "operating": N_("operating"),
    "creating": N_("creating"),
}

SORTS: tuple[tuple[str, str], ...] = (
    ("name", N_("name")),
    ("status", N_("status")),
    ("node", N_("node")),
    ("created", N_("newest")),
)
"""Sort orders cycled with `o`: (code, label)."""

VM_FIELDS = {
    "name": "vm-name",
    "template": "vm-template",
    "placement": "vm-node",
    "node": "vm-node",
    "login": "vm-login",
    "password": "vm-password",
    "password_confirm": "vm-password-confirm",
    "keypair": "vm-keypair",
    "cpu": "vm-cpu",
    "ram": "vm-ram",
    "description": "vm-description",
    "network": "vm-network",
}
"""ValidationError.field_id → the widget of the create form to mark and focus."""

KEY_FIELDS = {"name": "key-name", "public_key": "key-path"}
"""ValidationError.field_id → the widget of the key import form to mark and focus."""

AUTO = "auto"
"""Value of the node choice that lets the cloud place the VM."""


def status_label(status: str) -> str:
    """The status in the UI language ('ACTIVE' → 'running')."""
    label = STATUS_LABELS.get(status)
    return _(label) if label else status


def lock_text(vm: VmInfo) -> str:
    """Why a VM is locked, in the UI language ('' when it is not)."""
    if not vm.locked:
        return ""
    if vm.lock_reason == "nova":
        return _("locked in the cloud (Nova lock)")
    if vm.lock_reason.startswith("operation"):
        return _("held by {operation}; wait until it ends").format(operation=vm.lock_reason)
    return vm.lock_reason or _("locked")


def spec_text(vcpus: int, ram_gb: int) -> str:
    """'2C/4G'."""
    return f"{vcpus}C/{ram_gb}G"


def sort_key(code: str) -> Callable[[VmInfo], Any]:
    """The key function of a sort order."""
    if code == "status":
        return lambda vm: (vm.status, vm.name.lower())
    if code == "node":
        return lambda vm: (vm.node, vm.name.lower())
    if code == "created":
        return lambda vm: -vm.created_at.timestamp()
    return lambda vm: vm.name.lower()


def matches(vm: VmInfo, needle: str) -> bool:
    """Whether the filter text occurs in the name, status, node, IPs, project, cluster or template."""
    if not needle:
        return True
    fields = (vm.name, vm.status, status_label(vm.status), vm.node, vm.fixed_ip, vm.floating_ip,
              vm.project or "", vm.cluster, vm.template or "", vm.description)  # fmt: skip
    return any(needle in f.lower() for f in fields)
