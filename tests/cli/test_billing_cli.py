"""`ectui price set|list` and `ectui bill` through the real entry point: validation, --json, --csv, gating."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from ectui.config import Settings
from ectui.db.models import MeterSpan
from ectui.db.session import Database
from tests.kit.cli import ectui, licensed_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A licensed console (billing on), project web, and ten days of one VM's metering in March 2025."""
    console = licensed_home(tmp_path_factory.mktemp("billing"), "platform,billing")
    added = ectui(console, "project", "add", "--name", "web", "--vcpus", "10", "--ram", "20", "--vms", "4")
    assert added.returncode == 0, added.stderr
    db = Database(Settings.from_env({"ECTUI_HOME": str(console)}).console_db_url, "console")
    try:
        with db.session() as session:
            session.add(
                MeterSpan(project="web", cluster="dc1", vm_id=7, vm_name="app", running=True, vcpus=2, ram_gb=4,
                          public_ips=1, started_at=dt.datetime(2025, 3, 1), ended_at=dt.datetime(2025, 3, 11),
                          opened_by="create", closed_by="delete")
            )  # fmt: skip
    finally:
        db.dispose()
    return console


def test_price_set_validates_and_keeps_the_history(home: Path) -> None:
    bad = ectui(home, "price", "set", "--vcpu-hour", "0.00001", "--ram-gb-hour", "1", "--ip-hour", "1")
    assert bad.returncode == 2 and "Price per vCPU-hour" in bad.stderr and "4 decimals" in bad.stderr
    bad = ectui(home, "price", "set", "--vcpu-hour", "1", "--ram-gb-hour", "-1", "--ip-hour", "1")
    assert bad.returncode == 2 and "Price per GB-RAM-hour" in bad.stderr
    bad = ectui(
        home, "price", "set", "--vcpu-hour", "1", "--ram-gb-hour", "1", "--ip-hour", "1", "--from", "x"
    )
    assert bad.returncode == 2 and "Effective from" in bad.stderr
    usage = ectui(home, "price", "set", "--vcpu-hour", "1")
    assert usage.returncode == 2 and "--ram-gb-hour" in usage.stderr
    done = ectui(home, "price", "set", "--vcpu-hour", "0.01", "--ram-gb-hour", "0.005", "--ip-hour", "0.02",
                 "--from", "2025-01-01")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Price effective from 2025-01-01: vCPU-hour 0.0100" in done.stdout
    later = ectui(home, "price", "set", "--vcpu-hour", "0.03", "--ram-gb-hour", "0.005", "--ip-hour", "0.02",
                  "--from", "2025-04-01", "--json")  # fmt: skip
    assert json.loads(later.stdout)["vcpu_hour"] == "0.0300"
    listed = ectui(home, "price", "list", "--json")
    assert [(p["effective_from"], p["effective_to"], p["vcpu_hour"]) for p in json.loads(listed.stdout)] == [
        ("2025-01-01", "2025-04-01", "0.0100"),
        ("2025-04-01", None, "0.0300"),
    ]
    text = ectui(home, "price", "list").stdout
    assert "2025-01-01  2025-04-01  0.0100" in text


def test_bill_text_json_and_csv(home: Path, tmp_path: Path) -> None:
    assert ectui(home, "price", "set", "--vcpu-hour", "0.01", "--ram-gb-hour", "0.005", "--ip-hour", "0.02",
                 "--from", "2025-01-01").returncode == 0  # fmt: skip
    # 240 h of 2 vCPU / 4 GB / 1 IP: 2·240·0.01 = 4.80; 4·240·0.005 = 4.80; 1·240·0.02 = 4.80 → 14.40
    shown = ectui(home, "bill", "--project", "web", "--month", "2025-03")
    assert shown.returncode == 0, shown.stderr
    assert "Bill of project web for 2025-03" in shown.stdout
    assert "vCPU 4.80 · RAM 4.80 · public IP 4.80 · total 14.40" in shown.stdout
    assert "app" in shown.stdout and "240.0000" in shown.stdout
    target = tmp_path / "bill.csv"
    as_json = ectui(home, "bill", "--project", "web", "--month", "2025-03", "--json", "--csv", target)
    data = json.loads(as_json.stdout)
    assert data["totals"] == {"vcpu": "4.80", "ram": "4.80", "ip": "4.80", "total": "14.40"}
    assert data["csv"] == str(target) and data["lines"][0]["hours"] == "240.0000"
    with target.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["vm"] for r in rows] == ["app", "TOTAL"] and rows[-1]["total"] == "14.40"
    empty = ectui(home, "bill", "--project", "web", "--month", "2025-02")
    assert "No usage metered in this month." in empty.stdout and "total 0.00" in empty.stdout


def test_bill_refusals(home: Path) -> None:
    bad = ectui(home, "bill", "--project", "web", "--month", "03/2025")
    assert bad.returncode == 2 and "Month must be a month written YYYY-MM" in bad.stderr
    missing = ectui(home, "bill", "--project", "nosuch", "--month", "2025-03")
    assert missing.returncode == 1 and "No project named 'nosuch'" in missing.stderr


def test_refused_without_the_billing_module(tmp_path: Path) -> None:
    console = licensed_home(tmp_path, "platform")
    for args in (("price", "list"), ("bill", "--project", "web", "--month", "2025-03"),
                 ("price", "set", "--vcpu-hour", "1", "--ram-gb-hour", "1", "--ip-hour", "1")):  # fmt: skip
        refused = ectui(console, *args)
        assert (
            refused.returncode == 1
            and "The 'billing' feature is not in this license's edition" in refused.stderr
        )
