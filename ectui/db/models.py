"""SQLAlchemy 2.x typed ORM models; issuer and console have separate metadata (separate databases)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """Naive UTC now (stored naive in every backend)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class IssuerBase(DeclarativeBase):
    """Tables of the issuer (license authority) database."""


class ConsoleBase(DeclarativeBase):
    """Tables of the console database."""


# ---------------------------------------------------------------- issuer (legacy names kept)


class FuncMenu(IssuerBase):
    """cpc_func_menu: the tree of console feature menus, grouped under five modules."""

    __tablename__ = "cpc_func_menu"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cpc_func_menu.id", ondelete="CASCADE"))
    module: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class LicenseVersion(IssuerBase):
    """cpc_license_version: an edition, a named set of limits and features sold at a price."""

    __tablename__ = "cpc_license_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    max_clusters: Mapped[int] = mapped_column(Integer)
    max_nodes: Mapped[int] = mapped_column(Integer)
    storage_modes: Mapped[str] = mapped_column(String(64))
    grace_days: Mapped[int] = mapped_column(Integer, default=0)
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    menus: Mapped[list[LicenseVersionMenu]] = relationship(
        back_populates="version", cascade="all, delete-orphan", passive_deletes=True
    )


class LicenseVersionMenu(IssuerBase):
    """cpc_license_version_menu: which feature menus an edition enables."""

    __tablename__ = "cpc_license_version_menu"
    __table_args__ = (UniqueConstraint("version_id", "menu_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("cpc_license_version.id", ondelete="CASCADE"))
    menu_id: Mapped[int] = mapped_column(ForeignKey("cpc_func_menu.id", ondelete="CASCADE"))

    version: Mapped[LicenseVersion] = relationship(back_populates="menus")
    menu: Mapped[FuncMenu] = relationship()


class License(IssuerBase):
    """cpc_license: one customer installation's license, with its own RSA key pair."""

    __tablename__ = "cpc_license"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer: Mapped[str] = mapped_column(String(200))
    version_id: Mapped[int] = mapped_column(ForeignKey("cpc_license_version.id", ondelete="RESTRICT"))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    key_id: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(Text)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    """Encrypted at rest (SecretBox of the issuer master key)."""
    license_info: Mapped[bytes] = mapped_column(LargeBinary)
    """The license XML, hybrid-encrypted with this license's public key."""

    version: Mapped[LicenseVersion] = relationship()


class IssuerKey(IssuerBase):
    """The issuer's own Ed25519 signing key (made on first start), private half encrypted at rest."""

    __tablename__ = "issuer_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class IssuerMeta(IssuerBase):
    """Small key/value facts of the issuer database (passphrase salt and check value)."""

    __tablename__ = "issuer_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)


# ---------------------------------------------------------------- console


class InstalledLicense(ConsoleBase):
    """A license imported into this console; the newest active row is in force."""

    __tablename__ = "installed_license"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    license_id: Mapped[str] = mapped_column(String(64))
    customer: Mapped[str] = mapped_column(String(200))
    edition: Mapped[str] = mapped_column(String(128))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    ec_data: Mapped[bytes] = mapped_column(LargeBinary)
    """The .ec file as imported; decrypted and verified again at each start."""
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    """The installation's license private key, encrypted at rest with the console master key."""
    issuer_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    installed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ConsoleState(ConsoleBase):
    """Key/value facts of the console (the last time seen, for clock rollback detection)."""

    __tablename__ = "console_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Cluster(ConsoleBase):
    """One OpenStack cloud/region the console manages; credentials encrypted at rest."""

    __tablename__ = "cluster"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    cloud_name: Mapped[str | None] = mapped_column(String(128))
    """A clouds.yaml entry; when set, the fields below come from it."""
    auth_url: Mapped[str] = mapped_column(String(500), default="")
    username: Mapped[str] = mapped_column(String(200), default="")
    password: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Sealed with the console master key."""
    project_name: Mapped[str] = mapped_column(String(200), default="")
    user_domain: Mapped[str] = mapped_column(String(200), default="Default")
    project_domain: Mapped[str] = mapped_column(String(200), default="Default")
    region: Mapped[str] = mapped_column(String(200), default="")
    cacert: Mapped[str] = mapped_column(String(1000), default="")
    insecure: Mapped[bool] = mapped_column(Boolean, default=False)
    storage_mode: Mapped[str] = mapped_column(String(16), default="shared")
    production: Mapped[bool] = mapped_column(Boolean, default=False)
    """A protected cluster: the header shows it, destructive actions ask to type the name."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    ftp: Mapped[ClusterFtp | None] = relationship(
        back_populates="cluster", cascade="all, delete-orphan", passive_deletes=True, uselist=False
    )
    nodes: Mapped[list[ComputeNode]] = relationship(
        back_populates="cluster", cascade="all, delete-orphan", passive_deletes=True
    )


class ClusterFtp(ConsoleBase):
    """The FTP server in front of a cluster's NFS ISO share."""

    __tablename__ = "cluster_ftp"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=21)
    username: Mapped[str] = mapped_column(String(200))
    password: Mapped[bytes] = mapped_column(LargeBinary)
    """Sealed with the console master key."""
    iso_dir: Mapped[str] = mapped_column(String(500), default="/")

    cluster: Mapped[Cluster] = relationship(back_populates="ftp")


