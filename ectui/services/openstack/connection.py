"""Connections to clusters: openstacksdk Connection objects built from stored credentials, cached per cluster.

openstacksdk is blocking by design; every call that may touch the network runs in a thread
(`asyncio.to_thread`) so that a slow or dead cloud never freezes the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ectui.services.errors import ServiceError

if TYPE_CHECKING:
    from openstack.connection import Connection

T = TypeVar("T")
API_TIMEOUT = 30.0
"""Seconds before any single cloud API request gives up."""
REQUIRED_SERVICES = ("compute", "image", "network")


@dataclass(frozen=True)
class CloudCredentials:
    """What is needed to reach a cloud: a clouds.yaml entry, or explicit password credentials."""

    cloud_name: str | None = None
    auth_url: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    project_name: str = ""
    user_domain: str = "Default"
    project_domain: str = "Default"
    region: str = ""
    cacert: str = ""
    insecure: bool = False


class CloudError(ServiceError):
    """A cloud could not be reached or refused a request; the message says which and why."""


@dataclass(frozen=True)
class ConnectionVerdict:
    """The result of a connection test, in one word plus detail."""

    ok: bool
    verdict: str
    """ok | auth_failed | unreachable | tls | missing_service | config"""
    error: ServiceError | None = None
    services: tuple[str, ...] = ()


def clouds_yaml_config() -> Any:
    """openstacksdk's clouds.yaml reader: the standard places plus OS_CLIENT_CONFIG_FILE, but no other
    OS_* variable (a stray OS_PASSWORD in the shell must not change a stored cluster)."""
    import os

    from openstack.config import loader

    files = list(loader.CONFIG_FILES)
    override = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if override:
        files.insert(0, override)
    return loader.OpenStackConfig(config_files=files, load_envvars=False)


def connect(credentials: CloudCredentials, *, timeout: float = API_TIMEOUT) -> Connection:
    """Build (not yet authenticate) a Connection; raises CloudError for bad configuration."""
    import openstack
    import openstack.connection
    from openstack import exceptions as sdk_exc

    try:
        if credentials.cloud_name:
            region = clouds_yaml_config().get_one(cloud=credentials.cloud_name, api_timeout=timeout)
            return openstack.connection.Connection(config=region)
        verify: bool | str = credentials.cacert or not credentials.insecure
        return openstack.connect(
            load_yaml_config=False,
            load_envvars=False,
            auth_type="password",
            auth={
                "auth_url": credentials.auth_url,
                "username": credentials.username,
                "password": credentials.password,
                "project_name": credentials.project_name,
                "user_domain_name": credentials.user_domain,
                "project_domain_name": credentials.project_domain,
            },
            region_name=credentials.region or None,
            verify=verify,
            api_timeout=timeout,
        )
    except sdk_exc.ConfigException as err:
        raise CloudError("cloud.config", reason=_first_line(err)) from None
    except Exception as err:  # keystoneauth raises assorted option errors for a bad entry
        raise CloudError("cloud.config", reason=_first_line(err)) from None


def classify(err: BaseException) -> CloudError:
    """Turn an SDK/keystoneauth exception into a CloudError with a plain verdict (no secrets)."""
    from keystoneauth1 import exceptions as ks_exc
    from openstack import exceptions as sdk_exc

    if isinstance(err, CloudError):
        return err
    cause = err.__cause__ or err.__context__
    if (
        isinstance(err, sdk_exc.SDKException)
        and not isinstance(err, sdk_exc.HttpException)
        and cause is not None
    ):
        return classify(cause)  # the SDK wraps keystoneauth's precise exception
    if isinstance(err, ks_exc.SSLError):
        return CloudError("cloud.tls", reason=_first_line(err))
    if isinstance(err, ks_exc.ConnectTimeout | ks_exc.ConnectFailure | ks_exc.UnknownConnectionError):
        return CloudError("cloud.unreachable", reason=_first_line(err))
    if isinstance(err, ks_exc.Unauthorized | ks_exc.AuthorizationFailure):
        return CloudError("cloud.auth_failed")
    if (
        isinstance(err, ks_exc.http.Unauthorized | sdk_exc.HttpException)
        and getattr(err, "status_code", None) == 401
    ):
        return CloudError("cloud.auth_failed")
    if isinstance(err, ks_exc.EndpointNotFound):
        return CloudError("cloud.missing_service", service=_first_line(err))
    if isinstance(err, ks_exc.DiscoveryFailure):
        return CloudError("cloud.unreachable", reason=_first_line(err))
    if isinstance(err, sdk_exc.HttpException):
        return CloudError("cloud.http", status=getattr(err, "status_code", "?"), reason=_first_line(err))
    if isinstance(err, ks_exc.ClientException | sdk_exc.SDKException):
        return CloudError("cloud.request_failed", reason=_first_line(err))
    return CloudError("cloud.request_failed", reason=type(err).__name__)


def test_connection(credentials: CloudCredentials, *, timeout: float = 10.0) -> ConnectionVerdict:
    """Authenticate and check that compute, image and network are in the catalog (blocking)."""
    try:
        conn = connect(credentials, timeout=timeout)
        conn.authorize()
        found: list[str] = []
        for service in REQUIRED_SERVICES:
            try:
                conn.session.get_endpoint(
                    service_type=service, interface="public", region_name=credentials.region or None
                )
            except Exception:  # any lookup failure means the service is missing from the catalog
                return ConnectionVerdict(
                    False,
                    "missing_service",
                    CloudError("cloud.missing_service", service=service),
                    tuple(found),
                )
            found.append(service)
        conn.close()
        return ConnectionVerdict(True, "ok", None, tuple(found))
    except Exception as err:  # classified below into one plain verdict
        error = classify(err)
        return ConnectionVerdict(False, error.key.split(".", 1)[1], error)


class CloudConnections:
    """One cached Connection per cluster; `call` runs a blocking SDK function in a thread."""

    def __init__(self, credentials_of: Callable[[int], CloudCredentials]) -> None:
        self._credentials_of = credentials_of
        self._connections: dict[int, Connection] = {}
        self._lock = threading.Lock()

    def get_sync(self, cluster_id: int) -> Connection:
        """The Connection of a cluster (made on first use)."""
        with self._lock:
            conn = self._connections.get(cluster_id)
            if conn is None:
                conn = connect(self._credentials_of(cluster_id))
                self._connections[cluster_id] = conn
            return conn

    async def call(self, cluster_id: int, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` in a worker thread; SDK errors come back as CloudError."""

        def run() -> T:
            try:
                return fn(self.get_sync(cluster_id))
            except ServiceError:  # already a plain message (validation, cancel, a cloud verdict)
                raise
            except Exception as err:  # every SDK failure is turned into one plain message
                raise classify(err) from None

        return await asyncio.to_thread(run)

    def forget(self, cluster_id: int) -> None:
        """Drop a cached connection (after the cluster was edited or removed)."""
        with self._lock:
            conn = self._connections.pop(cluster_id, None)
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a dead session must not fail the caller
                conn.close()

    def close(self) -> None:
        """Close every connection."""
        for cluster_id in list(self._connections):
            self.forget(cluster_id)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]
