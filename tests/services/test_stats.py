"""Statistics: exact figures for a scripted state, filters, CSV, fixed query count, license gating."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from ectui.config import Settings
from ectui.db.models import Cluster, ComputeNode, Image, IsoFile, Operation, Project, Vm, utcnow
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.i18n import render
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.clusters import ClusterDraft
from ectui.services.errors import LicenseError, ServiceError
from ectui.services.operations import OperationEngine, RunContext, Step
from ectui.services.projects import Amounts, ProjectDraft
from ectui.services.stats import StatsError, StatsFilter, StatsReport, StatsService
from ectui.services.templates import TemplateDraft
from ectui.services.vms import VmDraft
from tests.kit import CONSOLE_NOW, Clock

PASSWORD = "Secr3t!pass"
GIB = 1024**3
MIB = 1024**2
HOST_RAM_MB = 512
"""RAM the dev cloud's hypervisors report as used by the host itself."""


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path / "cloud", timings=Timings.fast(0.05))
    yield handle
    handle.stop()


async def licensed(
    home: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any], **edition: str
) -> ConsoleServices:
    """A console with a license of an edition (default features: platform, statistics, users.audit)."""
    issuer = build_issuer_services(settings_for(home / "issuer"))
    await issuer.start()
    try:
        issued = await make_license(issuer.issuer, home / "out", storage="local,shared", **edition)
    finally:
        issuer.close()
    console = build_console_services(
        settings_for(home / "console", ECTUI_OPERATOR="alice"), clock=Clock(CONSOLE_NOW)
    )
    await console.start()
    await console.license.import_license(issued.ec_path, issued.properties_path)
    return console


def cluster_draft(cloud: DevCloudHandle, name: str = "dc1") -> ClusterDraft:
    auth = cloud.cloud.cloud_config()["auth"]
    return ClusterDraft.parse(
        name=name,
        storage_mode="shared",
        auth_url=auth["auth_url"],
        username=auth["username"],
        password=auth["password"],
        project=auth["project_name"],
        region="RegionOne",
    )


def vm_draft(template_id: int, name: str, node: str, cpu: int, ram: int) -> VmDraft:
    return VmDraft.parse(
        name=name, template_id=template_id, placement="manual", node=node, login="password",
        password=PASSWORD, password_confirm=PASSWORD, cpu=str(cpu), ram_gb=str(ram), network="private",
        public_ip=False,
    )  # fmt: skip


def steps(fail: bool) -> list[Step]:
    def run(ctx: RunContext) -> None:
        if fail:
            raise RuntimeError("boom")

    return [Step("only", "Only", run, lambda ctx: None)]


@dataclass
class Scripted:
    s: ConsoleServices
    images: list[tuple[str, int]]


