"""Compute version documents, microversion negotiation and the extension list."""

from __future__ import annotations

from aiohttp import web

from ..api import base_url, ctx_of, json_response
from ..core import JSON
from ..errors import ApiError, not_found
from .common import MAX_VERSION, MIN_VERSION, NovaBase, P

VENDOR_EXTENSIONS = (
    {
        "alias": "EC-LIVE-RESIZE",
        "name": "LiveResize",
        "description": "Server action liveResize: change vCPU/RAM of an ACTIVE server whose flavor has "
        "extra spec hw:live_resize=true, without a reboot.",
    },
    {
        "alias": "EC-CDROM",
        "name": "Cdrom",
        "description": "Server actions attachCdrom/detachCdrom: mount an ISO file of the ISO share as the "
        "server's CD-ROM; field EC-CDROM:iso; GET /servers/{id}/os-cdrom.",
    },
)
VENDOR_ACTIONS = {"liveResize": "EC-LIVE-RESIZE", "attachCdrom": "EC-CDROM", "detachCdrom": "EC-CDROM"}
"""Server actions of the vendor extensions (answered 400 when the extension is off)."""
STANDARD_EXTENSIONS = ("os-availability-zone", "os-extended-server-attributes", "os-flavor-extra-specs",
                       "os-hypervisors", "os-instance-actions", "os-keypairs", "os-lock-server",
                       "os-quota-sets", "os-rescue", "os-remote-consoles")  # fmt: skip

# status, vm_state and task_state pairs as Nova shows them


class VersionsMixin(NovaBase):
    """Version documents, microversions and extensions."""

    # -- microversions -----------------------------------------------------------------------
    def negotiate(self, request: web.Request) -> tuple[int, int]:
        """The requested compute microversion (2.1 when absent); 406 when out of range."""
        raw = None
        header = request.headers.get("OpenStack-API-Version", "")
        for part in header.split(","):
            service, _, value = part.strip().partition(" ")
            if service.lower() == "compute":
                raw = value.strip()
        if raw is None:
            raw = request.headers.get("X-OpenStack-Nova-API-Version")
        if not raw:
            return MIN_VERSION
        if raw.lower() == "latest":
            return MAX_VERSION
        try:
            major, minor = (int(x) for x in raw.split("."))
        except ValueError:
            raise ApiError(400, f"Invalid format for API version: {raw}.") from None
        if not MIN_VERSION <= (major, minor) <= MAX_VERSION:
            raise ApiError(
                406,
                f"Version {raw} is not supported by the API. Minimum is 2.1 and maximum is "
                f"{MAX_VERSION[0]}.{MAX_VERSION[1]}.",
            )
        return major, minor

    # -- versions / extensions -----------------------------------------------------------------
    def _version_doc(self, base: str) -> JSON:
        return {
            "id": "v2.1",
            "status": "CURRENT",
            "version": f"{MAX_VERSION[0]}.{MAX_VERSION[1]}",
            "min_version": f"{MIN_VERSION[0]}.{MIN_VERSION[1]}",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base}{P}/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
            ],
            "x-vendor-extensions": [e["alias"] for e in self._vendor()],
        }

    async def versions(self, request: web.Request) -> web.Response:
        """GET /compute, GET /compute/."""
        base = base_url(request)
        v20 = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z",
               "links": [{"rel": "self", "href": f"{base}/compute/v2/"}]}  # fmt: skip
        return json_response({"versions": [v20, self._version_doc(base)]})

    async def version(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1, GET /compute/v2.1/."""
        return json_response({"version": self._version_doc(base_url(request))})

    def _extensions(self, base: str) -> list[JSON]:
        out = [{"alias": a, "name": a, "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
                "description": a, "updated": "2014-12-03T00:00:00Z", "links": []} for a in STANDARD_EXTENSIONS]  # fmt: skip
        for ext in self._vendor():
            out.append({**ext, "namespace": f"{base}/compute/ext/{ext['alias'].lower()}",
                        "updated": "2026-01-01T00:00:00Z", "links": []})  # fmt: skip
        return out

    def _vendor(self) -> list[JSON]:
        """The vendor extensions this cloud has (DevCloud.vendor_extensions; none = an upstream Nova)."""
        return [e for e in VENDOR_EXTENSIONS if e["alias"] in self.cloud.vendor_extensions]

    async def list_extensions(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/extensions."""
        ctx_of(request)
        return json_response({"extensions": self._extensions(base_url(request))})

    async def show_extension(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/extensions/{alias}."""
        ctx_of(request)
        for ext in self._extensions(base_url(request)):
            if ext["alias"] == request.match_info["alias"]:
                return json_response({"extension": ext})
        raise not_found("Extension could not be found.")
