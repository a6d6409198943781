"""Statistics: usage by cluster, node and project, storage, and operations per day; CSV export.

Every figure is aggregated in SQL (GROUP BY, SUM, window functions), so a report costs a fixed number of
queries whatever the number of VMs, images or operations. Times are stored naive UTC; days are UTC days.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.orm import Session

import ectui.services.projects  # noqa: F401  (registers project.not_found)
from ectui.db.models import Cluster, ComputeNode, Image, IsoFile, Operation, Project, Vm, utcnow
from ectui.i18n import N_
from ectui.services.csvsafe import safe_writer
from ectui.services.errors import ServiceError, ValidationError, register_messages

if TYPE_CHECKING:
    from ectui.db.session import Database
    from ectui.services.license import ConsoleLicenseService

register_messages(
    {
        "stats.write_failed": N_("Cannot write the CSV file {path}: {reason}"),
        "stats.no_path": N_("Give the path of the CSV file to write."),
    }
)

FEATURE = "statistics"
"""The licensed module these statistics belong to."""
FAILED_STATES = ("failed", "compensated", "cleanup_pending")
"""Operation states counted as failures."""
GIB = 1024**3
SIZE_CLASSES: tuple[tuple[str, int | None], ...] = (
    (N_("< 1 GiB"), GIB),
    (N_("1–10 GiB"), 10 * GIB),
    (N_("10–100 GiB"), 100 * GIB),
    (N_("≥ 100 GiB"), None),
)
"""Size classes of images and ISOs: label and exclusive upper bound (None: no bound)."""
MAX_DAYS = 366


class StatsError(ServiceError):
    """A refused statistics request (unknown cluster or project, a file that cannot be written)."""


# ------------------------------------------------------------------ DTOs


@dataclass(frozen=True)
class StatsFilter:
    """What a report covers: one cluster, one project, or everything; and how many days of operations."""

    cluster: str | None = None
    project: str | None = None
    days: int = 14

    @classmethod
    def parse(
        cls, *, cluster: str | None = None, project: str | None = None, days: str | int = 14
    ) -> StatsFilter:
        """Validate raw values; raises ValidationError naming the field."""
        from ectui.services.validation import whole_number

        return cls(
            cluster=(cluster or "").strip() or None,
            project=(project or "").strip() or None,
            days=whole_number(days, N_("Days"), field_id="days", minimum=1, maximum=MAX_DAYS),
        )


@dataclass(frozen=True)
class ClusterUsage:
    """One cluster: hypervisor capacity and use (present nodes), and the VMs the console knows there."""

    name: str
    nodes: int
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    running_vms: int
    """VMs the hypervisors report."""
    vms: int
    """VM rows of the console in the cluster (DELETED ones excluded)."""
    vm_vcpus: int
    vm_ram_gb: int
    vm_states: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeUsage:
    """One compute node as last synced, with the console's VMs placed on it."""

    cluster: str
    name: str
    state: str
    status: str
    present: bool
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    running_vms: int
    vms: int
    vm_states: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProjectUsage:
    """One project: quota, used and reserved amounts, and its VMs by state."""

    name: str
    cluster: str | None
    quota_vcpus: int
    used_vcpus: int
    reserved_vcpus: int
    quota_ram_gb: int
    used_ram_gb: int
    reserved_ram_gb: int
    quota_vms: int
    used_vms: int
    reserved_vms: int
    quota_public_ips: int
    used_public_ips: int
    reserved_public_ips: int
    vm_states: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StorageUsage:
    """Images or ISO files of one cluster (kind 'image' or 'iso'): count, bytes and the largest."""

    kind: str
    cluster: str
    count: int
    total_bytes: int
    largest_name: str
    largest_bytes: int


@dataclass(frozen=True)
class SizeClass:
    """How many images or ISOs fall into one size class."""

    kind: str
    label: str
    """Untranslated (N_) label."""
    count: int
    total_bytes: int


@dataclass(frozen=True)
class DayOps:
    """Operations started on one (UTC) day."""

    day: dt.date
    total: int
    failed: int
    """failed + compensated"""


