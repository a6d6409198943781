"""System templates made from enabled images: list, create, edit, delete."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ectui.db.models import Cluster, Image, Template
from ectui.i18n import N_
from ectui.services.audit import AuditService, audited
from ectui.services.errors import ServiceError, register_messages
from ectui.services.images import OS_TYPES
from ectui.services.records import JsonRecord, get_row, one_of
from ectui.services.validation import optional_text, required_text, whole_number

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.license import ConsoleLicenseService

FEATURE = "platform.templates"

register_messages(
    {
        "template.not_found": N_("No template with id {id}. List them with: ectui template list"),
        "template.exists": N_(
            "Cluster '{cluster}' already has a template named '{name}'; choose another name."
        ),
        "template.image_disabled": N_(
            "Image '{name}' is disabled; enable it before making templates from it "
            "(existing templates keep working)."
        ),
        "template.image_gone": N_("Image '{name}' is no longer in the cloud; it cannot make templates."),
        "template.image_not_found": N_("No image with id {id}. List them with: ectui image list"),
    }
)


class TemplateError(ServiceError):
    """A refused template operation."""


@dataclass(frozen=True)
class TemplateDraft:
    """A validated system template (new, or the full new state of an edited one)."""

    name: str
    image_id: int
    os_type: str
    min_cpu: int = 1
    min_ram_gb: int = 1
    min_disk_gb: int = 1
    description: str = ""

    @classmethod
    def parse(
        cls,
        *,
        name: str,
        image_id: str | int,
        os_type: str,
        min_cpu: str | int = 1,
        min_ram_gb: str | int = 1,
        min_disk_gb: str | int = 1,
        description: str = "",
    ) -> TemplateDraft:
        """Validate raw values; raises ValidationError naming the field."""
        os_name = one_of((os_type or "").strip().lower(), OS_TYPES, N_("OS type"), field_id="os_type")
        return cls(
            name=required_text(name, N_("Template name"), field_id="name", max_len=255),
            image_id=whole_number(image_id, N_("Image"), field_id="image_id", minimum=1, maximum=2**31 - 1),
            os_type=os_name,
            min_cpu=whole_number(min_cpu, N_("Min CPU"), field_id="min_cpu", minimum=1, maximum=1024),
            min_ram_gb=whole_number(
                min_ram_gb, N_("Min RAM (GB)"), field_id="min_ram_gb", minimum=1, maximum=65536
            ),
            min_disk_gb=whole_number(
                min_disk_gb, N_("Min disk (GB)"), field_id="min_disk_gb", minimum=1, maximum=100_000
            ),
            description=optional_text(description, N_("Description"), field_id="description", max_len=2000),
        )


@dataclass(frozen=True)
class TemplateInfo(JsonRecord):
    """A template as lists show it."""

    JSON_FIELDS = (
        "id cluster name kind os_type image_id image=image_name image_cloud_id "
        "image_enabled min_cpu min_ram_gb min_disk_gb description created_by created_at"
    )

    id: int
    cluster: str
    name: str
    kind: str
    os_type: str
    image_id: int | None
    image_name: str
    image_cloud_id: str
    image_enabled: bool
    min_cpu: int
    min_ram_gb: int
    min_disk_gb: int
    description: str
    created_by: str
    created_at: dt.datetime


class TemplateService:
    """System templates: made only from enabled images; they keep working when the image is disabled."""

    def __init__(
        self,
        db: Database,
        license_service: ConsoleLicenseService,
        settings: Settings,
        *,
        audit: AuditService | None = None,
    ) -> None:
        self._db = db
        self._license = license_service
        self._settings = settings
        self._audit = audit

    async def list_all(self, cluster: str | None = None) -> list[TemplateInfo]:
        """Templates of one cluster or all, by cluster then name."""
        return await asyncio.to_thread(self._list, cluster)

    def _list(self, cluster: str | None) -> list[TemplateInfo]:
        with self._db.session() as session:
            query = (
                select(Template, Cluster.name, Image)
                .join(Cluster, Template.cluster_id == Cluster.id)
                .outerjoin(Image, Template.image_id == Image.id)
                .order_by(Cluster.name, Template.name)
            )
            if cluster is not None:
                query = query.where(Cluster.name == cluster.strip())
            return [_info(t, c, i) for t, c, i in session.execute(query)]

    async def get(self, template_id: int) -> TemplateInfo:
        """One template."""

        def load() -> TemplateInfo:
            with self._db.session() as session:
                return self._info_of(session, self._row(session, template_id))

        return await asyncio.to_thread(load)

    @audited("template.create", "draft.name")
    async def create(self, draft: TemplateDraft) -> TemplateInfo:
        """Make a system template from an enabled image (on the image's cluster)."""
        await self._license.require(FEATURE, write=True)
        return await asyncio.to_thread(self._save, None, draft)

    @audited("template.update", "template_id")
    async def update(self, template_id: int, draft: TemplateDraft) -> TemplateInfo:
        """Change a template; moving it to another image needs that image enabled."""
        await self._license.require(FEATURE, write=True)
        return await asyncio.to_thread(self._save, template_id, draft)

    def _save(self, template_id: int | None, draft: TemplateDraft) -> TemplateInfo:
        try:
            with self._db.session() as session:
                if template_id is None:
                    row = Template(kind="system", created_by=self._settings.operator)
                else:
                    row = self._row(session, template_id)
                if row.image_id != draft.image_id or template_id is None:
                    image = session.get(Image, draft.image_id)
                    if image is None:
                        raise TemplateError("template.image_not_found", id=draft.image_id)
                    if image.gone:
                        raise TemplateError("template.image_gone", name=image.name)
                    if not image.enabled:
                        raise TemplateError("template.image_disabled", name=image.name)
                    row.image_id, row.image_cloud_id, row.cluster_id = (
                        image.id,
                        image.cloud_id,
                        image.cluster_id,
                    )
                clash = session.scalar(
                    select(Template.id).where(
                        Template.cluster_id == row.cluster_id, Template.name == draft.name
                    )
                )
                if clash is not None and clash != row.id:
                    raise TemplateError("template.exists", name=draft.name, cluster=_cluster(session, row))
                row.name, row.os_type = draft.name, draft.os_type
                row.min_cpu, row.min_ram_gb, row.min_disk_gb = (
                    draft.min_cpu,
                    draft.min_ram_gb,
                    draft.min_disk_gb,
                )
                row.description = draft.description
                session.add(row)
                session.flush()
                return self._info_of(session, row)
        except IntegrityError:
            raise TemplateError("template.exists", name=draft.name, cluster="?") from None

    @audited("template.delete", "template_id")
    async def delete(self, template_id: int) -> TemplateInfo:
        """Delete a template (its image is not touched)."""
        await self._license.require(FEATURE, write=True)

        def drop() -> TemplateInfo:
            with self._db.session() as session:
                row = self._row(session, template_id)
                info = self._info_of(session, row)
                session.delete(row)
                return info

        return await asyncio.to_thread(drop)

    @staticmethod
    def _row(session: Session, template_id: int) -> Template:
        return get_row(session, Template, template_id, TemplateError, "template.not_found")

    @staticmethod
    def _info_of(session: Session, row: Template) -> TemplateInfo:
        image = session.get(Image, row.image_id) if row.image_id is not None else None
        return _info(row, _cluster(session, row), image)


def _cluster(session: Session, row: Template) -> str:
    return session.scalar(select(Cluster.name).where(Cluster.id == row.cluster_id)) or "?"


def _info(row: Template, cluster: str, image: Image | None) -> TemplateInfo:
    return TemplateInfo(
        id=row.id,
        cluster=cluster,
        name=row.name,
        kind=row.kind,
        os_type=row.os_type,
        image_id=row.image_id,
        image_name=image.name if image is not None else "",
        image_cloud_id=row.image_cloud_id,
        image_enabled=bool(image is not None and image.enabled and not image.gone),
        min_cpu=row.min_cpu,
        min_ram_gb=row.min_ram_gb,
        min_disk_gb=row.min_disk_gb,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
    )
