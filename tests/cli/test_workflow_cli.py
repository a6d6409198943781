"""`ectui request …` through the real entry point (`python -m ectui`): list, approve (runs the create against the
dev cloud on the held quota), reject with a reason, refusals; and the refusal without the workflow module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.services.projects import Amounts
from ectui.services.workflow import Actor
from tests.kit.vms import PASSWORD, draft
from tests.kit.workflow import console_with, make_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.02))
    yield handle
    handle.stop()


def ectui(home: Path, *args: object) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
    environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en"})
    return subprocess.run(
        [sys.executable, "-m", "ectui", *map(str, args)],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_list_approve_reject_through_the_cli(
    tmp_path: Path, cloud: DevCloudHandle, settings_for: Callable[..., Any], make_license: Any
) -> None:
    env = await make_env(tmp_path, cloud, "platform,users,workflow", real_clock=True)
    try:  # operator bob asks twice (the users module gives the CLI its identity; here the services do)
        env.s.workflow.identity_provider = lambda: Actor("bob", "operator")
        first = await env.s.workflow.submit(draft(env, name="cli1", cpu="2", ram_gb="2"))
        second = await env.s.workflow.submit(draft(env, name="cli2", cpu="1", ram_gb="1"))
    finally:
        env.s.close()
    home = tmp_path / "console"

    listed = ectui(home, "request", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["requests"]
    assert [(r["id"], r["state"], r["requested_by"]) for r in rows] == [
        (second.id, "pending", "bob"), (first.id, "pending", "bob")
    ]  # fmt: skip
    assert PASSWORD not in listed.stdout and rows[0]["reserved"] == {
        "vcpus": 1,
        "ram_gb": 1,
        "vms": 1,
        "public_ips": 0,
    }
    text = ectui(home, "request", "list")
    assert "cli1: 2 vCPU, 2 GB, cirros" in text.stdout and "pending" in text.stdout

    no_reason = ectui(home, "request", "reject", first.id)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    blank = ectui(home, "request", "reject", first.id, "--reason", " ")
    assert blank.returncode == 2 and "Reason" in blank.stderr
    rejected = ectui(home, "request", "reject", first.id, "--reason", "too big", "--json")
    assert rejected.returncode == 0, rejected.stderr
    assert (
        json.loads(rejected.stdout)["state"] == "rejected"
        and json.loads(rejected.stdout)["reason"] == "too big"
    )

    approved = ectui(home, "request", "approve", second.id, "--json")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    done = json.loads(approved.stdout)
    assert done["state"] == "done" and done["vm_id"] and done["decided_by"]
    vms = json.loads(ectui(home, "vm", "list", "--all", "--no-refresh", "--json").stdout)["vms"]
    assert [(v["name"], v["vcpus"], v["project"]) for v in vms] == [("cli2", 1, "web")]
    project = json.loads(ectui(home, "project", "quota", "web", "--json").stdout)
    assert project["used"] == Amounts(1, 1, 1, 0).to_json() and project["reserved"] == Amounts().to_json()

    again = ectui(home, "request", "approve", first.id)
    assert again.returncode == 1 and f"Request {first.id} is rejected" in again.stderr
    missing = ectui(home, "request", "approve", "999")
    assert missing.returncode == 1 and "No request with id 999" in missing.stderr
    bad = ectui(home, "request", "approve", "x")
    assert bad.returncode == 2


async def test_requests_refuse_without_the_workflow_module(
    tmp_path: Path, settings_for: Callable[..., Any], make_license: Any
) -> None:
    console = await console_with(tmp_path, "platform", real_clock=True)
    console.close()
    refused = ectui(tmp_path / "console", "request", "list")
    assert refused.returncode == 1
    assert "'workflow' feature is not in this license's edition" in refused.stderr
