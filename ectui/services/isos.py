"""ISO files on the clusters' FTP/NFS shares: sync, resumable upload, enable/disable, edit, delete."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from ectui.db.models import Cluster, IsoFile, IsoUpload, utcnow
from ectui.i18n import N_
from ectui.services.audit import AuditService, audited
from ectui.services.clusters import ClusterError
from ectui.services.errors import ServiceError, ValidationError, register_messages
from ectui.services.ftp import FtpError, FtpSession, ListingLimits, SkippedEntry
from ectui.services.progress import (
    Cancelled,
    CancelToken,
    Progress,
    ProgressCallback,
    Throttle,
    ignore_progress,
)
from ectui.services.records import JsonRecord, get_row, one_of
from ectui.services.validation import optional_text, required_text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.clusters import ClusterService, FtpDraft
    from ectui.services.license import ConsoleLicenseService

FEATURE = "platform.isos"
OS_TYPES = ("linux", "windows", "other")
"""OS types an ISO may be tagged with ('' = not set)."""
SOURCES = ("synced", "uploaded")
RECORD_EVERY = 2.0
"""Seconds between two writes of an upload's progress to the database (its heartbeat)."""

register_messages(
    {
        "iso.not_found": N_("No ISO file with id {id}. List them with: ectui iso list"),
        "iso.no_file": N_("{field}: {path} is not a readable file."),
        "iso.not_iso": N_("{field}: '{name}' must end in .iso (other files are not listed as ISO files)."),
        "iso.bad_file_name": N_(
            "{field}: '{name}' cannot be used on the FTP server (no leading dot, slash or control characters)."
        ),
        "iso.exists": N_("Cluster {cluster} already has an ISO file named {file}; rename the local file."),
        "iso.upload_pending": N_(
            "An interrupted upload of {file} to {cluster} exists (id {id}); resume it with: ectui iso resume {id}"
        ),
        "iso.upload_not_found": N_("No interrupted ISO upload with id {id}."),
        "iso.upload_running": N_("Upload {id} is still running in this or another console."),
        "iso.upload_interrupted": N_(
            "The upload of {file} was interrupted at {percent}% ({reason}). Resume it with 'r' on the ISO "
            "files screen or: ectui iso resume {id}"
        ),
        "iso.upload_cancelled": N_(
            "Upload of {file} cancelled; the partial file was removed from the server."
        ),
        "iso.source_changed": N_(
            "{path} changed since the upload started ({size} bytes then, {now} now); discard the upload "
            "and start again."
        ),
        "iso.size_mismatch": N_(
            "The server has {remote} bytes of {file} but the local file has {local}; the upload was removed."
        ),
        "iso.delete_synced": N_(
            "{name} was not uploaded through this console (it was synced from the FTP server); it cannot be "
            "deleted here."
        ),
        "iso.delete_mounted": N_("{name} is mounted on {count} VM(s); unmount it first."),
        "iso.gone": N_("{name} is no longer on the FTP server; sync or delete it."),
    }
)


class IsoError(ServiceError):
    """A refused or failed ISO operation."""


# ------------------------------------------------------------------ DTOs and drafts


@dataclass(frozen=True)
class IsoInfo(JsonRecord):
    """An ISO file as the lists show it."""

    JSON_FIELDS = (
        "id cluster file=file_name name size modified=modified_at os_type description "
        "source enabled gone mounted=mount_count uploaded_by synced_at"
    )

    id: int
    cluster: str
    file_name: str
    name: str
    size: int
    modified_at: str
    os_type: str
    description: str
    source: str
    enabled: bool
    gone: bool
    mount_count: int
    uploaded_by: str
    synced_at: dt.datetime

    @property
    def deletable(self) -> bool:
        """Uploaded through the console and mounted on no VM."""
        return self.source == "uploaded" and self.mount_count == 0