@pytest.fixture
async def scripted(
    tmp_path: Path,
    cloud: DevCloudHandle,
    settings_for: Callable[..., Settings],
    make_license: Callable[..., Any],
) -> AsyncIterator[Scripted]:
    """dc1 from the dev cloud (3 nodes of 32 vCPU / 128 GB), projects web and db, two VMs, operations, ISOs."""
    s = await licensed(tmp_path, settings_for, make_license)
    await s.clusters.add(cluster_draft(cloud))
    await s.images.sync("dc1")
    images = {i.name: i for i in await s.images.list_all("dc1")}
    template = await s.templates.create(
        TemplateDraft.parse(name="cirros", image_id=images["cirros-0.6.2"].id, os_type="linux")
    )
    await s.projects.add(
        ProjectDraft.parse(name="web", vcpus="16", ram_gb="64", vms="5", public_ips="2", cluster="dc1")
    )
    await s.projects.add(ProjectDraft.parse(name="db", vcpus="8", ram_gb="32", vms="2", cluster="dc1"))
    await s.projects.use("web")
    await s.vms.create(vm_draft(template.id, "app1", "node-2", 2, 4))
    second = await s.vms.create(vm_draft(template.id, "app2", "node-1", 1, 2))
    await s.vms.stop(second.id, wait=True)
    await s.projects.reserve("db", Amounts(vcpus=3, ram_gb=6))
    await s.clusters.sync_nodes("dc1")
    # operations through the engine: one done, one compensated (both today, project db)
    engine = OperationEngine(s.db, "alice")
    db_id = (await s.projects.get("db")).id
    for fail in (False, True):
        op = await asyncio.to_thread(engine.create_sync, "snapshot", steps(fail), project_id=db_id)
        with pytest.raises(ServiceError) if fail else _nothing():
            await engine.run(op, steps(fail), {})
    # ISO files and older operations through the data layer
    cluster_id = (await s.clusters.get("dc1")).id
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    with s.db.session() as session:
        session.add_all([
            IsoFile(cluster_id=cluster_id, file_name="a.iso", name="a", size=2 * GIB),
            IsoFile(cluster_id=cluster_id, file_name="b.iso", name="b", size=500 * MIB),
            IsoFile(cluster_id=cluster_id, file_name="c.iso", name="c", size=200 * GIB, gone=True),
            Operation(kind="resize", state="failed", created_at=today - dt.timedelta(days=3), project_id=db_id),
            Operation(kind="resize", state="done", created_at=today - dt.timedelta(days=3), project_id=db_id),
            Operation(kind="resize", state="done", created_at=today - dt.timedelta(days=20), project_id=db_id),
        ])  # fmt: skip
    yield Scripted(s, sorted(((i.name, i.size) for i in images.values()), key=lambda x: -x[1]))
    s.close()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def test_figures_for_a_scripted_state(scripted: Scripted) -> None:
    report = await scripted.s.stats.report()
    (dc1,) = report.clusters
    assert (dc1.name, dc1.nodes, dc1.vcpus, dc1.memory_mb) == ("dc1", 3, 96, 3 * 128 * 1024)
    assert (dc1.vcpus_used, dc1.memory_mb_used) == (3, 6 * 1024 + 3 * HOST_RAM_MB)
    assert (dc1.vms, dc1.vm_vcpus, dc1.vm_ram_gb) == (2, 3, 6)
    assert dc1.vm_states == {"ACTIVE": 1, "SHUTOFF": 1}
    nodes = {n.name: n for n in report.nodes}
    assert (nodes["node-2"].vcpus_used, nodes["node-2"].memory_mb_used, nodes["node-2"].vms) == (
        2,
        4096 + HOST_RAM_MB,
        1,
    )
    assert nodes["node-1"].vm_states == {"SHUTOFF": 1} and nodes["node-3"].vms == 0
    assert nodes["node-3"].vcpus == 32 and nodes["node-3"].vcpus_used == 0
    projects = {p.name: p for p in report.projects}
    web, db = projects["web"], projects["db"]
    assert (web.used_vcpus, web.reserved_vcpus, web.quota_vcpus) == (3, 0, 16)
    assert (web.used_ram_gb, web.quota_ram_gb, web.used_vms, web.quota_vms) == (6, 64, 2, 5)
    assert web.vm_states == {"ACTIVE": 1, "SHUTOFF": 1}
    assert (db.used_vcpus, db.reserved_vcpus, db.reserved_ram_gb, db.vm_states) == (0, 3, 6, {})
    assert report.vm_states == {"ACTIVE": 1, "SHUTOFF": 1}
    # images: what the dev cloud holds; ISOs: the two present (the gone one is not counted)
    image_total = report.storage_total("image")
    assert image_total.count == len(scripted.images)
    assert image_total.total_bytes == sum(size for _n, size in scripted.images)
    assert (image_total.largest_name, image_total.largest_bytes) == scripted.images[0]
    iso_total = report.storage_total("iso")
    assert (iso_total.count, iso_total.total_bytes) == (2, 2 * GIB + 500 * MIB)
    assert (iso_total.largest_name, iso_total.largest_bytes) == ("a", 2 * GIB)
    iso_classes = {c.label: c.count for c in report.size_classes if c.kind == "iso"}
    assert iso_classes == {"< 1 GiB": 1, "1–10 GiB": 1, "10–100 GiB": 0, "≥ 100 GiB": 0}
    # operations of the last 14 days: 2 creates + done/compensated snapshot today, failed+done resize 3 days ago
    assert len(report.days) == 14 and report.days[-1].day == utcnow().date()
    assert (report.days[-1].total, report.days[-1].failed) == (4, 1)
    assert (report.days[-4].total, report.days[-4].failed) == (2, 1)
    assert report.ops_total == 6 and report.ops_failed == 2
    assert report.failure_rate == pytest.approx(2 / 6)
    kinds = {k.kind: k for k in report.kinds}
    assert (kinds["create_vm"].total, kinds["create_vm"].done) == (2, 2)
    assert (kinds["snapshot"].compensated, kinds["snapshot"].failure_rate) == (1, 0.5)
    assert (kinds["resize"].total, kinds["resize"].failed) == (2, 1)
    # 30 days include the resize of 20 days ago
    month = await scripted.s.stats.report(StatsFilter(days=30))
    assert len(month.days) == 30 and month.ops_total == 7
    assert {k.kind: k.total for k in month.kinds}["resize"] == 3


