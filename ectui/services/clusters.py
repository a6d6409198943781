"""Clusters and their compute nodes, within the license limits."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ectui.db.models import Cluster, ClusterFtp, ComputeNode, utcnow
from ectui.i18n import N_
from ectui.services.audit import AuditService, audited
from ectui.services.errors import ServiceError, ValidationError
from ectui.services.openstack.compute import fetch_hypervisors
from ectui.services.openstack.connection import (
    CloudConnections,
    CloudCredentials,
    ConnectionVerdict,
    clouds_yaml_config,
    test_connection,
)
from ectui.services.records import JsonRecord, one_of
from ectui.services.validation import optional_text, required_text, whole_number

if TYPE_CHECKING:
    from ectui.db.session import Database
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.secrets import LazyKeyFileBox, SecretBox

STORAGE_MODES = ("local", "shared")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PASSWORD = b"cluster-password"
_FTP_PASSWORD = b"cluster-ftp-password"


class ClusterError(ServiceError):
    """A refused cluster or node operation."""


# ------------------------------------------------------------------ DTOs


@dataclass(frozen=True)
class ClusterDraft:
    """A validated cluster definition (new, or the full new state of an edited one)."""

    name: str
    storage_mode: str
    credentials: CloudCredentials
    production: bool = False
    """A protected cluster: the header is coloured and destructive actions ask to type the name."""

    @classmethod
    def parse(
        cls,
        *,
        name: str,
        storage_mode: str = "shared",
        cloud: str | None = None,
        auth_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        project: str | None = None,
        user_domain: str | None = None,
        project_domain: str | None = None,
        region: str | None = None,
        cacert: str | None = None,
        insecure: bool = False,
        password_required: bool = True,
        production: bool = False,
    ) -> ClusterDraft:
        """Validate raw values; raises ValidationError naming the field and how to fix it.

        With `password_required=False` (editing), an empty password keeps the stored one.
        """
        name = required_text(name, N_("Cluster name"), field_id="name", max_len=64)
        if not _NAME.match(name):
            raise ValidationError("cluster.bad_name", field=N_("Cluster name"), field_id="name", value=name)
        mode = one_of(
            (storage_mode or "").strip(), STORAGE_MODES, N_("Storage mode"), field_id="storage_mode"
        )
        cloud = (cloud or "").strip() or None
        if cloud:
            _check_cloud_entry(cloud)
            return cls(name, mode, CloudCredentials(cloud_name=cloud), production=production)
        url = required_text(auth_url, N_("Auth URL"), field_id="auth_url", max_len=500)
        if not re.match(r"^https?://[^\s/]+", url):
            raise ValidationError("cluster.bad_url", field=N_("Auth URL"), field_id="auth_url", value=url)
        cafile = optional_text(cacert, N_("CA file"), field_id="cacert", max_len=1000)
        if cafile and insecure:
            raise ValidationError("cluster.cacert_and_insecure", field=N_("CA file"), field_id="cacert")
        if cafile and not Path(cafile).expanduser().is_file():
            raise ValidationError("cluster.no_cacert", field=N_("CA file"), field_id="cacert", path=cafile)
        if not password and password_required:
            raise ValidationError("validation.required", field=N_("Password"), field_id="password")
        credentials = CloudCredentials(
            auth_url=url,
            username=required_text(username, N_("User name"), field_id="username", max_len=200),
            password=password or "",
            project_name=required_text(project, N_("Project"), field_id="project", max_len=200),
            user_domain=optional_text(user_domain, N_("User domain"), field_id="user_domain", max_len=200)
            or "Default",
            project_domain=optional_text(
                project_domain, N_("Project domain"), field_id="project_domain", max_len=200
            )
            or "Default",
            region=optional_text(region, N_("Region"), field_id="region", max_len=200),
            cacert=str(Path(cafile).expanduser()) if cafile else "",
            insecure=insecure,
        )
        return cls(name, mode, credentials, production=production)


def _check_cloud_entry(cloud: str) -> None:
    from openstack import exceptions as sdk_exc

    try:
        clouds_yaml_config().get_one(cloud=cloud)
    except (sdk_exc.ConfigException, KeyError):
        raise ValidationError(
            "cluster.no_cloud_entry", field=N_("Cloud"), field_id="cloud", cloud=cloud
        ) from None


@dataclass(frozen=True)
class FtpDraft:
    """Validated FTP settings of a cluster."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    iso_dir: str = "/"

    @classmethod
    def parse(
        cls, *, host: str, port: str | int, username: str, password: str, iso_dir: str = "/"
    ) -> FtpDraft:
        """Validate raw values."""
        if not password:
            raise ValidationError("validation.required", field=N_("FTP password"), field_id="password")
        directory = (iso_dir or "/").strip() or "/"
        if not directory.startswith("/"):
            raise ValidationError(
                "cluster.bad_dir", field=N_("ISO directory"), field_id="iso_dir", value=directory
            )
        return cls(
            host=required_text(host, N_("FTP host"), field_id="host", max_len=255),
            port=whole_number(port, N_("FTP port"), field_id="port", minimum=1, maximum=65535),
            username=required_text(username, N_("FTP user"), field_id="username", max_len=200),
            password=password,
            iso_dir=directory,
        )


