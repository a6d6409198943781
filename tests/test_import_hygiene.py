"""The core never pulls in the UI: importing services and the CLI leaves Textual unloaded.

Reads stay light: `ectui vm list` and `ectui image list` on a licensed console with a cluster read the
database only, and load no cloud library (openstacksdk, keystoneauth1, aiohttp, aioftp), no dev cloud
and no Alembic (the schema is current); without --refresh they read through SQLAlchemy Core (no ORM, no
mapped tables, no services); `--refresh` still asks the clouds.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLOUD_LIBRARIES = ("openstack", "keystoneauth1", "ectui.devcloud", "aiohttp", "aioftp", "alembic")
ORM = ("sqlalchemy.orm", "ectui.db.models")
"""What a quick read (ectui.db.reads) leaves out, besides the cloud libraries."""
OPERATOR = "hygiene"

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))))
"""


@pytest.mark.parametrize(
    "module",
    [
        "ectui.services",
        "ectui.services.issuer",
        "ectui.services.license",
        "ectui.services.clusters",
        "ectui.services.demo",
        "ectui.cli",
        "ectui.db.session",
        "ectui.config",
    ],
)
def test_core_module_does_not_import_textual(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_version_imports_almost_nothing() -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['ectui', '--version']\n"
        "from ectui.cli import main\n"
        "rc = main(['--version'])\n"
        "heavy = [m for m in ('sqlalchemy', 'cryptography', 'textual', 'alembic') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_parser_imports_no_dev_cloud() -> None:
    probe = (
        "import sys\n"
        "from ectui.cli import build_parser\n"
        "build_parser()\n"
        f"print([m for m in {CLOUD_LIBRARIES!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_devcloud_command_keeps_its_own_options(tmp_path: Path) -> None:
    shown = ectui(tmp_path, "devcloud", "--help")
    assert shown.returncode == 0, shown.stderr
    assert (
        "--fast" in shown.stdout
        and "fault" in shown.stdout
        and shown.stdout.startswith("usage: ectui devcloud")
    )
    refused = ectui(tmp_path, "devcloud", "fault", "--url", "http://127.0.0.1:9")
    assert refused.returncode == 1 and "--op is required" in refused.stderr


# ------------------------------------------------------------------ reads on a licensed console with a cluster


def ectui(home: Path, *args: object, probe: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m ectui ARGS` on `home`; with `probe`, the cloud libraries and the ORM modules loaded at exit
    are the last line of stderr (a JSON list)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
    environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en", "ECTUI_OPERATOR": OPERATOR})
    code = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print(json.dumps([m for m in {CLOUD_LIBRARIES + ORM!r} if m in sys.modules]),"
        " file=sys.stderr))\n"
        "from ectui.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    command = [sys.executable, "-c", code] if probe else [sys.executable, "-m", "ectui"]
    return subprocess.run(
        [*command, *map(str, args)],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from ectui.devcloud import Timings, run_in_thread

    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05), ftp=False)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, cloud: Any) -> Path:
    """A licensed console with cluster dc1 (images synced), template cirros, project web (current), VM vm1."""
    root = tmp_path_factory.mktemp("reads")
    asyncio.run(_licensed_console(root, cloud))
    return root / "console"


async def _licensed_console(root: Path, cloud: Any) -> None:
    from ectui.config import Settings
    from ectui.services import build_console_services, build_issuer_services
    from ectui.services.clusters import ClusterDraft
    from ectui.services.projects import ProjectDraft
    from ectui.services.templates import TemplateDraft
    from ectui.services.vms import VmDraft
    from tests.kit import issue_license

    def settings(home: Path) -> Settings:
        return Settings.from_env({"ECTUI_HOME": str(home), "ECTUI_LANG": "en", "ECTUI_OPERATOR": OPERATOR})

    issuer = build_issuer_services(settings(root / "issuer"))
    await issuer.start()
    try:
        issued = await issue_license(
            issuer.issuer,
            root / "out",
            valid_from="2020-01-01",
            valid_to="2099-12-31",
            storage="local,shared",
        )
    finally:
        issuer.close()
    console = build_console_services(settings(root / "console"))
    try:
        await console.start()
        await console.license.import_license(issued.ec_path, issued.properties_path)
        auth = cloud.cloud.cloud_config()["auth"]
        await console.clusters.add(
            ClusterDraft.parse(name="dc1", storage_mode="shared", auth_url=auth["auth_url"], username="admin",
                               password=auth["password"], project="demo", region="RegionOne")
        )  # fmt: skip
        await console.images.sync("dc1")
        cirros = next(i.id for i in await console.images.list_all("dc1") if i.name == "cirros-0.6.2")
        await console.templates.create(TemplateDraft.parse(name="cirros", image_id=cirros, os_type="linux"))
        await console.projects.add(
            ProjectDraft.parse(name="web", vcpus="8", ram_gb="16", vms="3", public_ips="1", cluster="dc1")
        )
        await console.projects.use("web")
        template = (await console.vms.form_choices()).templates[0].id
        await console.vms.create(
            VmDraft.parse(name="vm1", template_id=template, placement="manual", node="node-1", login="password",
                          password="Secr3t!pass", password_confirm="Secr3t!pass", cpu=1, ram_gb=1,
                          network="private", public_ip=False)
        )  # fmt: skip
    finally:
        console.close()


def _loaded(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return list(json.loads(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [("vm", "list", "--json"), ("vm", "list", "--all"), ("image", "list"), ("image", "list", "--json")],
)
def test_reads_load_no_cloud_library(home: Path, args: tuple[str, ...]) -> None:
    proc = ectui(home, *args, probe=True)
    assert _loaded(proc) == []
    assert ("vm1" if args[0] == "vm" else "cirros-0.6.2") in proc.stdout


def test_a_due_upgrade_still_runs_alembic(tmp_path: Path) -> None:
    proc = ectui(tmp_path, "image", "list", "--json", probe=True)  # a new home: its schema is made first
    assert _loaded(proc) == ["alembic", *ORM] and json.loads(proc.stdout) == {"images": []}
    assert _loaded(ectui(tmp_path, "image", "list", "--json", probe=True)) == []


def test_refresh_asks_the_clouds(home: Path, cloud: Any) -> None:
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(config_files=[str(cloud.clouds_yaml)])
    conn = openstack.connection.Connection(config=config.get_one(cloud="devcloud"))
    [vm] = json.loads(ectui(home, "vm", "list", "--json").stdout)["vms"]
    conn.compute.stop_server(vm["cloud_id"])  # behind the console's back
    conn.compute.wait_for_server(
        conn.compute.get_server(vm["cloud_id"]), status="SHUTOFF", interval=0.02, wait=10
    )
    conn.image.create_image("fresh", data=b"x" * 1024, disk_format="raw", container_format="bare")
    try:
        assert [v["status"] for v in json.loads(ectui(home, "vm", "list", "--json").stdout)["vms"]] == [
            "ACTIVE"
        ]
        old = ectui(home, "vm", "list", "--no-refresh", "--json")  # the old option: accepted, the same view
        assert old.returncode == 0 and json.loads(old.stdout)["vms"][0]["status"] == "ACTIVE"
        refreshed = ectui(home, "vm", "list", "--refresh", "--json", probe=True)
        assert "openstack" in _loaded(refreshed)
        assert [v["status"] for v in json.loads(refreshed.stdout)["vms"]] == ["SHUTOFF"]
        assert "fresh" not in ectui(home, "image", "list").stdout
        synced = ectui(home, "image", "list", "--cluster", "dc1", "--refresh", "--json")
        assert synced.returncode == 0, synced.stderr
        assert "fresh" in {i["name"] for i in json.loads(synced.stdout)["images"]}
    finally:
        conn.close()
    shown = ectui(home, "vm", "list", "--help").stdout
    assert "--refresh" in shown and "--no-refresh" not in shown


async def test_a_read_start_builds_only_what_it_uses(tmp_path: Path) -> None:
    from ectui.config import Settings
    from ectui.services import build_console_services

    services = build_console_services(Settings.from_env({"ECTUI_HOME": str(tmp_path), "ECTUI_LANG": "en"}))
    try:
        await services.start(recover=False)  # a pure read: no recovery (it may call the clouds)
        assert not {"vms", "resize", "images", "isos", "workflow", "clusters"} & set(vars(services))
        await services.recover()  # what start does for every other command
        assert {"vms", "billing", "resize", "images"} <= set(vars(services))
        assert services.billing in services.vms.listeners  # lifecycle events reach billing
    finally:
        services.close()
