"""CLI read benchmark: `ectui vm list` / `ectui image list` against the `openstack` client, whole processes.

Run: ``.venv/bin/python bench/cli_bench.py [--runs 5] [--keep DIR]``.
Prints a table and writes bench/results/cli_bench.json. A dev cloud runs in a thread of this process
(ectui.devcloud.run_in_thread); a licensed console home gets cluster dc1, a template, project bench and
5 VMs. Then each command runs as a fresh process, side by side in one run (interleaved, median of N):
- `ectui vm list --json` (and `-f json` when the CLI has that option) vs
  `openstack --os-cloud devcloud server list -f json`;
- `ectui image list` vs `openstack image list`.
ectui reads its database (no cloud call); `openstack` asks the cloud. The ratio is ectui / openstack
(target <= 0.3x). Shown for reference: `ectui vm list --refresh --json` (asks the clouds first), and the
floors `python -c pass`, `python -c 'import ectui.db.reads'` (SQLAlchemy Core: what the quick reads of
`vm list` and `image list` load) and `python -c 'import ectui.db.models'` (the ORM and the mapped tables,
which every other database read needs).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
RESULTS = ROOT / "bench" / "results" / "cli_bench.json"
PASSWORD = "Bench!pass1"
TARGET_RATIO = 0.3
VMS = 5


async def _console(home: Path, state: Path) -> None:
    """vms_bench's licensed console (cluster dc1, template cirros, project bench) plus 5 VMs."""
    from vms_bench import licensed_console

    from ectui.services.vms import VmDraft

    console = await licensed_console(home, state)
    try:
        template = (await console.vms.form_choices()).templates[0].id
        for i in range(VMS):
            draft = VmDraft.parse(
                name=f"vm-{i}", template_id=template, placement="manual", node=f"node-{i % 3 + 1}",
                login="password", password=PASSWORD, password_confirm=PASSWORD, cpu=1, ram_gb=1,
                network="private", public_ip=False,
            )  # fmt: skip
            await console.vms.create(draft)
    finally:
        console.close()


def _has_format_option(env: dict[str, str]) -> bool:
    """True when `ectui vm list` takes `-f` (an output format option)."""
    out = subprocess.run(
        [sys.executable, "-m", "ectui", "vm", "list", "--help"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.returncode == 0 and any(part.startswith("-f") for part in out.stdout.split())


def _run_once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"benchmark command failed: {' '.join(cmd)}\n{proc.stdout[-1000:]}{proc.stderr[-2000:]}"
        )
    return elapsed


def _interleaved(commands: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, float]:
    """Median wall time of each command, run round-robin (one warm-up round first)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, (cmd, env) in commands.items():
            elapsed = _run_once(cmd, env)
            if round_:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def _vm_count(cmd: list[str], env: dict[str, str]) -> int:
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    return len(data["vms"] if isinstance(data, dict) else data)


def bench(root: Path, runs: int) -> dict[str, Any]:
    from ectui.devcloud import Timings, run_in_thread

    handle = run_in_thread(root / "cloud", timings=Timings.fast(0.05), ftp=False)
    try:
        asyncio.run(_console(root / "home", handle.clouds_yaml.parent))
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
        base.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed: byte code cached
        ectui_env = {**base, "ECTUI_HOME": str(root / "home" / "console"), "ECTUI_LANG": "en",
                     "ECTUI_OPERATOR": "bench"}  # fmt: skip
        os_env = {**base, "OS_CLIENT_CONFIG_FILE": str(handle.clouds_yaml)}
        ectui = [sys.executable, "-m", "ectui"]
        openstack = [shutil.which("openstack", path=str(Path(sys.executable).parent)) or "openstack"]
        openstack += ["--os-cloud", "devcloud"]
        pairs: list[tuple[str, str]] = [
            ("ectui vm list --json", "openstack server list -f json"),
            ("ectui image list", "openstack image list"),
        ]
        commands = {
            "ectui vm list --json": (ectui + ["vm", "list", "--json"], ectui_env),
            "openstack server list -f json": (openstack + ["server", "list", "-f", "json"], os_env),
            "ectui image list": (ectui + ["image", "list"], ectui_env),
            "openstack image list": (openstack + ["image", "list"], os_env),
            "ectui vm list --refresh --json": (ectui + ["vm", "list", "--refresh", "--json"], ectui_env),
            "python -c pass": ([sys.executable, "-c", "pass"], base),
            # the floor of the quick reads: SQLAlchemy Core and the console's engine
            "python -c 'import ectui.db.reads'": ([sys.executable, "-c", "import ectui.db.reads"], base),
            # the floor of any read through the ORM: SQLAlchemy and the console's mapped tables
            "python -c 'import ectui.db.models'": ([sys.executable, "-c", "import ectui.db.models"], base),
        }
        if _has_format_option(ectui_env):
            commands["ectui vm list -f json"] = (ectui + ["vm", "list", "-f", "json"], ectui_env)
            pairs.insert(1, ("ectui vm list -f json", "openstack server list -f json"))
        listed = _vm_count(commands["ectui vm list --json"][0], ectui_env)
        cloud_listed = _vm_count(commands["openstack server list -f json"][0], os_env)
        if listed != VMS or cloud_listed != VMS:
            raise SystemExit(f"expected {VMS} VMs, ectui listed {listed} and openstack {cloud_listed}")
        medians = _interleaved(commands, runs)
    finally:
        handle.stop()
    return {
        "medians_s": {name: round(value, 4) for name, value in medians.items()},
        "pairs": [
            {
                "ectui": ours,
                "openstack": theirs,
                "ectui_s": round(medians[ours], 4),
                "openstack_s": round(medians[theirs], 4),
                "ratio": round(medians[ours] / medians[theirs], 3),
                "target_ratio": TARGET_RATIO,
                "ok": medians[ours] / medians[theirs] <= TARGET_RATIO,
            }
            for ours, theirs in pairs
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    parser.add_argument("--keep", type=Path, help="build the homes here and keep them (default: a temp dir)")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = bench(args.keep, args.runs)
    else:
        with tempfile.TemporaryDirectory(prefix="ectui-cli-bench-") as tmp:
            results = bench(Path(tmp), args.runs)
    width = max(len(name) for name in results["medians_s"])
    print(f"{'command (median of ' + str(args.runs) + ')':<{width}}  {'seconds':>8}")
    for name, seconds in results["medians_s"].items():
        print(f"{name:<{width}}  {seconds:>8.3f}")
    print()
    print(f"{'ectui':<24} {'openstack':<31} {'ectui':>7} {'openstack':>9} {'ratio':>6}  target")
    for pair in results["pairs"]:
        verdict = "ok" if pair["ok"] else "MISSED"
        print(
            f"{pair['ectui']:<24} {pair['openstack']:<31} {pair['ectui_s']:>6.3f}s {pair['openstack_s']:>8.3f}s "
            f"{pair['ratio']:>5.2f}x  <= {TARGET_RATIO}x {verdict}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "runs": args.runs,
        "vms": VMS,
        **results,
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