class ComputeNode(ConsoleBase):
    """A hypervisor of a cluster as last synced."""

    __tablename__ = "compute_node"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    hypervisor_id: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(32), default="")
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    vcpus_used: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb_used: Mapped[int] = mapped_column(Integer, default=0)
    running_vms: Mapped[int] = mapped_column(Integer, default=0)
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    """False once the cloud no longer reports it (kept, marked, not silently dropped)."""
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    cluster: Mapped[Cluster] = relationship(back_populates="nodes")


class Image(ConsoleBase):
    """A Glance image of a cluster as last synced, or uploaded through the console."""

    __tablename__ = "image"
    __table_args__ = (UniqueConstraint("cluster_id", "cloud_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), index=True)
    cloud_id: Mapped[str] = mapped_column(String(64))
    """The image id in Glance."""
    name: Mapped[str] = mapped_column(String(255), default="")
    disk_format: Mapped[str] = mapped_column(String(32), default="")
    container_format: Mapped[str] = mapped_column(String(32), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    checksum: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(32), default="")
    visibility: Mapped[str] = mapped_column(String(32), default="")
    os_type: Mapped[str] = mapped_column(String(16), default="")
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(16), default="synced")
    """synced | uploaded (only uploaded images may be deleted from the console)."""
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    """True once the cloud no longer lists it (marked, not silently dropped)."""
    uploaded_by: Mapped[str] = mapped_column(String(200), default="")
    cloud_created_at: Mapped[str] = mapped_column(String(40), default="")
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Template(ConsoleBase):
    """A VM template: system (from an enabled image) or custom (from a VM snapshot)."""

    __tablename__ = "template"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id", ondelete="SET NULL"))
    image_cloud_id: Mapped[str] = mapped_column(String(64), default="")
    """Kept so the template still boots after the image row is disabled or re-synced."""
    kind: Mapped[str] = mapped_column(String(16), default="system")
    name: Mapped[str] = mapped_column(String(255))
    os_type: Mapped[str] = mapped_column(String(16), default="linux")
    min_cpu: Mapped[int] = mapped_column(Integer, default=1)
    min_ram_gb: Mapped[int] = mapped_column(Integer, default=1)
    min_disk_gb: Mapped[int] = mapped_column(Integer, default=1)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class IsoFile(ConsoleBase):
    """An ISO file on a cluster's FTP/NFS share."""

    __tablename__ = "iso_file"
    __table_args__ = (UniqueConstraint("cluster_id", "file_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    """The name on the FTP server (in the cluster's ISO directory)."""
    name: Mapped[str] = mapped_column(String(255))
    """Display name (editable)."""
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    modified_at: Mapped[str] = mapped_column(String(40), default="")
    os_type: Mapped[str] = mapped_column(String(16), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16), default="synced")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    mount_count: Mapped[int] = mapped_column(Integer, default=0)
    """VMs this ISO is mounted on (a mounted ISO cannot be deleted)."""
    uploaded_by: Mapped[str] = mapped_column(String(200), default="")
    synced_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class IsoUpload(ConsoleBase):
    """A resumable ISO upload: the temporary remote name and how far it got (survives a restart)."""

    __tablename__ = "iso_upload"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), index=True)
    local_path: Mapped[str] = mapped_column(String(4096))
    file_name: Mapped[str] = mapped_column(String(255))
    temp_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sent: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="running")
    """running | interrupted | done | failed | cancelled"""
    display_name: Mapped[str] = mapped_column(String(255), default="")
    os_type: Mapped[str] = mapped_column(String(16), default="")
    started_by: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Project(ConsoleBase):
    """A project of the console, mapped to a cloud project of a cluster, with its quotas.

    Nova keeps no reservations, so the console keeps them: `reserved_*` is what running operations
    hold, `used_*` what exists. Both change only in a locked unit of work (Database.locked_session).
    """

    __tablename__ = "project"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("cluster.id", ondelete="SET NULL"))
    cloud_project: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    quota_vcpus: Mapped[int] = mapped_column(Integer, default=0)
    quota_ram_gb: Mapped[int] = mapped_column(Integer, default=0)
    quota_vms: Mapped[int] = mapped_column(Integer, default=0)
    quota_public_ips: Mapped[int] = mapped_column(Integer, default=0)
    used_vcpus: Mapped[int] = mapped_column(Integer, default=0)
    used_ram_gb: Mapped[int] = mapped_column(Integer, default=0)
    used_vms: Mapped[int] = mapped_column(Integer, default=0)
    used_public_ips: Mapped[int] = mapped_column(Integer, default=0)
    reserved_vcpus: Mapped[int] = mapped_column(Integer, default=0)
    reserved_ram_gb: Mapped[int] = mapped_column(Integer, default=0)
    reserved_vms: Mapped[int] = mapped_column(Integer, default=0)
    reserved_public_ips: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class QuotaReservation(ConsoleBase):
    """Resources held for one operation until it commits (they become used) or releases them."""

    __tablename__ = "quota_reservation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    ram_gb: Mapped[int] = mapped_column(Integer, default=0)
    vms: Mapped[int] = mapped_column(Integer, default=0)
    public_ips: Mapped[int] = mapped_column(Integer, default=0)
    purpose: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(16), default="held")
    """held | committed | released"""
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Keypair(ConsoleBase):
    """An SSH public key registered for VM logins, per cluster (Nova keeps it too)."""

    __tablename__ = "keypair"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(128), default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Vm(ConsoleBase):
    """A VM (云主机) made or seen by the console, with the spec the console believes it has."""

    __tablename__ = "vm"
    __table_args__ = (UniqueConstraint("cluster_id", "cloud_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="SET NULL"), index=True)
    cloud_id: Mapped[str | None] = mapped_column(String(64))
    """The Nova server id (None until the server exists)."""
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    template_id: Mapped[int | None] = mapped_column(ForeignKey("template.id", ondelete="SET NULL"))
    os_type: Mapped[str] = mapped_column(String(16), default="linux")
    login: Mapped[str] = mapped_column(String(16), default="password")
    """password | keypair"""
    keypair_name: Mapped[str] = mapped_column(String(255), default="")
    user_name: Mapped[str] = mapped_column(String(64), default="root")
    vcpus: Mapped[int] = mapped_column(Integer, default=1)
    ram_gb: Mapped[int] = mapped_column(Integer, default=1)
    disk_gb: Mapped[int] = mapped_column(Integer, default=1)
    flavor_id: Mapped[str] = mapped_column(String(64), default="")
    node: Mapped[str] = mapped_column(String(255), default="")
    network: Mapped[str] = mapped_column(String(255), default="")
    fixed_ip: Mapped[str] = mapped_column(String(64), default="")
    floating_ip: Mapped[str] = mapped_column(String(64), default="")
    floating_ip_id: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(32), default="BUILD")
    task_state: Mapped[str] = mapped_column(String(64), default="")
    locked_by_operation: Mapped[int | None] = mapped_column(Integer)
    """The console's own lock: the id of the operation that holds this VM (resize, create)."""
    nova_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    mounted_iso_id: Mapped[int | None] = mapped_column(ForeignKey("iso_file.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Operation(ConsoleBase):
    """A multi-step operation (create VM, resize, ISO upload) persisted step by step."""

    __tablename__ = "operation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    """create_vm | resize | iso_upload"""
    vm_id: Mapped[int | None] = mapped_column(ForeignKey("vm.id", ondelete="SET NULL"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="running")
    """running | done | failed | compensated | cleanup_pending (a rollback the cloud has not confirmed yet)"""
    params: Mapped[str] = mapped_column(Text, default="{}")
    """JSON of what the operation was asked to do (never a password)."""
    context: Mapped[str] = mapped_column(Text, default="{}")
    """JSON of what it made so far (ids of flavor, server, port, floating IP, reservation)."""
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    owner: Mapped[str] = mapped_column(String(200), default="", server_default="")
    """The process running it ('host:pid'), for crash recovery."""
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    """Refreshed while the owner runs it; a stale heartbeat means the owner died (OperationEngine.LEASE)."""

    steps: Mapped[list[OperationStep]] = relationship(
        back_populates="operation", cascade="all, delete-orphan", order_by="OperationStep.position"
    )


class OperationStep(ConsoleBase):
    """One step of an operation: persisted before and after it runs."""

    __tablename__ = "operation_step"
    __table_args__ = (UniqueConstraint("operation_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("operation.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    """pending | running | done | failed | compensated | skipped"""
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    operation: Mapped[Operation] = relationship(back_populates="steps")


class WorkflowRequest(ConsoleBase):
    """A create-VM or resize asked by an operator, run only once an admin approves it."""

    __tablename__ = "workflow_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    """create_vm | resize"""
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    """pending | approved | running | done | failed | rejected | cancelled"""
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="SET NULL"))
    project_name: Mapped[str] = mapped_column(String(64), default="")
    vm_id: Mapped[int | None] = mapped_column(ForeignKey("vm.id", ondelete="SET NULL"))
    """The resized VM, or the VM an approved create made."""
    summary: Mapped[str] = mapped_column(String(300), default="")
    params: Mapped[str] = mapped_column(Text, default="{}")
    """JSON of the validated draft or plan (never a password)."""
    sealed_password: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The login password of a create, sealed with the console's secret box; purged when the request ends."""
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("quota_reservation.id", ondelete="SET NULL")
    )
    """The quota held since the request was made (consumed by the approved operation, else released)."""
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("operation.id", ondelete="SET NULL"))
    requested_by: Mapped[str] = mapped_column(String(200), default="", index=True)
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    """Why it was rejected."""
    error: Mapped[str] = mapped_column(Text, default="")
    """Why the approved operation failed."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class BillingPrice(ConsoleBase):
    """A price list entry of the billing module: applies from `effective_from` (00:00 UTC) until
    the next entry's date. Money is exact (Numeric): per vCPU-hour, per GB-of-RAM-hour, per public-IP-hour."""

    __tablename__ = "billing_price"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_from: Mapped[dt.date] = mapped_column(Date, unique=True)
    vcpu_hour: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    ram_gb_hour: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    ip_hour: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MeterSpan(ConsoleBase):
    """A usage interval of one VM with one spec and power state, recorded as the lifecycle happens.

    No foreign keys: a VM row (and even its project) may be deleted, its metering stays for the bills.
    """

    __tablename__ = "meter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(64), index=True)
    cluster: Mapped[str] = mapped_column(String(255), default="")
    vm_id: Mapped[int] = mapped_column(Integer, index=True)
    vm_name: Mapped[str] = mapped_column(String(255))
    running: Mapped[bool] = mapped_column(Boolean)
    """Powered on: CPU and RAM are billed; public IPs are billed either way."""
    vcpus: Mapped[int] = mapped_column(Integer)
    ram_gb: Mapped[int] = mapped_column(Integer)
    public_ips: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    """None while the span is open."""
    opened_by: Mapped[str] = mapped_column(String(16))
    """The event that opened it: create | start | stop | resize | ip_attach | ip_detach."""
    closed_by: Mapped[str] = mapped_column(String(16), default="")


class ConsoleUser(ConsoleBase):
    """An operator account of the users module: role, Argon2 password hash, lock-out state."""

    __tablename__ = "console_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    """admin | operator | auditor"""
    password_hash: Mapped[str] = mapped_column(String(255))
    """Argon2id hash (argon2-cffi); the password itself is never stored."""
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    """Failed logins within the lock-out window (reset on success or when the window passed)."""
    last_failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class UserSession(ConsoleBase):
    """A CLI login session: only the SHA-256 of its token is stored; the token is in a 0600 file."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AuditEntry(ConsoleBase):
    """One change made through the console (or a refused one): append-only, never updated or deleted.

    Tamper-evident (migration 0010): `hash` is the SHA-256 of `prev_hash` and the entry's fields
    (ectui.services.audit.entry_hash), so an entry changed, removed or slipped in breaks the chain.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    who: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    result: Mapped[str] = mapped_column(String(16))
    """ok | refused | failed | cancelled"""
    detail: Mapped[str] = mapped_column(Text, default="")
    """The refusal or error message (never a password)."""
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """The `hash` of the entry before (64 zeros for the first); unique, so two writers cannot fork the chain."""
    hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) over `prev_hash` and the fields above, in a canonical serialisation."""
