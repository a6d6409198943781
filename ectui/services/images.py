"""Glance images of the clusters: sync, list, upload, enable/disable, delete."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ectui.db.models import Cluster, Image, Operation, OperationStep, utcnow
from ectui.i18n import N_
from ectui.services.audit import AuditService, audited
from ectui.services.errors import ServiceError, ValidationError, register_messages
from ectui.services.openstack.connection import CloudError, classify
from ectui.services.openstack.image import glance_row
from ectui.services.operations.engine import (
    CLEANUP_PENDING,
    OperationEngine,
    Recovered,
    Step,
    cloud_unreachable,
    register_step_labels,
)
from ectui.services.progress import (
    Cancelled,
    CancelToken,
    ChunkReader,
    Progress,
    ProgressCallback,
    ignore_progress,
)
from ectui.services.records import JsonRecord, get_row, one_of
from ectui.services.validation import required_text, whole_number

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.clusters import ClusterService
    from ectui.services.license import ConsoleLicenseService

log = logging.getLogger("ectui.images")
DISK_FORMATS = ("raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("bare", "ovf", "ova", "docker")
OS_TYPES = ("linux", "windows")
FEATURE = "platform.images"
PAGE_SIZE = 1000
"""Images asked per Glance list request (Glance's usual api_limit_max)."""
UPLOAD_MARK = "ectui_upload"
"""An image property set on uploads: finds a half-made image after a failure."""
UPLOAD_INTERRUPTED = N_("The console stopped during the upload.")
"""Why an upload left by a dead console failed (the reason recovery reports)."""
UPLOAD_KIND = "image_upload"
"""Operation kind recording an upload while it runs (removed when it ends cleanly)."""
_UPLOAD_STEP = Step("upload_image", N_("Upload the image"), lambda ctx: None)
register_step_labels(UPLOAD_KIND, {_UPLOAD_STEP.code: _UPLOAD_STEP.label})
_FORMAT_BY_SUFFIX = {
    ".img": "raw",
    ".raw": "raw",
    ".qcow2": "qcow2",
    ".vmdk": "vmdk",
    ".vhd": "vhd",
    ".vhdx": "vhdx",
    ".vdi": "vdi",
    ".iso": "iso",
    ".hds": "ploop",
}

register_messages(
    {
        "image.not_found": N_("No image with id {id}. List them with: ectui image list"),
        "image.no_file": N_("{field}: {path} is not a readable file."),
        "image.empty_file": N_("{field}: {path} is empty; there is nothing to upload."),
        "image.not_uploaded": N_(
            "Image '{name}' was synced from the cloud, not uploaded through this console; "
            "only uploaded images can be deleted here."
        ),
        "image.gone": N_("Image '{name}' is no longer in the cloud; sync the cluster first."),
        "image.upload_failed": N_(
            "Upload of '{name}' failed: {reason} The half-made image was deleted from the cloud."
        ),
        "image.upload_cancelled": N_(
            "Upload of '{name}' cancelled; the half-made image was deleted from the cloud."
        ),
        "image.cleanup_failed": N_(
            "Upload of '{name}' stopped ({reason}) and the half-made image {cloud_id} could not be "
            "deleted: {cleanup}. Delete it with: openstack image delete {cloud_id}"
        ),
        "image.size_mismatch": N_(
            "The cloud stored {stored} bytes of '{name}' instead of {expected}; the image was deleted."
        ),
    }
)


class ImageError(ServiceError):
    """A refused or failed image operation."""


# ------------------------------------------------------------------ DTOs


@dataclass(frozen=True)
class ImageUpload:
    """A validated upload request."""

    path: Path
    cluster: str
    name: str
    disk_format: str
    container_format: str = "bare"
    os_type: str = "linux"
    min_disk: int = 0
    """GB."""
    min_ram: int = 0
    """MB (as Glance counts it)."""

    @classmethod
    def parse(
        cls,
        *,
        path: str | Path,
        cluster: str,
        name: str = "",
        disk_format: str = "",
        container_format: str = "bare",
        os_type: str = "linux",
        min_disk: str | int = 0,
        min_ram: str | int = 0,
    ) -> ImageUpload:
        """Validate raw values; raises ValidationError naming the field.

        An empty name is the file name without its suffix; an empty disk format is guessed from the suffix.
        """
        text = required_text(str(path) if path else "", N_("File"), field_id="path", max_len=4096)
        file = Path(text).expanduser()
        if not file.is_file():
            raise ValidationError("image.no_file", field=N_("File"), field_id="path", path=text)
        try:
            size = file.stat().st_size
            with file.open("rb"):
                pass
        except OSError:
            raise ValidationError("image.no_file", field=N_("File"), field_id="path", path=text) from None
        if size == 0:
            raise ValidationError("image.empty_file", field=N_("File"), field_id="path", path=text)
        cluster = required_text(cluster, N_("Cluster"), field_id="cluster", max_len=64)
        name = required_text(name or file.stem, N_("Image name"), field_id="name", max_len=255)
        disk = one_of(
            (disk_format or "").strip().lower() or guess_disk_format(file),
            DISK_FORMATS,
            N_("Disk format"),
            field_id="disk_format",
        )
        container = one_of(
            (container_format or "bare").strip().lower(),
            CONTAINER_FORMATS,
            N_("Container format"),
            field_id="container_format",
        )
        os_name = one_of((os_type or "").strip().lower(), OS_TYPES, N_("OS type"), field_id="os_type")
        return cls(
            path=file.resolve(),
            cluster=cluster,
            name=name,
            disk_format=disk,
            container_format=container,
            os_type=os_name,
            min_disk=whole_number(
                min_disk if min_disk != "" else 0, N_("Min disk (GB)"), field_id="min_disk", maximum=100_000
            ),
            min_ram=whole_number(
                min_ram if min_ram != "" else 0, N_("Min RAM (MB)"), field_id="min_ram", maximum=10_000_000
            ),
        )


def guess_disk_format(path: Path) -> str:
    """The disk format its suffix suggests ('' when unknown)."""
    return _FORMAT_BY_SUFFIX.get(path.suffix.lower(), "")


@dataclass(frozen=True)
class ImageInfo(JsonRecord):
    """An image as lists show it."""

    JSON_FIELDS = (
        "id cluster cloud_id name disk_format container_format size checksum status "
        "visibility os_type min_disk min_ram source enabled gone uploaded_by created "
        "synced_at"
    )

    id: int
    cluster: str
    cloud_id: str
    name: str
    disk_format: str
    container_format: str
    size: int
    checksum: str
    status: str
    visibility: str
    os_type: str
    min_disk: int
    min_ram: int
    source: str
    """synced | uploaded."""
    enabled: bool
    gone: bool
    uploaded_by: str
    created: str
    """The cloud's creation time (ISO 8601)."""
    synced_at: dt.datetime

    @property
    def deletable(self) -> bool:
        """Uploaded through the console or made by its VM snapshots (synced images are never deleted from here)."""
        return self.source in ("uploaded", "snapshot")

    @property
    def usable(self) -> bool:
        """May make new templates: enabled and still in the cloud."""
        return self.enabled and not self.gone


@dataclass(frozen=True)
class ImageSyncResult(JsonRecord):
    """What an image sync changed."""

    JSON_FIELDS = "cluster added updated gone pages total"

    cluster: str
    added: int
    updated: int
    gone: int
    pages: int
    total: int
    """Active images in the cloud now."""


# ------------------------------------------------------------------ the service


class ImageService:
    """Images of every cluster: copied from Glance, uploaded into it, enabled, disabled and deleted."""

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
        self._engine = OperationEngine(db, settings.operator)
        """Records uploads while they run (crash recovery)."""

    # -- sync

    @audited("image.sync", "cluster")
    async def sync(self, cluster: str) -> ImageSyncResult:
        """Copy the cluster's active images (all pages) with one bulk upsert; mark the vanished ones gone."""
        info = await self._clusters.get(cluster)
        await self._license.require(FEATURE, write=True)
        rows, pages = await self._clusters.connections.call(info.id, fetch_active_images)
        return await asyncio.to_thread(self.store_synced, info.id, info.name, rows, pages)

    def store_synced(
        self, cluster_id: int, cluster: str, rows: list[dict[str, Any]], pages: int = 1
    ) -> ImageSyncResult:
        """Upsert the images listed by the cloud (one statement run over all rows) and mark the rest gone."""
        now = utcnow()
        for row in rows:
            row["cluster_id"], row["synced_at"], row["gone"] = cluster_id, now, False
        with self._db.session() as session:
            known = set(session.scalars(select(Image.cloud_id).where(Image.cluster_id == cluster_id)))
            seen = {r["cloud_id"] for r in rows}
            if rows:
                session.execute(_upsert(session), rows)
            gone = cast(
                "CursorResult[Any]",
                session.execute(
                    update(Image)
                    .where(Image.cluster_id == cluster_id, Image.gone.is_(False), Image.synced_at != now)
                    .values(gone=True)
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
        added = len(seen - known)
        return ImageSyncResult(cluster, added, len(seen) - added, gone or 0, pages, len(seen))

    # -- reading

    async def list_all(self, cluster: str | None = None) -> list[ImageInfo]:
        """Images of one cluster or all, by cluster then name (gone ones included, marked)."""
        return await asyncio.to_thread(self._list, cluster)

    def _list(self, cluster: str | None) -> list[ImageInfo]:
        with self._db.session() as session:
            query = select(Image, Cluster.name).join(Cluster).order_by(Cluster.name, Image.name, Image.id)
            if cluster is not None:
                query = query.where(Cluster.id == self._cluster_id(session, cluster))
            return [_info(name, row) for row, name in session.execute(query)]

    async def get(self, image_id: int) -> ImageInfo:
        """One image by its console id."""
        return await asyncio.to_thread(self._get, image_id)

    def _get(self, image_id: int) -> ImageInfo:
        with self._db.session() as session:
            row = self._row(session, image_id)
            return _info(row_cluster_name(session, row), row)

    # -- enable / disable / delete

    @audited("image.set_enabled", lambda a: f"{a['image_id']} → {'on' if a['enabled'] else 'off'}")
    async def set_enabled(self, image_id: int, enabled: bool) -> ImageInfo:
        """Allow (or stop) making new templates from an image; existing templates are not touched."""
        await self._license.require(FEATURE, write=True)

        def change() -> ImageInfo:
            with self._db.session() as session:
                row = self._row(session, image_id)
                row.enabled = enabled
                session.flush()
                return _info(row_cluster_name(session, row), row)

        return await asyncio.to_thread(change)

    @audited("image.delete", "image_id")
    async def delete(self, image_id: int) -> ImageInfo:
        """Delete an image uploaded through the console: in Glance, then here. Synced images refuse."""
        await self._license.require(FEATURE, write=True)
        image = await self.get(image_id)
        if not image.deletable:
            raise ImageError("image.not_uploaded", name=image.name)
        if not image.gone:
            cluster_id = await asyncio.to_thread(self._cluster_id_of, image_id)
            await self._clusters.connections.call(
                cluster_id, lambda conn: _delete_cloud_image(conn, image.cloud_id)
            )

        def drop() -> None:
            with self._db.session() as session:
                session.delete(self._row(session, image_id))

        await asyncio.to_thread(drop)
        return image

    # -- upload

    @audited("image.upload", "request.name")
    async def upload(
        self,
        request: ImageUpload,
        *,
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> ImageInfo:
        """Stream a local file into a new Glance image and record it as uploaded by the operator.

        Memory stays flat whatever the size (the body is read chunk by chunk). On failure or cancel
        the half-made image is deleted from the cloud and nothing is recorded.
        """
        info = await self._clusters.get(request.cluster)
        await self._license.require(FEATURE, write=True)
        cancel = cancel or CancelToken()
        mark = uuid.uuid4().hex
        conn_call = self._clusters.connections.call
        on_progress(Progress("create", 0, request.path.stat().st_size))
        # recorded before the first byte: a console killed mid-way leaves a record that recovery cleans up
        op_id = await asyncio.to_thread(self._open_upload, info.id, info.name, request, mark)

        def send(conn: Any) -> dict[str, Any]:
            with ChunkReader(request.path, on_progress=on_progress, cancel=cancel) as reader:
                image = conn.image.create_image(
                    request.name,
                    data=reader,
                    allow_duplicates=True,  # the default silently returns an older image of that name
                    validate_checksum=False,  # the size is checked below; hashing twice costs throughput
                    disk_format=request.disk_format,
                    container_format=request.container_format,
                    min_disk=request.min_disk,
                    min_ram=request.min_ram,
                    os_type=request.os_type,
                    wait=False,
                    **{UPLOAD_MARK: mark},
                )
                sent = reader.total
            cancel.raise_if_cancelled()
            stored = conn.image.get_image(image.id)
            if int(stored.size or 0) != sent:
                raise ImageError("image.size_mismatch", name=request.name, stored=stored.size, expected=sent)
            return _sdk_row(stored)

        try:
            async with self._engine.beating(op_id):
                row = await conn_call(info.id, _keep_service_errors(send))
            on_progress(Progress("record", 1, 1))
            return await asyncio.to_thread(self._record_upload, info.id, info.name, row, op_id)
        except BaseException as err:
            if isinstance(err, asyncio.CancelledError):
                cancel.cancel()  # the SDK's thread runs on: stop it at its next chunk
            error = await self._clean_up(info.id, request.name, mark, err, cancel)
            await asyncio.to_thread(self._settle_upload, op_id, error)
            raise error from err

    async def _clean_up(
        self, cluster_id: int, name: str, mark: str, err: BaseException, cancel: CancelToken
    ) -> ServiceError:
        """Delete every image this upload made (found by its mark); returns the error that says what happened."""
        if isinstance(err, _Passthrough):
            err = err.inner
        reason = _reason(err)
        try:
            left = await self._clusters.connections.call(
                cluster_id, lambda conn: _delete_marked_ids(conn, name, mark)[1]
            )
        except ServiceError as cleanup:
            if cloud_unreachable(cleanup):  # the upload stays recorded: deleted at the next start or resume
                return ImageError(
                    "image.upload_cleanup_pending", name=name, reason=reason, cleanup=str(cleanup)
                )
            return ImageError(
                "image.cleanup_failed", name=name, reason=reason, cloud_id="?", cleanup=str(cleanup)
            )
        if left:
            return ImageError(
                "image.cleanup_failed", name=name, reason=reason, cloud_id=left[0], cleanup="still listed"
            )
        if cancel.cancelled or isinstance(err, Cancelled | asyncio.CancelledError):
            return Cancelled("image.upload_cancelled", name=name)
        if isinstance(err, ImageError):
            return err
        return ImageError("image.upload_failed", name=name, reason=reason)

    def _open_upload(self, cluster_id: int, cluster: str, request: ImageUpload, mark: str) -> int:
        """Record an upload (its cluster, name and mark) as a running `image_upload` operation."""
        params = {
            "cluster_id": cluster_id,
            "cluster": cluster,
            "name": request.name,
            "mark": mark,
            "file": request.path.name,
        }
        with self._db.locked_session() as session:
            op_id = self._engine.add(session, UPLOAD_KIND, [_UPLOAD_STEP], params=params)
            step = session.scalar(select(OperationStep).where(OperationStep.operation_id == op_id))
            if step is not None:
                step.state, step.started_at = "running", utcnow()
            return op_id

    def _settle_upload(self, op_id: int, error: ServiceError) -> None:
        """After a failed upload: forget the record when the rollback was clean, else keep it pending."""
        if error.key in ("image.upload_cleanup_pending", "image.cleanup_failed"):
            from ectui.i18n import render

            self._engine.mark_step_sync(op_id, 0, "failed", str(error.params.get("reason", "")))
            self._engine.finish_sync(op_id, CLEANUP_PENDING, render(error))
            return
        self._forget_upload(op_id)

    def _forget_upload(self, op_id: int) -> None:
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            if op is not None and op.kind == UPLOAD_KIND:
                session.delete(op)

    def _record_upload(
        self, cluster_id: int, cluster: str, row: dict[str, Any], op_id: int | None = None
    ) -> ImageInfo:
        row.update(cluster_id=cluster_id, synced_at=utcnow(), gone=False)
        with self._db.session() as session:
            if op_id is not None:  # the upload is whole: its record goes with the same commit
                op = session.get(Operation, op_id)
                if op is not None:
                    session.delete(op)
            existing = session.scalar(
                select(Image).where(Image.cluster_id == cluster_id, Image.cloud_id == row["cloud_id"])
            )
            image = existing or Image()
            for key, value in row.items():
                setattr(image, key, value)
            image.source, image.uploaded_by, image.enabled = "uploaded", self._settings.operator, True
            session.add(image)
            session.flush()
            return _info(cluster, image)

    # -- crash recovery

    async def recover_uploads(self) -> list[Recovered]:
        """Delete the half-made Glance images of uploads a dead console left, or whose rollback could not reach the cloud.

        An upload is recorded (an `image_upload` operation: cluster, name, mark property) before its
        first byte. One still `running` whose owner is gone (OperationEngine.stale_running_sync), or
        one `cleanup_pending`, is claimed and its images (found by name and mark) are deleted; a 404
        counts as gone. The cloud still unreachable: it stays `cleanup_pending` for the next try.
        """
        handled: list[Recovered] = []
        for op_id in await asyncio.to_thread(self._engine.stale_running_sync, UPLOAD_KIND):
            if await asyncio.to_thread(self._engine.claim_stale_sync, op_id):
                handled.append(await self._clean_recorded(op_id))
        for op_id in await asyncio.to_thread(self._engine.pending_cleanup_sync, UPLOAD_KIND):
            if await asyncio.to_thread(self._engine.claim_cleanup_sync, op_id):
                handled.append(await self._clean_recorded(op_id))
        return handled

    async def _clean_recorded(self, op_id: int) -> Recovered:
        from ectui.i18n import _, render

        params = await asyncio.to_thread(self._upload_params, op_id)
        name, mark = str(params.get("name", "")), str(params.get("mark", ""))
        try:
            if not mark:
                raise ImageError("image.not_found", id=op_id)
            deleted, left = await self._clusters.connections.call(
                int(params.get("cluster_id") or 0), lambda conn: _delete_marked_ids(conn, name, mark)
            )
        except ServiceError as err:
            error = ImageError(
                "image.upload_cleanup_pending", name=name, reason=_(UPLOAD_INTERRUPTED), cleanup=render(err)
            )
            await asyncio.to_thread(self._engine.finish_sync, op_id, CLEANUP_PENDING, render(error))
            log.warning("upload %s: the half-made image could not be deleted yet: %s", op_id, err)
            return Recovered(await self._engine.get(op_id), render(err))
        if left:
            error = ImageError(
                "image.cleanup_failed", name=name, reason=_(UPLOAD_INTERRUPTED), cloud_id=left[0],
                cleanup="still listed",
            )  # fmt: skip
            await asyncio.to_thread(self._engine.finish_sync, op_id, CLEANUP_PENDING, render(error))
            return Recovered(await self._engine.get(op_id), render(error))
        text = render(ImageError("image.upload_recovered", name=name, images=", ".join(deleted) or "-"))
        await asyncio.to_thread(self._engine.mark_step_sync, op_id, 0, "compensated", text)
        await asyncio.to_thread(self._engine.finish_sync, op_id, "compensated", text)
        log.warning("upload %s of %s was interrupted; deleted its images: %s", op_id, name, deleted)
        return Recovered(await self._engine.get(op_id))

    def _upload_params(self, op_id: int) -> dict[str, Any]:
        with self._db.session() as session:
            op = session.get(Operation, op_id)
            return json.loads(op.params or "{}") if op is not None else {}

    # -- helpers

    def _cluster_id_of(self, image_id: int) -> int:
        with self._db.session() as session:
            return self._row(session, image_id).cluster_id

    @staticmethod
    def _row(session: Session, image_id: int) -> Image:
        return get_row(session, Image, image_id, ImageError, "image.not_found")

    @staticmethod
    def _cluster_id(session: Session, name: str) -> int:
        cluster_id = session.scalar(select(Cluster.id).where(Cluster.name == name.strip()))
        if cluster_id is None:
            raise ServiceError("cluster.not_found", name=name)
        return cluster_id


# ------------------------------------------------------------------ SDK side (runs in a worker thread)

_SYNCED_COLUMNS = (
    "name",
    "disk_format",
    "container_format",
    "size",
    "checksum",
    "status",
    "visibility",
    "os_type",
    "min_disk",
    "min_ram",
    "cloud_created_at",
    "synced_at",
    "gone",
)
"""Columns a sync overwrites; source, enabled and uploaded_by stay as the console set them."""


def _upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        stmt = postgresql_insert(Image)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(Image)
    else:  # pragma: no cover - the console supports SQLite and PostgreSQL
        raise ServiceError("validation.db_url", field="--db-url")
    return stmt.on_conflict_do_update(
        index_elements=[Image.cluster_id, Image.cloud_id],
        set_={column: stmt.excluded[column] for column in _SYNCED_COLUMNS},
    )


def _sdk_row(image: Any) -> dict[str, Any]:
    properties = getattr(image, "properties", None) or {}
    return glance_row(
        {
            "id": image.id,
            "name": image.name,
            "disk_format": image.disk_format,
            "container_format": image.container_format,
            "size": image.size,
            "checksum": image.checksum,
            "status": image.status,
            "visibility": image.visibility,
            "os_type": getattr(image, "os_type", None) or properties.get("os_type"),
            "min_disk": image.min_disk,
            "min_ram": image.min_ram,
            "created_at": image.created_at,
        }
    )


def fetch_active_images(conn: Any, *, page_size: int = PAGE_SIZE) -> tuple[list[dict[str, Any]], int]:
    """Every active image the project can see, following Glance's `next` links page by page."""
    rows: list[dict[str, Any]] = []
    pages = 0
    query = f"status=active&limit={page_size}"
    seen_markers: set[str] = set()
    while True:
        response = conn.image.get(f"/images?{query}")
        if response.status_code >= 400:
            raise CloudError("cloud.http", status=response.status_code, reason=response.reason or "")
        body = response.json()
        pages += 1
        rows.extend(glance_row(i) for i in body.get("images", []) if i.get("status") == "active")
        link = body.get("next")
        if not link:
            break
        query = urlsplit(link).query
        if not query or query in seen_markers:  # a broken cloud repeating a page must not loop forever
            break
        seen_markers.add(query)
    unique = {r["cloud_id"]: r for r in rows}  # a page shift during the listing can repeat an image
    return list(unique.values()), pages


def _delete_cloud_image(conn: Any, cloud_id: str) -> None:
    conn.image.delete_image(cloud_id, ignore_missing=True)


def _delete_marked_ids(conn: Any, name: str, mark: str) -> tuple[list[str], list[str]]:
    """Delete the images of one upload (name + mark property); returns (deleted, still there)."""
    deleted, left = [], []
    for image in conn.image.images(name=name):
        properties = getattr(image, "properties", None) or {}
        if properties.get(UPLOAD_MARK) != mark:
            continue
        _delete_cloud_image(conn, image.id)
        try:
            conn.image.get_image(image.id)
        except Exception:  # gone (404) is what we want
            deleted.append(str(image.id))
            continue
        left.append(str(image.id))
    return deleted, left


def _keep_service_errors(fn: Any) -> Any:
    """Let ImageError and Cancelled through CloudConnections.call unchanged (it keeps CloudErrors only)."""

    def run(conn: Any) -> Any:
        try:
            return fn(conn)
        except (ImageError, Cancelled) as err:
            raise _Passthrough(err) from err
        except Exception as err:
            cause = _find_cancel(err)
            if cause is not None:
                raise _Passthrough(cause) from err
            raise

    return run


class _Passthrough(CloudError):
    def __init__(self, inner: ServiceError) -> None:
        super().__init__(inner.key, **inner.params)
        self.inner = inner


def _find_cancel(err: BaseException) -> Cancelled | None:
    seen = 0
    current: BaseException | None = err
    while current is not None and seen < 10:
        if isinstance(current, Cancelled):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _reason(err: BaseException) -> str:
    if isinstance(err, ServiceError):
        return str(err)
    return str(classify(err))


def _info(cluster: str, row: Image) -> ImageInfo:
    return ImageInfo(
        id=row.id,
        cluster=cluster,
        cloud_id=row.cloud_id,
        name=row.name,
        disk_format=row.disk_format,
        container_format=row.container_format,
        size=row.size,
        checksum=row.checksum,
        status=row.status,
        visibility=row.visibility,
        os_type=row.os_type,
        min_disk=row.min_disk,
        min_ram=row.min_ram,
        source=row.source,
        enabled=row.enabled,
        gone=row.gone,
        uploaded_by=row.uploaded_by,
        created=row.cloud_created_at,
        synced_at=row.synced_at,
    )


def row_cluster_name(session: Session, row: Image) -> str:
    """The name of an image's cluster."""
    return session.scalar(select(Cluster.name).where(Cluster.id == row.cluster_id)) or "?"
