"""The VM domain's values: what the forms send (VmDraft), what lists show (VmInfo), plans and results.

Also the messages of the VM services' errors, the step labels of their operations and their constants.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from ectui.i18n import N_
from ectui.services.errors import ValidationError, register_messages
from ectui.services.openstack.errors import VmError
from ectui.services.projects import ProjectInfo
from ectui.services.validation import optional_text, required_text, whole_number
from ectui.services.vms.cloudinit import password_checks

__all__ = ["VmError"]

FEATURE = "platform.vms"
REFRESH_SLACK = dt.timedelta(seconds=5)
"""`changes-since` goes back this far from the previous fetch (clock skew between console and cloud)."""
GUEST_MOUNT_HINT = "mkdir isoformount && mount -t auto -o ro /dev/cdrom ./isoformount"
"""What to type in the guest after an ISO is mounted as its CD-ROM."""
VM_KINDS = ("create_vm", "delete_vm", "snapshot_vm", "mount_iso", "unmount_iso")
"""Operation kinds of this service (recovered by `VmService.recover_interrupted`)."""
SNAPSHOT_MARK = "ectui_operation"
"""Image property naming the snapshot operation (finds an image whose createImage answer was lost)."""

register_messages(
    {
        "vm.no_cluster": N_("Please configure cluster information first!"),
        "vm.project_without_cluster": N_(
            "Project {project} has no cluster and several are configured; set the project's cluster first."
        ),
        "vm.local_auto_placement": N_("Local-storage nodes cannot use system placement!"),
        "vm.bad_name": N_(
            "{field} '{value}' is not valid: 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit."
        ),
        "vm.password_weak": N_("{field} does not meet the rules: {rules}."),
        "vm.password_mismatch": N_("{field} does not match the password."),
        "vm.below_template": N_("{field} must be at least {minimum} for template {template}, got {value}."),
        "vm.template_not_found": N_(
            "{field}: no template with id {value}. List them with: ectui template list"
        ),
        "vm.template_other_cluster": N_(
            "{field}: template {template} belongs to cluster {template_cluster}, not {cluster} of the current project."
        ),
        "vm.keypair_not_found": N_(
            "{field}: no key pair '{value}' in cluster {cluster}. Import one with: ectui keypair import"
        ),
        "vm.network_not_found": N_("{field}: no network '{value}' in cluster {cluster}."),
        "vm.network_external": N_("{field}: '{value}' is an external network; choose a private network."),
        "vm.no_external_network": N_("Cluster {cluster} has no external network to take a public IP from."),
        "vm.exists": N_("Project {project} already has a VM named '{name}'; choose another name."),
        "vm.node_not_found": N_("Node {node} is not a compute node of cluster {cluster}."),
        "vm.node_down": N_("Node {node} is {state}/{status}; choose another node."),
        "vm.node_full": N_(
            "Node {node} has {vcpus_free} vCPU and {ram_gb_free} GB RAM free; {vcpus} vCPU and {ram_gb} GB are "
            "asked. Choose another node or a smaller spec."
        ),
        "vm.create_failed": N_(
            "Creating VM {name} failed at step '{field}': {reason} Everything made was rolled back and the "
            "reservation released."
        ),
        "vm.create_leftovers": N_(
            "Creating VM {name} failed at step '{field}': {reason} The rollback could not remove: {leftovers}"
        ),
        "vm.create_cancelled": N_(
            "Creating VM {name} was cancelled; everything made was rolled back and the reservation released."
        ),
        "vm.build_failed": N_("the server went to ERROR: {fault}"),
        "vm.build_timeout": N_("the server was not ACTIVE after {seconds} s (status {status})."),
        "vm.not_found": N_("No VM '{ref}'. List them with: ectui vm list"),
        "vm.ambiguous": N_("Several VMs are named '{ref}'; use the id (ectui vm list)."),
        "vm.locked_operation": N_(
            "VM {name} is locked by operation #{operation} ({kind}); wait until it ends."
        ),
        "vm.locked_nova": N_("VM {name} is locked in the cloud: {reason}"),
        "vm.no_server": N_("VM {name} has no server in the cloud (status {status})."),
        "vm.gone": N_("VM {name} is no longer in the cloud; delete it here to free its quota."),
        "vm.delete_failed": N_("Deleting VM {name} failed at step '{field}': {reason}"),
        "vm.action_failed": N_("{action} of VM {name} failed: {reason}"),
        "vm.snapshot_failed": N_(
            "Snapshot of VM {name} failed at step '{field}': {reason} The half-made image was deleted."
        ),
        "vm.snapshot_cancelled": N_("Snapshot of VM {name} was cancelled; the half-made image was deleted."),
        "vm.image_failed": N_("the snapshot image went to status {status}."),
        "vm.image_timeout": N_("the snapshot image was not active after {seconds} s (status {status})."),
        "vm.iso_not_found": N_("No ISO file with id {id}. List them with: ectui iso list"),
        "vm.iso_other_cluster": N_(
            "ISO {iso} is not on cluster {cluster} of the VM; choose one of its ISOs."
        ),
        "vm.iso_disabled": N_("ISO {iso} is disabled; only enabled ISOs can be mounted."),
        "vm.iso_gone": N_("ISO {iso} is no longer on the FTP server; sync the ISO files."),
        "vm.iso_already_mounted": N_("VM {name} already has ISO {iso} mounted; unmount it first."),
        "vm.iso_not_mounted": N_("VM {name} has no ISO mounted."),
        "vm.iso_no_image": N_(
            "Cluster {cluster} has no CD-ROM extension, so the ISO can only be mounted by booting the VM into "
            "it (Nova stable rescue), which needs a Glance image of the ISO; ISO {iso} has none. Upload {file} "
            "as an image (disk format iso) named {file} with property hw_rescue_device=cdrom."
        ),
        "vm.iso_image_not_rescue": N_(
            "The Glance image {image} of ISO {iso} lacks the property hw_rescue_device=cdrom, so Nova would "
            "not attach it as a CD-ROM. Set it with: openstack image set --property hw_rescue_device=cdrom {image}"
        ),
        "vm.iso_rescue_confirm": N_(
            "Cluster {cluster} has no CD-ROM extension: mounting ISO {iso} reboots VM {name} into it (Nova "
            "stable rescue, the ISO as CD-ROM); unmounting reboots it back. Confirm to go on (CLI: --yes)."
        ),
        "vm.mount_failed": N_("Mounting ISO {iso} on VM {name} failed: {reason}"),
        "vm.unmount_failed": N_("Unmounting ISO {iso} from VM {name} failed: {reason}"),
    }
)

PLACEMENTS = ("manual", "auto")
LOGINS = ("password", "keypair")
_NAME = re.compile(r"^[^\W_][\w.-]{0,63}$")


def is_id(text: str) -> bool:
    """ASCII digits that fit a database id: '١٢' or a 30-digit number is a name, not an id."""
    return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= 2**63 - 1


STEP_LABELS = {
    "reserve": N_("Reserve quota"),
    "flavor": N_("Create flavor"),
    "boot": N_("Boot on the node"),
    "wait": N_("Wait for ACTIVE"),
    "floating_ip": N_("Attach public IP"),
    "record": N_("Record the VM"),
    "server": N_("Delete the server"),
    "release_ip": N_("Release the public IP"),
    "drop_flavor": N_("Delete the flavor"),
    "forget": N_("Free the quota"),
    "snapshot": N_("Snapshot the VM"),
    "wait_image": N_("Wait for the image"),
    "record_template": N_("Record the template"),
    "attach_iso": N_("Mount the ISO"),
    "record_mount": N_("Record the mount"),
    "detach_iso": N_("Unmount the ISO"),
    "record_unmount": N_("Record the unmount"),
}
"""Step codes of the VM operations and their labels."""


@dataclass(frozen=True)
class NodeChoice:
    """A compute node with its free room, for the manual placement list."""

    name: str
    zone: str
    vcpus_free: int
    ram_gb_free: int
    state: str


@dataclass(frozen=True)
class TemplateChoice:
    """A template the VM can boot from."""

    id: int
    name: str
    kind: str
    """system | custom"""
    os_type: str
    min_cpu: int
    min_ram_gb: int
    min_disk_gb: int


@dataclass(frozen=True)
class NetworkChoice:
    """A network of the cluster (private ones for the VM, the external one for public IPs)."""

    id: str
    name: str
    external: bool


@dataclass(frozen=True)
class FormChoices:
    """What the create form offers for the current project's cluster."""

    cluster: str | None
    storage_mode: str | None
    templates: tuple[TemplateChoice, ...] = ()
    nodes: tuple[NodeChoice, ...] = ()
    networks: tuple[NetworkChoice, ...] = ()
    keypairs: tuple[str, ...] = ()


