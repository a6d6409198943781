"""SQLAlchemy 2.x typed ORM models; issuer and console have separate metadata (separate databases)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
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
    """One OpenStack cloud/region the console manages (SPEC C1); credentials encrypted at rest."""

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
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    ftp: Mapped[ClusterFtp | None] = relationship(
        back_populates="cluster", cascade="all, delete-orphan", passive_deletes=True, uselist=False
    )
    nodes: Mapped[list[ComputeNode]] = relationship(
        back_populates="cluster", cascade="all, delete-orphan", passive_deletes=True
    )


class ClusterFtp(ConsoleBase):
    """The FTP server in front of a cluster's NFS ISO share (SPEC C3)."""

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
    """A hypervisor of a cluster as last synced (SPEC C2)."""

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
