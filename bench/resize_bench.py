"""Resize benchmark: orchestration overhead of a cold resize beyond the dev cloud's configured state times.

Run: ``.venv/bin/python bench/resize_bench.py [--stop 0.5] [--resize 1.0] [--confirm 0.2] [--start 0.5] [--runs 5]``.
Prints a table and writes bench/results/resize.json. The dev cloud runs in its own process (as in
vms_bench.py) with the given state times; the console runs here, through ResizeService. Each run resizes a
running VM (cold: stop → resize → VERIFY_RESIZE → confirm → start, plus the ten persisted steps, the Nova
lock and the instance-action check); overhead = wall time of `resize()` minus stop + resize + confirm +
start (target < 1 s). Runs alternate between growing and shrinking the same VM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
RESULTS = ROOT / "bench" / "results" / "resize.json"

CLOUD = r"""
import asyncio, dataclasses, json, signal, sys
from pathlib import Path
from ectui.devcloud import DevCloud, Timings

async def main():
    timings = dataclasses.replace(Timings.fast(0.05), **json.loads(sys.argv[2]))
    cloud = DevCloud(Path(sys.argv[1]), timings=timings, ftp=False)
    port = await cloud.start("127.0.0.1", 0)
    cloud.write_client_files()
    print(f"ready {port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await cloud.stop()

asyncio.run(main())
"""


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import subprocess

    import vms_bench

    from ectui.services.vms import VmDraft

    times = {"stop": args.stop, "resize": args.resize, "confirm": args.confirm, "start": args.start}
    configured = sum(times.values())
    with tempfile.TemporaryDirectory(prefix="ectui-resize-bench-") as tmp:
        state, home = Path(tmp) / "cloud", Path(tmp) / "home"
        proc = subprocess.Popen(  # noqa: ASYNC220  (started once, before any timing)
            [sys.executable, "-c", CLOUD, str(state), json.dumps(times)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert proc.stdout is not None
        if not proc.stdout.readline().startswith("ready"):
            raise SystemExit("dev cloud did not start")
        try:
            console = await vms_bench._console(home, state)
            template = (await console.vms.form_choices()).templates[0].id
            password = vms_bench.PASSWORD
            vm = await console.vms.create(
                VmDraft.parse(
                    name="bench-rz",
                    template_id=template,
                    placement="manual",
                    node="node-1",
                    login="password",
                    password=password,
                    password_confirm=password,
                    cpu=1,
                    ram_gb=1,
                    network="private",
                )  # fmt: skip
            )
            walls: list[float] = []
            for i in range(args.runs):
                spec = (2, 2) if i % 2 == 0 else (1, 1)
                plan = await console.resize.plan(vm.id, *spec, "cold")
                started = time.perf_counter()
                op = await console.resize.resize(plan)
                walls.append(time.perf_counter() - started)
                assert op.state == "done", op.error
            console.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    overheads = [w - configured for w in walls]
    return {
        "configured_state_seconds": configured,
        "state_times": times,
        "runs": args.runs,
        "wall_seconds": [round(w, 3) for w in walls],
        "overhead_median_seconds": round(statistics.median(overheads), 3),
        "overhead_max_seconds": round(max(overheads), 3),
        "target_seconds": 1.0,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main() -> int:
    """Run the benchmark, print the table, write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop", type=float, default=0.5)
    parser.add_argument("--resize", type=float, default=1.0)
    parser.add_argument("--confirm", type=float, default=0.2)
    parser.add_argument("--start", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=5)
    results = asyncio.run(run(parser.parse_args()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'cold resize':<14}{'state times':>12}{'median overhead':>18}{'max overhead':>15}{'target':>8}")
    print(
        f"{'(' + str(results['runs']) + ' runs)':<14}{results['configured_state_seconds']:>11.2f}s"
        f"{results['overhead_median_seconds']:>17.3f}s{results['overhead_max_seconds']:>14.3f}s{'< 1 s':>8}"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
