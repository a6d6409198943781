"""The embedded default: start the built-in dev cloud, license the console for it, register its cluster.

`ectui --demo` (and `make run`) run on the demo's own home (:meth:`Settings.for_demo`,
<operator data dir>/demo/home): its database, keys, license, trusted issuer, dev cloud state and logs
are there, and the operator's home is never touched (a vendor license imports there as on a new
installation). :func:`prepare_demo` runs before the console opens; stopping the console stops the dev
cloud. Everything is reused next time; `ectui demo reset --yes` (:func:`reset_demo`) removes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ectui.services.clusters import ClusterDraft, FtpDraft
from ectui.services.errors import ServiceError

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.devcloud.server import DevCloudHandle
    from ectui.services import ConsoleServices

DEMO_CLUSTER = "devcloud"
DEMO_EDITION = "Demo"
DEMO_CUSTOMER = "Demo"
DEMO_PROJECT = "demo"
LOCK_NAME = "demo.lock"
"""In the demo home: held (shared) by every running demo console; `demo reset` needs it alone."""


class DemoRunning(Exception):
    """`demo reset` while a demo console runs on the demo home."""

    def __init__(self, home: Path) -> None:
        super().__init__(str(home))
        self.home = home


@contextlib.contextmanager
def demo_session(settings: Settings) -> Iterator[Path]:
    """Mark the demo home (of `settings`, the operator's settings) in use while the demo console runs."""
    home = settings.demo_home
    home.mkdir(parents=True, exist_ok=True)
    with _lock(home / LOCK_NAME, exclusive=False):
        yield home


def reset_demo(settings: Settings) -> Path | None:
    """Remove the demo home (of the operator's `settings`); None when there was none.

    Stops nothing: raises DemoRunning when a demo console holds the home.
    """
    home = settings.demo_home
    if not home.exists():
        return None
    try:
        with _lock(home / LOCK_NAME, exclusive=True):
            shutil.rmtree(home)
    except BlockingIOError:
        raise DemoRunning(home) from None
    return home


@contextlib.contextmanager
def _lock(path: Path, *, exclusive: bool) -> Iterator[None]:
    """An advisory lock on `path` (never waits: BlockingIOError when taken); a pid file where flock is missing."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the pid of the running demo, checked by reset
        fcntl = None  # type: ignore[assignment]
    if fcntl is None:
        if exclusive and _pid_alive(path):
            raise BlockingIOError(path)
        if not exclusive:
            path.write_text(str(os.getpid()))
        try:
            yield
        finally:
            if not exclusive:
                with contextlib.suppress(OSError):
                    path.unlink()
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


@dataclass
class DemoEnvironment:
    """The running dev cloud of a demo session."""

    handle: DevCloudHandle
    state_dir: Path

    def stop(self) -> None:
        """Stop the dev cloud (its state stays for the next demo)."""
        self.handle.stop()


def _start_cloud(state_dir: Path) -> DevCloudHandle:
    """Start the dev cloud, on the ports of the last demo when they are free (the cluster URL stays valid)."""
    from ectui.devcloud.server import run_in_thread

    ports_file = state_dir / "ports.json"
    ports = {"http": 0, "ftp": 0}
    with contextlib.suppress(OSError, ValueError):
        ports.update(json.loads(ports_file.read_text()))
    try:
        handle = run_in_thread(state_dir / "cloud", port=int(ports["http"]), ftp_port=int(ports["ftp"]))
    except OSError:  # a port of last time is taken now: any free one will do
        handle = run_in_thread(state_dir / "cloud")
    ports_file.write_text(json.dumps({"http": handle.cloud.port, "ftp": handle.cloud.ftp_port}))
    return handle


async def prepare_demo(services: ConsoleServices) -> DemoEnvironment:
    """Start the dev cloud; install a demo license when none is valid; register and sync its cluster."""
    state_dir = services.settings.data_dir / "demo"
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = await asyncio.to_thread(_start_cloud, state_dir)
    try:
        await services.start()
        status = await services.license.status()
        if status.state not in ("valid", "grace"):
            await _install_demo_license(services, state_dir)
        await _register_cluster(services, handle)
        await _seed_console(services)
    except BaseException:
        handle.stop()
        raise
    return DemoEnvironment(handle, state_dir)


async def _install_demo_license(services: ConsoleServices, state_dir: Path) -> None:
    """Issue a one-year license from a local demo issuer (its own home) and import it."""
    from ectui.config import Settings
    from ectui.services import build_issuer_services
    from ectui.services.issuer import EditionDraft, LicenseDraft

    issuer_settings = Settings.from_env(
        {"ECTUI_HOME": str(state_dir / "issuer")}, lang=services.settings.lang
    )
    issuer = build_issuer_services(issuer_settings)
    try:
        await issuer.start()
        if DEMO_EDITION not in {e.name for e in await issuer.issuer.list_editions()}:
            await issuer.issuer.create_edition(
                EditionDraft.parse(
                    name=DEMO_EDITION,
                    max_clusters="3",
                    max_nodes="20",
                    storage="local,shared",
                    features="platform,statistics,users,workflow,billing",
                    grace_days="7",
                    description="Local demo with the built-in dev cloud",
                )
            )
        today = dt.date.today()
        info = await issuer.issuer.create_license(
            LicenseDraft.parse(
                customer=DEMO_CUSTOMER,
                edition=DEMO_EDITION,
                valid_from=(today - dt.timedelta(days=1)).isoformat(),
                valid_to=(today + dt.timedelta(days=365)).isoformat(),
            )
        )
        out = state_dir / "license"
        result = await issuer.issuer.export_license(info.id, out / "demo.ec", out / "constant.properties")
    finally:
        issuer.close()
    _trust_demo_issuer(services.settings, result.properties_path)
    await services.license.import_license(result.ec_path, result.properties_path)


def _pid_alive(path: Path) -> bool:
    """The pid file names a running process."""
    try:
        os.kill(int(path.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def _trust_demo_issuer(settings: Settings, properties: Path) -> None:
    """Add the demo issuer's key to the demo home's trusted issuers (a vendor build lists only its own)."""
    import base64

    from ectui.services.license import read_properties

    key = base64.b64encode(read_properties(properties).issuer_public_key).decode()
    if key in settings.trusted_issuer_keys():
        return
    settings.config_dir.mkdir(parents=True, exist_ok=True)
    with (settings.config_dir / "trusted-issuers").open("a", encoding="utf-8") as out:
        out.write(f"# the local demo issuer (ectui --demo)\n{key}\n")


async def _seed_console(services: ConsoleServices) -> None:
    """What a newcomer needs to create a VM at once: images, ISOs, a template and a current project."""
    from ectui.services.projects import ProjectDraft
    from ectui.services.templates import TemplateDraft

    await services.images.sync(DEMO_CLUSTER)
    await services.isos.sync(DEMO_CLUSTER)
    if not await services.templates.list_all(DEMO_CLUSTER):
        images = [i for i in await services.images.list_all(DEMO_CLUSTER) if i.enabled and not i.gone]
        if images:
            image = images[0]
            await services.templates.create(
                TemplateDraft.parse(
                    name=f"{image.name}-linux",
                    image_id=image.id,
                    os_type="linux",
                    description="demo template",
                )
            )
    if DEMO_PROJECT not in {p.name for p in await services.projects.list_all()}:
        await services.projects.add(
            ProjectDraft.parse(
                name=DEMO_PROJECT, cluster=DEMO_CLUSTER, cloud_project="demo", vcpus="32", ram_gb="64", vms="10",
                public_ips="4",
            )
        )  # fmt: skip
    if await services.projects.current() is None:
        await services.projects.use(DEMO_PROJECT)


async def _register_cluster(services: ConsoleServices, handle: DevCloudHandle) -> None:
    """Add (or point at the new port) the dev cloud's cluster and FTP server, then sync its nodes."""
    auth = handle.cloud.cloud_config()["auth"]
    draft = ClusterDraft.parse(
        name=DEMO_CLUSTER,
        storage_mode="shared",
        auth_url=auth["auth_url"],
        username=auth["username"],
        password=auth["password"],
        project=auth["project_name"],
        region="RegionOne",
    )
    try:
        await services.clusters.get(DEMO_CLUSTER)
    except ServiceError:
        await services.clusters.add(draft)
    else:
        await services.clusters.update(DEMO_CLUSTER, draft)
    ftp = handle.ftp
    await services.clusters.set_ftp(
        DEMO_CLUSTER,
        FtpDraft.parse(
            host=ftp["host"],
            port=ftp["port"],
            username=ftp["user"],
            password=ftp["password"],
            iso_dir=ftp["dir"],
        ),
    )
    await services.clusters.sync_nodes(DEMO_CLUSTER)
