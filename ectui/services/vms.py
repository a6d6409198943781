"""VMs (云主机, SPEC V1-V3): the create flow, the list with live status, and the power/delete/console actions.

Create runs through the operations engine (every step persisted, compensated newest first on failure):
reserve quota → private flavor → boot (forced host, or Nova's scheduler) → wait for ACTIVE → floating IP
(if asked) → record. Nothing is recorded in the `vm` table unless every step worked.

Passwords: a Linux template gets cloud-init user data whose `chpasswd` list carries a SHA-512 crypt
(`$6$`) hash of the password, never the password itself; a Windows template gets cloudbase-init
user data that names the admin user and no password: cloudbase-init's SetUserPasswordPlugin sets
it from the instance's `admin_pass` (Nova's `adminPass`, which both kinds also get).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ectui.db.models import Cluster, Image, IsoFile, Keypair, Operation, Project, Template, Vm, utcnow
from ectui.i18n import N_
from ectui.services.audit import audited
from ectui.services.billing import meter
from ectui.services.errors import ServiceError, ValidationError, register_messages
from ectui.services.openstack.connection import CloudConnections, CloudError, classify
from ectui.services.operations.engine import (
    CleanupPending,
    OperationEngine,
    OperationInfo,
    Recovered,
    RunContext,
    Step,
)
from ectui.services.progress import Cancelled, CancelToken, ProgressCallback, ignore_progress
from ectui.services.projects import Amounts, ProjectInfo, QuotaError
from ectui.services.validation import optional_text, required_text, whole_number

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.billing import BillingService
    from ectui.services.clusters import ClusterService
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.projects import ProjectService

T = TypeVar("T")
log = logging.getLogger("ectui.vms")
FEATURE = "platform.vms"
COMPUTE_MICROVERSION = "2.73"
HOST_PLACEMENT_MICROVERSION = "2.74"
"""Nova accepts `host` / `hypervisor_hostname` on server create from this microversion."""


def supports_host_placement(conn: Any) -> bool:
    """Whether the cloud's compute API goes up to microversion 2.74 (read from its version discovery)."""
    from keystoneauth1 import discover

    try:
        data = conn.compute.get_endpoint_data()
    except Exception:  # discovery unavailable: use the placement every Nova understands
        return False
    highest = getattr(data, "max_microversion", None) if data is not None else None
    if not highest:
        return False
    return bool(
        discover.normalize_version_number(highest)
        >= discover.normalize_version_number(HOST_PLACEMENT_MICROVERSION)
    )


"""Servers are read at 2.73: `locked` (2.9), `locked_reason` (2.73) and the admin host fields."""
POLL_FIRST = 0.05
"""Seconds before the first status poll of a new server; it grows by half each time up to POLL_MAX."""
POLL_MAX = 0.25
BUILD_TIMEOUT = 900.0
DELETE_TIMEOUT = 300.0
REFRESH_SLACK = dt.timedelta(seconds=5)
"""`changes-since` goes back this far from the previous fetch (clock skew between console and cloud)."""
PAGE_SIZE = 250
"""Servers per list request: small pages keep each JSON parse short (it holds the GIL the event loop needs)."""
GUEST_MOUNT_HINT = "mkdir isoformount && mount -t auto -o ro /dev/cdrom ./isoformount"
"""What to type in the guest after an ISO is mounted as its CD-ROM (SPEC S6)."""
CDROM_EXTENSION = "EC-CDROM"
"""Alias of the vendor CD-ROM extension (attachCdrom / detachCdrom) in Nova's extension list."""
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

PASSWORD_RULES: tuple[tuple[str, str], ...] = (
    ("length", N_("8-64 characters")),
    ("upper", N_("an upper-case letter")),
    ("lower", N_("a lower-case letter")),
    ("digit", N_("a digit")),
    ("special", N_("a special character")),
)
"""The password complexity rules: (code, label)."""
OS_USERS = {"linux": "root", "windows": "administrator"}
PLACEMENTS = ("manual", "auto")
LOGINS = ("password", "keypair")
_NAME = re.compile(r"^[^\W_][\w.-]{0,63}$")


def _is_id(text: str) -> bool:
    """ASCII digits that fit a database id: '١٢' or a 30-digit number is a name, not an id."""
    return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= 2**63 - 1


_SPECIAL = re.compile(r"[^A-Za-z0-9]")

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


class VmError(ServiceError):
    """A refused or failed VM operation."""


# ------------------------------------------------------------------ passwords


def password_checks(password: str) -> list[tuple[str, str, bool]]:
    """Each rule with whether `password` meets it, for live display as the operator types."""
    ok = {
        "length": 8 <= len(password) <= 64,
        "upper": any(c.isupper() for c in password),
        "lower": any(c.islower() for c in password),
        "digit": any(c.isdigit() for c in password),
        "special": bool(_SPECIAL.search(password)) and not any(c.isspace() for c in password),
    }
    return [(code, label, ok[code]) for code, label in PASSWORD_RULES]


def user_name_for(os_type: str) -> str:
    """The fixed login user of a template's OS: root for linux, administrator for windows."""
    return OS_USERS.get((os_type or "linux").lower(), "root")


_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SHA512_ORDER = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
    (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
    (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41),
)  # fmt: skip