async def test_filters(scripted: Scripted) -> None:
    s = scripted.s
    with s.db.session() as session:  # a second cluster with one node, no VMs
        other = Cluster(name="dc2")
        session.add(other)
        session.flush()
        session.add(ComputeNode(cluster_id=other.id, name="x-1", hypervisor_id="x", vcpus=8, memory_mb=8192))
        session.add(Image(cluster_id=other.id, cloud_id="i-x", name="big", size=150 * GIB))
    everything = await s.stats.report()
    assert [c.name for c in everything.clusters] == ["dc1", "dc2"]
    assert everything.storage_total("image").largest_name == "big"
    dc2 = await s.stats.report(StatsFilter(cluster="dc2"))
    assert [c.name for c in dc2.clusters] == ["dc2"] and [n.name for n in dc2.nodes] == ["x-1"]
    assert (dc2.clusters[0].vcpus, dc2.projects, dc2.vm_states, dc2.ops_total) == (8, (), {}, 0)
    assert dc2.storage_total("image").count == 1 and dc2.storage_total("iso").count == 0
    db = await s.stats.report(StatsFilter(project="db"))
    assert [p.name for p in db.projects] == ["db"] and [c.name for c in db.clusters] == ["dc1"]
    assert db.vm_states == {} and db.clusters[0].vms == 0  # the VMs belong to web
    assert db.ops_total == 4 and {k.kind for k in db.kinds} == {"snapshot", "resize"}
    web = await s.stats.report(StatsFilter(cluster="dc1", project="web"))
    assert web.vm_states == {"ACTIVE": 1, "SHUTOFF": 1} and web.ops_total == 2
    with pytest.raises(StatsError) as caught:
        await s.stats.report(StatsFilter(cluster="nope"))
    assert "No cluster named 'nope'" in render(caught.value)
    with pytest.raises(StatsError) as caught:
        await s.stats.report(StatsFilter(project="nope"))
    assert caught.value.key == "project.not_found"
    assert await s.stats.choices() == (["dc1", "dc2"], ["db", "web"])


async def test_csv_export(scripted: Scripted, tmp_path: Path) -> None:
    written = await scripted.s.stats.export_csv(tmp_path / "stats.csv", StatsFilter(cluster="dc1"))
    assert written == (tmp_path / "stats.csv").resolve()
    with written.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["section", "subject", "metric", "value"]
    figures = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert figures[("cluster", "dc1", "vcpus_used")] == "3"
    assert figures[("cluster", "dc1", "vms_SHUTOFF")] == "1"
    assert figures[("node", "dc1/node-2", "vms")] == "1"
    assert figures[("project", "db", "reserved_vcpus")] == "3"
    assert figures[("iso", "*", "total_bytes")] == str(2 * GIB + 500 * MIB)
    assert figures[("ops_total", "*", "total")] == "6"
    assert figures[("ops_day", utcnow().date().isoformat(), "failed")] == "1"
    with pytest.raises(StatsError) as caught:
        await scripted.s.stats.export_csv(tmp_path / "missing-dir" / "x.csv")
    assert caught.value.key == "stats.write_failed" and "missing-dir" in render(caught.value)


