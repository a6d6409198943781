"""Images benchmark: 1 GiB upload through ImageService vs curl, sync of 10,000 images, filter keystroke latency.

Run: ``.venv/bin/python bench/images_bench.py [--size-mib 1024] [--images 10000] [--runs 2]``.
Prints a table and writes bench/results/images.json. The dev cloud runs in its own process, and the
service upload runs in a child process of its own so that its peak RSS (VmHWM) is measured alone.
Targets: upload ratio >= 0.9 and peak RSS growth < 64 MB; sync < 3 s; keystroke < 50 ms (median).
IMAGES_BENCH_PROFILE=1 prints a cProfile of the keystroke loop and the per-key timings.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
RESULTS = ROOT / "bench" / "results" / "images.json"

from devcloud_bench import _connect, _start  # noqa: E402 - after the path is set


def _settings(home: Path) -> Any:
    from ectui.config import Settings

    return Settings.from_env({"ECTUI_HOME": str(home), "ECTUI_OPERATOR": "bench"}, lang="en")


async def _prepare(home: Path, state: Path) -> None:
    """A licensed console at `home` with the dev cloud as cluster dc1."""
    from ectui.services import build_console_services, build_issuer_services
    from ectui.services.clusters import ClusterDraft
    from ectui.services.issuer import EditionDraft, LicenseDraft

    issuer = build_issuer_services(_settings(home / "issuer"))
    await issuer.start()
    try:
        await issuer.issuer.create_edition(
            EditionDraft.parse(
                name="Bench", max_clusters="2", max_nodes="10", storage="local", features="platform"
            )
        )
        today = dt.date.today()
        lic = await issuer.issuer.create_license(
            LicenseDraft.parse(
                customer="Bench",
                edition="Bench",
                valid_from=today.isoformat(),
                valid_to=(today + dt.timedelta(days=30)).isoformat(),
            )
        )
        out = await issuer.issuer.export_license(lic.id, home / "b.ec", home / "b.properties")
    finally:
        issuer.close()
    console = build_console_services(_settings(home / "console"))
    await console.start()
    try:
        await console.license.import_license(out.ec_path, out.properties_path)
        import yaml  # openstacksdk's dependency

        auth = yaml.safe_load((state / "clouds.yaml").read_text())["clouds"]["devcloud"]["auth"]
        await console.clusters.add(
            ClusterDraft.parse(
                name="dc1",
                storage_mode="local",
                auth_url=auth["auth_url"],
                username=auth["username"],
                password=auth["password"],
                project=auth["project_name"],
                region="RegionOne",
            )
        )
    finally:
        console.close()


CHILD = r"""
import asyncio, json, sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[3] + "/bench", sys.argv[3]]
from images_bench import _settings
from ectui.services import build_console_services
from ectui.services.images import ImageUpload

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            yield line.split(":")[0], int(line.split()[1]) * 1024

async def main():
    services = build_console_services(_settings(Path(sys.argv[1])))
    await services.start()
    request = ImageUpload.parse(path=sys.argv[2], cluster="dc1", name="bench-service", disk_format="raw")
    await services.images.list_all()
    await services.clusters.connections.call(1, lambda conn: conn.authorize())  # token and catalog first
    before = dict(hwm())
    t0 = time.perf_counter()
    image = await services.images.upload(request)
    seconds = time.perf_counter() - t0
    after = dict(hwm())
    await services.images.delete(image.id)
    services.close()
    print(json.dumps({"seconds": seconds, "size": image.size, "rss_before": before["VmRSS"],
                      "hwm_before": before["VmHWM"], "hwm_after": after["VmHWM"]}))