def sha512_crypt(password: str, salt: str | None = None, rounds: int = 5000) -> str:
    """The SHA-512 crypt (`$6$`) hash of a password, as glibc's crypt(3) and chpasswd -e read it.

    Written out (Drepper's specification) because Python's `crypt` module is gone from 3.13.
    """
    pw = password.encode()
    salt = (salt if salt is not None else "".join(secrets.choice(_ITOA64) for _ in range(16)))[:16]
    s = salt.encode()
    b = hashlib.sha512(pw + s + pw).digest()
    a = hashlib.sha512(pw + s)
    a.update(b * (len(pw) // 64) + b[: len(pw) % 64])
    n = len(pw)
    while n:
        a.update(b if n & 1 else pw)
        n >>= 1
    digest_a = a.digest()
    dp = hashlib.sha512(pw * len(pw)).digest()
    p = dp * (len(pw) // 64) + dp[: len(pw) % 64]
    ds = hashlib.sha512(s * (16 + digest_a[0])).digest()
    sb = ds * (len(s) // 64) + ds[: len(s) % 64]
    c = digest_a
    for i in range(rounds):
        h = hashlib.sha512(p if i & 1 else c)
        if i % 3:
            h.update(sb)
        if i % 7:
            h.update(p)
        h.update(c if i & 1 else p)
        c = h.digest()
    out = []
    for x, y, z in _SHA512_ORDER:
        v = (c[x] << 16) | (c[y] << 8) | c[z]
        for _ in range(4):
            out.append(_ITOA64[v & 63])
            v >>= 6
    v = c[63]
    for _ in range(2):
        out.append(_ITOA64[v & 63])
        v >>= 6
    prefix = "$6$" if rounds == 5000 else f"$6$rounds={rounds}$"
    return f"{prefix}{salt}${''.join(out)}"


def user_data_for(os_type: str, user: str, password: str | None) -> str:
    """The user data of a new VM: cloud-init (linux) or cloudbase-init (windows); never the clear password."""
    if os_type == "windows":
        # cloudbase-init: SetUserPasswordPlugin takes the password from the metadata's admin_pass
        # (Nova's adminPass); the user data only names the user it manages.
        return f"#cloud-config\n# ectui: cloudbase-init admin user {user}; password from admin_pass\n"
    lines = ["#cloud-config"]
    if password:
        lines += [
            "ssh_pwauth: true",
            "disable_root: false",
            "chpasswd:",
            "  expire: false",
            "  list: |",
            f"    {user}:{sha512_crypt(password)}",
        ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ DTOs


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
    """A validated create request (step 1 of V2); template minimums are checked by `create`."""

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
        """Validate raw values in form order; raises ValidationError naming the field."""
        name = required_text(name, N_("Name"), max_len=64)
        if not _NAME.match(name):
            raise ValidationError("vm.bad_name", field=N_("Name"), value=name)
        if template_id is None or (isinstance(template_id, str) and not template_id.strip()):
            raise ValidationError("validation.required", field=N_("Template"))
        template = whole_number(template_id, N_("Template"), minimum=1, maximum=2**31 - 1)
        placement = (placement or "").strip().lower()
        if placement not in PLACEMENTS:
            raise ValidationError(
                "validation.choice", field=N_("Node"), choices=", ".join(PLACEMENTS), value=placement
            )
        node_name = None
        if placement == "manual":
            node_name = required_text(node, N_("Node"), max_len=255)
        login = (login or "").strip().lower()
        if login not in LOGINS:
            raise ValidationError(
                "validation.choice", field=N_("Login method"), choices=", ".join(LOGINS), value=login
            )
        key_name = None
        if login == "password":
            if not password:
                raise ValidationError("validation.required", field=N_("Password"))
            failed = [label for _code, label, ok in password_checks(password) if not ok]
            if failed:
                from ectui.i18n import _

                raise ValidationError(
                    "vm.password_weak", field=N_("Password"), rules=", ".join(_(label) for label in failed)
                )
            if password_confirm != password:
                raise ValidationError("vm.password_mismatch", field=N_("Confirm password"))
        else:
            key_name = required_text(keypair, N_("Key pair"), max_len=255)
            password = ""
        cpu_n = whole_number(cpu, N_("CPU"), minimum=1, maximum=1024)
        ram = whole_number(ram_gb, N_("RAM (GB)"), minimum=1, maximum=65536)
        description_text = optional_text(description, N_("Description"), max_len=2000)
        network_name = required_text(network, N_("Private network"), max_len=255)
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
class _Plan:
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


# ------------------------------------------------------------------ the service


class VmService:
    """Create VMs through the operations engine; list, refresh and act on them."""

    def __init__(
        self,
        db: Database,
        clusters: ClusterService,
        projects: ProjectService,
        license_service: ConsoleLicenseService,
        settings: Settings,
        *,
        poll_first: float = POLL_FIRST,
        poll_max: float = POLL_MAX,
        build_timeout: float = BUILD_TIMEOUT,
    ) -> None:
        self._db = db
        self._clusters = clusters
        self._projects = projects
        self._license = license_service
        self._settings = settings
        self.engine = OperationEngine(db, settings.operator)
        self._poll_first = poll_first
        self._poll_max = poll_max
        self._build_timeout = build_timeout
        self._markers: dict[int, str] = {}
        """Per cluster: the `changes-since` time of the next refresh (a full list first)."""
        self._cdrom: dict[int, bool] = {}
        """Per cluster: whether Nova has the vendor CD-ROM extension (probed once)."""
        self.billing: BillingService | None = None
        """Metering of the lifecycle (set by BillingService when the console is wired); None: not metered."""

    # -- license

    async def _check(self, *, write: bool) -> None:
        await self._license.status()
        policy = self._license.policy()
        if write:
            policy.ensure_writable()
        policy.require_feature(FEATURE)

    # -- form

    async def form_choices(self) -> FormChoices:
        """Templates, nodes (with fresh free room), networks and key pairs of the current project's cluster."""
        project = await self._projects.require_current()
        cluster_id = await asyncio.to_thread(self._cluster_id_for, project)
        cluster = await asyncio.to_thread(self._cluster_row_info, cluster_id)
        templates, keypairs = await asyncio.to_thread(self._choices_from_db, cluster_id)
        hypervisors, zones, networks = await call_keeping_errors(
            self._clusters.connections, cluster_id, _read_room_and_networks
        )
        nodes = tuple(
            NodeChoice(
                name=h["name"],
                zone=zones.get(h["host"], zones.get(h["name"], "nova")),
                vcpus_free=max(h["vcpus"] - h["vcpus_used"], 0),
                ram_gb_free=max(h["memory_mb"] - h["memory_mb_used"], 0) // 1024,
                state=f"{h['state']}/{h['status']}",
            )
            for h in sorted(hypervisors, key=lambda h: h["name"])
        )
        return FormChoices(
            cluster=cluster[0],
            storage_mode=cluster[1],
            templates=templates,
            nodes=nodes,
            networks=tuple(NetworkChoice(n["id"], n["name"], n["external"]) for n in networks),
            keypairs=keypairs,
        )

    def _choices_from_db(self, cluster_id: int) -> tuple[tuple[TemplateChoice, ...], tuple[str, ...]]:
        with self._db.session() as session:
            templates = tuple(
                TemplateChoice(t.id, t.name, t.kind, t.os_type, t.min_cpu, t.min_ram_gb, t.min_disk_gb)
                for t in session.scalars(
                    select(Template)
                    .where(Template.cluster_id == cluster_id)
                    .order_by(Template.kind, Template.name)
                )
            )
            keypairs = tuple(
                session.scalars(
                    select(Keypair.name).where(Keypair.cluster_id == cluster_id).order_by(Keypair.name)
                )
            )
        return templates, keypairs

    def _cluster_row_info(self, cluster_id: int) -> tuple[str, str]:
        with self._db.session() as session:
            row = session.get(Cluster, cluster_id)
            assert row is not None
            return row.name, row.storage_mode

    def _cluster_id_for(self, project: ProjectInfo) -> int:
        """The project's cluster, or the only one configured; refusals in V2 order."""
        with self._db.session() as session:
            return cluster_id_for(session, project)

    # -- create

    @audited("vm.create", "draft.name")
    async def create(
        self,
        draft: VmDraft,
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        project_name: str | None = None,
        reservation_id: int | None = None,
    ) -> VmInfo:
        """Create a VM in the V2 order; any failure rolls back everything made and releases the reservation.

        `project_name` and `reservation_id` serve an approved workflow request: the requester's project
        (not the approver's current one) and the quota held since the request, consumed instead of a new one.
        """
        cancel = cancel or CancelToken()
        await self._check(write=True)
        if project_name is not None:
            project = await self._projects.get(project_name)
        else:
            project = await self._projects.require_current()
        cluster_id = await asyncio.to_thread(self._cluster_id_for, project)
        template = await asyncio.to_thread(self._template_for, draft)
        await asyncio.to_thread(self._check_names, draft, project, cluster_id, template)
        cluster_name, storage_mode = await asyncio.to_thread(self._cluster_row_info, cluster_id)
        if draft.placement == "auto" and storage_mode == "local":
            raise VmError("vm.local_auto_placement")
        probe = await call_keeping_errors(
            self._clusters.connections, cluster_id, lambda conn: _probe_for_create(conn, draft, cluster_name)
        )
        plan = _Plan(
            cluster_id=cluster_id,
            cluster=cluster_name,
            project=project,
            template_id=template.id,
            template_name=template.name,
            image_id=template.image_cloud_id,
            os_type=template.os_type,
            disk_gb=template.min_disk_gb,
            zone=probe["zone"],
            network_id=probe["network_id"],
            network_name=probe["network_name"],
            external_id=probe["external_id"],
        )
        cancel.raise_if_cancelled()
        steps = self._create_steps(draft, plan)
        op_id = await asyncio.to_thread(
            self.engine.create_sync,
            "create_vm",
            steps,
            params={
                **draft.to_params(),
                "cluster": cluster_name,
                "cluster_id": cluster_id,
                "project": project.name,
            },
            project_id=project.id,
        )
        data: dict[str, Any] = {} if reservation_id is None else {"reservation_id": reservation_id}

        def error_of(step: Step, err: BaseException) -> ServiceError:
            if isinstance(err, Cancelled | asyncio.CancelledError) or cancel.cancelled:
                return Cancelled("vm.create_cancelled", name=draft.name)
            if isinstance(err, QuotaError):  # the refusal of step 5 as the project service words it
                return err
            return VmError("vm.create_failed", name=draft.name, field=step.label, reason=_render(err))

        try:
            await self.engine.run(
                op_id, steps, data, on_progress=on_progress, cancel=cancel, error_of=error_of
            )
        except CleanupPending as err:  # the cloud went away: the rollback is retried later, quota held
            raise VmError(
                "vm.create_cleanup_pending", name=draft.name, field=err.step, reason=_render(err.cause),
                leftovers=err.params.get("leftovers", ""),
            ) from err.__cause__  # fmt: skip
        except ServiceError as err:
            if "leftovers" in err.params and not isinstance(err, Cancelled):
                raise VmError("vm.create_leftovers", **err.params) from err.__cause__
            raise
        await meter(self.billing, int(data["vm_id"]), "create")
        return await self.get(int(data["vm_id"]))

    def _template_for(self, draft: VmDraft) -> Template:
        with self._db.session() as session:
            template = session.get(Template, draft.template_id)
            if template is None:
                raise ValidationError("vm.template_not_found", field=N_("Template"), value=draft.template_id)
            for label, asked, minimum in (
                (N_("CPU"), draft.cpu, template.min_cpu),
                (N_("RAM (GB)"), draft.ram_gb, template.min_ram_gb),
            ):
                if asked < minimum:
                    raise ValidationError(
                        "vm.below_template", field=label, minimum=minimum, template=template.name, value=asked
                    )
            session.expunge(template)
            return template

    def _check_names(self, draft: VmDraft, project: ProjectInfo, cluster_id: int, template: Template) -> None:
        with self._db.session() as session:
            cluster = session.get(Cluster, cluster_id)
            assert cluster is not None
            if template.cluster_id != cluster_id:
                other = session.get(Cluster, template.cluster_id)
                raise ValidationError(
                    "vm.template_other_cluster",
                    field=N_("Template"),
                    template=template.name,
                    template_cluster=other.name if other else "?",
                    cluster=cluster.name,
                )
            if draft.login == "keypair" and (
                session.scalar(
                    select(Keypair.id).where(Keypair.cluster_id == cluster_id, Keypair.name == draft.keypair)
                )
                is None
            ):
                raise ValidationError(
                    "vm.keypair_not_found", field=N_("Key pair"), value=draft.keypair, cluster=cluster.name
                )
            if (
                session.scalar(select(Vm.id).where(Vm.project_id == project.id, Vm.name == draft.name))
                is not None
            ):
                raise VmError("vm.exists", project=project.name, name=draft.name)

    def _create_steps(self, draft: VmDraft, plan: _Plan) -> list[Step]:
        conns = self._clusters.connections
        projects = self._projects
        amounts = Amounts(vcpus=draft.cpu, ram_gb=draft.ram_gb, vms=1, public_ips=1 if draft.public_ip else 0)
        tag = uuid.uuid4().hex[:8]
        flavor_name = f"ectui-{draft.name}-{tag}"[:255]
        user = user_name_for(plan.os_type)

        def conn() -> Any:
            return conns.get_sync(plan.cluster_id)

        def reserve(ctx: RunContext) -> None:
            if "reservation_id" in ctx.data:  # held since a workflow request was made
                ctx.report(N_("quota held by the approved request"))
                return
            reservation = projects.reserve_sync(plan.project.name, amounts, f"create VM {draft.name}")
            ctx.data["reservation_id"] = reservation.id

        def release(ctx: RunContext) -> None:
            if "reservation_id" in ctx.data:
                projects.finish_sync(int(ctx.data["reservation_id"]), "released")

        def make_flavor(ctx: RunContext) -> None:
            ctx.data["flavor_name"] = flavor_name
            flavor = _sdk(
                lambda: conn().compute.create_flavor(
                    name=flavor_name,
                    vcpus=draft.cpu,
                    ram=draft.ram_gb * 1024,
                    disk=plan.disk_gb,
                    is_public=False,
                    description=f"ectui VM {draft.name}",
                )
            )
            ctx.data["flavor_id"] = flavor.id

        def drop_flavor(ctx: RunContext) -> None:
            c = conn()
            flavor_id = ctx.data.get("flavor_id")
            if flavor_id is None and ctx.data.get("flavor_name"):  # made, but the answer was lost
                found = _find_flavor(c, ctx.data["flavor_name"])
                flavor_id = found.id if found is not None else None
            if flavor_id is not None:
                _sdk(lambda: c.compute.delete_flavor(flavor_id, ignore_missing=True))

        def boot(ctx: RunContext) -> None:
            body: dict[str, Any] = {
                "name": draft.name,
                "imageRef": plan.image_id,
                "flavorRef": ctx.data["flavor_id"],
                "networks": [{"uuid": plan.network_id}],
                "metadata": {"ectui_operation": str(ctx.operation_id), "ectui_project": plan.project.name},
                "user_data": base64.b64encode(
                    user_data_for(plan.os_type, user, draft.password or None).encode()
                ).decode(),
            }
            if draft.description:
                body["description"] = draft.description
            microversion = COMPUTE_MICROVERSION
            if draft.placement == "manual" and draft.node:
                if supports_host_placement(conn()):
                    # 2.74: name the hypervisor; the scheduler still checks it has the room
                    body["hypervisor_hostname"] = draft.node
                    microversion = HOST_PLACEMENT_MICROVERSION
                else:  # older Novas: the forced host of the availability zone (skips the checks)
                    body["availability_zone"] = f"{plan.zone}:{draft.node}"
            if draft.login == "password":
                body["adminPass"] = draft.password
            else:
                body["key_name"] = draft.keypair
            ctx.cancel.raise_if_cancelled()
            answer = _call_json(
                conn().compute, "post", "/servers", json={"server": body}, microversion=microversion
            )
            ctx.data["server_id"] = answer["server"]["id"]

        def drop_server(ctx: RunContext) -> None:
            c = conn()
            server_id = ctx.data.get("server_id")
            if server_id is None:  # the answer may have been lost after Nova made it: find it by its mark
                server_id = _find_marked_server(c, draft.name, ctx.operation_id)
            if server_id is not None:
                _delete_server_and_wait(c, server_id, self._poll_first, self._poll_max)
                _drop_ports(c, server_id)

        def wait(ctx: RunContext) -> None:
            server = _wait_for_status(
                conn(),
                ctx.data["server_id"],
                "ACTIVE",
                cancel=ctx.cancel,
                report=ctx.report,
                first=self._poll_first,
                cap=self._poll_max,
                timeout=self._build_timeout,
            )
            ctx.data["node"] = (
                server.get("OS-EXT-SRV-ATTR:hypervisor_hostname")
                or server.get("OS-EXT-SRV-ATTR:host")
                or draft.node
                or ""
            )
            ctx.data["fixed_ip"] = _fixed_ip(server)

        def attach_ip(ctx: RunContext) -> None:
            c = conn()
            ports = _sdk(lambda: list(c.network.ports(device_id=ctx.data["server_id"])))
            if not ports:
                raise VmError("vm.no_server", name=draft.name, status="no port")
            fip = _sdk(
                lambda: c.network.create_ip(
                    floating_network_id=plan.external_id,
                    port_id=ports[0].id,
                    description=f"ectui VM {draft.name} (operation {ctx.operation_id})",
                )
            )
            ctx.data["floating_ip_id"] = fip.id
            ctx.data["floating_ip"] = fip.floating_ip_address

        def release_ip(ctx: RunContext) -> None:
            _release_marked_ip(conn(), ctx.data.get("floating_ip_id"), draft.name, ctx.operation_id)

        def record(ctx: RunContext) -> None:
            with self._db.session() as session:
                vm = Vm(
                    cluster_id=plan.cluster_id,
                    project_id=plan.project.id,
                    cloud_id=ctx.data["server_id"],
                    name=draft.name,
                    description=draft.description,
                    template_id=plan.template_id,
                    os_type=plan.os_type,
                    login=draft.login,
                    keypair_name=draft.keypair or "",
                    user_name=user,
                    vcpus=draft.cpu,
                    ram_gb=draft.ram_gb,
                    disk_gb=plan.disk_gb,
                    flavor_id=ctx.data["flavor_id"],
                    node=ctx.data.get("node", ""),
                    network=plan.network_name,
                    fixed_ip=ctx.data.get("fixed_ip", ""),
                    floating_ip=ctx.data.get("floating_ip", ""),
                    floating_ip_id=ctx.data.get("floating_ip_id", ""),
                    status="ACTIVE",
                    created_by=self._settings.operator,
                )
                session.add(vm)
                session.flush()
                ctx.data["vm_id"] = vm.id
                op = session.get(Operation, ctx.operation_id)
                if op is not None:
                    op.vm_id = vm.id
            projects.finish_sync(int(ctx.data["reservation_id"]), "committed")

        def forget(ctx: RunContext) -> None:
            if ctx.data.get("vm_id"):
                with self._db.session() as session:
                    row = session.get(Vm, int(ctx.data["vm_id"]))
                    if row is not None:
                        session.delete(row)
                ctx.data.pop("vm_id", None)

        steps = [
            Step("reserve", STEP_LABELS["reserve"], reserve, release, after_cleanup=True),
            Step("flavor", STEP_LABELS["flavor"], make_flavor, drop_flavor),
            Step("boot", STEP_LABELS["boot"], boot, drop_server),
            Step("wait", STEP_LABELS["wait"], wait),
        ]
        if draft.public_ip:
            steps.append(Step("floating_ip", STEP_LABELS["floating_ip"], attach_ip, release_ip))
        steps.append(Step("record", STEP_LABELS["record"], record, forget))
        return steps

    # -- reading

    async def list(self, *, all_projects: bool = False) -> list[VmInfo]:
        """VMs as the database knows them: the current project's, or every project's and cluster's."""
        project_id = None
        if not all_projects:
            project_id = (await self._projects.require_current()).id
        return await asyncio.to_thread(self._list, project_id)

    def _list(self, project_id: int | None) -> list[VmInfo]:
        with self._db.session() as session:
            query = select(Vm).order_by(Vm.name, Vm.id)
            if project_id is not None:
                query = query.where(Vm.project_id == project_id)
            rows = list(session.scalars(query))
            return _infos(session, rows)

    async def get(self, vm_id: int) -> VmInfo:
        """One VM by its console id."""

        def load() -> VmInfo:
            with self._db.session() as session:
                return _infos(session, [self._row(session, vm_id)])[0]

        return await asyncio.to_thread(load)

    async def find(self, ref: str, *, all_projects: bool = False) -> VmInfo:
        """A VM by console id or name: the current project's first, then (with `all_projects`) any project's."""
        current = await self._projects.current()

        def load() -> VmInfo:
            with self._db.session() as session:
                text = ref.strip()
                if _is_id(text):
                    row = session.get(Vm, int(text))
                    if row is not None:
                        return _infos(session, [row])[0]
                rows: list[Vm] = []
                if current is not None:
                    rows = list(
                        session.scalars(select(Vm).where(Vm.name == text, Vm.project_id == current.id))
                    )
                if not rows and (all_projects or current is None):
                    rows = list(session.scalars(select(Vm).where(Vm.name == text)))
                if not rows:
                    raise VmError("vm.not_found", ref=text)
                if len(rows) > 1:
                    raise VmError("vm.ambiguous", ref=text)
                return _infos(session, rows)[0]

        return await asyncio.to_thread(load)

    async def template_ref(self, ref: str | int) -> int:
        """A template id from an id or a name (names are looked up in the current project's cluster)."""
        text = str(ref).strip()
        if _is_id(text):
            return int(text)
        if not text:
            raise ValidationError("validation.required", field=N_("Template"))
        project = await self._projects.require_current()

        def lookup() -> int:
            with self._db.session() as session:
                cluster_id = cluster_id_for(session, project)
                found = session.scalar(
                    select(Template.id).where(Template.cluster_id == cluster_id, Template.name == text)
                )
                if found is None:
                    raise ValidationError("vm.template_not_found", field=N_("Template"), value=text)
                return found

        return await asyncio.to_thread(lookup)

    async def history(self, vm_id: int) -> list[OperationInfo]:
        """The operations that touched a VM, newest first."""

        def load() -> list[OperationInfo]:
            with self._db.session() as session:
                self._row(session, vm_id)
                ops = session.scalars(
                    select(Operation).where(Operation.vm_id == vm_id).order_by(Operation.id.desc())
                )
                return [OperationEngine.info(op, STEP_LABELS) for op in ops]

        return await asyncio.to_thread(load)

    async def refresh(self, *, all_projects: bool = False) -> list[VmInfo]:
        """Pull statuses from the clouds (only what changed since the last pull, where Nova offers it), then list."""
        project_id = None
        if not all_projects:
            project_id = (await self._projects.require_current()).id
        cluster_ids = await asyncio.to_thread(self._clusters_in_view, project_id)
        results = await asyncio.gather(
            *(self._refresh_cluster(c) for c in cluster_ids), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and len(errors) == len(results):
            raise errors[0] if isinstance(errors[0], ServiceError) else classify(errors[0])
        return await asyncio.to_thread(self._list, project_id)

    def _clusters_in_view(self, project_id: int | None) -> list[int]:
        with self._db.session() as session:
            query = select(Vm.cluster_id).distinct()
            if project_id is not None:
                query = query.where(Vm.project_id == project_id)
            return list(session.scalars(query))

    async def _refresh_cluster(self, cluster_id: int) -> None:
        since = self._markers.get(cluster_id)
        started = dt.datetime.now(dt.UTC)
        servers = await call_keeping_errors(
            self._clusters.connections, cluster_id, lambda conn: _list_servers(conn, since)
        )
        await asyncio.to_thread(self.store_statuses, cluster_id, servers, full=since is None)
        self._markers[cluster_id] = (started - REFRESH_SLACK).strftime("%Y-%m-%dT%H:%M:%SZ")

    def store_statuses(self, cluster_id: int, servers: list[dict[str, Any]], *, full: bool) -> int:
        """Apply listed servers to the VM rows of a cluster; with a full list, mark missing ones DELETED."""
        by_id = {s["id"]: s for s in servers}
        changed = 0
        with self._db.session() as session:
            rows = session.scalars(select(Vm).where(Vm.cluster_id == cluster_id, Vm.cloud_id.is_not(None)))
            now = utcnow()
            for row in rows:
                server = by_id.get(row.cloud_id or "")
                if server is None:
                    if full and row.status != "DELETED":
                        row.status, row.task_state, row.updated_at = "DELETED", "", now
                        changed += 1
                    continue
                values = _row_values(server)
                if any(getattr(row, k) != v for k, v in values.items()):
                    for key, value in values.items():
                        setattr(row, key, value)
                    row.updated_at = now
                    changed += 1
        return changed

    # -- actions

    @audited("vm.start", "vm_id")
    async def start(self, vm_id: int, *, wait: bool = False) -> VmInfo:
        """Power on a stopped VM."""
        return await self._action(vm_id, "os-start", N_("Start"), "ACTIVE" if wait else None)

    @audited("vm.stop", "vm_id")
    async def stop(self, vm_id: int, *, wait: bool = False) -> VmInfo:
        """Power off a running VM."""
        return await self._action(vm_id, "os-stop", N_("Stop"), "SHUTOFF" if wait else None)

    @audited("vm.reboot", "vm_id")
    async def reboot(self, vm_id: int, hard: bool = False, *, wait: bool = False) -> VmInfo:
        """Reboot a VM (soft unless `hard`)."""
        return await self._action(
            vm_id, "reboot", N_("Reboot"), "ACTIVE" if wait else None, {"type": "HARD" if hard else "SOFT"}
        )

    async def _action(
        self, vm_id: int, action: str, label: str, wait_for: str | None, args: dict[str, Any] | None = None
    ) -> VmInfo:
        await self._check(write=True)
        vm = await self._unlocked(vm_id)

        def act(conn: Any) -> dict[str, Any]:
            server = _get_server(conn, vm.cloud_id, vm.name)
            _refuse_nova_lock(server, vm.name)
            try:
                _call_json(conn.compute, "post", f"/servers/{vm.cloud_id}/action", json={action: args})
            except CloudError as err:
                raise VmError("vm.action_failed", action=label, name=vm.name, reason=_render(err)) from None
            if wait_for:
                return _wait_for_status(conn, vm.cloud_id or "", wait_for, first=self._poll_first, cap=self._poll_max,
                                        timeout=self._build_timeout, settle=True)  # fmt: skip
            return _get_server(conn, vm.cloud_id, vm.name)

        server = await call_keeping_errors(self._clusters.connections, vm.cluster_id, act)
        await asyncio.to_thread(self._apply_server, vm_id, server)
        await meter(self.billing, vm_id, {"os-start": "start", "os-stop": "stop"}.get(action))
        return await self.get(vm_id)

    async def console_url(self, vm_id: int) -> str:
        """A remote console (noVNC) URL of the VM."""
        await self._check(write=False)
        vm = await self._unlocked(vm_id)

        def open_console(conn: Any) -> str:
            _refuse_nova_lock(_get_server(conn, vm.cloud_id, vm.name), vm.name)
            body = {"remote_console": {"protocol": "vnc", "type": "novnc"}}
            answer = _call_json(
                conn.compute, "post", f"/servers/{vm.cloud_id}/remote-consoles", json=body, microversion="2.6"
            )
            return str(answer["remote_console"]["url"])

        return await call_keeping_errors(self._clusters.connections, vm.cluster_id, open_console)

    @audited("vm.delete", "vm_id")
    async def delete(self, vm_id: int) -> None:
        """Delete the server, its public IP and its flavor (when unused), then the row; frees the quota."""
        await self._check(write=True)
        vm = await self._unlocked(vm_id)
        if vm.cloud_id is not None and vm.status != "DELETED":
            await call_keeping_errors(
                self._clusters.connections,
                vm.cluster_id,
                lambda conn: _refuse_nova_lock(
                    _get_server(conn, vm.cloud_id, vm.name, missing_ok=True), vm.name
                ),  # fmt: skip
            )
        steps = self._delete_steps(vm)
        op_id = await asyncio.to_thread(self._lock_for, vm_id, steps)
        try:
            await self.engine.run(
                op_id,
                steps,
                {"vm_id": vm_id},
                error_of=lambda step, err: VmError(
                    "vm.delete_failed", name=vm.name, field=step.label, reason=_render(err)
                ),
            )
        finally:
            await asyncio.to_thread(self._unlock, vm_id, op_id)
        await meter(self.billing, vm_id, "delete")
        if vm.project is not None:
            freed = Amounts(vcpus=vm.vcpus, ram_gb=vm.ram_gb, vms=1, public_ips=1 if vm.floating_ip_id else 0)
            await self._projects.free_used(vm.project, freed)

    def _lock_for(
        self, vm_id: int, steps: list[Step], kind: str = "delete_vm", params: dict[str, Any] | None = None
    ) -> int:
        with self._db.locked_session() as session:
            row = self._row(session, vm_id)
            if row.locked_by_operation is not None:
                raise _lock_error(session, row)
            op_id = self.engine.add(
                session,
                kind,
                steps,
                params=params or {"name": row.name},
                project_id=row.project_id,
                vm_id=row.id,
            )
            row.locked_by_operation = op_id
            return op_id

    def _unlock(self, vm_id: int, op_id: int) -> None:
        with self._db.session() as session:
            row = session.get(Vm, vm_id)
            if row is not None and row.locked_by_operation == op_id:
                row.locked_by_operation = None

    def _delete_steps(self, vm: _VmRef) -> list[Step]:
        conns = self._clusters.connections

        def conn() -> Any:
            return conns.get_sync(vm.cluster_id)

        def drop_server(ctx: RunContext) -> None:
            if vm.cloud_id:
                _delete_server_and_wait(conn(), vm.cloud_id, self._poll_first, self._poll_max)

        def release_ip(ctx: RunContext) -> None:
            if vm.floating_ip_id:
                _sdk(lambda: conn().network.delete_ip(vm.floating_ip_id, ignore_missing=True))

        def drop_flavor(ctx: RunContext) -> None:
            if not vm.flavor_id:
                return
            with self._db.session() as session:
                others = session.scalar(
                    select(func.count())
                    .select_from(Vm)
                    .where(Vm.cluster_id == vm.cluster_id, Vm.flavor_id == vm.flavor_id, Vm.id != vm.id)
                )
            if others:
                return
            c = conn()
            flavor = _find_flavor(c, vm.flavor_id)
            if flavor is None or flavor.is_public:  # never a shared flavor someone else may boot from
                return
            listed = _call_json(c.compute, "get", f"/servers?flavor={vm.flavor_id}&all_tenants=1&limit=1")
            if not listed.get("servers"):
                _sdk(lambda: c.compute.delete_flavor(vm.flavor_id, ignore_missing=True))

        def forget(ctx: RunContext) -> None:
            with self._db.session() as session:
                row = session.get(Vm, vm.id)
                if row is not None:
                    session.delete(row)

        return [
            Step("server", STEP_LABELS["server"], drop_server),
            Step("release_ip", STEP_LABELS["release_ip"], release_ip),
            Step("drop_flavor", STEP_LABELS["drop_flavor"], drop_flavor),
            Step("forget", STEP_LABELS["forget"], forget),
        ]

    # -- snapshot to a custom template (V3, I5)

    @audited("vm.snapshot", lambda a: f"{a['vm_id']} → {a['template_name']}")
    async def snapshot(
        self,
        vm_id: int,
        template_name: str,
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> SnapshotInfo:
        """Snapshot a VM (Nova createImage) into a new image and a custom template of its cluster.

        The template takes the VM's OS type; its minimum CPU and RAM are those of the VM's own template
        (1 when it is gone) and its minimum disk the VM's disk. The image is recorded with source
        'snapshot', so it can be deleted from the console later. Failure or cancel deletes the half-made
        image; the VM is held (locked) by the operation meanwhile.
        """
        cancel = cancel or CancelToken()
        await self._check(write=True)
        name = required_text(template_name, N_("Template name"), max_len=255)
        vm = await self._unlocked(vm_id)
        source = await asyncio.to_thread(self._snapshot_source, vm_id, name)
        await self._refuse_cloud_lock(vm)
        cancel.raise_if_cancelled()
        steps = self._snapshot_steps(vm, name, source)
        op_id = await asyncio.to_thread(
            self._lock_for, vm_id, steps, "snapshot_vm", {"name": vm.name, "template": name}
        )

        def error_of(step: Step, err: BaseException) -> ServiceError:
            if isinstance(err, Cancelled | asyncio.CancelledError) or cancel.cancelled:
                return Cancelled("vm.snapshot_cancelled", name=vm.name)
            if isinstance(err, VmError) and err.key == "template.exists":
                return err
            return VmError("vm.snapshot_failed", name=vm.name, field=step.label, reason=_render(err))

        data: dict[str, Any] = {}
        try:
            await self.engine.run(
                op_id, steps, data, on_progress=on_progress, cancel=cancel, error_of=error_of
            )
        finally:
            await asyncio.to_thread(self._unlock, vm_id, op_id)
        return SnapshotInfo(
            vm=vm.name,
            template_id=int(data["template_id"]),
            template=name,
            image_id=int(data["image_row_id"]),
            image_cloud_id=str(data["image_id"]),
            os_type=source["os_type"],
            min_cpu=source["min_cpu"],
            min_ram_gb=source["min_ram_gb"],
            min_disk_gb=source["min_disk_gb"],
        )

    def _snapshot_source(self, vm_id: int, name: str) -> dict[str, Any]:
        with self._db.session() as session:
            row = self._row(session, vm_id)
            if session.scalar(
                select(Template.id).where(Template.cluster_id == row.cluster_id, Template.name == name)
            ):
                cluster = session.get(Cluster, row.cluster_id)
                raise VmError("template.exists", name=name, cluster=cluster.name if cluster else "?")
            template = session.get(Template, row.template_id) if row.template_id else None
            return {
                "cluster_id": row.cluster_id,
                "os_type": row.os_type or "linux",
                "min_cpu": template.min_cpu if template else 1,
                "min_ram_gb": template.min_ram_gb if template else 1,
                "min_disk_gb": max(row.disk_gb, 1),
                "description": f"snapshot of VM {row.name}",
            }

    def _snapshot_steps(self, vm: _VmRef, name: str, source: dict[str, Any]) -> list[Step]:
        conns = self._clusters.connections

        def conn() -> Any:
            return conns.get_sync(vm.cluster_id)

        def create_image(ctx: RunContext) -> None:
            ctx.data["image_name"] = name
            body = {"createImage": {"name": name, "metadata": {SNAPSHOT_MARK: str(ctx.operation_id)}}}
            answer = _call_json(conn().compute, "post", f"/servers/{vm.cloud_id}/action", json=body)
            ctx.data["image_id"] = str(answer["image_id"])

        def drop_image(ctx: RunContext) -> None:
            c = conn()
            ids = (
                [ctx.data["image_id"]]
                if ctx.data.get("image_id")
                else _find_snapshots(c, name, ctx.operation_id)
            )
            for image_id in ids:  # the answer may have been lost after Nova made it: found by its mark
                _sdk(lambda image_id=image_id: c.image.delete_image(image_id, ignore_missing=True))

        def wait_image(ctx: RunContext) -> None:
            ctx.data["image"] = _wait_for_image(
                conn(), ctx.data["image_id"], cancel=ctx.cancel, report=ctx.report,
                first=self._poll_first, cap=self._poll_max, timeout=self._build_timeout,
            )  # fmt: skip

        def record(ctx: RunContext) -> None:
            from ectui.services.images import _glance_row

            with self._db.locked_session() as session:
                if session.scalar(
                    select(Template.id).where(Template.cluster_id == vm.cluster_id, Template.name == name)
                ):
                    raise VmError("template.exists", name=name, cluster=str(vm.cluster_id))
                image = Image(
                    **_glance_row(ctx.data["image"]),
                    cluster_id=vm.cluster_id,
                    source="snapshot",
                    enabled=True,
                    gone=False,
                    uploaded_by=self._settings.operator,
                    synced_at=utcnow(),
                )
                if not image.os_type:
                    image.os_type = source["os_type"]
                session.add(image)
                session.flush()
                template = Template(
                    cluster_id=vm.cluster_id,
                    image_id=image.id,
                    image_cloud_id=image.cloud_id,
                    kind="custom",
                    name=name,
                    os_type=source["os_type"],
                    min_cpu=source["min_cpu"],
                    min_ram_gb=source["min_ram_gb"],
                    min_disk_gb=source["min_disk_gb"],
                    description=source["description"],
                    created_by=self._settings.operator,
                )
                session.add(template)
                session.flush()
                ctx.data["image_row_id"], ctx.data["template_id"] = image.id, template.id
            ctx.data.pop("image", None)  # the whole Glance document need not stay in the operation

        def forget(ctx: RunContext) -> None:
            with self._db.session() as session:
                for model, key in ((Template, "template_id"), (Image, "image_row_id")):
                    row = session.get(model, ctx.data.get(key)) if ctx.data.get(key) else None
                    if row is not None:
                        session.delete(row)
                        session.flush()

        return [
            Step("snapshot", STEP_LABELS["snapshot"], create_image, drop_image),
            Step("wait_image", STEP_LABELS["wait_image"], wait_image),
            Step("record_template", STEP_LABELS["record_template"], record, forget),
        ]

    # -- ISO as CD-ROM (S6)

    async def cdrom_supported(self, cluster_id: int) -> bool:
        """Whether the cluster's Nova has the vendor CD-ROM extension (probed once per cluster, then cached)."""
        if cluster_id not in self._cdrom:
            self._cdrom[cluster_id] = await call_keeping_errors(
                self._clusters.connections, cluster_id, _probe_cdrom
            )
        return self._cdrom[cluster_id]

    async def mountable_isos(self, vm_id: int) -> list[tuple[int, str]]:
        """(id, name) of the enabled ISO files of the VM's cluster, by name."""

        def load() -> list[tuple[int, str]]:
            with self._db.session() as session:
                row = self._row(session, vm_id)
                query = (
                    select(IsoFile.id, IsoFile.name)
                    .where(IsoFile.cluster_id == row.cluster_id, IsoFile.enabled.is_(True), IsoFile.gone.is_(False))
                    .order_by(IsoFile.name, IsoFile.id)
                )  # fmt: skip
                return [(i, n) for i, n in session.execute(query)]

        return await asyncio.to_thread(load)

    async def mount_plan(self, vm_id: int, iso_id: int) -> MountPlan:
        """How an ISO would be mounted on a VM (CD-ROM extension, or stable rescue that reboots the VM).

        Refuses a locked VM, a VM with an ISO already mounted, and an ISO that is disabled, gone or of
        another cluster; on the rescue path also an ISO without a Glance image to boot from.
        """
        await self._check(write=True)
        vm = await self._unlocked(vm_id)
        iso = await asyncio.to_thread(self._iso_for_mount, vm_id, iso_id)
        await self._refuse_cloud_lock(vm)
        if await self.cdrom_supported(vm.cluster_id):
            return MountPlan(
                vm.id, vm.name, iso["id"], iso["name"], iso["file_name"], iso["cluster"], "cdrom"
            )
        image = await call_keeping_errors(
            self._clusters.connections, vm.cluster_id, lambda conn: _find_rescue_image(conn, iso)
        )
        return MountPlan(
            vm.id, vm.name, iso["id"], iso["name"], iso["file_name"], iso["cluster"], "rescue",
            str(image["id"]), str(image.get("name") or ""),
        )  # fmt: skip

    @audited("vm.mount_iso", lambda a: f"{a['vm_id']} ← ISO {a['iso_id']}")
    async def mount_iso(self, vm_id: int, iso_id: int, *, confirm_reboot: bool = False) -> MountInfo:
        """Mount an enabled ISO of the VM's cluster as its CD-ROM.

        With the vendor extension: `attachCdrom`. On upstream Nova: stable rescue from the ISO's Glance
        image (`hw_rescue_device=cdrom`), which reboots the VM; refused with `vm.iso_rescue_confirm`
        unless `confirm_reboot`. The VM row and the ISO's mount count change in one transaction after
        the cloud call worked; if recording fails, the cloud call is undone.
        """
        plan = await self.mount_plan(vm_id, iso_id)
        if plan.reboots and not confirm_reboot:
            raise VmError("vm.iso_rescue_confirm", name=plan.vm, iso=plan.iso, cluster=plan.cluster)
        vm = await self._unlocked(vm_id)
        steps = self._mount_steps(vm, plan)
        op_id = await asyncio.to_thread(
            self._lock_for,
            vm_id,
            steps,
            "mount_iso",
            {"name": vm.name, "iso": plan.iso, "method": plan.method},
        )
        try:
            await self.engine.run(
                op_id,
                steps,
                {"method": plan.method},
                error_of=lambda step, err: (
                    err
                    if isinstance(err, VmError) and err.key.startswith("vm.iso")
                    else VmError("vm.mount_failed", name=vm.name, iso=plan.iso, reason=_render(err))
                ),
            )
        finally:
            await asyncio.to_thread(self._unlock, vm_id, op_id)
        return MountInfo(await self.get(vm_id), plan.iso, plan.method, GUEST_MOUNT_HINT)

    @audited("vm.unmount_iso", "vm_id")
    async def unmount_iso(self, vm_id: int) -> VmInfo:
        """Unmount the VM's ISO: `detachCdrom`, or `unrescue` when it was mounted by stable rescue (reboots)."""
        await self._check(write=True)
        vm = await self._unlocked(vm_id)
        iso_name = await asyncio.to_thread(self._mounted_iso_name, vm_id)
        await self._refuse_cloud_lock(vm)
        steps = self._unmount_steps(vm)
        op_id = await asyncio.to_thread(
            self._lock_for, vm_id, steps, "unmount_iso", {"name": vm.name, "iso": iso_name}
        )
        try:
            await self.engine.run(
                op_id,
                steps,
                {},
                error_of=lambda step, err: VmError(
                    "vm.unmount_failed", name=vm.name, iso=iso_name, reason=_render(err)
                ),
            )
        finally:
            await asyncio.to_thread(self._unlock, vm_id, op_id)
        return await self.get(vm_id)

    async def _refuse_cloud_lock(self, vm: _VmRef) -> None:
        """Refuse (before any operation starts) a VM that Nova has locked."""
        await call_keeping_errors(
            self._clusters.connections,
            vm.cluster_id,
            lambda conn: _refuse_nova_lock(_get_server(conn, vm.cloud_id, vm.name), vm.name),
        )

    def _iso_for_mount(self, vm_id: int, iso_id: int) -> dict[str, Any]:
        with self._db.session() as session:
            row = self._row(session, vm_id)
            if row.mounted_iso_id is not None:
                mounted = session.get(IsoFile, row.mounted_iso_id)
                raise VmError("vm.iso_already_mounted", name=row.name, iso=mounted.name if mounted else "?")
            iso = session.get(IsoFile, iso_id)
            if iso is None:
                raise VmError("vm.iso_not_found", id=iso_id)
            cluster = session.get(Cluster, row.cluster_id)
            if iso.cluster_id != row.cluster_id:
                raise VmError("vm.iso_other_cluster", iso=iso.name, cluster=cluster.name if cluster else "?")
            if iso.gone:
                raise VmError("vm.iso_gone", iso=iso.name)
            if not iso.enabled:
                raise VmError("vm.iso_disabled", iso=iso.name)
            return {
                "id": iso.id,
                "name": iso.name,
                "file_name": iso.file_name,
                "cluster": cluster.name if cluster else "?",
            }

    def _mounted_iso_name(self, vm_id: int) -> str:
        with self._db.session() as session:
            row = self._row(session, vm_id)
            if row.mounted_iso_id is None:
                raise VmError("vm.iso_not_mounted", name=row.name)
            iso = session.get(IsoFile, row.mounted_iso_id)
            return iso.name if iso else "?"

    def _mount_steps(self, vm: _VmRef, plan: MountPlan) -> list[Step]:
        conns = self._clusters.connections
        file_name = plan.file_name

        def conn() -> Any:
            return conns.get_sync(vm.cluster_id)

        def attach(ctx: RunContext) -> None:
            c = conn()
            _refuse_nova_lock(_get_server(c, vm.cloud_id, vm.name), vm.name)
            if plan.method == "cdrom":
                _call_json(c.compute, "post", f"/servers/{vm.cloud_id}/action",
                           json={"attachCdrom": {"iso": file_name}})  # fmt: skip
            else:
                body = {"rescue": {"rescue_image_ref": plan.image_id}}
                _call_json(c.compute, "post", f"/servers/{vm.cloud_id}/action", json=body)
                ctx.data["rescued"] = True
                _wait_for_status(c, vm.cloud_id or "", "RESCUE", cancel=ctx.cancel, report=ctx.report,
                                 first=self._poll_first, cap=self._poll_max, timeout=self._build_timeout,
                                 settle=True)  # fmt: skip
            ctx.data["attached"] = True

        def detach(ctx: RunContext) -> None:
            c = conn()
            if plan.method == "cdrom":
                _detach_cdrom(c, vm.cloud_id or "")
            elif ctx.data.get("rescued"):
                _unrescue_and_wait(
                    c, vm.cloud_id or "", self._poll_first, self._poll_max, self._build_timeout
                )

        def record(ctx: RunContext) -> None:
            with self._db.locked_session() as session:
                row = session.scalars(select(Vm).where(Vm.id == vm.id).with_for_update()).one()
                iso = session.scalars(
                    select(IsoFile).where(IsoFile.id == plan.iso_id).with_for_update()
                ).first()
                if iso is None:
                    raise VmError("vm.iso_not_found", id=plan.iso_id)
                if row.mounted_iso_id is not None:
                    raise VmError("vm.iso_already_mounted", name=row.name, iso=iso.name)
                row.mounted_iso_id = iso.id
                row.updated_at = utcnow()
                iso.mount_count = (iso.mount_count or 0) + 1

        return [
            Step("attach_iso", STEP_LABELS["attach_iso"], attach, detach),
            Step("record_mount", STEP_LABELS["record_mount"], record),
        ]

    def _unmount_steps(self, vm: _VmRef) -> list[Step]:
        conns = self._clusters.connections

        def detach(ctx: RunContext) -> None:
            c = conns.get_sync(vm.cluster_id)
            server = _get_server(c, vm.cloud_id, vm.name)
            _refuse_nova_lock(server, vm.name)
            if server.get("status") == "RESCUE":  # mounted by stable rescue
                _unrescue_and_wait(
                    c, vm.cloud_id or "", self._poll_first, self._poll_max, self._build_timeout
                )
            else:
                _detach_cdrom(c, vm.cloud_id or "")

        def record(ctx: RunContext) -> None:
            with self._db.locked_session() as session:
                row = session.scalars(select(Vm).where(Vm.id == vm.id).with_for_update()).one()
                if row.mounted_iso_id is not None:
                    iso = session.scalars(
                        select(IsoFile).where(IsoFile.id == row.mounted_iso_id).with_for_update()
                    ).first()
                    if iso is not None:
                        iso.mount_count = max((iso.mount_count or 0) - 1, 0)
                row.mounted_iso_id = None
                row.updated_at = utcnow()

        return [
            Step("detach_iso", STEP_LABELS["detach_iso"], detach),
            Step("record_unmount", STEP_LABELS["record_unmount"], record),
        ]

    # -- crash recovery

    async def recover_interrupted(self) -> list[Recovered]:
        """Recover the VM operations a dead console left running, and retry their pending cleanups.

        Only stale operations are touched (OperationEngine.stale_running_sync: heartbeat older than the
        lease, or an owner process of this host that is gone), and each is claimed first, so two consoles
        starting together never both undo it. A create whose VM was already recorded is finished (rolled
        forward): the VM exists whole; any other create is compensated. A delete or an unmount is resumed
        (its steps are idempotent); a snapshot or a mount is compensated. A compensation that cannot
        reach the cloud leaves the operation `cleanup_pending` (quota still reserved); those are retried
        here too, until the cloud confirms everything gone. Returns what was done, one per operation.
        """
        handled: list[Recovered] = []
        for kind in VM_KINDS:
            for op_id in await asyncio.to_thread(self.engine.stale_running_sync, kind):
                if not await asyncio.to_thread(self.engine.claim_stale_sync, op_id):
                    continue
                handled.append(await self._recovered(op_id, self._recover_one(kind, op_id)))
        for kind in VM_KINDS:
            for op_id in await asyncio.to_thread(self.engine.pending_cleanup_sync, kind):
                if not await asyncio.to_thread(self.engine.claim_cleanup_sync, op_id):
                    continue
                handled.append(await self._recovered(op_id, self._retry_cleanup(op_id)))
        return handled

    async def _recovered(self, op_id: int, work: Awaitable[OperationInfo]) -> Recovered:
        """Run one recovery; a failure (e.g. the cloud is unreachable) leaves the operation for the next try."""
        try:
            info = await work
        except Exception as err:  # the next start or `ops resume` tries again
            log.warning("operation %s could not be recovered yet: %s", op_id, err)
            return Recovered(await self.engine.get(op_id), _render_text(err))
        log.warning("operation %s (%s) was interrupted and is now %s", op_id, info.kind, info.state)
        return Recovered(info)

    async def _recover_one(self, kind: str, op_id: int) -> OperationInfo:
        if kind == "create_vm":
            if await asyncio.to_thread(self._roll_forward, op_id):
                return await self.engine.get(op_id)
            steps = await asyncio.to_thread(self._recovery_steps, op_id)
            return await self.engine.compensate_interrupted(op_id, steps)
        vm, params, states = await asyncio.to_thread(self._interrupted_vm_op, op_id)
        if vm is None:  # the VM row is gone: a delete got that far; nothing else can be done here
            state = "done" if kind == "delete_vm" else "failed"
            await asyncio.to_thread(self.engine.finish_sync, op_id, state)
            return await self.engine.get(op_id)
        steps = self._vm_op_steps(kind, vm, params)
        try:
            if kind in ("delete_vm", "unmount_iso") or states[-1] == "done":  # roll forward
                start = next((i for i, st in enumerate(states) if st not in ("done", "skipped")), len(states))
                done = [i for i, st in enumerate(states) if st == "done" and i < start]
                data = await asyncio.to_thread(self.engine.context_sync, op_id)
                try:
                    await self.engine.run(op_id, steps, data, start=start, done=done)
                except ServiceError as err:
                    log.warning("resumed %s %s failed: %s", kind, op_id, err)
                else:
                    if kind == "delete_vm":
                        await self._deleted(vm)
            else:
                await self.engine.compensate_interrupted(op_id, steps)
        finally:
            await asyncio.to_thread(self._unlock_if_settled, vm.id, op_id)
        return await self.engine.get(op_id)

    async def _deleted(self, vm: _VmRef) -> None:
        """What `delete` does after its steps: meter the end, give the quota back."""
        await meter(self.billing, vm.id, "delete")
        if vm.project is not None:
            freed = Amounts(vcpus=vm.vcpus, ram_gb=vm.ram_gb, vms=1, public_ips=1 if vm.floating_ip_id else 0)
            await self._projects.free_used(vm.project, freed)

    async def _retry_cleanup(self, op_id: int) -> OperationInfo:
        """Retry the pending cleanup of a VM operation (the cloud may be back)."""
        kind = await asyncio.to_thread(self._kind_of, op_id)
        if kind == "create_vm":
            steps = await asyncio.to_thread(self._recovery_steps, op_id)
            return await self.engine.retry_cleanup(op_id, steps)
        vm, params, _states = await asyncio.to_thread(self._interrupted_vm_op, op_id)
        if vm is None:  # the VM was deleted since: its cluster is unknown, the leftover stays named
            error = (await self.engine.get(op_id)).error
            await asyncio.to_thread(self.engine.finish_sync, op_id, "failed", error)
            return await self.engine.get(op_id)
        try:
            return await self.engine.retry_cleanup(op_id, self._vm_op_steps(kind, vm, params))
        finally:
            await asyncio.to_thread(self._unlock_if_settled, vm.id, op_id)

    def _kind_of(self, op_id: int) -> str:
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            return op.kind if op is not None else ""

    def _interrupted_vm_op(self, op_id: int) -> tuple[_VmRef | None, dict[str, Any], list[str]]:
        """The VM (None when its row is gone), the saved request and the step states of an operation."""
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            if op is None:
                raise ServiceError("operation.not_found", id=op_id)
            params = json.loads(op.params or "{}")
            states = [st.state for st in op.steps]
            row = session.get(Vm, op.vm_id) if op.vm_id is not None else None
            if row is None:
                return None, params, states
            project = session.get(Project, row.project_id) if row.project_id else None
            vm = _VmRef(
                id=row.id, name=row.name, cluster_id=row.cluster_id, cloud_id=row.cloud_id,
                flavor_id=row.flavor_id, floating_ip_id=row.floating_ip_id, vcpus=row.vcpus,
                ram_gb=row.ram_gb, project=project.name if project else None, status=row.status,
            )  # fmt: skip
            return vm, params, states

    def _vm_op_steps(self, kind: str, vm: _VmRef, params: dict[str, Any]) -> list[Step]:
        """The steps of a persisted delete, snapshot, mount or unmount, rebuilt from its request and VM."""
        if kind == "delete_vm":
            return self._delete_steps(vm)
        if kind == "snapshot_vm":
            return self._snapshot_steps(vm, str(params.get("template", "")), {})
        if kind == "mount_iso":
            method = str(params.get("method", "cdrom"))
            plan = MountPlan(vm.id, vm.name, 0, str(params.get("iso", "")), "", "", method)
            return self._mount_steps(vm, plan)
        return self._unmount_steps(vm)

    def _unlock_if_settled(self, vm_id: int, op_id: int) -> None:
        """Free the VM of an operation no longer running (one left running is retried: it keeps the VM)."""
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            if op is not None and op.state == "running":
                return
        self._unlock(vm_id, op_id)

    def _roll_forward(self, op_id: int) -> bool:
        """The create got as far as recording its VM: commit its reservation and mark it done."""
        data = self.engine.context_sync(op_id)
        server_id = data.get("server_id")
        if not server_id:
            return False
        with self._db.session() as session:
            vm_id = session.scalar(select(Vm.id).where(Vm.cloud_id == str(server_id)))
        if vm_id is None:
            return False
        if data.get("reservation_id"):
            self._projects.finish_sync(int(data["reservation_id"]), "committed")
        self.engine.set_vm_sync(op_id, vm_id)
        self.engine.finish_sync(op_id, "done")
        return True

    def _recovery_steps(self, op_id: int) -> list[Step]:
        """Compensations of a persisted create, rebuilt from its saved request and context."""
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            assert op is not None
            params = json.loads(op.params or "{}")
            codes = [s.code for s in op.steps]
            cluster_id = params.get("cluster_id") or session.scalar(
                select(Cluster.id).where(Cluster.name == params.get("cluster", ""))
            )
        conns = self._clusters.connections
        name = str(params.get("name", ""))

        def conn() -> Any:
            if cluster_id is None:
                raise VmError("vm.no_cluster")
            return conns.get_sync(int(cluster_id))

        def release(ctx: RunContext) -> None:
            if ctx.data.get("reservation_id"):
                self._projects.finish_sync(int(ctx.data["reservation_id"]), "released")

        def drop_flavor(ctx: RunContext) -> None:
            c = conn()
            flavor_id = ctx.data.get("flavor_id")
            if flavor_id is None and ctx.data.get("flavor_name"):
                found = _find_flavor(c, ctx.data["flavor_name"])
                flavor_id = found.id if found is not None else None
            if flavor_id is not None:
                _sdk(lambda: c.compute.delete_flavor(flavor_id, ignore_missing=True))

        def drop_server(ctx: RunContext) -> None:
            c = conn()
            server_id = ctx.data.get("server_id") or _find_marked_server(c, name, ctx.operation_id)
            if server_id is not None:
                _delete_server_and_wait(c, server_id, self._poll_first, self._poll_max)
                _drop_ports(c, server_id)

        def release_ip(ctx: RunContext) -> None:
            _release_marked_ip(conn(), ctx.data.get("floating_ip_id"), name, ctx.operation_id)

        undo: dict[str, Callable[[RunContext], None] | None] = {
            "reserve": release,
            "flavor": drop_flavor,
            "boot": drop_server,
            "floating_ip": release_ip,
        }
        return [
            Step(code, STEP_LABELS.get(code, code), _no_step, undo.get(code), after_cleanup=code == "reserve")
            for code in codes
        ]

    # -- helpers

    async def _unlocked(self, vm_id: int) -> _VmRef:
        """The VM's reference data, refused when the console's operation lock holds it."""

        def load() -> _VmRef:
            with self._db.session() as session:
                row = self._row(session, vm_id)
                if row.locked_by_operation is not None:
                    raise _lock_error(session, row)
                if row.cloud_id is None:
                    raise VmError("vm.no_server", name=row.name, status=row.status)
                project = session.get(Project, row.project_id) if row.project_id else None
                return _VmRef(
                    id=row.id,
                    name=row.name,
                    cluster_id=row.cluster_id,
                    cloud_id=row.cloud_id,
                    flavor_id=row.flavor_id,
                    floating_ip_id=row.floating_ip_id,
                    vcpus=row.vcpus,
                    ram_gb=row.ram_gb,
                    project=project.name if project else None,
                    status=row.status,
                )

        return await asyncio.to_thread(load)

    def _apply_server(self, vm_id: int, server: dict[str, Any]) -> None:
        with self._db.session() as session:
            row = session.get(Vm, vm_id)
            if row is not None:
                for key, value in _row_values(server).items():
                    setattr(row, key, value)
                row.updated_at = utcnow()

    @staticmethod
    def _row(session: Session, vm_id: int) -> Vm:
        row = session.get(Vm, vm_id)
        if row is None:
            raise VmError("vm.not_found", ref=str(vm_id))
        return row


@dataclass(frozen=True)
class _VmRef:
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


# ------------------------------------------------------------------ database helpers


def cluster_id_for(session: Session, project: ProjectInfo) -> int:
    """The cluster VMs of a project go to: its own, or the only one configured (V2 step 3)."""
    if project.cluster:
        cluster_id = session.scalar(select(Cluster.id).where(Cluster.name == project.cluster))
        if cluster_id is not None:
            return cluster_id
    ids = list(session.scalars(select(Cluster.id).limit(2)))
    if not ids:
        raise VmError("vm.no_cluster")
    if len(ids) > 1:
        raise VmError("vm.project_without_cluster", project=project.name)
    return ids[0]


def _lock_error(session: Session, row: Vm) -> VmError:
    op = session.get(Operation, row.locked_by_operation) if row.locked_by_operation else None
    return VmError(
        "vm.locked_operation", name=row.name, operation=row.locked_by_operation, kind=op.kind if op else "?"
    )


def _infos(session: Session, rows: list[Vm]) -> list[VmInfo]:
    clusters = dict(session.execute(select(Cluster.id, Cluster.name)).all())
    projects = dict(session.execute(select(Project.id, Project.name)).all())
    template_ids = {r.template_id for r in rows if r.template_id is not None}
    templates = (
        dict(session.execute(select(Template.id, Template.name).where(Template.id.in_(template_ids))).all())
        if template_ids
        else {}
    )
    iso_ids = {r.mounted_iso_id for r in rows if r.mounted_iso_id is not None}
    isos: dict[int, str] = {}
    if iso_ids:
        from ectui.db.models import IsoFile

        isos = dict(session.execute(select(IsoFile.id, IsoFile.name).where(IsoFile.id.in_(iso_ids))).all())
    op_ids = {r.locked_by_operation for r in rows if r.locked_by_operation is not None}
    ops = (
        dict(session.execute(select(Operation.id, Operation.kind).where(Operation.id.in_(op_ids))).all())
        if op_ids
        else {}
    )
    out = []
    for r in rows:
        if r.locked_by_operation is not None:
            reason = f"operation #{r.locked_by_operation} ({ops.get(r.locked_by_operation, '?')})"
        elif r.nova_locked:
            reason = "nova"
        else:
            reason = ""
        out.append(
            VmInfo(
                id=r.id,
                cloud_id=r.cloud_id,
                name=r.name,
                project=projects.get(r.project_id) if r.project_id else None,
                cluster=clusters.get(r.cluster_id, "?"),
                status="operating" if r.locked_by_operation is not None else r.status,
                task_state=r.task_state,
                vcpus=r.vcpus,
                ram_gb=r.ram_gb,
                disk_gb=r.disk_gb,
                node=r.node,
                network=r.network,
                fixed_ip=r.fixed_ip,
                floating_ip=r.floating_ip,
                os_type=r.os_type,
                login=r.login,
                user_name=r.user_name,
                keypair_name=r.keypair_name,
                template=templates.get(r.template_id) if r.template_id else None,
                locked=bool(r.locked_by_operation is not None or r.nova_locked),
                lock_reason=reason,
                mounted_iso=isos.get(r.mounted_iso_id) if r.mounted_iso_id else None,
                description=r.description,
                created_by=r.created_by,
                created_at=r.created_at,
            )
        )
    return out


# ------------------------------------------------------------------ SDK side (runs in worker threads)


class _Passthrough(CloudError):
    """Carries a domain error through CloudConnections.call (which keeps only CloudErrors)."""

    def __init__(self, inner: ServiceError) -> None:
        super().__init__(inner.key, **inner.params)
        self.inner = inner


async def call_keeping_errors(connections: CloudConnections, cluster_id: int, fn: Callable[[Any], T]) -> T:
    """`connections.call(cluster_id, fn)`, but VmError, ValidationError, Cancelled ... reach the caller unchanged."""

    def run(conn: Any) -> T:
        try:
            return fn(conn)
        except CloudError:
            raise
        except ServiceError as err:
            raise _Passthrough(err) from None

    try:
        return await connections.call(cluster_id, run)
    except _Passthrough as wrapped:
        raise wrapped.inner from None


def _sdk(fn: Callable[[], Any]) -> Any:
    """Run an SDK call; its exception becomes a CloudError (no secrets, one line)."""
    try:
        return fn()
    except ServiceError:
        raise
    except Exception as err:  # every SDK failure is turned into one plain message
        raise classify(err) from None


def _call_json(proxy: Any, method: str, path: str, **kw: Any) -> dict[str, Any]:
    """A raw REST call on a proxy: the JSON answer, or a CloudError with the cloud's own message."""
    kw.setdefault("microversion", COMPUTE_MICROVERSION)
    response = _sdk(lambda: getattr(proxy, method)(path, **kw))
    if response.status_code >= 400:
        raise CloudError("cloud.http", status=response.status_code, reason=_error_message(response))
    if response.status_code == 204 or not response.content:
        return {}
    return dict(response.json())


def _error_message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or "")[:200]
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])[:300]
    return str(body)[:200]


def _read_room_and_networks(conn: Any) -> tuple[list[dict[str, Any]], dict[str, str], list[dict[str, Any]]]:
    from ectui.services.clusters import _fetch_hypervisors

    hypervisors, zones = _fetch_hypervisors(conn)
    networks = [
        {"id": n.id, "name": n.name, "external": bool(n.is_router_external)}
        for n in _sdk(lambda: list(conn.network.networks()))
    ]
    networks.sort(key=lambda n: (n["external"], n["name"]))
    return hypervisors, zones, networks


def _probe_for_create(conn: Any, draft: VmDraft, cluster: str) -> dict[str, Any]:
    """Fresh node room (manual placement), the private network and, if asked, the external one."""
    zone = ""
    if draft.placement == "manual":
        from ectui.services.clusters import _fetch_hypervisors

        hypervisors, zones = _fetch_hypervisors(conn)
        node = next((h for h in hypervisors if draft.node in (h["name"], h["host"])), None)
        if node is None:
            raise VmError("vm.node_not_found", node=draft.node, cluster=cluster)
        if node["state"] not in ("up", "") or node["status"] not in ("enabled", ""):
            raise VmError("vm.node_down", node=draft.node, state=node["state"], status=node["status"])
        vcpus_free = max(node["vcpus"] - node["vcpus_used"], 0)
        ram_gb_free = max(node["memory_mb"] - node["memory_mb_used"], 0) // 1024
        if draft.cpu > vcpus_free or draft.ram_gb > ram_gb_free:
            raise VmError(
                "vm.node_full",
                node=draft.node,
                vcpus_free=vcpus_free,
                ram_gb_free=ram_gb_free,
                vcpus=draft.cpu,
                ram_gb=draft.ram_gb,
            )
        zone = zones.get(node["host"], zones.get(node["name"], "")) or "nova"
    networks = _sdk(lambda: list(conn.network.networks()))
    network = next((n for n in networks if draft.network in (n.id, n.name)), None)
    if network is None:
        raise ValidationError(
            "vm.network_not_found", field=N_("Private network"), value=draft.network, cluster=cluster
        )
    if network.is_router_external:
        raise ValidationError("vm.network_external", field=N_("Private network"), value=draft.network)
    external_id = None
    if draft.public_ip:
        external = next((n for n in networks if n.is_router_external), None)
        if external is None:
            raise VmError("vm.no_external_network", cluster=cluster)
        external_id = external.id
    return {"zone": zone, "network_id": network.id, "network_name": network.name, "external_id": external_id}


def _find_flavor(conn: Any, name_or_id: str) -> Any:
    """A flavor by id or name (private ones too), or None."""
    from openstack import exceptions as sdk_exc

    def find() -> Any:
        try:
            return conn.compute.find_flavor(name_or_id, ignore_missing=False, is_public=None)
        except sdk_exc.NotFoundException:
            return None

    return _sdk(find)


def _get_server(conn: Any, server_id: str | None, name: str, *, missing_ok: bool = False) -> dict[str, Any]:
    try:
        return dict(_call_json(conn.compute, "get", f"/servers/{server_id}")["server"])
    except CloudError as err:
        if err.params.get("status") == 404:
            if missing_ok:
                return {}
            raise VmError("vm.gone", name=name) from None
        raise


def _refuse_nova_lock(server: dict[str, Any], name: str) -> None:
    if server.get("locked"):
        raise VmError("vm.locked_nova", name=name, reason=server.get("locked_reason") or "locked")


def _wait_for_status(
    conn: Any,
    server_id: str,
    status: str,
    *,
    cancel: CancelToken | None = None,
    report: Callable[[str], None] | None = None,
    first: float = POLL_FIRST,
    cap: float = POLL_MAX,
    timeout: float = BUILD_TIMEOUT,
    settle: bool = False,
) -> dict[str, Any]:
    """Poll the server (short interval growing to `cap`) until it has `status`; ERROR raises with Nova's fault."""
    deadline = time.monotonic() + timeout
    interval = first
    last = ""
    while True:
        if cancel is not None:
            cancel.raise_if_cancelled()
        server = dict(_call_json(conn.compute, "get", f"/servers/{server_id}")["server"])
        current = str(server.get("status", ""))
        task = server.get("OS-EXT-STS:task_state") or ""
        if report is not None and f"{current}/{task}" != last:
            report("")
        last = f"{current}/{task}"
        if current == status and (not settle or not task):
            return server
        if current == "ERROR":
            fault = (server.get("fault") or {}).get("message") or "no fault message"
            raise VmError("vm.build_failed", fault=fault)
        if time.monotonic() > deadline:
            raise VmError("vm.build_timeout", seconds=int(timeout), status=current)
        if cancel is not None:
            if cancel._event.wait(interval):  # wakes at once on cancel
                cancel.raise_if_cancelled()
        else:
            time.sleep(interval)
        interval = min(interval * 1.5, cap)


def _delete_server_and_wait(conn: Any, server_id: str, first: float, cap: float) -> None:
    """Delete a server and wait until the cloud no longer has it (its Nova-made port goes with it)."""
    response = _sdk(lambda: conn.compute.delete(f"/servers/{server_id}", microversion=COMPUTE_MICROVERSION))
    if response.status_code == 404:
        return
    if response.status_code >= 400:
        raise CloudError("cloud.http", status=response.status_code, reason=_error_message(response))
    deadline = time.monotonic() + DELETE_TIMEOUT
    interval = first
    while True:
        response = _sdk(lambda: conn.compute.get(f"/servers/{server_id}", microversion=COMPUTE_MICROVERSION))
        if response.status_code == 404:
            return
        if time.monotonic() > deadline:
            raise CloudError("cloud.request_failed", reason=f"server {server_id} still exists after delete")
        time.sleep(interval)
        interval = min(interval * 1.5, cap)


def _find_marked_server(conn: Any, name: str, operation_id: int) -> str | None:
    listed = _call_json(conn.compute, "get", f"/servers/detail?name=^{re.escape(name)}$")
    for server in listed.get("servers", []):
        if (server.get("metadata") or {}).get("ectui_operation") == str(operation_id):
            return str(server["id"])
    return None


def _drop_ports(conn: Any, server_id: str) -> None:
    """Delete the ports still bound to a deleted server (Nova deletes those it made; a dead compute may not)."""
    for port in _sdk(lambda: list(conn.network.ports(device_id=server_id))):
        _sdk(lambda port=port: conn.network.delete_port(port.id, ignore_missing=True))


def _release_marked_ip(conn: Any, floating_ip_id: str | None, name: str, operation_id: int) -> None:
    """Release a create's floating IP: by id, or by the description it was made with (the answer was lost)."""
    if floating_ip_id:
        _sdk(lambda: conn.network.delete_ip(floating_ip_id, ignore_missing=True))
        return
    description = f"ectui VM {name} (operation {operation_id})"
    for ip in _sdk(lambda: list(conn.network.ips(description=description))):
        _sdk(lambda ip=ip: conn.network.delete_ip(ip.id, ignore_missing=True))


def _render_text(err: BaseException) -> str:
    """One line for an unexpected recovery failure (a domain error's message, else the exception's)."""
    if isinstance(err, ServiceError):
        return _render(err)
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def _fixed_ip(server: dict[str, Any]) -> str:
    for addresses in (server.get("addresses") or {}).values():
        for address in addresses:
            if address.get("OS-EXT-IPS:type", "fixed") == "fixed":
                return str(address.get("addr", ""))
    return ""


def _floating_ip(server: dict[str, Any]) -> str:
    for addresses in (server.get("addresses") or {}).values():
        for address in addresses:
            if address.get("OS-EXT-IPS:type") == "floating":
                return str(address.get("addr", ""))
    return ""


def _row_values(server: dict[str, Any]) -> dict[str, Any]:
    """The VM columns a server listing updates."""
    values: dict[str, Any] = {
        "status": str(server.get("status") or ""),
        "task_state": str(server.get("OS-EXT-STS:task_state") or ""),
        "nova_locked": bool(server.get("locked")),
    }
    node = server.get("OS-EXT-SRV-ATTR:hypervisor_hostname") or server.get("OS-EXT-SRV-ATTR:host")
    if node:
        values["node"] = str(node)
    fixed = _fixed_ip(server)
    if fixed:
        values["fixed_ip"] = fixed
    return values


def _list_servers(conn: Any, since: str | None) -> list[dict[str, Any]]:
    """Every server of the connection's project (pages of PAGE_SIZE), or only those changed since `since`."""
    servers: list[dict[str, Any]] = []
    marker = None
    while True:
        query = f"/servers/detail?limit={PAGE_SIZE}"
        if since:
            query += f"&changes-since={since}"
        if marker:
            query += f"&marker={marker}"
        page = _call_json(conn.compute, "get", query).get("servers", [])
        servers.extend(page)
        if len(page) < PAGE_SIZE:
            return servers
        marker = page[-1]["id"]


def _no_step(ctx: RunContext) -> None:
    """The run of a step rebuilt only to be compensated."""


def _probe_cdrom(conn: Any) -> bool:
    """Whether Nova lists the vendor CD-ROM extension (GET /extensions, else the version document)."""
    response = _sdk(lambda: conn.compute.get("/extensions", microversion=COMPUTE_MICROVERSION))
    if response.status_code < 400:
        try:
            extensions = response.json().get("extensions", [])
        except ValueError:
            extensions = []
        if any(e.get("alias") == CDROM_EXTENSION for e in extensions if isinstance(e, dict)):
            return True
    response = _sdk(lambda: conn.compute.get("/", microversion=COMPUTE_MICROVERSION))
    if response.status_code < 400:
        try:
            version = response.json().get("version") or {}
        except ValueError:
            version = {}
        return CDROM_EXTENSION in (version.get("x-vendor-extensions") or [])
    return False


def _find_rescue_image(conn: Any, iso: dict[str, Any]) -> dict[str, Any]:
    """The active Glance image of an ISO (disk format iso, named as its file, display name or stem)."""
    file_name = str(iso["file_name"])
    stem = file_name[:-4] if file_name.lower().endswith(".iso") else file_name
    for name in dict.fromkeys((file_name, str(iso["name"]), stem)):
        query = urllib.parse.urlencode({"name": name, "disk_format": "iso", "status": "active"})
        response = _sdk(lambda query=query: conn.image.get(f"/images?{query}"))
        if response.status_code >= 400:
            raise CloudError("cloud.http", status=response.status_code, reason=response.reason or "")
        images = response.json().get("images", [])
        if images:
            image = dict(images[0])
            if not (image.get("hw_rescue_device") or image.get("hw_rescue_bus")):
                raise VmError(
                    "vm.iso_image_not_rescue", image=image.get("name") or image["id"], iso=iso["name"]
                )
            return image
    raise VmError("vm.iso_no_image", cluster=iso["cluster"], iso=iso["name"], file=file_name)


def _detach_cdrom(conn: Any, server_id: str) -> None:
    """`detachCdrom`; nothing mounted (409) counts as done, so a retried unmount finishes."""
    try:
        _call_json(conn.compute, "post", f"/servers/{server_id}/action", json={"detachCdrom": {}})
    except CloudError as err:
        if err.params.get("status") != 409 or "no iso" not in str(err.params.get("reason", "")).lower():
            raise


def _unrescue_and_wait(conn: Any, server_id: str, first: float, cap: float, timeout: float) -> None:
    _call_json(conn.compute, "post", f"/servers/{server_id}/action", json={"unrescue": None})
    _wait_for_status(conn, server_id, "ACTIVE", first=first, cap=cap, timeout=timeout, settle=True)


def _find_snapshots(conn: Any, name: str, operation_id: int) -> list[str]:
    """Images of one snapshot operation (name + mark property)."""
    query = urllib.parse.urlencode({"name": name})
    response = _sdk(lambda: conn.image.get(f"/images?{query}"))
    if response.status_code >= 400:
        return []
    return [
        str(i["id"]) for i in response.json().get("images", []) if i.get(SNAPSHOT_MARK) == str(operation_id)
    ]


def _wait_for_image(
    conn: Any,
    image_id: str,
    *,
    cancel: CancelToken,
    report: Callable[[str], None],
    first: float,
    cap: float,
    timeout: float,
) -> dict[str, Any]:
    """Poll a Glance image (short interval growing to `cap`) until active; killed/deleted raise."""
    deadline = time.monotonic() + timeout
    interval = first
    last = ""
    while True:
        cancel.raise_if_cancelled()
        response = _sdk(lambda: conn.image.get(f"/images/{image_id}"))
        if response.status_code == 404:
            raise VmError("vm.image_failed", status="deleted")
        if response.status_code >= 400:
            raise CloudError("cloud.http", status=response.status_code, reason=response.reason or "")
        image = dict(response.json())
        status = str(image.get("status", ""))
        if status != last:
            report("")
            last = status
        if status == "active":
            return image
        if status in ("killed", "deleted", "deactivated"):
            raise VmError("vm.image_failed", status=status)
        if time.monotonic() > deadline:
            raise VmError("vm.image_timeout", seconds=int(timeout), status=status)
        if cancel._event.wait(interval):  # wakes at once on cancel
            cancel.raise_if_cancelled()
        interval = min(interval * 1.5, cap)


def _render(err: BaseException) -> str:
    from ectui.i18n import render

    if isinstance(err, ServiceError):
        return render(err)
    return json.dumps(type(err).__name__)