@dataclass(frozen=True)
class VmDraft:
    """A validated create request (the form's values); template minimums are checked by `create`."""

    name: str
    template_id: int
    placement: str
    node: str | None
    login: str
    password: str = field(repr=False)
    keypair: str | None
    cpu: int
    ram_gb: int
    description: str
    network: str
    public_ip: bool

    @classmethod
    def parse(
        cls,
        *,
        name: str,
        template_id: str | int | None,
        placement: str,
        node: str | None,
        login: str,
        password: str = "",
        password_confirm: str = "",
        keypair: str | None = None,
        cpu: str | int,
        ram_gb: str | int,
        description: str = "",
        network: str | None,
        public_ip: bool = False,
    ) -> VmDraft:
        """Validate raw values in form order; raises ValidationError naming the field (label and id)."""
        name = required_text(name, N_("Name"), field_id="name", max_len=64)
        if not _NAME.match(name):
            raise ValidationError("vm.bad_name", field=N_("Name"), field_id="name", value=name)
        if template_id is None or (isinstance(template_id, str) and not template_id.strip()):
            raise ValidationError("validation.required", field=N_("Template"), field_id="template")
        template = whole_number(
            template_id, N_("Template"), field_id="template", minimum=1, maximum=2**31 - 1
        )
        placement = (placement or "").strip().lower()
        if placement not in PLACEMENTS:
            raise ValidationError(
                "validation.choice",
                field=N_("Node"),
                field_id="placement",
                choices=", ".join(PLACEMENTS),
                value=placement,
            )
        node_name = None
        if placement == "manual":
            node_name = required_text(node, N_("Node"), field_id="node", max_len=255)
        login = (login or "").strip().lower()
        if login not in LOGINS:
            raise ValidationError(
                "validation.choice",
                field=N_("Login method"),
                field_id="login",
                choices=", ".join(LOGINS),
                value=login,
            )
        key_name = None
        if login == "password":
            if not password:
                raise ValidationError("validation.required", field=N_("Password"), field_id="password")
            failed = [label for _code, label, ok in password_checks(password) if not ok]
            if failed:
                from ectui.i18n import _

                raise ValidationError(
                    "vm.password_weak",
                    field=N_("Password"),
                    field_id="password",
                    rules=", ".join(_(label) for label in failed),
                )
            if password_confirm != password:
                raise ValidationError(
                    "vm.password_mismatch", field=N_("Confirm password"), field_id="password_confirm"
                )
        else:
            key_name = required_text(keypair, N_("Key pair"), field_id="keypair", max_len=255)
            password = ""
        cpu_n = whole_number(cpu, N_("CPU"), field_id="cpu", minimum=1, maximum=1024)
        ram = whole_number(ram_gb, N_("RAM (GB)"), field_id="ram", minimum=1, maximum=65536)
        description_text = optional_text(description, N_("Description"), field_id="description", max_len=2000)
        network_name = required_text(network, N_("Private network"), field_id="network", max_len=255)
        return cls(
            name=name,
            template_id=template,
            placement=placement,
            node=node_name,
            login=login,
            password=password,
            keypair=key_name,
            cpu=cpu_n,
            ram_gb=ram,
            description=description_text,
            network=network_name,
            public_ip=bool(public_ip),
        )

    def to_params(self) -> dict[str, Any]:
        """What the operation records as its request (never the password)."""
        return {
            "name": self.name,
            "template_id": self.template_id,
            "placement": self.placement,
            "node": self.node,
            "login": self.login,
            "keypair": self.keypair,
            "cpu": self.cpu,
            "ram_gb": self.ram_gb,
            "network": self.network,
            "public_ip": self.public_ip,
        }


