"""SSH key pairs for VM logins: imported into the cluster's Nova and remembered per cluster."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ectui.db.models import Cluster, Keypair
from ectui.i18n import N_
from ectui.services.audit import audited
from ectui.services.errors import ServiceError, ValidationError, register_messages
from ectui.services.openstack.calls import call_keeping_errors
from ectui.services.openstack.connection import classify
from ectui.services.validation import required_text
from ectui.services.vms.rows import cluster_id_for

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.audit import AuditService
    from ectui.services.clusters import ClusterService
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.projects import ProjectService

FEATURE = "platform.vms"
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
MAX_PUBLIC_KEY_FILE_BYTES = 16 * 1024
"""An OpenSSH public key file is one line (RSA-16384 is about 2.8 KiB); anything bigger is refused unread."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,254}$")

register_messages(
    {
        "keypair.bad_name": N_(
            "{field} '{value}' is not valid: letters, digits, spaces, '-', '_' or '.', starting with a letter or digit."
        ),
        "keypair.bad_key": N_(
            "{field} is not an OpenSSH public key (one line like 'ssh-ed25519 AAAA... comment'): {reason}"
        ),
        "keypair.exists": N_("Cluster {cluster} already has a key pair named '{name}'; choose another name."),
        "keypair.no_file": N_("{field}: cannot read {path} as a text file."),
        "keypair.cloud_refused": N_("The cloud refused key pair '{name}': {reason}"),
    }
)


class KeypairError(ServiceError):
    """A refused key pair operation."""


@dataclass(frozen=True)
class KeypairInfo:
    """A key pair as lists show it (the public key stays in the database)."""

    name: str
    cluster: str
    fingerprint: str
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "cluster": self.cluster,
            "fingerprint": self.fingerprint,
            "created_at": self.created_at.isoformat(timespec="seconds"),
        }


def parse_public_key(text: str) -> tuple[str, str]:
    """Check an OpenSSH public key; returns (the normalised one-line key, its md5 fingerprint as Nova shows it)."""
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    field = N_("Public key")
    line = " ".join((text or "").strip().split())
    if not line:
        raise ValidationError("validation.required", field=field, field_id="public_key")
    if "\n" in (text or "").strip() or "PRIVATE KEY" in line:
        raise ValidationError(
            "keypair.bad_key", field=field, field_id="public_key", reason="expected a single public key line"
        )
    parts = line.split(" ")
    if parts[0] not in KEY_TYPES or len(parts) < 2:
        raise ValidationError(
            "keypair.bad_key",
            field=field,
            field_id="public_key",
            reason=f"unknown key type (known: {', '.join(KEY_TYPES[:5])})",
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        raise ValidationError(
            "keypair.bad_key", field=field, field_id="public_key", reason="the key data is not base64"
        ) from None
    if not parts[0].startswith("sk-"):
        try:
            load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
        except (ValueError, TypeError) as err:
            raise ValidationError(
                "keypair.bad_key", field=field, field_id="public_key", reason=str(err)[:120]
            ) from None
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    return line, fingerprint


def read_public_key_file(path: str | Path) -> str:
    """The text of an operator-given public key file, read bounded (a FIFO, a device or a huge file is refused)."""
    from ectui.services.boundedio import read_file_bounded

    field = N_("Public key")
    text = str(path)
    try:
        data = read_file_bounded(Path(text).expanduser(), MAX_PUBLIC_KEY_FILE_BYTES, field)
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        raise ValidationError("keypair.no_file", field=field, field_id="public_key", path=text) from None


class KeypairService:
    """Import and list SSH public keys per cluster (Nova keeps the same key under the same name)."""

    def __init__(
        self,
        db: Database,
        clusters: ClusterService,
        projects: ProjectService,
        license_service: ConsoleLicenseService,
        settings: Settings,
        *,
        audit: AuditService | None = None,
    ) -> None:
        self._db = db
        self._clusters = clusters
        self._projects = projects
        self._license = license_service
        self._settings = settings
        self._audit = audit

    @audited("keypair.import", "name")
    async def import_key(self, name: str, public_key: str, *, cluster: str | None = None) -> KeypairInfo:
        """Validate an OpenSSH public key, import it into the cluster's Nova, then remember it."""
        name = required_text(name, N_("Key pair name"), field_id="name", max_len=255)
        if not _NAME.match(name):
            raise ValidationError("keypair.bad_name", field=N_("Key pair name"), field_id="name", value=name)
        key, fingerprint = parse_public_key(public_key)
        await self._license.require(FEATURE, write=True)
        cluster_id, cluster_name = await self._cluster(cluster)

        def clash() -> None:
            with self._db.session() as session:
                if session.scalar(
                    select(Keypair.id).where(Keypair.cluster_id == cluster_id, Keypair.name == name)
                ):
                    raise KeypairError("keypair.exists", cluster=cluster_name, name=name)

        await asyncio.to_thread(clash)

        def send(conn: Any) -> None:
            try:
                conn.compute.create_keypair(name=name, public_key=key)
            except Exception as err:  # every SDK failure becomes one plain message
                error = classify(err)
                if error.params.get("status") == 409:
                    raise KeypairError("keypair.exists", cluster=cluster_name, name=name) from None
                raise KeypairError("keypair.cloud_refused", name=name, reason=str(error)) from None

        await call_keeping_errors(self._clusters.connections, cluster_id, send)

        def record() -> KeypairInfo:
            with self._db.session() as session:
                row = Keypair(
                    cluster_id=cluster_id,
                    name=name,
                    public_key=key,
                    fingerprint=fingerprint,
                    created_by=self._settings.operator,
                )
                session.add(row)
                session.flush()
                return KeypairInfo(row.name, cluster_name, row.fingerprint, row.created_at)

        try:
            return await asyncio.to_thread(record)
        except Exception:
            # nothing half-made: the key goes from Nova again when it cannot be remembered here
            await self._clusters.connections.call(
                cluster_id, lambda conn: conn.compute.delete_keypair(name, ignore_missing=True)
            )
            raise

    async def import_key_file(
        self, name: str, path: str | Path, *, cluster: str | None = None
    ) -> KeypairInfo:
        """Import the OpenSSH public key held in a file (read bounded: see read_public_key_file)."""
        text = await asyncio.to_thread(read_public_key_file, path)
        return await self.import_key(name, text, cluster=cluster)

    async def list_all(self, *, cluster: str | None = None) -> list[KeypairInfo]:
        """Key pairs of one cluster, or of every cluster."""

        def load() -> list[KeypairInfo]:
            with self._db.session() as session:
                query = select(Keypair, Cluster.name).join(Cluster).order_by(Cluster.name, Keypair.name)
                if cluster is not None:
                    query = query.where(Cluster.name == cluster.strip())
                return [
                    KeypairInfo(k.name, c, k.fingerprint, k.created_at) for k, c in session.execute(query)
                ]

        return await asyncio.to_thread(load)

    async def _cluster(self, cluster: str | None) -> tuple[int, str]:
        if cluster:
            info = await self._clusters.get(cluster)
            return info.id, info.name
        project = await self._projects.require_current()

        def resolve() -> tuple[int, str]:
            with self._db.session() as session:
                cluster_id = cluster_id_for(session, project)
                row = session.get(Cluster, cluster_id)
                return cluster_id, row.name if row else "?"

        return await asyncio.to_thread(resolve)