asyncio.run(main())
"""


def bench_upload(home: Path, state: Path, path: Path, size: int, runs: int) -> dict[str, Any]:
    """ImageService (child process) vs curl -T to the same Glance endpoint; best of `runs`."""
    conn = _connect(state)
    token = conn.session.get_token()
    endpoint = conn.image.get_endpoint().rstrip("/")
    if not endpoint.endswith("/v2"):
        endpoint += "/v2"
    service_runs: list[dict[str, Any]] = []
    curl_times: list[float] = []
    env = {**os.environ, "ECTUI_HOME": str(home / "console")}
    for run in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(home / "console"), str(path), str(ROOT)],
            capture_output=True, text=True, env=env, check=False, cwd=ROOT,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"service upload failed: {done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["size"] == size
        service_runs.append(result)

        queued = conn.image.create_image(
            f"bench-curl-{run}", disk_format="raw", container_format="bare", allow_duplicates=True
        )
        cmd = ["curl", "-sS", "-f", "-T", str(path), "-X", "PUT", "-H", f"X-Auth-Token: {token}",
               "-H", "Content-Type: application/octet-stream", f"{endpoint}/images/{queued.id}/file"]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        curl_times.append(time.perf_counter() - t0)
        assert conn.image.get_image(queued).size == size
        conn.image.delete_image(queued)
    service_s = min(r["seconds"] for r in service_runs)
    curl_s = min(curl_times)
    growth = max(r["hwm_after"] - r["rss_before"] for r in service_runs)
    mb = size / 1e6
    return {
        "size_bytes": size,
        "runs": runs,
        "service_seconds": round(service_s, 3),
        "curl_seconds": round(curl_s, 3),
        "service_seconds_all": [round(r["seconds"], 3) for r in service_runs],
        "curl_seconds_all": [round(t, 3) for t in curl_times],
        "service_mb_per_s": round(mb / service_s, 1),
        "curl_mb_per_s": round(mb / curl_s, 1),
        "service_vs_curl_throughput_ratio": round(curl_s / service_s, 3),
        "peak_rss_growth_mb": round(growth / 1e6, 1),
        "rss_before_upload_mb": round(min(r["rss_before"] for r in service_runs) / 1e6, 1),
    }


async def bench_sync(home: Path, url: str, count: int) -> dict[str, Any]:
    """Bulk-create `count` images, then sync them all (first run inserts, second updates)."""
    from ectui.services import build_console_services

    req = urllib.request.Request(
        url + "/_admin/images/bulk", data=json.dumps({"count": count, "prefix": "bench-"}).encode(),
        method="POST", headers={"Content-Type": "application/json"},
    )  # fmt: skip
    await asyncio.to_thread(lambda: urllib.request.urlopen(req, timeout=600).read())
    services = build_console_services(_settings(home / "console"))
    await services.start()
    try:
        await services.clusters.connections.call(1, lambda conn: conn.authorize())
        t0 = time.perf_counter()
        first = await services.images.sync("dc1")
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = await services.images.sync("dc1")
        second_s = time.perf_counter() - t0
    finally:
        services.close()
    assert first.added >= count and second.added == 0
    return {
        "images": first.total,
        "pages": first.pages,
        "first_sync_seconds": round(first_s, 3),
        "resync_seconds": round(second_s, 3),
    }


async def bench_filter(home: Path, count: int) -> dict[str, Any]:
    """Headless Pilot: median time from a filter key press until the table shows the new rows."""
    from textual import events
    from textual.geometry import Region
    from textual.widgets import Input

    from ectui.app import ConsoleApp
    from ectui.screens._base import DomainScreen
    from ectui.screens.images import ImagesScreen, ImageTable
    from ectui.services import build_console_services

    services = build_console_services(_settings(home / "console"))
    app = ConsoleApp(services)
    samples: list[float] = []
    filtered: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(500):
            await pilot.pause()
            if isinstance(app.screen, DomainScreen):
                break
        await app.switch_mode("images")
        table: ImageTable | None = None
        for _ in range(2000):
            await pilot.pause()
            if isinstance(app.screen, ImagesScreen):
                table = app.screen.query_one(ImageTable)
                if table.total >= count:
                    break
        assert table is not None and table.total >= count, "images not loaded"
        rows = table.total
        await pilot.press("slash")
        filter_input = app.screen.query_one("#images-filter", Input)
        assert filter_input.has_focus

        done_at: list[float] = []
        original_filter = table.filter

        def timed_filter(needle: str) -> None:
            original_filter(needle)
            done_at.append(time.perf_counter())

        table.filter = timed_filter  # type: ignore[method-assign]

        async def keystroke(key: str, character: str | None) -> tuple[float, float] | None:
            """Key event → Input → Changed → filter applied (stamped inside the handler), then the repaint
            of the table's visible lines. Stamping inside the handler keeps the wait of this polling loop
            (other tasks run between its yields) out of the figure."""
            done_at.clear()
            t0 = time.perf_counter()
            filter_input.post_message(events.Key(key, character))
            for _ in range(100_000):
                if done_at:
                    break
                await asyncio.sleep(0)
            if not done_at:  # the key changed nothing (backspace in an empty field)
                return None
            updated = done_at[0] - t0
            t1 = time.perf_counter()
            table.render_lines(Region(0, 0, table.size.width, table.size.height))
            return updated, updated + time.perf_counter() - t1

        import cProfile
        import pstats

        profiler = cProfile.Profile()
        if os.environ.get("IMAGES_BENCH_PROFILE"):
            profiler.enable()
        for text in ("bench-0", "bench-00", "bench-001", "bench-0012", "bench-00123"):
            for key in text[len(table.needle) :]:
                measured = await keystroke("minus" if key == "-" else key, key)
                if measured is not None:
                    filtered.append(measured[0])
                    samples.append(measured[1])
            await pilot.pause()
            assert table.names() and all(n.startswith(text) for n in table.names()[:5]), text
        for _ in range(11):
            measured = await keystroke("backspace", None)
            if measured is not None:
                filtered.append(measured[0])
                samples.append(measured[1])
        profiler.disable()
        if os.environ.get("IMAGES_BENCH_PROFILE"):
            pstats.Stats(profiler).sort_stats("cumtime").print_stats(40)
        await pilot.pause()
        t0 = time.perf_counter()
        await pilot.press("x")
        pilot_press = time.perf_counter() - t0
        shown = table.row_count
    services.close()
    return {
        "rows": rows,
        "keystrokes": len(samples),
        "median_ms": round(statistics.median(samples) * 1000, 2),
        "median_filter_only_ms": round(statistics.median(filtered) * 1000, 2),
        "pilot_press_ms": round(pilot_press * 1000, 1),
        "p90_ms": round(sorted(samples)[int(len(samples) * 0.9)] * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
        "rows_after_clear": shown,
    }


def main() -> int:
    """Run the benchmarks, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024, help="upload size (default 1024 MiB)")
    parser.add_argument("--images", type=int, default=10_000, help="images to sync (default 10000)")
    parser.add_argument("--runs", type=int, default=2, help="uploads per client; the best counts (default 2)")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        print("images_bench: curl is required", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="images-bench-"))
    state, home = tmp / "state", tmp / "home"
    proc, url = _start(state)
    try:
        asyncio.run(_prepare(home, state))
        size = args.size_mib * 1024 * 1024
        src = tmp / "sparse.raw"
        with open(src, "wb") as fh:  # sparse: no disk blocks, reads as zeros
            fh.truncate(size)
        upload = bench_upload(home, state, src, size, args.runs)
        src.unlink()
        sync = asyncio.run(bench_sync(home, url, args.images))
        keystroke = asyncio.run(bench_filter(home, args.images))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "upload": upload,
        "sync": sync,
        "filter_keystroke": keystroke,
        "targets": {"upload_ratio": 0.9, "peak_rss_growth_mb": 64, "sync_seconds": 3, "keystroke_ms": 50},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    rows = [
        ("upload size", f"{size / 2**20:.0f} MiB"),
        (
            "ImageService upload",
            f"{upload['service_seconds']:.2f} s  ({upload['service_mb_per_s']:.0f} MB/s)",
        ),
        ("curl -T upload", f"{upload['curl_seconds']:.2f} s  ({upload['curl_mb_per_s']:.0f} MB/s)"),
        ("service/curl throughput (target >= 0.9)", f"{upload['service_vs_curl_throughput_ratio']:.2f}"),
        ("peak RSS growth (target < 64 MB)", f"{upload['peak_rss_growth_mb']:.1f} MB"),
        (f"sync {sync['images']} images, first (target < 3 s)", f"{sync['first_sync_seconds']:.2f} s"),
        (f"sync {sync['images']} images, again", f"{sync['resync_seconds']:.2f} s"),
        (
            f"filter keystroke, {keystroke['rows']} rows (target < 50 ms)",
            f"median {keystroke['median_ms']:.1f} ms, p90 {keystroke['p90_ms']:.1f} ms",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