@dataclass(frozen=True)
class VmInfo:
    """A VM as the list and the detail show it."""

    id: int
    cloud_id: str | None
    name: str
    project: str | None
    cluster: str
    status: str
    """The cloud status, or 'operating' while an operation holds the VM."""
    task_state: str
    vcpus: int
    ram_gb: int
    disk_gb: int
    node: str
    network: str
    fixed_ip: str
    floating_ip: str
    os_type: str
    login: str
    user_name: str
    keypair_name: str
    template: str | None
    locked: bool
    lock_reason: str
    mounted_iso: str | None
    description: str
    created_by: str
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "cloud_id": self.cloud_id,
            "name": self.name,
            "project": self.project,
            "cluster": self.cluster,
            "status": self.status,
            "task_state": self.task_state,
            "vcpus": self.vcpus,
            "ram_gb": self.ram_gb,
            "disk_gb": self.disk_gb,
            "node": self.node,
            "network": self.network,
            "fixed_ip": self.fixed_ip,
            "floating_ip": self.floating_ip,
            "os_type": self.os_type,
            "login": self.login,
            "user_name": self.user_name,
            "keypair": self.keypair_name,
            "template": self.template,
            "locked": self.locked,
            "lock_reason": self.lock_reason,
            "mounted_iso": self.mounted_iso,
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class SnapshotInfo:
    """The custom template (and its image) made from a VM snapshot."""

    vm: str
    template_id: int
    template: str
    image_id: int
    """The console's id of the recorded image (source 'snapshot')."""
    image_cloud_id: str
    os_type: str
    min_cpu: int
    min_ram_gb: int
    min_disk_gb: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "vm": self.vm,
            "template_id": self.template_id,
            "template": self.template,
            "kind": "custom",
            "image_id": self.image_id,
            "image_cloud_id": self.image_cloud_id,
            "os_type": self.os_type,
            "min_cpu": self.min_cpu,
            "min_ram_gb": self.min_ram_gb,
            "min_disk_gb": self.min_disk_gb,
        }


