"""Low-level helpers every adapter shares: SDK calls, raw REST calls, error text (run in worker threads)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from ectui.services.errors import ServiceError
from ectui.services.openstack.connection import CloudConnections, CloudError, classify

T = TypeVar("T")

COMPUTE_MICROVERSION = "2.73"
"""Servers are read at 2.73: `locked` (2.9), `locked_reason` (2.73) and the admin host fields."""


class _Passthrough(CloudError):
    """Carries a domain error through CloudConnections.call (which keeps only CloudErrors)."""

    def __init__(self, inner: ServiceError) -> None:
        super().__init__(inner.key, **inner.params)
        self.inner = inner


async def call_keeping_errors(connections: CloudConnections, cluster_id: int, fn: Callable[[Any], T]) -> T:
    """`connections.call(cluster_id, fn)`, but VmError, ValidationError, Cancelled ... reach the caller unchanged."""

    def run(conn: Any) -> T:
        try:
            return fn(conn)
        except CloudError:
            raise
        except ServiceError as err:
            raise _Passthrough(err) from None

    try:
        return await connections.call(cluster_id, run)
    except _Passthrough as wrapped:
        raise wrapped.inner from None


def sdk(fn: Callable[[], Any]) -> Any:
    """Run an SDK call; its exception becomes a CloudError (no secrets, one line)."""
    try:
        return fn()
    except ServiceError:
        raise
    except Exception as err:  # every SDK failure is turned into one plain message
        raise classify(err) from None


def call_json(proxy: Any, method: str, path: str, **kw: Any) -> dict[str, Any]:
    """A raw REST call on a proxy: the JSON answer, or a CloudError with the cloud's own message."""
    kw.setdefault("microversion", COMPUTE_MICROVERSION)
    response = sdk(lambda: getattr(proxy, method)(path, **kw))
    if response.status_code >= 400:
        raise CloudError("cloud.http", status=response.status_code, reason=error_message(response))
    if response.status_code == 204 or not response.content:
        return {}
    return dict(response.json())


def error_message(response: Any) -> str:
    """The cloud's own message from an error answer (its JSON `message`, else the start of the body)."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or "")[:200]
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])[:300]
    return str(body)[:200]


def render_error(err: BaseException) -> str:
    """A domain error's message in the current language; for any other error only its type's name."""
    from ectui.i18n import render

    if isinstance(err, ServiceError):
        return render(err)
    return json.dumps(type(err).__name__)


def render_text(err: BaseException) -> str:
    """One line for an unexpected failure (a domain error's message, else the exception's)."""
    if isinstance(err, ServiceError):
        return render_error(err)
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
