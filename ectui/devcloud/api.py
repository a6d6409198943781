"""Request and response helpers every service uses: the caller's context, JSON bodies, links."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .core import JSON
from .errors import ApiError, bad_request


@dataclass(frozen=True)
class Context:
    """Who is calling: the validated token's user, project and roles."""

    token: str
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        """True when the token carries the admin role."""
        return "admin" in self.roles


CTX = web.RequestKey("ctx", Context)
"""Request storage key of the caller's context."""
MV = web.RequestKey("mv", tuple)
"""Request storage key of the negotiated compute microversion."""


def ctx_of(request: web.Request) -> Context:
    """The request's authenticated context (set by the auth middleware)."""
    ctx = request.get(CTX)
    if ctx is None:
        raise ApiError(401, "The request you have made requires authentication.")
    return ctx


async def read_json(request: web.Request) -> JSON:
    """The request body as a JSON object, or a 400."""
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise bad_request(f"Malformed request body: {err}") from None
    if not isinstance(body, dict):
        raise bad_request("Malformed request body: a JSON object is required")
    return body


async def read_member(request: web.Request, key: str, message: str | None = None) -> JSON:
    """The JSON object under `key` in the request body; a 400 (`message`, else Nova's wording) when it is none."""
    value = (await read_json(request)).get(key)
    if not isinstance(value, dict):
        raise bad_request(message or f"Invalid input for field/attribute {key}.")
    return value


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A compact JSON response."""
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def base_url(request: web.Request) -> str:
    """Scheme, host and port as the client addressed us (for links and the catalog)."""
    return f"{request.scheme}://{request.host}"


NOVA_ERROR_KINDS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "HTTPMethodNotAllowed",
    406: "HTTPNotAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "HTTPUnsupportedMediaType",
    429: "overLimit",
}
NEUTRON_ERROR_TYPES = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    401: "Unauthorized",
}


def error_response(service: str, err: ApiError) -> web.Response:
    """The answer to an error in the format of the service (``compute``, ``network``, ``image`` …) that raised it."""
    status, message = err.status, err.message
    reason = _reason(status)
    if service == "compute":
        kind = err.kind or NOVA_ERROR_KINDS.get(status, "computeFault")
        return json_response({kind: {"code": status, "message": message}}, status, err.headers)
    if service == "network":
        kind = err.kind or NEUTRON_ERROR_TYPES.get(status, "InternalServerError")
        return json_response(
            {"NeutronError": {"type": kind, "message": message, "detail": ""}}, status, err.headers
        )
    if service == "placement":
        return json_response(
            {
                "errors": [
                    {
                        "status": status,
                        "title": reason,
                        "detail": message,
                        "code": "placement.undefined_code",
                    }
                ]
            },
            status,
            err.headers,
        )
    if service == "image":
        body = (
            f"<html>\n <head>\n  <title>{status} {reason}</title>\n </head>\n <body>\n  <h1>{status} {reason}</h1>\n"
            f"  {html.escape(message)}<br /><br />\n\n\n\n </body>\n</html>"
        )
        return web.Response(text=body, status=status, content_type="text/html", headers=err.headers)
    return json_response(
        {"error": {"code": status, "title": reason, "message": message}}, status, err.headers
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
