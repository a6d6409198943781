"""Projects and their quotas: transactional reservations so two operators never oversubscribe.

Nova counts usage but keeps no reservations; the console keeps them. Every change of `used` or
`reserved` happens in `Database.locked_session()`: `BEGIN IMMEDIATE` on SQLite, `SELECT … FOR
UPDATE` of the project row elsewhere, so racing operators (even in separate processes) queue.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ectui.db.models import Cluster, ConsoleState, Project, QuotaReservation, utcnow
from ectui.i18n import N_
from ectui.services.audit import AuditService, audited
from ectui.services.errors import ServiceError, ValidationError, register_messages
from ectui.services.validation import optional_text, required_text, whole_number

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.license import ConsoleLicenseService

register_messages(
    {
        "project.exists": N_("A project named '{name}' already exists; choose another name."),
        "project.not_found": N_("No project named '{name}'. List them with: ectui project list"),
        "project.bad_name": N_(
            "{field} '{value}' is not valid: use letters, digits, '-', '_' or '.', starting with a letter or digit."
        ),
        "project.none_selected": N_("Please select a project first!"),
        "project.quota_exceeded": N_(
            "Not enough {resource} quota in project {project}: {used} used + {reserved} reserved + {asked} asked "
            "> {limit}. Free some, or raise the quota with: ectui project quota {project} ..."
        ),
        "project.quota_below_use": N_(
            "The {resource} quota cannot go below what is used and reserved now ({in_use})."
        ),
        "project.reservation_not_found": N_(
            "No held reservation {id} (it was already committed or released)."
        ),
        "project.in_use": N_("Project {name} still has resources in use or reserved; free them first."),
    }
)

RESOURCES = (
    ("vcpus", N_("vCPU")),
    ("ram_gb", N_("RAM (GB)")),
    ("vms", N_("VM")),
    ("public_ips", N_("public IP")),
)
"""The four quota resources: attribute suffix and label."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class QuotaError(ServiceError):
    """A reservation that does not fit the project's quota, or a refused project change."""


@dataclass(frozen=True)
class Amounts:
    """An amount of each quota resource."""

    vcpus: int = 0
    ram_gb: int = 0
    vms: int = 0
    public_ips: int = 0

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(*(getattr(self, k) + getattr(other, k) for k, _label in RESOURCES))

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(*(getattr(self, k) - getattr(other, k) for k, _label in RESOURCES))

    def to_json(self) -> dict[str, int]:
        """A JSON-ready dict."""
        return {k: getattr(self, k) for k, _label in RESOURCES}


@dataclass(frozen=True)
class ProjectDraft:
    """A validated project definition."""

    name: str
    cluster: str | None
    cloud_project: str
    quota: Amounts
    description: str = ""

    @classmethod
    def parse(
        cls,
        *,
        name: str,
        vcpus: str | int,
        ram_gb: str | int,
        vms: str | int,
        public_ips: str | int = "0",
        cluster: str | None = None,
        cloud_project: str | None = None,
        description: str = "",
    ) -> ProjectDraft:
        """Validate raw values; raises ValidationError naming the field."""
        name = required_text(name, N_("Project name"), field_id="name", max_len=64)
        if not _NAME.match(name):
            raise ValidationError("project.bad_name", field=N_("Project name"), field_id="name", value=name)
        quota = Amounts(
            vcpus=whole_number(vcpus, N_("vCPU quota"), field_id="vcpus", minimum=0, maximum=1_000_000),
            ram_gb=whole_number(
                ram_gb, N_("RAM quota (GB)"), field_id="ram_gb", minimum=0, maximum=100_000_000
            ),
            vms=whole_number(vms, N_("VM quota"), field_id="vms", minimum=0, maximum=1_000_000),
            public_ips=whole_number(
                public_ips, N_("Public IP quota"), field_id="public_ips", minimum=0, maximum=1_000_000
            ),
        )
        return cls(
            name=name,
            cluster=(cluster or "").strip() or None,
            cloud_project=optional_text(
                cloud_project, N_("Cloud project"), field_id="cloud_project", max_len=200
            )
            or name,
            quota=quota,
            description=optional_text(description, N_("Description"), field_id="description"),
        )


@dataclass(frozen=True)
class ProjectInfo:
    """A project with its quota, usage and reservations."""

    id: int
    name: str
    cluster: str | None
    cloud_project: str
    description: str
    quota: Amounts
    used: Amounts
    reserved: Amounts

    @property
    def free(self) -> Amounts:
        """What can still be reserved."""
        return self.quota - self.used - self.reserved

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "name": self.name,
            "cluster": self.cluster,
            "cloud_project": self.cloud_project,
            "description": self.description,
            "quota": self.quota.to_json(),
            "used": self.used.to_json(),
            "reserved": self.reserved.to_json(),
            "free": self.free.to_json(),
        }


