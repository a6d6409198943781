"""Keystone v3 subset: password/token auth with project scope, catalog, projects, users."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Any

from aiohttp import web

from .api import Context, base_url, ctx_of, json_response, read_json
from .base import Cloud, ServiceApp
from .core import JSON
from .errors import ApiError, forbidden, not_found

TOKEN_TTL = dt.timedelta(hours=12)
REGION = "RegionOne"
DOMAIN = {"id": "default", "name": "Default"}

SERVICES = (
    ("identity", "keystone", "/identity/v3"),
    ("compute", "nova", "/compute/v2.1"),
    ("image", "glance", "/image"),
    ("network", "neutron", "/network"),
    ("placement", "placement", "/placement"),
)
"""Catalog entries: type, name and the path prefix of the endpoint on this server."""


def version_doc(base: str) -> JSON:
    """The identity v3 version document."""
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


def catalog(base: str) -> list[JSON]:
    """The service catalog with one endpoint per interface, all on this server."""
    out = []
    for stype, name, path in SERVICES:
        endpoints = [
            {
                "id": f"{name}-{iface}",
                "interface": iface,
                "region": REGION,
                "region_id": REGION,
                "url": base + path,
            }
            for iface in ("public", "internal", "admin")
        ]
        out.append({"id": f"{name}-service", "type": stype, "name": name, "endpoints": endpoints})
    return out


class Keystone(ServiceApp):
    """Identity service: tokens live in the store, so sessions survive a restart."""

    def __init__(self, cloud: Cloud) -> None:
        """Build the component; no I/O happens here."""
        super().__init__(cloud)
        self._tokens: dict[str, JSON] = {}

    def add_routes(self, app: web.Application) -> None:
        """Register the identity routes."""
        r = app.router
        r.add_get("/identity", self.versions)
        r.add_get("/identity/", self.versions)
        r.add_get("/identity/v3", self.version)
        r.add_get("/identity/v3/", self.version)
        r.add_post("/identity/v3/auth/tokens", self.issue_token)
        r.add_get("/identity/v3/auth/tokens", self.validate_token, allow_head=False)
        r.add_route("HEAD", "/identity/v3/auth/tokens", self.check_token)
        r.add_delete("/identity/v3/auth/tokens", self.revoke_token)
        r.add_get("/identity/v3/auth/catalog", self.get_catalog)
        r.add_get("/identity/v3/auth/projects", self.auth_projects)
        r.add_get("/identity/v3/projects", self.list_projects)
        r.add_get("/identity/v3/projects/{id}", self.show_project)
        r.add_get("/identity/v3/users", self.list_users)
        r.add_get("/identity/v3/users/{id}", self.show_user)
        r.add_get("/identity/v3/users/{id}/projects", self.user_projects)
        r.add_get("/identity/v3/domains", self.list_domains)
        r.add_get("/identity/v3/roles", self.list_roles)
        r.add_get("/identity/v3/regions", self.list_regions)

    # -- public helpers --------------------------------------------------------------------
    def context(self, token: str | None) -> Context | None:
        """The context of a valid token, or None."""
        if not token:
            return None
        doc = self._tokens.get(token) or self.store.get("token", token)
        if doc is None:
            return None
        if dt.datetime.fromisoformat(doc["expires_at"].replace("Z", "+00:00")) < dt.datetime.now(dt.UTC):
            return None
        self._tokens[token] = doc
        return Context(
            token=token,
            user_id=doc["user_id"],
            user_name=doc["user_name"],
            project_id=doc["project_id"],
            project_name=doc["project_name"],
            roles=tuple(doc["roles"]),
        )

    def project(self, ref: str) -> JSON | None:
        """A project by id or name."""
        doc = self.store.get("project", ref)
        if doc is None:
            found = self.store.find("project", name=ref)
            doc = found[0] if found else None
        return doc

    # -- versions --------------------------------------------------------------------------
    async def versions(self, request: web.Request) -> web.Response:
        """GET /identity, GET /identity/."""
        return json_response({"versions": {"values": [version_doc(base_url(request))]}}, status=300)

    async def version(self, request: web.Request) -> web.Response:
        """GET /identity/v3, GET /identity/v3/."""
        return json_response({"version": version_doc(base_url(request))})

    # -- tokens ----------------------------------------------------------------------------
    async def issue_token(self, request: web.Request) -> web.Response:
        """POST /identity/v3/auth/tokens."""
        await self.cloud.faults.hit("identity.authenticate")
        body = await read_json(request)
        auth = body.get("auth") or {}
        identity = auth.get("identity") or {}
        methods = identity.get("methods") or []
        user: JSON | None = None
        if "password" in methods:
            u = (identity.get("password") or {}).get("user") or {}
            user = self._user(u)
            if user is None or not hmac.compare_digest(str(u.get("password", "")), user["password"]):
                raise ApiError(401, "The request you have made requires authentication.")
        elif "token" in methods:
            old = self.context((identity.get("token") or {}).get("id"))
            if old is None:
                raise ApiError(401, "The request you have made requires authentication.")
            user = self.store.get("user", old.user_id)
        else:
            raise ApiError(401, "Expecting to find a supported auth method (password or token).")
        assert user is not None
        project = self._scope(auth.get("scope"), user)
        roles = user.get("roles", {}).get(project["id"], []) if project else []
        if project and not roles:
            raise ApiError(401, f"User {user['id']} has no access to project {project['id']}")
        token = secrets.token_hex(24)
        issued = dt.datetime.now(dt.UTC)
        doc = {
            "id": token,
            "user_id": user["id"],
            "user_name": user["name"],
            "project_id": project["id"] if project else "",
            "project_name": project["name"] if project else "",
            "roles": roles,
            "methods": methods,
            "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "expires_at": (issued + TOKEN_TTL).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        }
        self.store.put("token", doc)
        self._tokens[token] = doc
        return json_response(
            {"token": self._token_body(doc, base_url(request), with_catalog=True)},
            status=201,
            headers={"X-Subject-Token": token},
        )

    def _user(self, u: JSON) -> JSON | None:
        if u.get("id"):
            return self.store.get("user", u["id"])
        found = self.store.find("user", name=u.get("name"))
        return found[0] if found else None

    def _scope(self, scope: Any, user: JSON) -> JSON | None:
        if not scope:
            # Unscoped request: use the user's default project, like keystone does.
            return self.store.get("project", user.get("default_project_id", "")) if user else None
        if "project" not in scope:
            raise ApiError(401, "Only project scope is supported by the dev cloud.")
        ref = scope["project"]
        project = self.store.get("project", ref["id"]) if ref.get("id") else None
        if project is None and ref.get("name"):
            found = self.store.find("project", name=ref["name"])
            project = found[0] if found else None
        if project is None:
            raise ApiError(401, f"Could not find project: {ref.get('id') or ref.get('name')}.")
        return project

    def _token_body(self, doc: JSON, base: str, *, with_catalog: bool) -> JSON:
        body: JSON = {
            "methods": doc["methods"],
            "user": {
                "id": doc["user_id"],
                "name": doc["user_name"],
                "domain": DOMAIN,
                "password_expires_at": None,
            },
            "audit_ids": [doc["id"][:22]],
            "issued_at": doc["issued_at"],
            "expires_at": doc["expires_at"],
        }
        if doc["project_id"]:
            body["project"] = {"id": doc["project_id"], "name": doc["project_name"], "domain": DOMAIN}
            body["roles"] = [{"id": name, "name": name} for name in doc["roles"]]
            body["is_domain"] = False
        if with_catalog:
            body["catalog"] = catalog(base)
        return body

    async def validate_token(self, request: web.Request) -> web.Response:
        """GET /identity/v3/auth/tokens."""
        ctx_of(request)
        subject = request.headers.get("X-Subject-Token", "")
        doc = self.store.get("token", subject) if self.context(subject) else None
        if doc is None:
            raise not_found(f"Could not find token: {subject}.")
        nocatalog = "nocatalog" in request.query
        return json_response(
            {"token": self._token_body(doc, base_url(request), with_catalog=not nocatalog)},
            headers={"X-Subject-Token": subject},
        )

    async def check_token(self, request: web.Request) -> web.Response:
        """HEAD /identity/v3/auth/tokens."""
        ctx_of(request)
        if self.context(request.headers.get("X-Subject-Token")) is None:
            raise not_found("Could not find token.")
        return web.Response(status=200)

    async def revoke_token(self, request: web.Request) -> web.Response:
        """DELETE /identity/v3/auth/tokens."""
        ctx_of(request)
        subject = request.headers.get("X-Subject-Token", "")
        self._tokens.pop(subject, None)
        if not self.store.delete("token", subject):
            raise not_found(f"Could not find token: {subject}.")
        return web.Response(status=204)

    async def get_catalog(self, request: web.Request) -> web.Response:
        """GET /identity/v3/auth/catalog."""
        ctx_of(request)
        return json_response({"catalog": catalog(base_url(request)), "links": {"self": str(request.url)}})

    # -- projects and users ----------------------------------------------------------------
    def _project_body(self, p: JSON, base: str) -> JSON:
        return {**p, "links": {"self": f"{base}/identity/v3/projects/{p['id']}"}}

    def _user_body(self, u: JSON, base: str) -> JSON:
        hidden = {"password", "roles"}
        out = {k: v for k, v in u.items() if k not in hidden}
        out["links"] = {"self": f"{base}/identity/v3/users/{u['id']}"}
        return out

    def _visible_projects(self, ctx: Context) -> list[JSON]:
        if ctx.is_admin:
            return self.store.all("project")
        user = self.store.get("user", ctx.user_id) or {}
        return [p for p in self.store.all("project") if p["id"] in user.get("roles", {})]

    async def auth_projects(self, request: web.Request) -> web.Response:
        """GET /identity/v3/auth/projects."""
        ctx = ctx_of(request)
        user = self.store.get("user", ctx.user_id) or {}
        base = base_url(request)
        projects = [
            self._project_body(p, base) for p in self.store.all("project") if p["id"] in user.get("roles", {})
        ]
        return json_response({"projects": projects, "links": {"self": str(request.url), "next": None}})

    async def list_projects(self, request: web.Request) -> web.Response:
        """GET /identity/v3/projects."""
        ctx = ctx_of(request)
        base = base_url(request)
        projects = self._visible_projects(ctx)
        if "name" in request.query:
            projects = [p for p in projects if p["name"] == request.query["name"]]
        return json_response(
            {
                "projects": [self._project_body(p, base) for p in projects],
                "links": {"self": str(request.url), "next": None, "previous": None},
            }
        )

    async def show_project(self, request: web.Request) -> web.Response:
        """GET /identity/v3/projects/{id}."""
        ctx = ctx_of(request)
        p = self.store.get("project", request.match_info["id"])
        if p is None or p not in self._visible_projects(ctx):
            raise not_found(f"Could not find project: {request.match_info['id']}.")
        return json_response({"project": self._project_body(p, base_url(request))})

    async def list_users(self, request: web.Request) -> web.Response:
        """GET /identity/v3/users."""
        ctx = ctx_of(request)
        base = base_url(request)
        users = self.store.all("user") if ctx.is_admin else [self.store.get("user", ctx.user_id) or {}]
        if "name" in request.query:
            users = [u for u in users if u.get("name") == request.query["name"]]
        return json_response(
            {
                "users": [self._user_body(u, base) for u in users],
                "links": {"self": str(request.url), "next": None, "previous": None},
            }
        )

    async def show_user(self, request: web.Request) -> web.Response:
        """GET /identity/v3/users/{id}."""
        ctx = ctx_of(request)
        uid = request.match_info["id"]
        if not ctx.is_admin and uid != ctx.user_id:
            raise forbidden("You are not authorized to perform the requested action: identity:get_user.")
        u = self.store.get("user", uid)
        if u is None:
            raise not_found(f"Could not find user: {uid}.")
        return json_response({"user": self._user_body(u, base_url(request))})

    async def user_projects(self, request: web.Request) -> web.Response:
        """GET /identity/v3/users/{id}/projects."""
        ctx = ctx_of(request)
        uid = request.match_info["id"]
        if not ctx.is_admin and uid != ctx.user_id:
            raise forbidden(
                "You are not authorized to perform the requested action: identity:list_user_projects."
            )
        user = self.store.get("user", uid)
        if user is None:
            raise not_found(f"Could not find user: {uid}.")
        base = base_url(request)
        projects = [
            self._project_body(p, base) for p in self.store.all("project") if p["id"] in user.get("roles", {})
        ]
        return json_response({"projects": projects, "links": {"self": str(request.url), "next": None}})

    async def list_domains(self, request: web.Request) -> web.Response:
        """GET /identity/v3/domains."""
        ctx_of(request)
        return json_response({"domains": [{**DOMAIN, "enabled": True, "description": "The default domain"}]})

    async def list_roles(self, request: web.Request) -> web.Response:
        """GET /identity/v3/roles."""
        ctx_of(request)
        return json_response({"roles": [{"id": r, "name": r} for r in ("admin", "member", "reader")]})

    async def list_regions(self, request: web.Request) -> web.Response:
        """GET /identity/v3/regions."""
        ctx_of(request)
        return json_response({"regions": [{"id": REGION, "description": "", "parent_region_id": None}]})