@dataclass(frozen=True)
class IsoSyncResult:
    """What a sync changed, and the listing entries it left out (bad name or size; see the log)."""

    cluster: str
    added: int
    updated: int
    gone: int
    isos: tuple[IsoInfo, ...]
    skipped: tuple[SkippedEntry, ...] = ()
    """Entries of the FTP listing left out: a name with control characters, longer than 255 bytes or a
    path, a size out of 0..2**63-1, or a name listed twice. Report them as "N entries skipped"."""

    def skipped_note(self) -> str:
        """'N entries of the FTP listing skipped …' in the UI language, naming the first; '' when none."""
        if not self.skipped:
            return ""
        from ectui.i18n import ngettext

        count = len(self.skipped)
        return ngettext(
            "{n} entry of the FTP listing skipped (bad name or size, e.g. '{first}'); see the log.",
            "{n} entries of the FTP listing skipped (bad name or size, e.g. '{first}'); see the log.",
            count,
        ).format(n=count, first=self.skipped[0].printable)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "cluster": self.cluster,
            "added": self.added,
            "updated": self.updated,
            "gone": self.gone,
            "skipped": [{"name": e.name, "reason": e.reason} for e in self.skipped],
            "isos": [i.to_json() for i in self.isos],
        }


def _os_type(value: str | None) -> str:
    text = (value or "").strip().lower()
    return one_of(text, OS_TYPES, N_("OS type"), field_id="os_type") if text else text


@dataclass(frozen=True)
class IsoUploadRequest:
    """A validated upload: local file, cluster, display name, OS type."""

    path: Path
    cluster: str
    name: str
    os_type: str = ""

    @property
    def file_name(self) -> str:
        """The name on the FTP server (the local file's name)."""
        return self.path.name

    @classmethod
    def parse(
        cls,
        *,
        path: str | Path | None,
        cluster: str | None,
        name: str | None = None,
        os_type: str | None = "",
    ) -> IsoUploadRequest:
        """Validate raw values; raises ValidationError naming the field."""
        text = str(path or "").strip()
        if not text:
            raise ValidationError("validation.required", field=N_("File"), field_id="path")
        local = Path(text).expanduser()
        if not local.is_file() or not os.access(local, os.R_OK):
            raise ValidationError("iso.no_file", field=N_("File"), field_id="path", path=text)
        file_name = local.name
        if not file_name.lower().endswith(".iso"):
            raise ValidationError("iso.not_iso", field=N_("File"), field_id="path", name=file_name)
        if (
            file_name.startswith((".", " "))
            or file_name.endswith(" ")
            or len(file_name) > 255
            or any(ord(c) < 32 or c in "/\\\x7f" for c in file_name)
        ):
            raise ValidationError("iso.bad_file_name", field=N_("File"), field_id="path", name=file_name)
        display = optional_text(name, N_("Name"), field_id="name", max_len=255) or file_name[:-4]
        if any(ord(c) < 32 for c in display):
            raise ValidationError("validation.control_chars", field=N_("Name"), field_id="name")
        return cls(
            path=local.resolve(),
            cluster=required_text(cluster, N_("Cluster"), field_id="cluster", max_len=64),
            name=display,
            os_type=_os_type(os_type),
        )


@dataclass(frozen=True)
class IsoEdit:
    """Validated changes of an ISO's name, OS type and description (None = unchanged)."""

    name: str | None = None
    os_type: str | None = None
    description: str | None = None

    @classmethod
    def parse(
        cls, *, name: str | None = None, os_type: str | None = None, description: str | None = None
    ) -> IsoEdit:
        """Validate raw values; raises ValidationError naming the field."""
        new_name = None if name is None else required_text(name, N_("Name"), field_id="name", max_len=255)
        if new_name is not None and any(ord(c) < 32 for c in new_name):
            raise ValidationError("validation.control_chars", field=N_("Name"), field_id="name")
        return cls(
            name=new_name,
            os_type=None if os_type is None else _os_type(os_type),
            description=None
            if description is None
            else optional_text(description, N_("Description"), field_id="description"),
        )


