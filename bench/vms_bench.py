"""VM benchmark: orchestration overhead of create, and the VM list refresh with 2,000 VMs.

Run: ``.venv/bin/python bench/vms_bench.py [--build 2.0] [--creates 5] [--vms 2000]``.
Prints a table and writes bench/results/vms.json. The dev cloud runs in its own process with a
configured build time (BUILD → ACTIVE); the console runs here, through VmService.
- create overhead = wall time of `VmService.create` minus the configured build time (target < 0.5 s),
  for a forced-host create and for one with a public IP;
- refresh: 2,000 servers made through the Nova API (forced host, no network, fast), 2,000 VM rows;
  the first `refresh()` lists every server (full), the next ones only `changes-since`; `list()` is the
  database view alone.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
RESULTS = ROOT / "bench" / "results" / "vms.json"
PASSWORD = "Bench!pass1"

CLOUD = r"""
import asyncio, dataclasses, signal, sys
from pathlib import Path
from ectui.devcloud import DevCloud, Timings

async def main():
    cloud = DevCloud(Path(sys.argv[1]), timings=dataclasses.replace(Timings.fast(0.05), build=float(sys.argv[2])),
                     ftp=False)
    port = await cloud.start("127.0.0.1", 0)
    cloud.write_client_files()
    print(f"ready {port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await cloud.stop()

asyncio.run(main())
"""


def _start_cloud(state: Path, build: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CLOUD, str(state), str(build)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith("ready"):
        proc.kill()
        raise SystemExit(f"dev cloud did not start: {first}{proc.stderr.read() if proc.stderr else ''}")
    return proc


def _settings(home: Path) -> Any:
    from ectui.config import Settings

    return Settings.from_env({"ECTUI_HOME": str(home), "ECTUI_OPERATOR": "bench"}, lang="en")


async def licensed_console(home: Path, state: Path) -> Any:
    """A licensed console with the dev cloud as cluster dc1, a linux template and project bench (current)."""
    import yaml

    from ectui.services import build_console_services, build_issuer_services
    from ectui.services.clusters import ClusterDraft
    from ectui.services.issuer import EditionDraft, LicenseDraft
    from ectui.services.projects import ProjectDraft
    from ectui.services.templates import TemplateDraft

    issuer = build_issuer_services(_settings(home / "issuer"))
    await issuer.start()
    try:
        await issuer.issuer.create_edition(
            EditionDraft.parse(
                name="Bench", max_clusters="2", max_nodes="10", storage="local,shared", features="platform"
            )  # fmt: skip
        )
        today = dt.date.today()
        lic = await issuer.issuer.create_license(
            LicenseDraft.parse(
                customer="Bench",
                edition="Bench",
                valid_from=today.isoformat(),
                valid_to=(today + dt.timedelta(days=30)).isoformat(),
            )  # fmt: skip
        )
        out = await issuer.issuer.export_license(lic.id, home / "b.ec", home / "b.properties")
    finally:
        issuer.close()
    console = build_console_services(_settings(home / "console"))
    await console.start()
    await console.license.import_license(out.ec_path, out.properties_path)
    auth = yaml.safe_load((state / "clouds.yaml").read_text())["clouds"]["devcloud"]["auth"]
    await console.clusters.add(
        ClusterDraft.parse(
            name="dc1",
            storage_mode="shared",
            auth_url=auth["auth_url"],
            username=auth["username"],
            password=auth["password"],
            project=auth["project_name"],
            region="RegionOne",
        )  # fmt: skip
    )
    await console.images.sync("dc1")
    cirros = next(i.id for i in await console.images.list_all("dc1") if i.name == "cirros-0.6.2")
    await console.templates.create(TemplateDraft.parse(name="cirros", image_id=cirros, os_type="linux"))
    await console.projects.add(
        ProjectDraft.parse(
            name="bench", vcpus="100000", ram_gb="100000", vms="100000", public_ips="100", cluster="dc1"
        )  # fmt: skip
    )
    await console.projects.use("bench")
    return console


async def bench_create(console: Any, build: float, runs: int) -> dict[str, Any]:
    from ectui.services.vms import VmDraft

    templates = (await console.vms.form_choices()).templates
    results: dict[str, Any] = {}
    for label, public_ip in (("forced host", False), ("forced host + public IP", True)):
        totals = []
        for run in range(runs):
            draft = VmDraft.parse(
                name=f"c{int(public_ip)}-{run}", template_id=templates[0].id, placement="manual", node="node-1",
                login="password", password=PASSWORD, password_confirm=PASSWORD, cpu=1, ram_gb=1,
                network="private", public_ip=public_ip,
            )  # fmt: skip
            t0 = time.perf_counter()
            info = await console.vms.create(draft)
            totals.append(time.perf_counter() - t0)
            assert info.status == "ACTIVE"
        for vm in await console.vms.list_all():
            await console.vms.delete(vm.id)
        overheads = [t - build for t in totals]
        results[label] = {
            "runs": runs,
            "build_s": build,
            "total_median_s": round(statistics.median(totals), 3),
            "overhead_median_s": round(statistics.median(overheads), 3),
            "overhead_max_s": round(max(overheads), 3),
        }
    return results


def _make_servers(state: Path, count: int) -> list[str]:
    """`count` servers through the Nova API (forced host, no network); returns their ids."""
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(config_files=[str(state / "clouds.yaml")])
    conn = openstack.connection.Connection(config=config.get_one(cloud="devcloud"))
    unlimited = {"quota_set": {"instances": -1, "cores": -1, "ram": -1}}
    assert conn.compute.put(f"/os-quota-sets/{conn.current_project_id}", json=unlimited).status_code == 200
    image = conn.image.find_image("cirros-0.6.2", ignore_missing=False).id
    conn.compute.get("/flavors")  # token and catalog once, before the threads

    def make(i: int) -> str:
        body = {"server": {"name": f"bulk-{i:05d}", "imageRef": image, "flavorRef": "1", "networks": "none",
                           "availability_zone": f"nova:node-{i % 3 + 1}"}}  # fmt: skip
        response = conn.compute.post("/servers", json=body, microversion="2.37")
        assert response.status_code == 202, response.text
        return str(response.json()["server"]["id"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(make, range(count)))


def _record_rows(console: Any, ids: list[str]) -> None:
    from sqlalchemy import insert, select

    from ectui.db.models import Project, Vm

    with console.db.session() as session:
        project_id = session.scalar(select(Project.id).where(Project.name == "bench"))
        session.execute(
            insert(Vm),
            [
                {
                    "cluster_id": 1,
                    "project_id": project_id,
                    "cloud_id": cid,
                    "name": f"bulk-{i:05d}",
                    "status": "BUILD",
                    "vcpus": 1,
                    "ram_gb": 1,
                    "disk_gb": 1,
                    "created_by": "bench",
                }
                for i, cid in enumerate(ids)
            ],  # fmt: skip
        )


async def bench_refresh(console: Any, state: Path, count: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    ids = await asyncio.to_thread(_make_servers, state, count)
    made = time.perf_counter() - t0
    await asyncio.to_thread(_record_rows, console, ids)
    lag: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:  # how long the loop stays blocked while refreshing
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lag.append(time.perf_counter() - t - 0.01)

    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(stop))
    t0 = time.perf_counter()
    vms = await console.vms.refresh()
    full = time.perf_counter() - t0
    stop.set()
    await tick
    assert len(vms) == count, len(vms)
    incremental = []
    for _ in range(3):
        t0 = time.perf_counter()
        await console.vms.refresh()
        incremental.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    listed = await console.vms.list_all()
    db_only = time.perf_counter() - t0
    assert len(listed) == count
    return {
        "vms": count,
        "make_servers_s": round(made, 2),
        "refresh_full_s": round(full, 3),
        "refresh_changes_since_median_s": round(statistics.median(incremental), 3),
        "list_db_s": round(db_only, 3),
        "loop_max_block_ms": round(max(lag) * 1000, 1) if lag else 0.0,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ectui-vms-bench-") as tmp:
        root = Path(tmp)
        proc = _start_cloud(root / "cloud", args.build)
        try:
            console = await licensed_console(root / "home", root / "cloud")
            try:
                await console.vms.form_choices()  # authenticate once (token, catalog) before timing
                create = await bench_create(console, args.build, args.creates)
                refresh = await bench_refresh(console, root / "cloud", args.vms)
            finally:
                console.close()
        finally:
            proc.terminate()
            proc.wait(10)
    return {"create": create, "refresh": refresh}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", type=float, default=2.0, help="the dev cloud's build time (s)")
    parser.add_argument("--creates", type=int, default=5, help="creates per kind")
    parser.add_argument("--vms", type=int, default=2000)
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print(f"{'measure':<50} {'value':>10}")
    for label, r in results["create"].items():
        print(f"{'create overhead, median (' + label + ')':<50} {r['overhead_median_s']:>9.3f}s")
        print(f"{'create overhead, max (' + label + ')':<50} {r['overhead_max_s']:>9.3f}s")
    r = results["refresh"]
    print(f"{'refresh ' + str(r['vms']) + ' VMs, full list':<50} {r['refresh_full_s']:>9.3f}s")
    print(
        f"{'refresh ' + str(r['vms']) + ' VMs, changes-since':<50} {r['refresh_changes_since_median_s']:>9.3f}s"
    )
    print(f"{'list ' + str(r['vms']) + ' VMs from the database':<50} {r['list_db_s']:>9.3f}s")
    print(f"{'event loop max block during refresh':<50} {r['loop_max_block_ms']:>8.1f}ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "target": {"create_overhead_s": 0.5},
        **results,
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
