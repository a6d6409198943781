"""`ectui stats` through the real entry point: text tables, --json, --csv, filters, refusal without the module."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from ectui.config import Settings
from ectui.db.models import Cluster, ComputeNode, Image, Operation, Project, Vm, utcnow
from ectui.db.session import Database
from tests.kit.cli import ectui, licensed_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A licensed console (statistics on) with dc1 and dc2, projects web and db, VMs, an image, operations."""
    console = licensed_home(tmp_path_factory.mktemp("stats"), "platform,statistics")
    assert (
        ectui(
            console, "project", "add", "--name", "web", "--vcpus", "10", "--ram", "20", "--vms", "4"
        ).returncode
        == 0
    )
    db = Database(Settings.from_env({"ECTUI_HOME": str(console)}).console_db_url, "console")
    try:
        with db.session() as session:
            dc1, dc2 = Cluster(name="dc1"), Cluster(name="dc2")
            session.add_all([dc1, dc2])
            session.flush()
            web = session.query(Project).filter_by(name="web").one()
            web.cluster_id, web.used_vcpus, web.used_ram_gb, web.used_vms = dc1.id, 4, 8, 2
            session.add_all([
                ComputeNode(cluster_id=dc1.id, name="n1", hypervisor_id="1", vcpus=10, vcpus_used=4,
                            memory_mb=20480, memory_mb_used=8192, state="up", status="enabled"),
                ComputeNode(cluster_id=dc2.id, name="m1", hypervisor_id="2", vcpus=4, memory_mb=4096),
                Vm(cluster_id=dc1.id, project_id=web.id, name="a", vcpus=2, ram_gb=4, status="ACTIVE", node="n1"),
                Vm(cluster_id=dc1.id, project_id=web.id, name="b", vcpus=2, ram_gb=4, status="SHUTOFF", node="n1"),
                Image(cluster_id=dc1.id, cloud_id="i1", name="ubuntu", size=2048),
                Operation(kind="create_vm", state="done", project_id=web.id, created_at=utcnow()),
                Operation(kind="create_vm", state="failed", project_id=web.id,
                          created_at=utcnow() - dt.timedelta(days=1)),
            ])  # fmt: skip
    finally:
        db.dispose()
    return console


def test_text_tables(home: Path) -> None:
    result = ectui(home, "stats")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Statistics · all clusters and projects" in out
    assert "dc1      1      4/10       40%  8/20           40%  2    ACTIVE 1, SHUTOFF 1" in out
    assert "web      dc1      4/10  8/20    2/4" in out
    assert "VMs by state: ACTIVE 1, SHUTOFF 1" in out
    assert "Operations per day" in out and "2 total, 1 failed (50%)" in out
    assert "ubuntu (2.0 KiB)" in out


def test_json_and_filters(home: Path) -> None:
    result = ectui(home, "stats", "--cluster", "dc1", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["filter"] == {"cluster": "dc1", "project": None, "days": 14}
    (dc1,) = data["clusters"]
    assert (dc1["vcpus"], dc1["vcpus_used"], dc1["vms"], dc1["vm_states"]) == (
        10,
        4,
        2,
        {"ACTIVE": 1, "SHUTOFF": 1},
    )
    assert [n["name"] for n in data["nodes"]] == ["n1"]
    assert data["operations"]["total"] == 2 and data["operations"]["failure_rate"] == 0.5
    assert len(data["operations"]["per_day"]) == 14
    assert data["storage_totals"][0] == {
        "kind": "image", "cluster": "*", "count": 1, "total_bytes": 2048, "largest_name": "ubuntu",
        "largest_bytes": 2048,
    }  # fmt: skip
    dc2 = json.loads(ectui(home, "stats", "--cluster", "dc2", "--days", "30", "--json").stdout)
    assert (
        [c["name"] for c in dc2["clusters"]] == ["dc2"] and dc2["projects"] == [] and dc2["vm_states"] == {}
    )
    assert len(dc2["operations"]["per_day"]) == 30 and dc2["operations"]["total"] == 0
    web = json.loads(ectui(home, "stats", "--project", "web", "--json").stdout)
    assert [c["name"] for c in web["clusters"]] == ["dc1"] and web["projects"][0]["used_vcpus"] == 4
    missing = ectui(home, "stats", "--cluster", "nope")
    assert missing.returncode == 1 and "No cluster named 'nope'" in missing.stderr
    bad = ectui(home, "stats", "--days", "0")
    assert bad.returncode == 2 and "Days" in bad.stderr


def test_csv(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "s.csv"
    result = ectui(home, "stats", "--csv", target, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["csv"] == str(target.resolve())
    with target.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["section", "subject", "metric", "value"]
    figures = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert figures[("cluster", "dc1", "vcpus_used")] == "4"
    assert figures[("project", "web", "vms_ACTIVE")] == "1"
    assert figures[("ops_total", "*", "failure_rate")] == "0.5"
    text = ectui(home, "stats", "--csv", target)
    assert text.returncode == 0 and f"CSV written to {target.resolve()}" in text.stdout
    refused = ectui(home, "stats", "--csv", tmp_path / "nodir" / "x.csv")
    assert refused.returncode == 1 and "Cannot write the CSV file" in refused.stderr


def test_refused_without_the_module(tmp_path: Path) -> None:
    console = licensed_home(tmp_path, "platform")
    for args in (("stats",), ("stats", "--json"), ("stats", "--csv", tmp_path / "x.csv")):
        result = ectui(console, *args)
        assert result.returncode == 1, result.stdout
        assert "The 'statistics' feature is not in this license's edition (Std)." in result.stderr
    assert not (tmp_path / "x.csv").exists()
