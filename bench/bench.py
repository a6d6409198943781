"""Benchmarks of the license slice: prints a table and writes bench/results/latest.json.

Measured (median of N runs, wall clock, on this machine):
- `ectui --version` as a fresh process, against `python -c pass` (the floor of any Python CLI);
- cold start to an interactive first screen, headless, for the console and the issuer app;
- license export (.ec + constant.properties) and import, through the services.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def _median_process(cmd: list[str], env: dict[str, str], *, until: str | None = None) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        if until is None:
            proc.communicate()
        else:
            assert proc.stdout is not None
            ready = False
            for line in proc.stdout:
                if line.strip() == until:
                    ready = True
                    break
            elapsed = time.perf_counter() - start
            _out, err = proc.communicate()
            if not ready:
                raise SystemExit(f"benchmark probe never became ready: {' '.join(cmd)}\n{err[-2000:]}")
            times.append(elapsed)
            continue
        if proc.returncode != 0:
            raise SystemExit(f"benchmark command failed: {' '.join(cmd)}")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _license_ops(home: Path) -> tuple[float, float, float]:
    from ectui.config import Settings
    from ectui.services import build_console_services, build_issuer_services
    from ectui.services.issuer import EditionDraft, LicenseDraft

    issuer = build_issuer_services(Settings.from_env({"ECTUI_HOME": str(home / "issuer")}))
    await issuer.start()
    await issuer.issuer.create_edition(
        EditionDraft.parse(
            name="Bench", max_clusters="3", max_nodes="50", storage="local,shared", features="platform"
        )
    )
    creates, exports, imports = [], [], []
    today = dt.date.today()
    for i in range(RUNS):
        start = time.perf_counter()
        lic = await issuer.issuer.create_license(
            LicenseDraft.parse(
                customer=f"Bench {i}",
                edition="Bench",
                valid_from=today.isoformat(),
                valid_to=(today + dt.timedelta(days=365)).isoformat(),
            )
        )
        creates.append(time.perf_counter() - start)
        out = home / f"out{i}"
        start = time.perf_counter()
        await issuer.issuer.export_license(lic.id, out / "a.ec", out / "constant.properties")
        exports.append(time.perf_counter() - start)
        console = build_console_services(Settings.from_env({"ECTUI_HOME": str(home / f"console{i}")}))
        await console.start()
        start = time.perf_counter()
        await console.license.import_license(out / "a.ec", out / "constant.properties")
        imports.append(time.perf_counter() - start)
        console.close()
    issuer.close()
    return statistics.median(creates), statistics.median(exports), statistics.median(imports)


def main() -> int:
    """Run every benchmark, print the table, write the JSON."""
    results: dict[str, dict[str, float | str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {**os.environ, "ECTUI_HOME": str(home / "apps"), "NO_COLOR": "1"}
        # measure as installed: byte code cached (some shells export PYTHONDONTWRITEBYTECODE=1)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        floor = _median_process([sys.executable, "-c", "pass"], env)
        version = _median_process([sys.executable, "-m", "ectui", "--version"], env)
        results["python -c pass"] = {"seconds": floor, "target": ""}
        results["ectui --version"] = {
            "seconds": version,
            "target": "< 0.15 s",
            "ratio_to_python": version / floor,
        }
        # the first start migrates and makes keys; the measured runs are cold processes on an existing home
        for which in ("console", "issuer"):
            probe = [sys.executable, str(ROOT / "bench" / "first_screen.py"), which]
            _median_process(probe, env, until="READY")
            seconds = _median_process(probe, env, until="READY")
            results[f"{which}: first screen (headless)"] = {"seconds": seconds, "target": "< 0.5 s"}
        create, export, imp = asyncio.run(_license_ops(home / "ops"))
        results["issuer: create license (RSA-3072)"] = {"seconds": create, "target": ""}
        results["issuer: export .ec + properties"] = {"seconds": export, "target": ""}
        results["console: import .ec"] = {"seconds": imp, "target": ""}
    width = max(len(k) for k in results)
    print(f"{'benchmark':<{width}}  {'median':>9}  target")
    for name, row in results.items():
        print(f"{name:<{width}}  {row['seconds'] * 1000:7.1f}ms  {row['target']}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "runs": RUNS,
        "results": results,
    }
    (out / "latest.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