@dataclass(frozen=True)
class ClusterInfo(JsonRecord):
    """A cluster as lists show it (never its password)."""

    JSON_FIELDS = (
        "id name source auth_url username project user_domain project_domain region "
        "storage=storage_mode insecure cacert ftp nodes=node_count created_at production"
    )

    id: int
    name: str
    source: str
    """'clouds.yaml:<entry>' or the auth URL."""
    auth_url: str
    username: str
    project: str
    user_domain: str
    project_domain: str
    region: str
    storage_mode: str
    insecure: bool
    cacert: str
    ftp: str | None
    """'user@host:port/dir' when configured."""
    node_count: int
    created_at: dt.datetime
    production: bool = False
    """A protected cluster (header coloured, destructive actions ask to type the name)."""


@dataclass(frozen=True)
class NodeInfo(JsonRecord):
    """A compute node with its capacity."""

    JSON_FIELDS = (
        "id cluster name zone state status vcpus vcpus_used memory_mb memory_mb_used "
        "running_vms present synced_at"
    )

    id: int
    cluster: str
    name: str
    zone: str
    state: str
    status: str
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    running_vms: int
    present: bool
    synced_at: dt.datetime

    @property
    def vcpus_free(self) -> int:
        """Unallocated vCPUs."""
        return max(self.vcpus - self.vcpus_used, 0)


@dataclass(frozen=True)
class NodeSyncResult:
    """What a node sync changed."""

    cluster: str
    added: int
    updated: int
    gone: int
    nodes: tuple[NodeInfo, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "cluster": self.cluster,
            "added": self.added,
            "updated": self.updated,
            "gone": self.gone,
            "nodes": [n.to_json() for n in self.nodes],
        }


@dataclass(frozen=True)
class FtpVerdict:
    """The result of an FTP connection test."""

    ok: bool
    verdict: str
    """ok | auth_failed | unreachable | no_dir | error"""
    error: ServiceError | None = None
    iso_count: int = 0


# ------------------------------------------------------------------ the service