@dataclass(frozen=True)
class KindOps:
    """Operations of one kind in the window, by outcome."""

    kind: str
    total: int
    done: int
    running: int
    failed: int
    compensated: int

    @property
    def failure_rate(self) -> float:
        """(failed + compensated) / all; 0 without operations."""
        return (self.failed + self.compensated) / self.total if self.total else 0.0


@dataclass(frozen=True)
class StatsReport:
    """Everything the statistics screen and `ectui stats` show, for one filter at one moment."""

    filter: StatsFilter
    generated_at: dt.datetime
    since: dt.date
    until: dt.date
    clusters: tuple[ClusterUsage, ...]
    nodes: tuple[NodeUsage, ...]
    projects: tuple[ProjectUsage, ...]
    vm_states: dict[str, int]
    storage: tuple[StorageUsage, ...]
    size_classes: tuple[SizeClass, ...]
    days: tuple[DayOps, ...]
    kinds: tuple[KindOps, ...]

    @property
    def ops_total(self) -> int:
        """Operations in the window."""
        return sum(d.total for d in self.days)

    @property
    def ops_failed(self) -> int:
        """Failed or compensated operations in the window."""
        return sum(d.failed for d in self.days)

    @property
    def failure_rate(self) -> float:
        """(failed + compensated) / all operations of the window."""
        return self.ops_failed / self.ops_total if self.ops_total else 0.0

    def storage_total(self, kind: str) -> StorageUsage:
        """Images ('image') or ISOs ('iso') of every cluster in the report, summed; the largest overall."""
        rows = [s for s in self.storage if s.kind == kind]
        largest = max(rows, key=lambda s: s.largest_bytes, default=None)
        return StorageUsage(
            kind=kind,
            cluster="*",
            count=sum(s.count for s in rows),
            total_bytes=sum(s.total_bytes for s in rows),
            largest_name=largest.largest_name if largest else "",
            largest_bytes=largest.largest_bytes if largest else 0,
        )

    def to_json(self) -> dict[str, Any]:
        """One JSON-ready object with every section."""
        return {
            "filter": {
                "cluster": self.filter.cluster,
                "project": self.filter.project,
                "days": self.filter.days,
            },
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "clusters": [_plain(c) for c in self.clusters],
            "nodes": [_plain(n) for n in self.nodes],
            "projects": [_plain(p) for p in self.projects],
            "vm_states": dict(self.vm_states),
            "storage": [_plain(s) for s in self.storage],
            "storage_totals": [_plain(self.storage_total(k)) for k in ("image", "iso")],
            "size_classes": [_plain(s) for s in self.size_classes],
            "operations": {
                "total": self.ops_total,
                "failed": self.ops_failed,
                "failure_rate": round(self.failure_rate, 4),
                "per_day": [
                    {"day": d.day.isoformat(), "total": d.total, "failed": d.failed} for d in self.days
                ],
                "by_kind": [{**_plain(k), "failure_rate": round(k.failure_rate, 4)} for k in self.kinds],
            },
        }

    def csv_rows(self) -> Iterator[tuple[str, str, str, object]]:
        """Tidy rows (section, subject, metric, value): one figure per row, ready for a pivot table."""
        yield ("report", "filter", "cluster", self.filter.cluster or "*")
        yield ("report", "filter", "project", self.filter.project or "*")
        yield ("report", "filter", "days", self.filter.days)
        yield ("report", "window", "since", self.since.isoformat())
        yield ("report", "window", "until", self.until.isoformat())
        yield ("report", "generated", "at", self.generated_at.isoformat(timespec="seconds"))
        for c in self.clusters:
            yield from _figures("cluster", c.name, c, skip=("name",))
        for n in self.nodes:
            yield from _figures("node", f"{n.cluster}/{n.name}", n, skip=("cluster", "name"))
        for p in self.projects:
            yield from _figures("project", p.name, p, skip=("name",))
        for state, count in self.vm_states.items():
            yield ("vm_state", state, "count", count)
        for s in (*self.storage, self.storage_total("image"), self.storage_total("iso")):
            yield from _figures(s.kind, s.cluster, s, skip=("kind", "cluster"))
        for sc in self.size_classes:
            yield (f"{sc.kind}_size", sc.label, "count", sc.count)
            yield (f"{sc.kind}_size", sc.label, "total_bytes", sc.total_bytes)
        for d in self.days:
            yield ("ops_day", d.day.isoformat(), "total", d.total)
            yield ("ops_day", d.day.isoformat(), "failed", d.failed)
        for k in self.kinds:
            yield from _figures("ops_kind", k.kind, k, skip=("kind",))
            yield ("ops_kind", k.kind, "failure_rate", round(k.failure_rate, 4))
        yield ("ops_total", "*", "total", self.ops_total)
        yield ("ops_total", "*", "failed", self.ops_failed)
        yield ("ops_total", "*", "failure_rate", round(self.failure_rate, 4))


