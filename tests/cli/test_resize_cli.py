"""`ectui vm resize` and `ectui ops …` through the real entry point (`python -m ectui`), against the dev cloud."""

# ruff: noqa: F811  (module fixtures imported from the sibling module are redefined as parameters)

from __future__ import annotations

import json
from pathlib import Path

from ectui.devcloud import DevCloudHandle
from tests.kit.cli import ectui, ok
from tests.kit.vms import PASSWORD


def test_resize_refuses_then_runs_and_ops_show_the_steps(home: Path, cloud: DevCloudHandle) -> None:
    ok(ectui(home, "project", "use", "web"))
    ok(ectui(home, "vm", "create", "--name", "rz", "--template", "cirros", "--cpu", "1", "--ram", "1",
             "--network", "private", "--password-stdin", "--node", "node-3", stdin=PASSWORD + "\n"))  # fmt: skip
    bad = ectui(home, "vm", "resize", "rz", "--cpu", "two", "--ram", "2")
    assert bad.returncode == 2 and "CPU" in bad.stderr
    hot = ectui(home, "vm", "resize", "rz", "--cpu", "2", "--ram", "2", "--hot")
    assert hot.returncode == 1 and "hw:live_resize" in hot.stderr
    asked = ectui(home, "vm", "resize", "rz", "--cpu", "2", "--ram", "2")
    assert asked.returncode == 1 and "stops it" in asked.stdout and "--yes" in asked.stdout
    quota = ectui(home, "vm", "resize", "rz", "--cpu", "9", "--ram", "2", "--yes")
    assert quota.returncode == 1 and "Not enough vCPU quota" in quota.stderr
    done = json.loads(
        ok(ectui(home, "vm", "resize", "rz", "--cpu", "2", "--ram", "2", "--yes", "--json")).stdout
    )
    assert (
        done["operation"]["state"] == "done" and done["vm"]["vcpus"] == 2 and done["vm"]["status"] == "ACTIVE"
    )
    op_id = done["operation"]["id"]
    listed = json.loads(ok(ectui(home, "ops", "list", "--json")).stdout)["operations"]
    assert [o["kind"] for o in listed][:2] == ["resize", "create_vm"]
    text = ok(ectui(home, "ops", "show", op_id)).stdout
    assert "Resize and confirm" in text and "skipped" in text and "Steps:" in text
    shown = json.loads(ok(ectui(home, "ops", "show", op_id, "--json")).stdout)
    assert [s["state"] for s in shown["steps"]].count("done") == 9
    assert ectui(home, "ops", "show", "9999").returncode == 1
    assert ectui(home, "ops", "show", "x").returncode == 2
    resumed = ok(ectui(home, "ops", "resume"))
    assert "No interrupted resize" in resumed.stdout
    cold = ok(ectui(home, "vm", "resize", "rz", "--cpu", "1", "--ram", "1", "--cold", "--yes"))
    assert "resized to 1 vCPU and 1 GB (cold" in cold.stdout
    ok(ectui(home, "vm", "delete", "rz"))
