"""Statistics screen: figures shown, filters, 14/30 days, CSV export, live refresh, hidden without the module."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.widgets import Sparkline
from uikit import domain_key, notifications, settings_for, settle, started

from ectui.app import ConsoleApp
from ectui.db.models import Cluster, ComputeNode, Image, IsoFile, Operation, Project, Vm, utcnow
from ectui.screens.stats import ExportStatsModal, StatsScreen, count_bar, human_bytes
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.issuer import EditionDraft, LicenseDraft
from ectui.widgets import PathInput

GIB = 1024**3


async def licensed_console(home: Path, features: str) -> ConsoleServices:
    issuer = build_issuer_services(settings_for(home / "issuer"))
    await issuer.start()
    await issuer.issuer.create_edition(
        EditionDraft.parse(name="Pro", max_clusters="3", max_nodes="10", storage="local", features=features)
    )
    today = dt.date.today()
    lic = await issuer.issuer.create_license(
        LicenseDraft.parse(customer="ACME", edition="Pro", valid_from=today.isoformat(),
                           valid_to=(today + dt.timedelta(days=30)).isoformat())
    )  # fmt: skip
    result = await issuer.issuer.export_license(lic.id, home / "a.ec", home / "a.properties")
    issuer.close()
    console = build_console_services(settings_for(home / "console"))
    await console.start()
    await console.license.import_license(result.ec_path, result.properties_path)
    return console


def seed(services: ConsoleServices) -> None:
    """dc1: 2 nodes (16 vCPU, 32 GB each); dc2: 1 node; projects web (dc1) and db (dc2); VMs, images, operations."""
    now = utcnow()
    with services.db.session() as session:
        dc1, dc2 = Cluster(name="dc1"), Cluster(name="dc2")
        session.add_all([dc1, dc2])
        session.flush()
        web = Project(name="web", cluster_id=dc1.id, quota_vcpus=20, used_vcpus=6, reserved_vcpus=2,
                      quota_ram_gb=64, used_ram_gb=12, quota_vms=5, used_vms=3)  # fmt: skip
        db = Project(name="db", cluster_id=dc2.id, quota_vcpus=8, used_vcpus=2, quota_ram_gb=16, used_ram_gb=4,
                     quota_vms=2, used_vms=1)  # fmt: skip
        session.add_all([web, db])
        session.flush()
        session.add_all([
            ComputeNode(cluster_id=dc1.id, name="n1", hypervisor_id="1", vcpus=16, vcpus_used=4,
                        memory_mb=32768, memory_mb_used=8192, state="up", status="enabled"),
            ComputeNode(cluster_id=dc1.id, name="n2", hypervisor_id="2", vcpus=16, vcpus_used=4,
                        memory_mb=32768, memory_mb_used=8192, state="up", status="enabled"),
            ComputeNode(cluster_id=dc2.id, name="m1", hypervisor_id="3", vcpus=8, vcpus_used=2,
                        memory_mb=16384, memory_mb_used=4096, state="up", status="enabled"),
            Vm(cluster_id=dc1.id, project_id=web.id, name="a", vcpus=2, ram_gb=4, status="ACTIVE", node="n1"),
            Vm(cluster_id=dc1.id, project_id=web.id, name="b", vcpus=2, ram_gb=4, status="ACTIVE", node="n2"),
            Vm(cluster_id=dc1.id, project_id=web.id, name="c", vcpus=2, ram_gb=4, status="SHUTOFF", node="n1"),
            Vm(cluster_id=dc2.id, project_id=db.id, name="d", vcpus=2, ram_gb=4, status="ERROR", node="m1"),
            Image(cluster_id=dc1.id, cloud_id="i1", name="ubuntu", size=3 * GIB),
            IsoFile(cluster_id=dc2.id, file_name="w.iso", name="win", size=5 * GIB),
            Operation(kind="create_vm", state="done", project_id=web.id, created_at=now),
            Operation(kind="create_vm", state="compensated", project_id=web.id, created_at=now),
            Operation(kind="resize", state="failed", project_id=db.id, created_at=now - dt.timedelta(days=2)),
            Operation(kind="resize", state="done", project_id=db.id, created_at=now - dt.timedelta(days=20)),
        ])  # fmt: skip


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[ConsoleServices]:
    console = await licensed_console(tmp_path, "platform,statistics")
    seed(console)
    yield console
    console.close()


async def open_stats(pilot: object, app: ConsoleApp) -> StatsScreen:
    await started(pilot)  # type: ignore[arg-type]
    await pilot.press(domain_key(app, "stats"))  # type: ignore[attr-defined]
    await settle(pilot, lambda: isinstance(app.screen, StatsScreen) and app.screen.report is not None)  # type: ignore[arg-type]
    screen = app.screen
    assert isinstance(screen, StatsScreen)
    return screen


async def test_figures_filters_and_days(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_stats(pilot, app)
        text = screen.figures_text()
        assert "dc1 · 2 nodes · 3 VMs (6 vCPU, 12 GB)" in text
        assert f"{'vCPU':<6} ██░░░░░░░░  25% 8/32" in text  # dc1's two nodes
        assert "dc1/n1 · up/enabled · 2 VMs" in text
        assert "web (dc1) · VMs: ACTIVE 2 · SHUTOFF 1" in text
        assert f"  {'vCPU':<6} ████░░░░░░  40% 6+2/20" in text
        assert f"{'ACTIVE':<12} {count_bar(2, 2)}" in text and f"{'ERROR':<12} {count_bar(1, 2)}" in text
        assert f"Images: 1 · {human_bytes(3 * GIB)} · largest ubuntu" in text
        assert "3 operations · 2 failed (67%)" in text
        assert "create_vm: 2 · done 1 · failed 0 · compensated 1 · 50% failed" in text
        spark = screen.query_one("#stats-sparkline", Sparkline)
        assert list(spark.data or []) == [0] * 11 + [1, 0, 2]
        # cluster filter: c cycles dc1 → dc2 → all
        await pilot.press("c")
        await settle(pilot, lambda: screen.report is not None and screen.report.filter.cluster == "dc1")
        await pilot.press("c")
        await settle(pilot, lambda: screen.report is not None and screen.report.filter.cluster == "dc2")
        text = screen.figures_text()
        assert "dc2 · 1 node · 1 VM" in text and "dc1" not in text and "db (dc2)" in text
        assert "Statistics · cluster dc2 · all projects · 14 days" in str(
            screen.query_one("#stats-title").render()
        )
        await pilot.press("c")
        await settle(pilot, lambda: screen.report is not None and screen.report.filter.cluster is None)
        # project filter: P cycles db → web
        await pilot.press("P", "P")
        await settle(pilot, lambda: screen.report is not None and screen.report.filter.project == "web")
        text = screen.figures_text()
        assert "web (dc1)" in text and "db (" not in text and "2 operations" in text
        # 30 days include the resize of 20 days ago
        await pilot.press("d")
        await settle(pilot, lambda: screen.report is not None and screen.report.filter.days == 30)
        assert len(screen.report.days) == 30
        await pilot.press("P")
        await settle(pilot, lambda: screen.report is not None and screen.report.filter.project is None)
        assert "4 operations · 2 failed (50%)" in screen.figures_text()


async def test_export_csv_writes_the_file(services: ConsoleServices, tmp_path: Path) -> None:
    app = ConsoleApp(services)
    target = tmp_path / "out.csv"
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_stats(pilot, app)
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, ExportStatsModal))
        app.screen.query_one("#stats-export-path", PathInput).value = str(tmp_path / "no-such-dir" / "x.csv")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ExportStatsModal)
        assert "Cannot write the CSV file" in str(app.screen.query_one("#stats-export-error").render())
        app.screen.query_one("#stats-export-path", PathInput).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: app.screen is screen)
        assert any(f"CSV written to {target}" in n for n in notifications(app))
    with target.open(newline="", encoding="utf-8") as fh:
        rows = {(r[0], r[1], r[2]): r[3] for r in csv.reader(fh)}
    assert rows[("cluster", "dc1", "vcpus_used")] == "8"
    assert rows[("project", "web", "reserved_vcpus")] == "2"
    assert rows[("ops_total", "*", "total")] == "3"


async def test_live_refresh_picks_up_changes(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_stats(pilot, app)
        assert screen.poll_delay == StatsScreen.POLL and screen._poll_timer is not None
        with services.db.session() as session:
            session.add(Operation(kind="resize", state="done", created_at=utcnow()))
        screen.poll()  # what the armed timer does when it fires
        await settle(pilot, lambda: screen.report is not None and screen.report.ops_total == 4)
        screen.last_activity -= StatsScreen.IDLE_AFTER
        assert screen.next_delay() == StatsScreen.POLL_IDLE
        screen.failures = 3
        assert screen.next_delay() == min(StatsScreen.POLL * 8, StatsScreen.POLL_MAX)
        # leaving the screen stops the polling
        await pilot.press(domain_key(app, "license"))
        await settle(pilot, lambda: not isinstance(app.screen, StatsScreen))
        assert not screen.polling and screen._poll_timer is None


async def test_hidden_without_the_module(tmp_path: Path) -> None:
    services = await licensed_console(tmp_path, "platform")
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            assert "stats" not in [d.id for d in app.visible_domains()]
            assert "projects" in [d.id for d in app.visible_domains()]
    finally:
        services.close()


async def test_every_action_is_in_the_palette_and_footer(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_stats(pilot, app)
        titles = {command.title for command in app.get_system_commands(screen)}
        assert {"Cluster filter", "Project filter", "14/30 days", "Export CSV", "Refresh"} <= titles
        ids = {b.id for b in StatsScreen.BINDINGS if isinstance(b, Binding)}
        assert ids == {"stats.cluster", "stats.project", "stats.days", "stats.export", "stats.refresh"}