@dataclass(frozen=True)
class UploadInfo(JsonRecord):
    """A resumable (interrupted) upload."""

    JSON_FIELDS = (
        "id cluster local_path file=file_name name=display_name os_type size sent status "
        "started_by started_at updated_at"
    )

    id: int
    cluster: str
    local_path: str
    file_name: str
    temp_name: str
    display_name: str
    os_type: str
    size: int
    sent: int
    status: str
    started_by: str
    started_at: dt.datetime
    updated_at: dt.datetime

    @property
    def percent(self) -> int:
        """How far it got, 0-100."""
        return int(self.sent * 100 / self.size) if self.size else 0


@dataclass(frozen=True)
class IsoUploadResult:
    """A finished upload: the new ISO, and how many bytes went over the wire this time."""

    iso: IsoInfo
    upload_id: int
    sent: int
    resumed_from: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            **self.iso.to_json(),
            "upload_id": self.upload_id,
            "sent": self.sent,
            "resumed_from": self.resumed_from,
        }


# ------------------------------------------------------------------ the service


class IsoService:
    """ISO files of the clusters: the database copy of their FTP ISO directories, and uploads to them."""

    def __init__(
        self,
        db: Database,
        clusters: ClusterService,
        license_service: ConsoleLicenseService,
        settings: Settings,
        *,
        audit: AuditService | None = None,
    ) -> None:
        self._db = db
        self._clusters = clusters
        self._license = license_service
        self._settings = settings
        self._audit = audit
        self._active: set[int] = set()
        self.stale_after = 60.0
        """Seconds without a heartbeat after which a 'running' upload of another console counts as interrupted."""
        self.listing_limits = ListingLimits()
        """Deadline and caps of the FTP listing a sync reads (a broken or hostile server cannot hold it)."""

    # -- reading

    async def list_all(self, cluster: str | None = None) -> list[IsoInfo]:
        """ISO files of one cluster or all, by cluster and name."""
        await self._license.require(FEATURE)
        return await asyncio.to_thread(self._list, cluster)

    def _list(self, cluster: str | None) -> list[IsoInfo]:
        with self._db.session() as session:
            query = (
                select(IsoFile, Cluster.name).join(Cluster).order_by(Cluster.name, IsoFile.name, IsoFile.id)
            )
            if cluster is not None:
                query = query.where(Cluster.name == cluster.strip())
                if session.scalar(select(Cluster.id).where(Cluster.name == cluster.strip())) is None:
                    raise ClusterError("cluster.not_found", name=cluster)
            return [_info(row, name) for row, name in session.execute(query)]

    async def get(self, iso_id: int) -> IsoInfo:
        """One ISO file."""
        await self._license.require(FEATURE)
        return await asyncio.to_thread(self._get, iso_id)

    def _get(self, iso_id: int) -> IsoInfo:
        with self._db.session() as session:
            row = _iso_row(session, iso_id)
            return _info(row, row_cluster(session, row.cluster_id))

    # -- sync

    @audited("iso.sync", "cluster")
    async def sync(self, cluster: str) -> IsoSyncResult:
        """Copy the `*.iso` files of the cluster's FTP ISO directory; files gone are marked, not dropped.

        The listing is bounded (`listing_limits`); entries with a bad name or size are left out and
        returned in `skipped`, the others are synced.
        """
        await self._license.require(FEATURE, write=True)
        info = await self._clusters.get(cluster)
        settings = await self._clusters.ftp_settings(info.name)
        async with FtpSession.open(settings) as ftp:
            listing = await ftp.listing(self.listing_limits)
        files = [
            f
            for f in listing.files
            if f.name.lower().endswith(".iso") and not f.name.startswith(".") and "/" not in f.name
        ]
        return await asyncio.to_thread(self._store_sync, info.id, info.name, files, listing.skipped)

    def _store_sync(
        self, cluster_id: int, cluster: str, files: list[Any], skipped: tuple[SkippedEntry, ...] = ()
    ) -> IsoSyncResult:
        now = utcnow()
        added = updated = gone = 0
        with self._db.session() as session:
            existing = {
                r.file_name: r
                for r in session.scalars(select(IsoFile).where(IsoFile.cluster_id == cluster_id))
            }
            seen = set()
            for f in files:
                seen.add(f.name)
                row = existing.get(f.name)
                if row is None:
                    session.add(
                        IsoFile(
                            cluster_id=cluster_id,
                            file_name=f.name,
                            name=f.name[:-4],
                            size=f.size,
                            modified_at=f.modified,
                            source="synced",
                            enabled=True,
                            gone=False,
                            mount_count=0,
                            synced_at=now,
                        )
                    )
                    added += 1
                    continue
                if row.size != f.size or row.modified_at != f.modified or row.gone:
                    updated += 1
                row.size, row.modified_at, row.gone, row.synced_at = f.size, f.modified, False, now
            for name, row in existing.items():
                if name not in seen and not row.gone:
                    row.gone = True
                    row.synced_at = now
                    gone += 1
            session.flush()
            isos = tuple(
                _info(r, cluster)
                for r in session.scalars(
                    select(IsoFile).where(IsoFile.cluster_id == cluster_id).order_by(IsoFile.name, IsoFile.id)
                )
            )
        return IsoSyncResult(cluster, added, updated, gone, isos, skipped)

    # -- changes

    @audited("iso.set_enabled", lambda a: f"{a['iso_id']} → {'on' if a['enabled'] else 'off'}")
    async def set_enabled(self, iso_id: int, enabled: bool) -> IsoInfo:
        """Enable (mountable) or disable an ISO file."""
        await self._license.require(FEATURE, write=True)
        return await asyncio.to_thread(self._set_enabled, iso_id, enabled)

    def _set_enabled(self, iso_id: int, enabled: bool) -> IsoInfo:
        with self._db.session() as session:
            row = _iso_row(session, iso_id)
            if enabled and row.gone:
                raise IsoError("iso.gone", name=row.name)
            row.enabled = enabled
            session.flush()
            return _info(row, row_cluster(session, row.cluster_id))

    @audited("iso.edit", "iso_id")
    async def edit(self, iso_id: int, changes: IsoEdit) -> IsoInfo:
        """Change the display name, OS type or description."""
        await self._license.require(FEATURE, write=True)
        return await asyncio.to_thread(self._edit, iso_id, changes)

    def _edit(self, iso_id: int, changes: IsoEdit) -> IsoInfo:
        with self._db.session() as session:
            row = _iso_row(session, iso_id)
            if changes.name is not None:
                row.name = changes.name
            if changes.os_type is not None:
                row.os_type = changes.os_type
            if changes.description is not None:
                row.description = changes.description
            session.flush()
            return _info(row, row_cluster(session, row.cluster_id))

    @audited("iso.delete", "iso_id")
    async def delete(self, iso_id: int) -> IsoInfo:
        """Delete an ISO uploaded through the console and mounted nowhere: the file on the server, then the row."""
        await self._license.require(FEATURE, write=True)
        iso = await asyncio.to_thread(self._get, iso_id)
        if iso.source != "uploaded":
            raise IsoError("iso.delete_synced", name=iso.name)
        if iso.mount_count > 0:
            raise IsoError("iso.delete_mounted", name=iso.name, count=iso.mount_count)
        settings = await self._clusters.ftp_settings(iso.cluster)
        async with FtpSession.open(settings) as ftp:
            await ftp.delete(iso.file_name, missing_ok=True)
        await asyncio.to_thread(self._delete_row, iso_id)
        return iso

    def _delete_row(self, iso_id: int) -> None:
        with self._db.session() as session:
            row = _iso_row(session, iso_id)
            if row.mount_count > 0:  # mounted while the file was being deleted: keep the record honest
                raise IsoError("iso.delete_mounted", name=row.name, count=row.mount_count)
            session.delete(row)

    # -- uploads

    @audited("iso.upload", "request.name")
    async def upload(
        self,
        request: IsoUploadRequest,
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> IsoUploadResult:
        """Upload a local ISO to a temporary name, verify its size, rename it; resumable when interrupted."""
        await self._license.require(FEATURE, write=True)
        info = await self._clusters.get(request.cluster)
        settings = await self._clusters.ftp_settings(info.name)
        size = await asyncio.to_thread(lambda: request.path.stat().st_size)
        upload_id = await asyncio.to_thread(self._start_upload, info.id, info.name, request, size)
        return await self._run(upload_id, settings, fresh=True, on_progress=on_progress, cancel=cancel)

    def _start_upload(self, cluster_id: int, cluster: str, request: IsoUploadRequest, size: int) -> int:
        with self._db.session() as session:
            if session.scalar(
                select(IsoFile.id).where(
                    IsoFile.cluster_id == cluster_id,
                    IsoFile.file_name == request.file_name,
                    IsoFile.gone.is_(False),
                )
            ):
                raise IsoError("iso.exists", cluster=cluster, file=request.file_name)
            pending = session.scalar(
                select(IsoUpload.id).where(
                    IsoUpload.cluster_id == cluster_id, IsoUpload.file_name == request.file_name
                )
            )
            if pending is not None:
                raise IsoError("iso.upload_pending", cluster=cluster, file=request.file_name, id=pending)
            row = IsoUpload(
                cluster_id=cluster_id,
                local_path=str(request.path),
                file_name=request.file_name,
                temp_name="",
                size=size,
                sent=0,
                status="running",
                display_name=request.name,
                os_type=request.os_type,
                started_by=self._settings.operator,
            )
            session.add(row)
            session.flush()
            row.temp_name = f".{request.file_name}.part-{row.id}"
            self._active.add(row.id)
            return row.id

    @audited("iso.resume", "upload_id")
    async def resume(
        self,
        upload_id: int,
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> IsoUploadResult:
        """Continue an interrupted upload from the size the server already has (REST/APPE)."""
        await self._license.require(FEATURE, write=True)
        cluster = await asyncio.to_thread(self._claim, upload_id)
        try:
            settings = await self._clusters.ftp_settings(cluster)
        except BaseException:
            await asyncio.to_thread(self._set_status, upload_id, "interrupted", None)
            raise
        return await self._run(upload_id, settings, fresh=False, on_progress=on_progress, cancel=cancel)

    def _claim(self, upload_id: int) -> str:
        with self._db.session() as session:
            row = session.get(IsoUpload, upload_id)
            if row is None:
                raise IsoError("iso.upload_not_found", id=upload_id)
            if upload_id in self._active or (row.status == "running" and not self._stale(row)):
                raise IsoError("iso.upload_running", id=upload_id)
            path = Path(row.local_path)
            try:
                now_size = path.stat().st_size
            except OSError:
                raise ValidationError(
                    "iso.no_file", field=N_("File"), field_id="path", path=row.local_path
                ) from None
            if now_size != row.size:
                raise IsoError("iso.source_changed", path=row.local_path, size=row.size, now=now_size)
            row.status, row.updated_at = "running", utcnow()
            self._active.add(upload_id)
            return row_cluster(session, row.cluster_id)

    def _stale(self, row: IsoUpload) -> bool:
        return (utcnow() - row.updated_at).total_seconds() >= self.stale_after

    async def interrupted(self, cluster: str | None = None) -> list[UploadInfo]:
        """Uploads that stopped before the end (cut, cancelled by a quit, or a console that died)."""
        await self._license.require(FEATURE)
        return await asyncio.to_thread(self._interrupted, cluster)

    def _interrupted(self, cluster: str | None) -> list[UploadInfo]:
        with self._db.session() as session:
            query = select(IsoUpload, Cluster.name).join(Cluster).order_by(IsoUpload.id)
            if cluster is not None:
                query = query.where(Cluster.name == cluster.strip())
            return [
                _upload_info(row, name)
                for row, name in session.execute(query)
                if row.id not in self._active and (row.status != "running" or self._stale(row))
            ]

    @audited("iso.discard", "upload_id")
    async def discard(self, upload_id: int) -> UploadInfo:
        """Forget an interrupted upload and remove its temporary file from the server."""
        await self._license.require(FEATURE, write=True)
        cluster = await asyncio.to_thread(self._claim_for_discard, upload_id)
        try:
            row = await asyncio.to_thread(self._upload_row, upload_id)
            settings = await self._clusters.ftp_settings(cluster)
            async with FtpSession.open(settings) as ftp:
                await ftp.delete(row.temp_name, missing_ok=True)
            await asyncio.to_thread(self._forget_upload, upload_id)
            return row
        finally:
            self._active.discard(upload_id)

    def _claim_for_discard(self, upload_id: int) -> str:
        with self._db.session() as session:
            row = session.get(IsoUpload, upload_id)
            if row is None:
                raise IsoError("iso.upload_not_found", id=upload_id)
            if upload_id in self._active or (row.status == "running" and not self._stale(row)):
                raise IsoError("iso.upload_running", id=upload_id)
            self._active.add(upload_id)
            return row_cluster(session, row.cluster_id)

    def _upload_row(self, upload_id: int) -> UploadInfo:
        with self._db.session() as session:
            row = session.get(IsoUpload, upload_id)
            if row is None:
                raise IsoError("iso.upload_not_found", id=upload_id)
            return _upload_info(row, row_cluster(session, row.cluster_id))

    async def _run(
        self,
        upload_id: int,
        settings: FtpDraft,
        *,
        fresh: bool,
        on_progress: ProgressCallback,
        cancel: CancelToken | None,
    ) -> IsoUploadResult:
        """Send the file, verify, rename, record; on any end but success, leave a consistent state."""
        up = await asyncio.to_thread(self._upload_row, upload_id)
        path = Path(up.local_path)
        throttle = Throttle(on_progress)
        started = time.monotonic()
        last_record = [started]
        state = {"offset": 0, "position": 0}

        async def sent(position: int) -> None:
            state["position"] = position
            now = time.monotonic()
            elapsed = now - started
            rate = (position - state["offset"]) / elapsed if elapsed > 0 else None
            throttle(Progress("upload", position, up.size, rate=rate), force=position >= up.size)
            if now - last_record[0] >= RECORD_EVERY:
                last_record[0] = now
                await asyncio.to_thread(self._record_sent, upload_id, position)
            if cancel is not None:
                cancel.raise_if_cancelled()

        try:
            try:
                async with FtpSession.open(settings) as ftp:
                    if await ftp.size(up.file_name) is not None:
                        raise IsoError("iso.exists", cluster=up.cluster, file=up.file_name)
                    offset = 0
                    if not fresh:
                        remote = await ftp.size(up.temp_name)
                        if remote is not None and remote <= up.size:
                            offset = remote
                    state["offset"] = state["position"] = offset
                    throttle(
                        Progress("upload", offset, up.size, detail="resume" if offset else ""), force=True
                    )
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    sent_now = await ftp.upload(up.temp_name, path, offset=offset, on_sent=sent)
                    throttle(Progress("verify", up.size, up.size), force=True)
                    remote = await ftp.size(up.temp_name)
                    if remote != up.size:
                        raise IsoError(
                            "iso.size_mismatch", file=up.file_name, remote=remote or 0, local=up.size
                        )
                    if await ftp.size(up.file_name) is not None:
                        raise IsoError("iso.exists", cluster=up.cluster, file=up.file_name)
                    await ftp.rename(up.temp_name, up.file_name)
            except (Cancelled, IsoError) as err:
                await self._remove_temp(settings, up.temp_name)
                await asyncio.to_thread(self._forget_upload, upload_id)
                if isinstance(err, Cancelled):
                    raise Cancelled("iso.upload_cancelled", file=up.file_name) from None
                raise
            except FtpError as err:
                if err.transient:
                    await asyncio.to_thread(self._set_status, upload_id, "interrupted", state["position"])
                    percent = int(state["position"] * 100 / up.size) if up.size else 0
                    raise IsoError(
                        "iso.upload_interrupted",
                        file=up.file_name,
                        percent=percent,
                        id=upload_id,
                        reason=str(err),
                    ) from None
                await self._remove_temp(settings, up.temp_name)
                await asyncio.to_thread(self._forget_upload, upload_id)
                raise
            except ClusterError:
                if fresh:
                    await asyncio.to_thread(self._forget_upload, upload_id)
                else:
                    await asyncio.to_thread(self._set_status, upload_id, "interrupted", None)
                raise
            except BaseException:  # the task was cancelled (console quit) or a bug: resumable later
                self._set_status(upload_id, "interrupted", state["position"] or None)
                raise
            iso = await asyncio.to_thread(self._finish_upload, upload_id)
        finally:
            self._active.discard(upload_id)
        throttle(Progress("done", up.size, up.size), force=True)
        return IsoUploadResult(iso, upload_id, sent_now, state["offset"])

    async def _remove_temp(self, settings: FtpDraft, temp_name: str) -> None:
        """Delete the temporary file on a fresh connection (the old one may be mid-transfer)."""
        try:
            async with FtpSession.open(settings, timeout=10) as ftp:
                await ftp.delete(temp_name, missing_ok=True)
        except ServiceError:
            pass  # unreachable now: the temp name never shows as an ISO (it starts with a dot)

    def _record_sent(self, upload_id: int, sent: int) -> None:
        with self._db.session() as session:
            row = session.get(IsoUpload, upload_id)
            if row is not None:
                row.sent, row.updated_at = sent, utcnow()

    def _set_status(self, upload_id: int, status: str, sent: int | None) -> None:
        with self._db.session() as session:
            row = session.get(IsoUpload, upload_id)
            if row is not None:
                row.status, row.updated_at = status, utcnow()
                if sent is not None:
                    row.sent = sent

    def _forget_upload(self, upload_id: int) -> None:
        with self._db.session() as session:
            session.execute(delete(IsoUpload).where(IsoUpload.id == upload_id))

    def _finish_upload(self, upload_id: int) -> IsoInfo:
        with self._db.session() as session:
            up = session.get(IsoUpload, upload_id)
            assert up is not None
            row = session.scalar(
                select(IsoFile).where(IsoFile.cluster_id == up.cluster_id, IsoFile.file_name == up.file_name)
            )
            if row is None:  # a gone row of the same name is reused
                row = IsoFile(cluster_id=up.cluster_id, file_name=up.file_name, mount_count=0)
                session.add(row)
            row.name, row.size, row.os_type = up.display_name, up.size, up.os_type
            row.modified_at = utcnow().strftime("%Y-%m-%d %H:%M:%S")
            row.description = row.description or ""
            row.source, row.enabled, row.gone = "uploaded", True, False
            row.uploaded_by, row.synced_at = up.started_by, utcnow()
            session.delete(up)
            session.flush()
            return _info(row, row_cluster(session, row.cluster_id))


# ------------------------------------------------------------------ helpers


def _iso_row(session: Session, iso_id: int) -> IsoFile:
    return get_row(session, IsoFile, iso_id, IsoError, "iso.not_found")


def row_cluster(session: Session, cluster_id: int) -> str:
    """The name of a cluster by id."""
    return str(session.scalar(select(Cluster.name).where(Cluster.id == cluster_id)))


def _info(row: IsoFile, cluster: str) -> IsoInfo:
    return IsoInfo(
        id=row.id,
        cluster=cluster,
        file_name=row.file_name,
        name=row.name,
        size=row.size,
        modified_at=row.modified_at,
        os_type=row.os_type or "",
        description=row.description or "",
        source=row.source,
        enabled=row.enabled,
        gone=row.gone,
        mount_count=row.mount_count or 0,
        uploaded_by=row.uploaded_by or "",
        synced_at=row.synced_at,
    )


def _upload_info(row: IsoUpload, cluster: str) -> UploadInfo:
    return UploadInfo(
        id=row.id,
        cluster=cluster,
        local_path=row.local_path,
        file_name=row.file_name,
        temp_name=row.temp_name,
        display_name=row.display_name,
        os_type=row.os_type,
        size=row.size,
        sent=row.sent,
        status=row.status,
        started_by=row.started_by,
        started_at=row.started_at,
        updated_at=row.updated_at,
    )