@dataclass(frozen=True)
class MountPlan:
    """How an ISO would be mounted: `cdrom` (vendor extension) or `rescue` (reboots the VM into it)."""

    vm_id: int
    vm: str
    iso_id: int
    iso: str
    file_name: str
    cluster: str
    method: str
    """cdrom | rescue"""
    image_id: str = ""
    """The Glance image of the ISO (rescue only)."""
    image_name: str = ""

    @property
    def reboots(self) -> bool:
        """The VM reboots into the ISO (stable rescue): the operator must confirm first."""
        return self.method == "rescue"


@dataclass(frozen=True)
class MountInfo:
    """A mounted ISO, with the hint to type in the guest."""

    vm: VmInfo
    iso: str
    method: str
    hint: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"vm": self.vm.to_json(), "iso": self.iso, "method": self.method, "hint": self.hint}


@dataclass(frozen=True)
class CreatePlan:
    """Everything the create steps need, resolved before anything is made."""

    cluster_id: int
    cluster: str
    project: ProjectInfo
    template_id: int
    template_name: str
    image_id: str
    os_type: str
    disk_gb: int
    zone: str
    network_id: str
    network_name: str
    external_id: str | None


@dataclass(frozen=True)
class VmRef:
    """What an operation on an existing VM needs of its row, read once before it starts."""

    id: int
    name: str
    cluster_id: int
    cloud_id: str | None
    flavor_id: str
    floating_ip_id: str
    vcpus: int
    ram_gb: int
    project: str | None
    status: str


@dataclass(frozen=True)
class Polling:
    """How the waits on the cloud poll: first interval, its cap, and the give-up time (seconds)."""

    first: float
    cap: float
    timeout: float
