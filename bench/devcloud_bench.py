"""Dev cloud benchmark: 1 GiB image upload (openstacksdk vs curl) and listing 10,000 images via the SDK.

Run: ``.venv/bin/python bench/devcloud_bench.py [--size-mib 1024] [--images 10000]``.
Prints a table and writes bench/results/devcloud.json. The dev cloud runs in its own process
(``python -m ectui.devcloud``), so the client and the server do not share a GIL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import openstack
import openstack.config
import openstack.connection

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "devcloud.json"


def _rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(state: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ectui.devcloud", "--state", str(state), "--fast"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith("# dev cloud on "):
        proc.kill()
        raise SystemExit(f"devcloud did not start: {first}{proc.stderr.read() if proc.stderr else ''}")
    return proc, first.split()[4]


def _connect(state: Path) -> openstack.connection.Connection:
    config = openstack.config.OpenStackConfig(config_files=[str(state / "clouds.yaml")])
    return openstack.connection.Connection(config=config.get_one(cloud="devcloud"))


def bench_upload(
    conn: openstack.connection.Connection, path: Path, size: int, runs: int, server_pid: int
) -> dict[str, Any]:
    """Upload the same file through openstacksdk and through curl (best of `runs` each); MB/s and ratio."""
    token = conn.session.get_token()
    endpoint = conn.image.get_endpoint().rstrip("/")
    if not endpoint.endswith("/v2"):
        endpoint += "/v2"
    sdk_times, curl_times = [], []
    for run in range(runs):
        t0 = time.perf_counter()
        image = conn.image.create_image(f"bench-sdk-{run}", filename=str(path), disk_format="raw",
                                        container_format="bare", allow_duplicates=True)  # fmt: skip
        sdk_times.append(time.perf_counter() - t0)
        assert conn.image.get_image(image).size == size
        conn.image.delete_image(image)

        cpu0 = _cpu_seconds(server_pid)
        queued = conn.image.create_image(f"bench-curl-{run}", disk_format="raw", container_format="bare",
                                         allow_duplicates=True)  # fmt: skip
        cmd = ["curl", "-sS", "-f", "-T", str(path), "-X", "PUT", "-H", f"X-Auth-Token: {token}",
               "-H", "Content-Type: application/octet-stream", f"{endpoint}/images/{queued.id}/file"]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        curl_times.append(time.perf_counter() - t0)
        server_cpu = _cpu_seconds(server_pid) - cpu0
        assert conn.image.get_image(queued).size == size
        conn.image.delete_image(queued)
    sdk_s, curl_s = min(sdk_times), min(curl_times)
    mb = size / 1e6
    return {
        "size_bytes": size,
        "runs": runs,
        "sdk_seconds": round(sdk_s, 3),
        "curl_seconds": round(curl_s, 3),
        "sdk_seconds_all": [round(t, 3) for t in sdk_times],
        "curl_seconds_all": [round(t, 3) for t in curl_times],
        "sdk_mb_per_s": round(mb / sdk_s, 1),
        "curl_mb_per_s": round(mb / curl_s, 1),
        "sdk_vs_curl_throughput_ratio": round(curl_s / sdk_s, 3),
        "server_cpu_seconds_per_curl_upload": round(server_cpu, 3),
    }


def bench_list(conn: openstack.connection.Connection, url: str, count: int) -> dict[str, Any]:
    """Create `count` images through the admin bulk endpoint, then list them all through the SDK."""
    req = urllib.request.Request(
        url + "/_admin/images/bulk", data=json.dumps({"count": count, "prefix": "bench-list-"}).encode(),
        method="POST", headers={"Content-Type": "application/json"},
    )  # fmt: skip
    t0 = time.perf_counter()
    urllib.request.urlopen(req, timeout=600).read()
    bulk_s = time.perf_counter() - t0
    out: dict[str, Any] = {"images": count, "bulk_create_seconds": round(bulk_s, 3)}
    for label, kwargs in (("sdk_default_pages", {}), ("sdk_limit_1000", {"limit": 1000})):
        t0 = time.perf_counter()
        names = [i.name for i in conn.image.images(**kwargs)]
        seconds = time.perf_counter() - t0
        found = sum(1 for n in names if n and n.startswith("bench-list-"))
        assert found == count, (label, found)
        out[f"{label}_seconds"] = round(seconds, 3)
    # server side only: one raw page of 1000 (the cost of the dev cloud itself)
    t0 = time.perf_counter()
    pages = 0
    path = "/images?limit=1000"
    while path:
        body = conn.image.get(path).json()
        pages += 1
        nxt = body.get("next")
        path = nxt[3:] if nxt else None  # "/v2/images?..." -> "/images?..."
    out["raw_http_limit_1000_seconds"] = round(time.perf_counter() - t0, 3)
    out["raw_http_pages"] = pages
    return out


def main() -> int:
    """Run both benchmarks, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024, help="upload size (default 1024 MiB)")
    parser.add_argument("--images", type=int, default=10_000, help="images to list (default 10000)")
    parser.add_argument(
        "--runs", type=int, default=2, help="uploads per client; the best one counts (default 2)"
    )
    args = parser.parse_args()
    if shutil.which("curl") is None:
        print("devcloud_bench: curl is required", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="devcloud-bench-"))
    proc, url = _start(tmp / "state")
    try:
        conn = _connect(tmp / "state")
        size = args.size_mib * 1024 * 1024
        src = tmp / "zero.raw"
        with open(src, "wb") as fh:  # sparse: no disk blocks, reads as zeros
            fh.truncate(size)
        rss_before = _rss_peak_mib(proc.pid)
        upload = bench_upload(conn, src, size, args.runs, proc.pid)
        upload["server_peak_rss_mib_before"] = round(rss_before, 1)
        upload["server_peak_rss_mib_after"] = round(_rss_peak_mib(proc.pid), 1)
        src.unlink()
        listing = bench_list(conn, url, args.images)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "upload": upload,
        "list": listing,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    rows = [
        ("upload size", f"{size / 2**20:.0f} MiB"),
        ("openstacksdk upload", f"{upload['sdk_seconds']:.2f} s  ({upload['sdk_mb_per_s']:.0f} MB/s)"),
        ("curl -T upload", f"{upload['curl_seconds']:.2f} s  ({upload['curl_mb_per_s']:.0f} MB/s)"),
        ("sdk/curl throughput", f"{upload['sdk_vs_curl_throughput_ratio']:.2f}"),
        ("server CPU per upload (md5+sha512+write)", f"{upload['server_cpu_seconds_per_curl_upload']:.2f} s"),
        (
            "server peak RSS",
            f"{upload['server_peak_rss_mib_before']:.0f} -> {upload['server_peak_rss_mib_after']:.0f} MiB",
        ),
        (f"list {args.images} images, SDK default pages", f"{listing['sdk_default_pages_seconds']:.2f} s"),
        (f"list {args.images} images, SDK limit=1000", f"{listing['sdk_limit_1000_seconds']:.2f} s"),
        (
            f"list {args.images} images, raw HTTP limit=1000",
            f"{listing['raw_http_limit_1000_seconds']:.2f} s",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