def _plain(obj: Any) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in obj.__dict__.items()}


def _figures(
    section: str, subject: str, obj: Any, *, skip: tuple[str, ...]
) -> Iterator[tuple[str, str, str, object]]:
    for key, value in obj.__dict__.items():
        if key in skip:
            continue
        if isinstance(value, dict):
            for state, count in value.items():
                yield (section, subject, f"vms_{state}", count)
        else:
            yield (section, subject, key, "" if value is None else value)


# ------------------------------------------------------------------ the service


@dataclass(frozen=True)
class _Scope:
    cluster_id: int | None
    project_id: int | None


class StatsService:
    """Read-only usage statistics of the console database, refused unless the license has 'statistics'."""

    def __init__(
        self,
        db: Database,
        license_service: ConsoleLicenseService,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._db = db
        self._license = license_service
        self._clock = clock
        """Naive UTC now; operations are stamped with the real clock, so the default follows it."""

    async def choices(self) -> tuple[list[str], list[str]]:
        """Names of the clusters and of the projects, for the filters."""
        await self._license.require(FEATURE)
        return await asyncio.to_thread(self._choices)

    def _choices(self) -> tuple[list[str], list[str]]:
        with self._db.session() as session:
            clusters = list(session.scalars(select(Cluster.name).order_by(Cluster.name)))
            projects = list(session.scalars(select(Project.name).order_by(Project.name)))
        return clusters, projects

    async def report(self, stats_filter: StatsFilter | None = None) -> StatsReport:
        """Every section for the filter (unknown cluster or project names are refused)."""
        await self._license.require(FEATURE)
        return await asyncio.to_thread(self._report, stats_filter or StatsFilter())

    async def export_csv(self, path: Path | str, stats_filter: StatsFilter | None = None) -> Path:
        """Write the report of the filter as CSV (section, subject, metric, value); returns the absolute path."""
        await self._license.require(FEATURE)
        report = await asyncio.to_thread(self._report, stats_filter or StatsFilter())
        return await asyncio.to_thread(write_csv, report, path)

    async def write_report_csv(self, report: StatsReport, path: Path | str) -> Path:
        """Write an already computed report as CSV (what the screen shows is what is written)."""
        await self._license.require(FEATURE)
        return await asyncio.to_thread(write_csv, report, path)

    # -- queries (blocking; run in a thread)

    def _report(self, f: StatsFilter) -> StatsReport:
        now = self._clock()
        until = now.date()
        since = until - dt.timedelta(days=f.days - 1)
        with self._db.session() as session:
            scope = self._scope(session, f)
            state_rows = self._vm_state_rows(session, scope)
            clusters = self._clusters(session, scope, state_rows)
            nodes = self._nodes(session, scope)
            projects = self._projects(session, scope, state_rows)
            storage, size_classes = self._storage(session, scope)
            days, kinds = self._operations(session, scope, since, until)
        vm_states: dict[str, int] = {}
        for _cluster_id, _project_id, state, count in state_rows:
            vm_states[state] = vm_states.get(state, 0) + count
        return StatsReport(
            filter=f,
            generated_at=now,
            since=since,
            until=until,
            clusters=clusters,
            nodes=nodes,
            projects=projects,
            vm_states=dict(sorted(vm_states.items())),
            storage=storage,
            size_classes=size_classes,
            days=days,
            kinds=kinds,
        )

    @staticmethod
    def _scope(session: Session, f: StatsFilter) -> _Scope:
        cluster_id: int | None = None
        project_id: int | None = None
        if f.cluster is not None:
            cluster_id = session.scalar(select(Cluster.id).where(Cluster.name == f.cluster))
            if cluster_id is None:
                raise StatsError("cluster.not_found", name=f.cluster)
        if f.project is not None:
            row = session.execute(
                select(Project.id, Project.cluster_id).where(Project.name == f.project)
            ).first()
            if row is None:
                raise StatsError("project.not_found", name=f.project)
            project_id = row[0]
            if cluster_id is None:
                cluster_id = row[
                    1
                ]  # a project lives in one cluster: its capacity and storage are the context
        return _Scope(cluster_id, project_id)

    @staticmethod
    def _vm_status() -> Any:
        return case((Vm.locked_by_operation.is_not(None), literal("operating")), else_=Vm.status)

    def _vm_state_rows(self, session: Session, scope: _Scope) -> list[tuple[int, int | None, str, int]]:
        state = self._vm_status().label("state")
        query = select(Vm.cluster_id, Vm.project_id, state, func.count()).group_by(
            Vm.cluster_id, Vm.project_id, state
        )
        if scope.cluster_id is not None:
            query = query.where(Vm.cluster_id == scope.cluster_id)
        if scope.project_id is not None:
            query = query.where(Vm.project_id == scope.project_id)
        return [(int(c), p, str(s or ""), int(n)) for c, p, s, n in session.execute(query)]

    def _clusters(
        self, session: Session, scope: _Scope, state_rows: list[tuple[int, int | None, str, int]]
    ) -> tuple[ClusterUsage, ...]:
        present = ComputeNode.present.is_(True)

        def node_sum(column: Any) -> Any:
            return func.coalesce(func.sum(case((present, column), else_=0)), 0)

        nodes = (
            select(
                ComputeNode.cluster_id.label("cid"),
                func.coalesce(func.sum(case((present, 1), else_=0)), 0).label("nodes"),
                node_sum(ComputeNode.vcpus).label("vcpus"),
                node_sum(ComputeNode.vcpus_used).label("vcpus_used"),
                node_sum(ComputeNode.memory_mb).label("memory_mb"),
                node_sum(ComputeNode.memory_mb_used).label("memory_mb_used"),
                node_sum(ComputeNode.running_vms).label("running_vms"),
            )
            .group_by(ComputeNode.cluster_id)
            .subquery()
        )
        alive = Vm.status != "DELETED"
        vm_query = select(
            Vm.cluster_id.label("cid"),
            func.count().label("vms"),
            func.coalesce(func.sum(Vm.vcpus), 0).label("vm_vcpus"),
            func.coalesce(func.sum(Vm.ram_gb), 0).label("vm_ram_gb"),
        ).where(alive)
        if scope.project_id is not None:
            vm_query = vm_query.where(Vm.project_id == scope.project_id)
        vms = vm_query.group_by(Vm.cluster_id).subquery()
        query = (
            select(
                Cluster.id,
                Cluster.name,
                func.coalesce(nodes.c.nodes, 0),
                func.coalesce(nodes.c.vcpus, 0),
                func.coalesce(nodes.c.vcpus_used, 0),
                func.coalesce(nodes.c.memory_mb, 0),
                func.coalesce(nodes.c.memory_mb_used, 0),
                func.coalesce(nodes.c.running_vms, 0),
                func.coalesce(vms.c.vms, 0),
                func.coalesce(vms.c.vm_vcpus, 0),
                func.coalesce(vms.c.vm_ram_gb, 0),
            )
            .outerjoin(nodes, nodes.c.cid == Cluster.id)
            .outerjoin(vms, vms.c.cid == Cluster.id)
            .order_by(Cluster.name)
        )
        if scope.cluster_id is not None:
            query = query.where(Cluster.id == scope.cluster_id)
        states: dict[int, dict[str, int]] = {}
        for cid, _pid, state, count in state_rows:
            per = states.setdefault(cid, {})
            per[state] = per.get(state, 0) + count
        return tuple(
            ClusterUsage(
                name=name,
                nodes=int(n),
                vcpus=int(vc),
                vcpus_used=int(vu),
                memory_mb=int(mm),
                memory_mb_used=int(mu),
                running_vms=int(rv),
                vms=int(v),
                vm_vcpus=int(vv),
                vm_ram_gb=int(vr),
                vm_states=dict(sorted(states.get(cid, {}).items())),
            )
            for cid, name, n, vc, vu, mm, mu, rv, v, vv, vr in session.execute(query)
        )

    def _nodes(self, session: Session, scope: _Scope) -> tuple[NodeUsage, ...]:
        state = self._vm_status().label("state")
        vm_query = select(Vm.cluster_id, Vm.node, state, func.count()).group_by(Vm.cluster_id, Vm.node, state)
        node_query = (
            select(ComputeNode, Cluster.name).join(Cluster, Cluster.id == ComputeNode.cluster_id)
            .order_by(Cluster.name, ComputeNode.name)
        )  # fmt: skip
        if scope.cluster_id is not None:
            vm_query = vm_query.where(Vm.cluster_id == scope.cluster_id)
            node_query = node_query.where(ComputeNode.cluster_id == scope.cluster_id)
        if scope.project_id is not None:
            vm_query = vm_query.where(Vm.project_id == scope.project_id)
        per_node: dict[tuple[int, str], dict[str, int]] = {}
        for cid, node, st, count in session.execute(vm_query):
            per_node.setdefault((int(cid), str(node or "")), {})[str(st or "")] = int(count)
        out = []
        for n, cluster_name in session.execute(node_query):
            states = dict(sorted(per_node.get((n.cluster_id, n.name), {}).items()))
            out.append(
                NodeUsage(
                    cluster=cluster_name,
                    name=n.name,
                    state=n.state,
                    status=n.status,
                    present=bool(n.present),
                    vcpus=n.vcpus,
                    vcpus_used=n.vcpus_used,
                    memory_mb=n.memory_mb,
                    memory_mb_used=n.memory_mb_used,
                    running_vms=n.running_vms,
                    vms=sum(c for s, c in states.items() if s != "DELETED"),
                    vm_states=states,
                )
            )
        return tuple(out)

    def _projects(
        self, session: Session, scope: _Scope, state_rows: list[tuple[int, int | None, str, int]]
    ) -> tuple[ProjectUsage, ...]:
        query = (
            select(Project, Cluster.name)
            .outerjoin(Cluster, Cluster.id == Project.cluster_id)
            .order_by(Project.name)
        )
        if scope.project_id is not None:
            query = query.where(Project.id == scope.project_id)
        elif scope.cluster_id is not None:
            query = query.where(Project.cluster_id == scope.cluster_id)
        states: dict[int, dict[str, int]] = {}
        for _cid, pid, state, count in state_rows:
            if pid is not None:
                per = states.setdefault(pid, {})
                per[state] = per.get(state, 0) + count
        return tuple(
            ProjectUsage(
                name=p.name,
                cluster=cluster_name,
                quota_vcpus=p.quota_vcpus,
                used_vcpus=p.used_vcpus,
                reserved_vcpus=p.reserved_vcpus,
                quota_ram_gb=p.quota_ram_gb,
                used_ram_gb=p.used_ram_gb,
                reserved_ram_gb=p.reserved_ram_gb,
                quota_vms=p.quota_vms,
                used_vms=p.used_vms,
                reserved_vms=p.reserved_vms,
                quota_public_ips=p.quota_public_ips,
                used_public_ips=p.used_public_ips,
                reserved_public_ips=p.reserved_public_ips,
                vm_states=dict(sorted(states.get(p.id, {}).items())),
            )
            for p, cluster_name in session.execute(query)
        )

    def _storage(
        self, session: Session, scope: _Scope
    ) -> tuple[tuple[StorageUsage, ...], tuple[SizeClass, ...]]:
        def ranked(kind: str, model: Any, name: Any) -> Any:
            query = select(
                literal(kind).label("kind"),
                model.cluster_id.label("cid"),
                name.label("name"),
                model.size.label("size"),
                func.row_number()
                .over(partition_by=model.cluster_id, order_by=(model.size.desc(), name))
                .label("rank"),
                func.count().over(partition_by=model.cluster_id).label("n"),
                func.sum(model.size).over(partition_by=model.cluster_id).label("total"),
            ).where(model.gone.is_(False))
            if scope.cluster_id is not None:
                query = query.where(model.cluster_id == scope.cluster_id)
            return query

        both = union_all(ranked("image", Image, Image.name), ranked("iso", IsoFile, IsoFile.name)).subquery()
        top = (
            select(both.c.kind, Cluster.name, both.c.n, both.c.total, both.c.name, both.c.size)
            .join(Cluster, Cluster.id == both.c.cid)
            .where(both.c.rank == 1)
            .order_by(both.c.kind, Cluster.name)
        )
        storage = tuple(
            StorageUsage(kind, cluster, int(n), int(total or 0), str(name or ""), int(size or 0))
            for kind, cluster, n, total, name, size in session.execute(top)
        )
        classes: list[SizeClass] = []
        for kind, model in (("image", Image), ("iso", IsoFile)):
            whens = [
                (model.size < bound, literal(i))
                for i, (_label, bound) in enumerate(SIZE_CLASSES)
                if bound is not None
            ]
            bucket = case(*whens, else_=literal(len(SIZE_CLASSES) - 1)).label("bucket")
            query = (
                select(bucket, func.count(), func.coalesce(func.sum(model.size), 0))
                .where(model.gone.is_(False))
                .group_by(bucket)
            )
            if scope.cluster_id is not None:
                query = query.where(model.cluster_id == scope.cluster_id)
            found = {int(b): (int(n), int(t)) for b, n, t in session.execute(query)}
            for i, (label, _bound) in enumerate(SIZE_CLASSES):
                n, t = found.get(i, (0, 0))
                classes.append(SizeClass(kind, label, n, t))
        return storage, tuple(classes)

    def _operations(
        self, session: Session, scope: _Scope, since: dt.date, until: dt.date
    ) -> tuple[tuple[DayOps, ...], tuple[KindOps, ...]]:
        day = func.date(Operation.created_at).label("day")
        query = (
            select(day, Operation.kind, Operation.state, func.count())
            .where(
                Operation.created_at >= dt.datetime.combine(since, dt.time()),
                Operation.created_at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time()),
            )
            .group_by(day, Operation.kind, Operation.state)
        )
        if scope.project_id is not None:
            query = query.where(Operation.project_id == scope.project_id)
        elif scope.cluster_id is not None:
            # an operation belongs to a cluster through its VM, else through its project
            query = (
                query.outerjoin(Vm, Vm.id == Operation.vm_id)
                .outerjoin(Project, Project.id == Operation.project_id)
                .where(func.coalesce(Vm.cluster_id, Project.cluster_id) == scope.cluster_id)
            )
        per_day: dict[dt.date, list[int]] = {}
        per_kind: dict[str, dict[str, int]] = {}
        for raw_day, kind, state, count in session.execute(query):
            when = raw_day if isinstance(raw_day, dt.date) else dt.date.fromisoformat(str(raw_day)[:10])
            slot = per_day.setdefault(when, [0, 0])
            slot[0] += int(count)
            if state in FAILED_STATES:
                slot[1] += int(count)
            states = per_kind.setdefault(str(kind), {})
            states[str(state)] = states.get(str(state), 0) + int(count)
        days = tuple(
            DayOps(d, *per_day.get(d, [0, 0]))
            for d in (since + dt.timedelta(days=i) for i in range((until - since).days + 1))
        )
        kinds = tuple(
            KindOps(
                kind=kind,
                total=sum(states.values()),
                done=states.get("done", 0),
                running=states.get("running", 0),
                failed=states.get("failed", 0),
                compensated=states.get("compensated", 0),
            )
            for kind, states in sorted(per_kind.items())
        )
        return days, kinds


def write_csv(report: StatsReport, path: Path | str) -> Path:
    """Write the report's tidy rows with a header; refuses a missing directory or an unwritable file."""
    if not str(path).strip():
        raise ValidationError("stats.no_path", field=N_("File"), field_id="path")
    target = Path(path).expanduser().resolve()
    try:
        with target.open("w", newline="", encoding="utf-8") as fh:
            writer = safe_writer(csv.writer(fh))
            writer.writerow(("section", "subject", "metric", "value"))
            writer.writerows(report.csv_rows())
    except OSError as err:
        raise StatsError("stats.write_failed", path=str(target), reason=err.strerror or str(err)) from err
    return target
