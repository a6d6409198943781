"""The dev cloud server: one aiohttp app for Keystone, Glance, Nova and Neutron, plus an FTP server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from . import defaults
from . import seed as seeding
from .api import CTX, MV, base_url, error_response, json_response, read_json
from .core import JSON, Later, Timings
from .errors import ApiError, bad_request
from .faults import Faults
from .ftp import FtpServer
from .glance import Glance
from .keystone import Keystone
from .neutron import Neutron
from .nova import Nova
from .placement import Placement
from .store import Store

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
OPEN_PATHS = {
    "/", "/identity", "/identity/", "/identity/v3", "/identity/v3/", "/identity/v3/auth/tokens",
    "/compute", "/compute/", "/compute/v2.1", "/compute/v2.1/",
    "/image", "/image/", "/image/versions", "/network", "/network/", "/network/v2.0", "/network/v2.0/", "/placement", "/placement/",
}  # fmt: skip
"""Version documents and token issue: no token needed."""


class DevCloud:
    """A local OpenStack-like cloud: Keystone v3, Glance v2, Nova v2.1, a Neutron subset and FTP.

    State (documents, image data, ISO files) lives in `state_dir`, so a restart keeps it.
    """

    def __init__(
        self,
        state_dir: Path | str,
        *,
        timings: Timings | None = None,
        seed: bool = True,
        ftp: bool = True,
        ftp_port: int = 0,
        ftp_block_size: int = 1 << 20,
        cpu_allocation_ratio: float = 4.0,
        ram_allocation_ratio: float = 1.0,
        vendor_extensions: tuple[str, ...] = ("EC-LIVE-RESIZE", "EC-CDROM"),
    ) -> None:
        """Configure; nothing listens until `start`."""
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.iso_dir = self.state_dir / "isos"
        self.iso_dir.mkdir(exist_ok=True)
        self.timings = timings or Timings()
        self.seed_on_start = seed
        self.ftp_enabled = ftp
        self.ftp_port = ftp_port
        self.ftp_block_size = ftp_block_size
        self.cpu_allocation_ratio = cpu_allocation_ratio
        self.ram_allocation_ratio = ram_allocation_ratio
        self.vendor_extensions: tuple[str, ...] = tuple(vendor_extensions)
        """Vendor extension aliases this cloud offers; () behaves as an upstream Nova (tests may change it live)."""
        self.faults = Faults()
        self.later = Later()
        self.store: Store = None  # type: ignore[assignment]  # opened by start()
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._ftp: FtpServer | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server (auth_url is ``<url>/identity``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def auth_url(self) -> str:
        """The Keystone URL for clouds.yaml."""
        return f"{self.url}/identity"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Open the state, seed it when empty, and listen; returns the bound HTTP port."""
        self.store = Store(self.state_dir / "devcloud.sqlite")
        try:
            return await self._start(host, port)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, host: str, port: int) -> int:
        self.keystone = Keystone(self)
        self.glance = Glance(self)
        self.neutron = Neutron(self)
        self.nova = Nova(self, glance=self.glance, neutron=self.neutron)
        self.placement = Placement(self, nova=self.nova)
        if self.seed_on_start:
            seeding.seed(self)
        app = web.Application(middlewares=[self._middleware], client_max_size=64 << 20)
        self.keystone.add_routes(app)
        self.glance.add_routes(app)
        self.nova.add_routes(app)
        self.neutron.add_routes(app)
        self.placement.add_routes(app)
        self._add_admin_routes(app)
        self._runner = web.AppRunner(app, access_log=None, read_bufsize=4 << 20, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        addresses = self._runner.addresses
        if not addresses:
            raise RuntimeError(f"the dev cloud did not open a socket on {host}:{port}")
        self.host = host
        self.port = int(addresses[0][1])
        self.nova.resume_pending()
        if self.ftp_enabled:
            self._ftp = FtpServer(self.iso_dir, block_size=self.ftp_block_size)
            self.ftp_port = await self._ftp.start(host, self.ftp_port)
        return self.port

    async def stop(self) -> None:
        """Stop listening and close the state (pending transitions resume on the next start)."""
        self.later.cancel_all()
        if self._ftp is not None:
            await self._ftp.stop()
            self._ftp = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.store is not None:
            self.store.close()
            self.store = None  # type: ignore[assignment]

    # -- connection details ---------------------------------------------------------------
    def cloud_config(self, name: str = "devcloud", user: str = defaults.ADMIN_USER) -> JSON:
        """A clouds.yaml entry for this server."""
        password = defaults.ADMIN_PASSWORD if user == defaults.ADMIN_USER else defaults.MEMBER_PASSWORD
        return {
            "auth": {
                "auth_url": self.auth_url,
                "username": user,
                "password": password,
                "project_name": defaults.PROJECT,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": "RegionOne",
            "identity_api_version": 3,
            "interface": "public",
        }

    def ftp_config(self) -> JSON:
        """Where the ISO FTP server listens and how to log in."""
        return {
            "host": self.host,
            "port": self.ftp_port,
            "user": defaults.FTP_USER,
            "password": defaults.FTP_PASSWORD,
            "dir": "/",
        }

    def write_client_files(self, directory: Path | None = None) -> tuple[Path, Path]:
        """Write ``clouds.yaml`` (clouds ``devcloud`` and ``devcloud-member``) and ``ftp.json``; mode 0600."""
        directory = Path(directory or self.state_dir)
        directory.mkdir(parents=True, exist_ok=True)
        clouds = {"clouds": {"devcloud": self.cloud_config(), "devcloud-member": self.cloud_config(
            "devcloud-member", defaults.MEMBER_USER)}}  # fmt: skip
        clouds_path = directory / "clouds.yaml"
        ftp_path = directory / "ftp.json"
        for path, text in (
            (clouds_path, _yaml(clouds)),
            (ftp_path, json.dumps(self.ftp_config(), indent=2) + "\n"),
        ):
            path.write_text(text)
            path.chmod(0o600)
        return clouds_path, ftp_path

    # -- middleware ------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        service = path.split("/", 2)[1] if path.count("/") >= 1 else ""
        try:
            if service == "_admin":
                if request.remote not in LOOPBACK:
                    raise ApiError(403, "The admin API answers loopback clients only")
            else:
                ctx = self.keystone.context(request.headers.get("X-Auth-Token"))
                if ctx is not None:
                    request[CTX] = ctx
                elif (
                    path.rstrip("/") not in OPEN_PATHS
                    and path not in OPEN_PATHS
                    and not path.startswith("/vnc")
                ):
                    raise ApiError(
                        401,
                        "The request you have made requires authentication.",
                        headers={"WWW-Authenticate": f'Keystone uri="{base_url(request)}/identity"'},
                    )
            if service == "compute":
                request[MV] = self.nova.negotiate(request)
            response = await handler(request)
        except ApiError as err:
            response = error_response(service, err)
        except web.HTTPException as err:
            if err.status < 400:
                raise
            response = error_response(service, ApiError(err.status, err.reason))
        except ConnectionResetError:
            raise
        except Exception as err:  # a bug: answer 500 in the service's format, keep serving
            log.exception("devcloud: unhandled error on %s %s", request.method, path)
            response = error_response(
                service, ApiError(500, f"Unexpected error: {type(err).__name__}: {err}")
            )
        if service == "compute" and MV in request:
            major, minor = request[MV]
            response.headers["OpenStack-API-Version"] = f"compute {major}.{minor}"
            response.headers["X-OpenStack-Nova-API-Version"] = f"{major}.{minor}"
            response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return response

    # -- admin API -------------------------------------------------------------------------
    def _add_admin_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/_admin/faults", self._list_faults)
        r.add_post("/_admin/faults", self._add_fault)
        r.add_delete("/_admin/faults", self._clear_faults)
        r.add_get("/_admin/health", self._health)
        r.add_post("/_admin/images/bulk", self._bulk_images)
        r.add_post("/_admin/seed/names", self._seed_names)

    async def _list_faults(self, request: web.Request) -> web.Response:
        """GET /_admin/faults."""
        return json_response({"faults": [f.as_dict() for f in self.faults.list()]})

    async def _add_fault(self, request: web.Request) -> web.Response:
        """POST /_admin/faults."""
        fault = self.faults.add(await read_json(request))
        return json_response({"fault": fault.as_dict()}, status=201)

    async def _clear_faults(self, request: web.Request) -> web.Response:
        """DELETE /_admin/faults."""
        self.faults.clear()
        return web.Response(status=204)

    async def _health(self, request: web.Request) -> web.Response:
        """GET /_admin/health."""
        return json_response(
            {"status": "ok", "timings": self.timings.as_dict(), "ftp_port": self.ftp_port,
             "images": self.store.count("image"), "servers": self.store.count("server")}
        )  # fmt: skip

    async def _seed_names(self, request: web.Request) -> web.Response:
        """POST /_admin/seed/names {"names": [...]}: a node, image, project and ISO named each name."""
        body = await read_json(request)
        names = body.get("names")
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise bad_request("names must be a list of non-empty strings")
        return json_response(seeding.seed_names(self, names), status=201)

    async def _bulk_images(self, request: web.Request) -> web.Response:
        """Create many small active images at once (benchmarks of listing and sync)."""
        body = await read_json(request)
        count = int(body.get("count", 100))
        prefix = str(body.get("prefix", "bulk-"))
        project = seeding.project_id(self)
        md5 = hashlib.md5(b"", usedforsecurity=False).hexdigest()
        sha = hashlib.sha512(b"").hexdigest()
        with self.store.transaction():
            for i in range(count):
                image = self.glance.new_image(
                    project, name=f"{prefix}{i:05d}", disk_format="raw", container_format="bare",
                    visibility=body.get("visibility", "shared"),
                )  # fmt: skip
                image.update(status="active", size=0, checksum=md5, os_hash_algo="sha512", os_hash_value=sha)
                self.store.put("image", image)
        return json_response({"created": count}, status=201)


def _yaml(value: Any, indent: int = 0) -> str:
    """A tiny YAML writer for clouds.yaml (nested dicts of scalars), so PyYAML is not needed."""
    lines = []
    for key, item in value.items():
        pad = "  " * indent
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:")
            lines.append(_yaml(item, indent + 1).rstrip("\n"))
        else:
            lines.append(f"{pad}{key}: {json.dumps(item)}")
    return "\n".join(lines) + "\n"


# -- running in a background thread ---------------------------------------------------------


@dataclass
class DevCloudHandle:
    """A dev cloud running in a background thread (tests and ``ectui --demo``)."""

    cloud: DevCloud
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    clouds_yaml: Path
    ftp_json: Path
    _stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return self.cloud.url

    @property
    def auth_url(self) -> str:
        """Keystone URL."""
        return self.cloud.auth_url

    @property
    def ftp(self) -> JSON:
        """FTP connection details (host, port, user, password, dir)."""
        return self.cloud.ftp_config()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run a plain function on the server's loop and return its result."""

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def stop(self) -> None:
        """Stop the server and wait for its thread (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        asyncio.run_coroutine_threadsafe(self.cloud.stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)

    def __enter__(self) -> DevCloudHandle:
        """Use the handle as a context manager that stops the cloud on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the cloud."""
        self.stop()


def run_in_thread(
    state_dir: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    timings: Timings | None = None,
    seed: bool = True,
    ftp: bool = True,
    ftp_port: int = 0,
) -> DevCloudHandle:
    """Start a dev cloud on its own event loop in a daemon thread; returns once it listens."""
    cloud = DevCloud(state_dir, timings=timings, seed=seed, ftp=ftp, ftp_port=ftp_port)
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}
    ready = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(cloud.start(host, port))
        except BaseException as err:  # reported to the caller below
            started["error"] = err
            loop.close()
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=main, name="devcloud", daemon=True)
    thread.start()
    ready.wait(timeout=60)
    if "error" in started:
        raise started["error"]
    clouds_yaml, ftp_json = cloud.write_client_files()
    return DevCloudHandle(cloud=cloud, thread=thread, loop=loop, clouds_yaml=clouds_yaml, ftp_json=ftp_json)
