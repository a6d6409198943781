"""ISO upload benchmark: 1 GiB over FTP through IsoService vs `curl -T`, against the same pyftpdlib server.

Run: ``.venv/bin/python bench/isos_bench.py [--size-mib 1024] [--runs 3]``.
Prints a table and writes bench/results/isos.json. The FTP server (pyftpdlib) runs in its own
process; each service upload runs in a fresh subprocess, whose peak RSS growth (VmHWM after the
upload minus VmRSS before it) is what the upload costs in memory. Targets: ratio >= 1.0, growth < 64 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "isos.json"
USER, PASSWORD = "bench", "bench-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _start_server(root: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(port), "-w", "-d", str(root),
         "-u", USER, "-P", PASSWORD],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("pyftpdlib did not start")


def _make_file(path: Path, size_mib: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for _ in range(size_mib):
            fh.write(block)


def _curl(src: Path, port: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["curl", "-s", "-S", "-T", str(src), f"ftp://{USER}:{PASSWORD}@127.0.0.1:{port}/curl.iso"], check=True
    )
    return time.perf_counter() - start


async def _prepare(home: Path, port: int) -> None:
    """A licensed console with one cluster whose FTP server is the bench server."""
    import datetime as dt

    from ectui.config import Settings
    from ectui.services import build_console_services, build_issuer_services
    from ectui.services.clusters import ClusterDraft, FtpDraft
    from ectui.services.issuer import EditionDraft, LicenseDraft

    issuer = build_issuer_services(Settings.from_env({"ECTUI_HOME": str(home / "issuer")}))
    await issuer.start()
    await issuer.issuer.create_edition(
        EditionDraft.parse(
            name="Bench", max_clusters="2", max_nodes="10", storage="local,shared", features="platform"
        )
    )
    today = dt.date.today()
    lic = await issuer.issuer.create_license(
        LicenseDraft.parse(customer="Bench", edition="Bench", valid_from=today.isoformat(),
                           valid_to=(today + dt.timedelta(days=30)).isoformat())
    )  # fmt: skip
    exported = await issuer.issuer.export_license(lic.id, home / "b.ec", home / "b.properties")
    issuer.close()
    console = build_console_services(Settings.from_env({"ECTUI_HOME": str(home / "console")}))
    await console.start()
    await console.license.import_license(exported.ec_path, exported.properties_path)
    await console.clusters.add(
        ClusterDraft.parse(name="bench", storage_mode="local", auth_url="http://127.0.0.1:9/v3", username="u",
                           password="p", project="p")
    )  # fmt: skip
    await console.clusters.set_ftp("bench", FtpDraft("127.0.0.1", port, USER, PASSWORD, "/"))
    console.close()


def _child(home: Path, src: Path) -> None:
    """One upload through the service in this (fresh) process; prints seconds and memory as JSON."""
    from ectui.config import Settings
    from ectui.services import build_console_services
    from ectui.services.isos import IsoUploadRequest

    async def run() -> dict[str, Any]:
        console = build_console_services(Settings.from_env({"ECTUI_HOME": str(home / "console")}))
        await console.start()
        request = IsoUploadRequest.parse(path=src, cluster="bench")
        await console.isos.list_all()  # warm imports and the database before measuring
        before = _status_kib("VmRSS")
        reports = 0

        def progress(_p: object) -> None:
            nonlocal reports
            reports += 1

        cpu = time.process_time()
        start = time.perf_counter()
        result = await console.isos.upload(request, on_progress=progress)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        peak = _status_kib("VmHWM")
        await console.isos.delete(result.iso.id)
        console.close()
        return {"seconds": elapsed, "cpu_seconds": cpu, "rss_before_kib": before, "peak_kib": peak,
                "progress_reports": reports, "size": result.iso.size}  # fmt: skip

    print(json.dumps(asyncio.run(run())))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("HOME", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), Path(args.child[1]))
        return
    if shutil.which("curl") is None:
        raise SystemExit("curl is needed for the comparison")
    work = Path(tempfile.mkdtemp(prefix="ectui-isos-bench-"))
    share = work / "share"
    share.mkdir()
    port = _free_port()
    server = _start_server(share, port)
    try:
        src = work / "bench.iso"
        _make_file(src, args.size_mib)
        asyncio.run(_prepare(work / "home", port))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        curl_times, service_runs = [], []
        for _ in range(args.runs):
            curl_times.append(_curl(src, port))
            (share / "curl.iso").unlink()
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(work / "home"), str(src)],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                raise SystemExit(f"service upload failed:\n{out.stderr[-3000:]}")
            service_runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    size = args.size_mib << 20
    curl_s = statistics.median(curl_times)
    service_s = statistics.median(r["seconds"] for r in service_runs)
    growth_mib = max((r["peak_kib"] - r["rss_before_kib"]) / 1024 for r in service_runs)
    cpu_s = statistics.median(r["cpu_seconds"] for r in service_runs)
    result = {
        "size_mib": args.size_mib,
        "runs": args.runs,
        "curl_seconds": round(curl_s, 3),
        "curl_mib_s": round(size / curl_s / 2**20, 1),
        "service_seconds": round(service_s, 3),
        "service_mib_s": round(size / service_s / 2**20, 1),
        "service_cpu_seconds": round(cpu_s, 3),
        "ratio_service_to_curl": round(curl_s / service_s, 3),
        "peak_rss_growth_mib": round(growth_mib, 1),
        "progress_reports": service_runs[-1]["progress_reports"],
        "targets": {"ratio_min": 1.0, "rss_growth_max_mib": 64},
    }
    result["ok"] = result["ratio_service_to_curl"] >= 1.0 and growth_mib < 64
    rows = [
        ("curl -T ftp://", f"{result['curl_seconds']:.2f} s", f"{result['curl_mib_s']} MiB/s"),
        ("IsoService.upload", f"{result['service_seconds']:.2f} s", f"{result['service_mib_s']} MiB/s"),
        ("ratio (service/curl throughput)", f"{result['ratio_service_to_curl']}", "target >= 1.0"),
        ("peak RSS growth", f"{result['peak_rss_growth_mib']} MiB", "target < 64 MiB"),
        ("service CPU", f"{result['service_cpu_seconds']:.2f} s", ""),
    ]
    print(f"ISO upload of {args.size_mib} MiB over FTP (pyftpdlib), median of {args.runs}")
    for name, value, note in rows:
        print(f"  {name:<34} {value:>14}  {note}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