@dataclass(frozen=True)
class Reservation:
    """Resources held for one operation."""

    id: int
    project: str
    amounts: Amounts
    purpose: str
    state: str


def _amounts(row: Project, prefix: str) -> Amounts:
    return Amounts(*(getattr(row, f"{prefix}_{k}") for k, _label in RESOURCES))


def _add(row: Project, prefix: str, delta: Amounts) -> None:
    for key, _label in RESOURCES:
        setattr(row, f"{prefix}_{key}", getattr(row, f"{prefix}_{key}") + getattr(delta, key))


class ProjectService:
    """Projects, the operator's current project, quotas and reservations."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        license_service: ConsoleLicenseService,
        *,
        audit: AuditService | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._license = license_service
        self._audit = audit

    # -- projects

    async def list_all(self) -> list[ProjectInfo]:
        """All projects by name."""
        return await asyncio.to_thread(self._list)

    def _list(self) -> list[ProjectInfo]:
        with self._db.session() as session:
            return [self._info(session, p) for p in session.scalars(select(Project).order_by(Project.name))]

    async def get(self, name: str) -> ProjectInfo:
        """One project by name."""

        def load() -> ProjectInfo:
            with self._db.session() as session:
                return self._info(session, self._row(session, name))

        return await asyncio.to_thread(load)

    @audited("project.add", "draft.name")
    async def add(self, draft: ProjectDraft) -> ProjectInfo:
        """Create a project (mapped to a cloud project of a cluster)."""
        await self._license.require(write=True)
        return await asyncio.to_thread(self._add, draft)

    def _add(self, draft: ProjectDraft) -> ProjectInfo:
        try:
            with self._db.session() as session:
                if session.scalar(select(Project.id).where(Project.name == draft.name)) is not None:
                    raise QuotaError("project.exists", name=draft.name)
                cluster_id = None
                if draft.cluster:
                    cluster_id = session.scalar(select(Cluster.id).where(Cluster.name == draft.cluster))
                    if cluster_id is None:
                        raise ServiceError("cluster.not_found", name=draft.cluster)
                row = Project(
                    name=draft.name,
                    cluster_id=cluster_id,
                    cloud_project=draft.cloud_project,
                    description=draft.description,
                )
                for key, _label in RESOURCES:
                    setattr(row, f"quota_{key}", getattr(draft.quota, key))
                session.add(row)
                session.flush()
                return self._info(session, row)
        except IntegrityError:
            raise QuotaError("project.exists", name=draft.name) from None

    @audited("project.set_quota", "name")
    async def set_quota(self, name: str, quota: Amounts) -> ProjectInfo:
        """Change a project's quota; never below what is used and reserved now."""
        await self._license.require(write=True)
        return await asyncio.to_thread(self._set_quota, name, quota)

    def _set_quota(self, name: str, quota: Amounts) -> ProjectInfo:
        with self._db.locked_session() as session:
            row = self._row(session, name, lock=True)
            in_use = _amounts(row, "used") + _amounts(row, "reserved")
            for key, label in RESOURCES:
                if getattr(quota, key) < getattr(in_use, key):
                    raise QuotaError("project.quota_below_use", resource=label, in_use=getattr(in_use, key))
                setattr(row, f"quota_{key}", getattr(quota, key))
            session.flush()
            return self._info(session, row)

    @audited("project.delete", "name")
    async def delete(self, name: str) -> None:
        """Delete a project with nothing used or reserved."""
        await self._license.require(write=True)

        def remove() -> None:
            with self._db.locked_session() as session:
                row = self._row(session, name, lock=True)
                if any(getattr(_amounts(row, p), k) for p in ("used", "reserved") for k, _l in RESOURCES):
                    raise QuotaError("project.in_use", name=name)
                session.delete(row)

        await asyncio.to_thread(remove)

    # -- the operator's current project

    def _current_key(self) -> str:
        return f"current_project:{self._settings.operator}"

    async def use(self, name: str) -> ProjectInfo:
        """Make a project the operator's current one (remembered across restarts)."""

        def select_project() -> ProjectInfo:
            with self._db.session() as session:
                info = self._info(session, self._row(session, name))
                row = session.get(ConsoleState, self._current_key())
                if row is None:
                    session.add(ConsoleState(key=self._current_key(), value=info.name))
                else:
                    row.value = info.name
                return info

        return await asyncio.to_thread(select_project)

    async def current(self) -> ProjectInfo | None:
        """The operator's current project, if one is chosen and still exists."""

        def load() -> ProjectInfo | None:
            with self._db.session() as session:
                row = session.get(ConsoleState, self._current_key())
                if row is None:
                    return None
                project = session.scalar(select(Project).where(Project.name == row.value))
                return self._info(session, project) if project else None

        return await asyncio.to_thread(load)

    async def require_current(self) -> ProjectInfo:
        """The current project, or the refusal '请先选择项目！' (Please select a project first!)."""
        project = await self.current()
        if project is None:
            raise QuotaError("project.none_selected")
        return project

    # -- reservations

    async def reserve(self, name: str, amounts: Amounts, *, purpose: str = "") -> Reservation:
        """Hold resources for an operation; refused, naming the resource, when they do not fit."""
        return await asyncio.to_thread(self.reserve_sync, name, amounts, purpose)

    def reserve_sync(self, name: str, amounts: Amounts, purpose: str = "") -> Reservation:
        """`reserve` for callers already in a thread (multi-step operations)."""
        with self._db.locked_session() as session:
            row = self._row(session, name, lock=True)
            used, reserved, limit = _amounts(row, "used"), _amounts(row, "reserved"), _amounts(row, "quota")
            for key, label in RESOURCES:
                asked = getattr(amounts, key)
                if asked < 0:
                    raise ValueError("a reservation cannot be negative")
                if asked and getattr(used, key) + getattr(reserved, key) + asked > getattr(limit, key):
                    raise QuotaError(
                        "project.quota_exceeded",
                        resource=label,
                        project=row.name,
                        used=getattr(used, key),
                        reserved=getattr(reserved, key),
                        asked=asked,
                        limit=getattr(limit, key),
                    )
            _add(row, "reserved", amounts)
            reservation = QuotaReservation(
                project_id=row.id, purpose=purpose, created_by=self._settings.operator, **amounts.to_json()
            )
            session.add(reservation)
            session.flush()
            return Reservation(reservation.id, row.name, amounts, purpose, "held")

    async def commit(self, reservation_id: int) -> None:
        """The operation succeeded: its held resources become used."""
        await asyncio.to_thread(self.finish_sync, reservation_id, "committed")

    async def release(self, reservation_id: int) -> None:
        """The operation failed or was cancelled: its held resources are free again."""
        await asyncio.to_thread(self.finish_sync, reservation_id, "released")

    def finish_sync(self, reservation_id: int, state: str) -> None:
        """Commit or release a held reservation (idempotent: a finished one is left as it is)."""
        with self._db.locked_session() as session:
            reservation = session.get(QuotaReservation, reservation_id)
            if reservation is None:
                raise QuotaError("project.reservation_not_found", id=reservation_id)
            if reservation.state != "held":
                return
            row = session.scalars(
                select(Project).where(Project.id == reservation.project_id).with_for_update()
            ).one()
            amounts = Amounts(reservation.vcpus, reservation.ram_gb, reservation.vms, reservation.public_ips)
            _add(row, "reserved", Amounts() - amounts)
            if state == "committed":
                _add(row, "used", amounts)
            reservation.state = state
            reservation.finished_at = utcnow()

    async def free_used(self, name: str, amounts: Amounts) -> ProjectInfo:
        """Resources that existed are gone (a VM deleted, a resize down): give them back."""

        def free() -> ProjectInfo:
            with self._db.locked_session() as session:
                row = self._row(session, name, lock=True)
                used = _amounts(row, "used") - amounts
                for key, _label in RESOURCES:
                    setattr(row, f"used_{key}", max(getattr(used, key), 0))
                session.flush()
                return self._info(session, row)

        return await asyncio.to_thread(free)

    async def held(self, name: str) -> list[Reservation]:
        """The reservations a project holds now."""

        def load() -> list[Reservation]:
            with self._db.session() as session:
                row = self._row(session, name)
                rows = session.scalars(
                    select(QuotaReservation)
                    .where(QuotaReservation.project_id == row.id, QuotaReservation.state == "held")
                    .order_by(QuotaReservation.id)
                )
                return [
                    Reservation(
                        r.id, row.name, Amounts(r.vcpus, r.ram_gb, r.vms, r.public_ips), r.purpose, r.state
                    )
                    for r in rows
                ]

        return await asyncio.to_thread(load)

    # -- helpers

    @staticmethod
    def _row(session: Session, name: str, *, lock: bool = False) -> Project:
        query = select(Project).where(Project.name == name.strip())
        if lock:
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise QuotaError("project.not_found", name=name)
        return row

    @staticmethod
    def _info(session: Session, row: Project) -> ProjectInfo:
        cluster = session.get(Cluster, row.cluster_id) if row.cluster_id else None
        return ProjectInfo(
            id=row.id,
            name=row.name,
            cluster=cluster.name if cluster else None,
            cloud_project=row.cloud_project,
            description=row.description,
            quota=_amounts(row, "quota"),
            used=_amounts(row, "used"),
            reserved=_amounts(row, "reserved"),
        )