async def test_large_volumes_take_a_fixed_number_of_queries(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> None:
    s = await licensed(tmp_path, settings_for, make_license)
    try:
        today = utcnow().replace(hour=1, minute=0, second=0, microsecond=0)
        with s.db.session() as session:
            clusters = [Cluster(name=f"c{i}") for i in range(2)]
            session.add_all(clusters)
            session.flush()
            projects = [
                Project(name=f"p{i}", cluster_id=clusters[i % 2].id, quota_vcpus=10_000) for i in range(4)
            ]
            session.add_all(projects)
            session.flush()
            session.add_all(
                ComputeNode(cluster_id=c.id, name=f"n{j}", hypervisor_id=str(j), vcpus=64, vcpus_used=j,
                            memory_mb=1024, memory_mb_used=512)
                for c in clusters for j in range(50)
            )  # fmt: skip
            statuses = ("ACTIVE", "SHUTOFF", "ERROR", "DELETED")
            session.add_all(
                Vm(cluster_id=projects[i % 4].cluster_id, project_id=projects[i % 4].id, name=f"vm{i}",
                   vcpus=2, ram_gb=4, status=statuses[i % 4], node=f"n{i % 50}")
                for i in range(2000)
            )  # fmt: skip
            session.add_all(
                Image(cluster_id=clusters[i % 2].id, cloud_id=f"i{i}", name=f"img{i:04d}", size=i * MIB)
                for i in range(1000)
            )  # fmt: skip
            session.add_all(
                Operation(kind=("create_vm", "resize")[i % 2], state=("done", "failed", "compensated", "done")[i % 4],
                          created_at=today - dt.timedelta(days=i % 20), project_id=projects[i % 4].id)
                for i in range(4000)
            )  # fmt: skip
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(s.db.engine, "before_cursor_execute", count)
        try:
            report = await s.stats.report(StatsFilter(days=14))
        finally:
            event.remove(s.db.engine, "before_cursor_execute", count)
        selects = [q for q in statements if q.lstrip().upper().startswith(("SELECT", "WITH"))]
        assert len(selects) <= 20, (
            selects
        )  # a fixed handful (license check included) for 2000 VMs, 4000 operations
        c0, c1 = report.clusters
        assert (c0.nodes, c0.vcpus, c0.vcpus_used) == (50, 3200, sum(range(50)))
        # c0 holds projects p0, p2 → VMs i % 4 in (0, 2): ACTIVE and ERROR, 500 each
        assert c0.vm_states == {"ACTIVE": 500, "ERROR": 500} and c0.vms == 1000 and c0.vm_vcpus == 2000
        assert c1.vm_states == {"DELETED": 500, "SHUTOFF": 500} and c1.vms == 500
        assert report.vm_states == {"ACTIVE": 500, "DELETED": 500, "ERROR": 500, "SHUTOFF": 500}
        images = report.storage_total("image")
        assert images.count == 1000 and images.total_bytes == sum(range(1000)) * MIB
        assert (images.largest_name, images.largest_bytes) == ("img0999", 999 * MIB)
        # 4000 operations over 20 days, 200 a day; operation i is i % 20 days old, so a day's operations share
        # one state (i % 4) and one kind (i % 2): d days ago → failed when d % 4 is 1 or 2, create_vm when d is even
        assert report.ops_total == 2800 and report.ops_failed == 1400
        by_age = {(report.until - d.day).days: (d.total, d.failed) for d in report.days}
        assert by_age == {age: (200, 200 if age % 4 in (1, 2) else 0) for age in range(14)}
        assert {k.kind: (k.total, k.done, k.failed, k.compensated) for k in report.kinds} == {
            "create_vm": (1400, 800, 0, 600), "resize": (1400, 600, 800, 0)
        }  # fmt: skip
        assert [round(k.failure_rate, 4) for k in report.kinds] == [
            round(600 / 1400, 4),
            round(800 / 1400, 4),
        ]
    finally:
        s.close()


def empty_report() -> StatsReport:
    today = utcnow().date()
    return StatsReport(StatsFilter(), utcnow(), today, today, (), (), (), {}, (), (), (), ())


async def test_every_method_refuses_without_the_module(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> None:
    s = await licensed(tmp_path, settings_for, make_license, edition="Basic", features="platform")
    try:
        service: StatsService = s.stats
        calls = [
            service.report(),
            service.choices(),
            service.export_csv(tmp_path / "x.csv"),
            service.write_report_csv(empty_report(), tmp_path / "x.csv"),
        ]
        for call in calls:
            with pytest.raises(LicenseError) as caught:
                await call
            assert caught.value.key == "license.feature_disabled"
            assert "'statistics'" in render(caught.value) and "Basic" in render(caught.value)
        assert not (tmp_path / "x.csv").exists()
    finally:
        s.close()


async def test_refused_without_any_license(console_services: ConsoleServices) -> None:
    with pytest.raises(LicenseError) as caught:
        await console_services.stats.report()
    assert caught.value.params["feature"] == "statistics"