class ClusterService:
    """Add, edit, remove and test clusters; sync and list their nodes; all checked against the license."""

    def __init__(
        self,
        db: Database,
        box: SecretBox | LazyKeyFileBox,
        license_service: ConsoleLicenseService,
        *,
        audit: AuditService | None = None,
    ) -> None:
        self._db = db
        self._box = box
        self._license = license_service
        self._audit = audit
        self.connections = CloudConnections(self._credentials)

    # -- credentials (never leave the service layer)

    def _credentials(self, cluster_id: int) -> CloudCredentials:
        with self._db.session() as session:
            row = session.get(Cluster, cluster_id)
            if row is None:
                raise ClusterError("cluster.not_found", name=str(cluster_id))
            return self._row_credentials(row)

    def _row_credentials(self, row: Cluster) -> CloudCredentials:
        if row.cloud_name:
            return CloudCredentials(cloud_name=row.cloud_name)
        password = self._box.open(row.password, purpose=_PASSWORD).decode() if row.password else ""
        return CloudCredentials(
            auth_url=row.auth_url,
            username=row.username,
            password=password,
            project_name=row.project_name,
            user_domain=row.user_domain,
            project_domain=row.project_domain,
            region=row.region,
            cacert=row.cacert,
            insecure=row.insecure,
        )

    # -- clusters

    async def list_all(self) -> list[ClusterInfo]:
        """All clusters by name."""
        return await asyncio.to_thread(self._list)

    def _list(self) -> list[ClusterInfo]:
        with self._db.session() as session:
            return [
                self._info(session, row) for row in session.scalars(select(Cluster).order_by(Cluster.name))
            ]

    async def get(self, name: str) -> ClusterInfo:
        """One cluster by name."""
        return await asyncio.to_thread(self._get, name)

    def _get(self, name: str) -> ClusterInfo:
        with self._db.session() as session:
            return self._info(session, self._row(session, name))

    @audited("cluster.add", "draft.name")
    async def add(self, draft: ClusterDraft) -> ClusterInfo:
        """Register a cluster; the license decides whether one more cluster and its storage mode are allowed."""
        await self._license.require(write=True)
        return await asyncio.to_thread(self._add, draft)

    def _add(self, draft: ClusterDraft) -> ClusterInfo:
        policy = self._license.policy()
        policy.storage_allowed(draft.storage_mode).raise_if_denied()
        try:
            with self._db.session() as session:
                if session.scalar(select(Cluster.id).where(Cluster.name == draft.name)) is not None:
                    raise ClusterError("cluster.exists", name=draft.name)
                used = session.scalar(select(func.count()).select_from(Cluster)) or 0
                policy.may_add_cluster(used=used).raise_if_denied()
                row = Cluster(name=draft.name)
                self._apply(row, draft)
                session.add(row)
                session.flush()
                return self._info(session, row)
        except IntegrityError:
            raise ClusterError("cluster.exists", name=draft.name) from None

    @audited("cluster.update", "name")
    async def update(self, name: str, draft: ClusterDraft) -> ClusterInfo:
        """Replace a cluster's definition (name may change); its nodes and FTP settings stay."""
        await self._license.require(write=True)
        info = await asyncio.to_thread(self._update, name, draft)
        self.connections.forget(info.id)
        return info

    def _update(self, name: str, draft: ClusterDraft) -> ClusterInfo:
        self._license.policy().storage_allowed(draft.storage_mode).raise_if_denied()
        try:
            with self._db.session() as session:
                row = self._row(session, name)
                if draft.name != row.name and session.scalar(
                    select(Cluster.id).where(Cluster.name == draft.name)
                ):
                    raise ClusterError("cluster.exists", name=draft.name)
                row.name = draft.name
                self._apply(row, draft)
                row.updated_at = utcnow()
                session.flush()
                return self._info(session, row)
        except IntegrityError:
            raise ClusterError("cluster.exists", name=draft.name) from None

    def _apply(self, row: Cluster, draft: ClusterDraft) -> None:
        c = draft.credentials
        row.storage_mode = draft.storage_mode
        row.production = draft.production
        row.cloud_name = c.cloud_name
        row.auth_url, row.username, row.project_name = c.auth_url, c.username, c.project_name
        row.user_domain, row.project_domain, row.region = c.user_domain, c.project_domain, c.region
        row.cacert, row.insecure = c.cacert, c.insecure
        if c.cloud_name:
            row.password = None
        elif c.password:
            row.password = self._box.seal(c.password.encode(), purpose=_PASSWORD)
        elif row.password is None:
            raise ValidationError("validation.required", field=N_("Password"), field_id="password")

    @audited("cluster.remove", "name")
    async def remove(self, name: str) -> None:
        """Forget a cluster, its FTP settings and nodes (nothing in the cloud is touched)."""
        await self._license.require(write=True)
        cluster_id = await asyncio.to_thread(self._remove, name)
        self.connections.forget(cluster_id)

    def _remove(self, name: str) -> int:
        with self._db.session() as session:
            row = self._row(session, name)
            session.delete(row)
            return row.id

    async def test(self, name: str) -> ConnectionVerdict:
        """Authenticate against the cluster and check its catalog; a plain verdict, never an exception."""
        info = await self.get(name)
        credentials = await asyncio.to_thread(self._credentials, info.id)
        return await asyncio.to_thread(test_connection, credentials)

    async def test_credentials(
        self, draft: ClusterDraft, *, existing: str | None = None
    ) -> ConnectionVerdict:
        """Test a cluster definition before saving it (an empty password means the stored one of `existing`)."""
        credentials = draft.credentials
        if existing and not credentials.cloud_name and not credentials.password:
            info = await self.get(existing)
            stored = await asyncio.to_thread(self._credentials, info.id)
            credentials = dataclasses.replace(credentials, password=stored.password)
        return await asyncio.to_thread(test_connection, credentials)

    # -- FTP

    @audited("cluster.set_ftp", "name")
    async def set_ftp(self, name: str, draft: FtpDraft) -> ClusterInfo:
        """Store (or replace) the cluster's FTP settings; the password is sealed."""
        await self._license.require(write=True)
        return await asyncio.to_thread(self._set_ftp, name, draft)

    def _set_ftp(self, name: str, draft: FtpDraft) -> ClusterInfo:
        with self._db.session() as session:
            row = self._row(session, name)
            ftp = row.ftp or ClusterFtp(cluster_id=row.id)
            ftp.host, ftp.port, ftp.username, ftp.iso_dir = (
                draft.host,
                draft.port,
                draft.username,
                draft.iso_dir,
            )
            ftp.password = self._box.seal(draft.password.encode(), purpose=_FTP_PASSWORD)
            row.ftp = ftp
            session.flush()
            return self._info(session, row)

    async def ftp_settings(self, name: str) -> FtpDraft:
        """The cluster's FTP settings with the password (for the FTP client only)."""

        def load() -> FtpDraft:
            with self._db.session() as session:
                row = self._row(session, name)
                if row.ftp is None:
                    raise ClusterError("cluster.ftp_missing", name=name)
                f = row.ftp
                password = self._box.open(f.password, purpose=_FTP_PASSWORD).decode()
                return FtpDraft(f.host, f.port, f.username, password, f.iso_dir)

        return await asyncio.to_thread(load)

    async def test_ftp(self, name: str, *, timeout: float = 10.0) -> FtpVerdict:
        """Log in to the cluster's FTP server and list its ISO directory."""
        return await check_ftp(await self.ftp_settings(name), timeout=timeout)

    # -- nodes

    @audited("cluster.sync_nodes", "name")
    async def sync_nodes(self, name: str) -> NodeSyncResult:
        """Copy hypervisors and zones from the cloud; refused whole when the license node limit would be passed."""
        info = await self.get(name)
        await self._license.require(write=True)
        hypervisors, zones = await self.connections.call(info.id, fetch_hypervisors)
        return await asyncio.to_thread(self._store_nodes, info, hypervisors, zones)

    def _store_nodes(
        self, info: ClusterInfo, hypervisors: list[dict[str, Any]], zones: dict[str, str]
    ) -> NodeSyncResult:
        policy = self._license.policy()
        now = utcnow()
        with self._db.session() as session:
            existing = {
                n.name: n
                for n in session.scalars(select(ComputeNode).where(ComputeNode.cluster_id == info.id))
            }
            seen = {h["name"] for h in hypervisors}
            newly_present = [
                h for h in hypervisors if h["name"] not in existing or not existing[h["name"]].present
            ]
            others = (
                session.scalar(
                    select(func.count())
                    .select_from(ComputeNode)
                    .where(ComputeNode.present.is_(True), ComputeNode.cluster_id != info.id)
                )
                or 0
            )
            still_here = sum(1 for n in existing.values() if n.present and n.name in seen)
            policy.may_add_nodes(len(newly_present), used=others + still_here).raise_if_denied()
            added = updated = gone = 0
            for h in hypervisors:
                row = existing.get(h["name"])
                if row is None:
                    row = ComputeNode(cluster_id=info.id, name=h["name"])
                    session.add(row)
                    added += 1
                else:
                    updated += 1
                row.hypervisor_id = str(h["id"])
                row.zone = zones.get(h["host"], zones.get(h["name"], ""))
                row.state, row.status = h["state"], h["status"]
                row.vcpus, row.vcpus_used = h["vcpus"], h["vcpus_used"]
                row.memory_mb, row.memory_mb_used = h["memory_mb"], h["memory_mb_used"]
                row.running_vms, row.present, row.synced_at = h["running_vms"], True, now
            for node_name, row in existing.items():
                if node_name not in seen and row.present:
                    row.present = False
                    gone += 1
            session.flush()
            nodes = tuple(
                self._node_info(info.name, n)
                for n in session.scalars(
                    select(ComputeNode).where(ComputeNode.cluster_id == info.id).order_by(ComputeNode.name)
                )
            )
        return NodeSyncResult(info.name, added, updated, gone, nodes)

    async def list_nodes(self, cluster: str | None = None) -> list[NodeInfo]:
        """Nodes of one cluster or all, as last synced."""
        return await asyncio.to_thread(self._list_nodes, cluster)

    def _list_nodes(self, cluster: str | None) -> list[NodeInfo]:
        with self._db.session() as session:
            query = select(ComputeNode, Cluster.name).join(Cluster).order_by(Cluster.name, ComputeNode.name)
            if cluster is not None:
                query = query.where(Cluster.id == self._row(session, cluster).id)
            return [self._node_info(cluster_name, node) for node, cluster_name in session.execute(query)]

    # -- helpers

    @staticmethod
    def _row(session: Session, name: str) -> Cluster:
        row = session.scalar(select(Cluster).where(Cluster.name == name.strip()))
        if row is None:
            raise ClusterError("cluster.not_found", name=name)
        return row

    @staticmethod
    def _info(session: Session, row: Cluster) -> ClusterInfo:
        count = session.scalar(
            select(func.count())
            .select_from(ComputeNode)
            .where(ComputeNode.cluster_id == row.id, ComputeNode.present.is_(True))
        )
        ftp = f"{row.ftp.username}@{row.ftp.host}:{row.ftp.port}{row.ftp.iso_dir}" if row.ftp else None
        return ClusterInfo(
            id=row.id,
            name=row.name,
            source=f"clouds.yaml:{row.cloud_name}" if row.cloud_name else row.auth_url,
            auth_url=row.auth_url,
            username=row.username,
            project=row.project_name,
            user_domain=row.user_domain,
            project_domain=row.project_domain,
            region=row.region,
            storage_mode=row.storage_mode,
            insecure=row.insecure,
            cacert=row.cacert,
            ftp=ftp,
            node_count=count or 0,
            created_at=row.created_at,
            production=bool(row.production),
        )

    @staticmethod
    def _node_info(cluster: str, n: ComputeNode) -> NodeInfo:
        return NodeInfo(
            id=n.id,
            cluster=cluster,
            name=n.name,
            zone=n.zone,
            state=n.state,
            status=n.status,
            vcpus=n.vcpus,
            vcpus_used=n.vcpus_used,
            memory_mb=n.memory_mb,
            memory_mb_used=n.memory_mb_used,
            running_vms=n.running_vms,
            present=n.present,
            synced_at=n.synced_at,
        )

    def close(self) -> None:
        """Close cloud connections."""
        self.connections.close()


async def check_ftp(settings: FtpDraft, *, timeout: float = 10.0) -> FtpVerdict:
    """Log in and list the ISO directory (aioftp on the event loop); a verdict, never an exception."""
    import aioftp

    try:
        async with asyncio.timeout(timeout):
            async with aioftp.Client.context(
                settings.host, settings.port, settings.username, settings.password, socket_timeout=timeout
            ) as client:
                try:
                    await client.change_directory(settings.iso_dir)
                except aioftp.StatusCodeError:
                    return FtpVerdict(False, "no_dir", ClusterError("ftp.no_dir", dir=settings.iso_dir))
                count = 0
                async for path, info in client.list():
                    if info.get("type") == "file" and path.name.lower().endswith(".iso"):
                        count += 1
                return FtpVerdict(True, "ok", None, count)
    except aioftp.StatusCodeError as err:
        codes = {str(c) for c in getattr(err, "received_codes", ())}
        if codes & {"530", "331", "332"}:
            return FtpVerdict(False, "auth_failed", ClusterError("ftp.auth_failed", user=settings.username))
        return FtpVerdict(False, "error", ClusterError("ftp.error", reason=str(err)[:200]))
    except (TimeoutError, OSError) as err:
        reason = type(err).__name__ if isinstance(err, TimeoutError) else (err.strerror or str(err))
        return FtpVerdict(
            False,
            "unreachable",
            ClusterError("ftp.unreachable", host=settings.host, port=settings.port, reason=reason),
        )


def cluster_usage(db: Database) -> tuple[int, int]:
    """(clusters, present compute nodes): what counts against the license."""
    with db.session() as session:
        clusters = session.scalar(select(func.count()).select_from(Cluster)) or 0
        nodes = (
            session.scalar(select(func.count()).select_from(ComputeNode).where(ComputeNode.present.is_(True)))
            or 0
        )
    return clusters, nodes
