"""The compute API: every part combined, with the routing table and the server action dispatch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ..api import Context, ctx_of, read_json
from ..core import JSON
from ..errors import bad_request
from .actions import ActionsMixin
from .cdrom import CdromMixin
from .common import P
from .console import ConsoleMixin
from .flavors import FlavorsMixin
from .hosts import HostsMixin
from .instance_actions import InstanceActionsMixin
from .keypairs import KeypairsMixin
from .quotas import QuotasMixin
from .servers import ServersMixin
from .versions import VENDOR_ACTIONS, VersionsMixin

ActionHandler = Callable[[web.Request, Context, JSON, JSON], Awaitable[web.Response]]
"""A server action: the request, the caller, the server document and the action's arguments."""


class Nova(
    VersionsMixin,
    FlavorsMixin,
    ServersMixin,
    ActionsMixin,
    ConsoleMixin,
    CdromMixin,
    InstanceActionsMixin,
    HostsMixin,
    KeypairsMixin,
    QuotasMixin,
):
    """Compute service: servers, flavors, hosts; transitions run on timers and survive restarts."""

    def add_routes(self, app: web.Application) -> None:
        """Register the compute routes."""
        r = app.router
        r.add_get("/compute", self.versions)
        r.add_get("/compute/", self.versions)
        r.add_get(P, self.version)
        r.add_get(P + "/", self.version)
        r.add_get(P + "/extensions", self.list_extensions)
        r.add_get(P + "/extensions/{alias}", self.show_extension)
        # flavors
        r.add_get(P + "/flavors", self.list_flavors)
        r.add_get(P + "/flavors/detail", self.list_flavors)
        r.add_post(P + "/flavors", self.create_flavor)
        r.add_get(P + "/flavors/{id}", self.show_flavor)
        r.add_put(P + "/flavors/{id}", self.update_flavor)
        r.add_delete(P + "/flavors/{id}", self.delete_flavor)
        r.add_get(P + "/flavors/{id}/os-extra_specs", self.list_extra_specs)
        r.add_post(P + "/flavors/{id}/os-extra_specs", self.set_extra_specs)
        r.add_get(P + "/flavors/{id}/os-extra_specs/{key}", self.show_extra_spec)
        r.add_put(P + "/flavors/{id}/os-extra_specs/{key}", self.update_extra_spec)
        r.add_delete(P + "/flavors/{id}/os-extra_specs/{key}", self.delete_extra_spec)
        r.add_get(P + "/flavors/{id}/os-flavor-access", self.flavor_access)
        # servers
        r.add_get(P + "/servers", self.list_servers)
        r.add_get(P + "/servers/detail", self.list_servers)
        r.add_post(P + "/servers", self.create_server)
        r.add_get(P + "/servers/{id}", self.show_server)
        r.add_put(P + "/servers/{id}", self.update_server)
        r.add_delete(P + "/servers/{id}", self.delete_server)
        r.add_post(P + "/servers/{id}/action", self.server_action)
        r.add_get(P + "/servers/{id}/os-instance-actions", self.list_instance_actions)
        r.add_get(P + "/servers/{id}/os-instance-actions/{req}", self.show_instance_action)
        r.add_post(P + "/servers/{id}/remote-consoles", self.remote_console)
        r.add_get(P + "/servers/{id}/metadata", self.get_metadata)
        r.add_post(P + "/servers/{id}/metadata", self.update_metadata)
        r.add_put(P + "/servers/{id}/metadata", self.replace_metadata)
        r.add_get(P + "/servers/{id}/ips", self.server_ips)
        r.add_get(P + "/servers/{id}/os-interface", self.server_interfaces)
        r.add_get(P + "/servers/{id}/os-cdrom", self.server_cdrom)
        # hosts, zones, services
        r.add_get(P + "/os-hypervisors", self.list_hypervisors)
        r.add_get(P + "/os-hypervisors/detail", self.list_hypervisors)
        r.add_get(P + "/os-hypervisors/statistics", self.hypervisor_statistics)
        r.add_get(P + "/os-hypervisors/{id}", self.show_hypervisor)
        r.add_get(P + "/os-availability-zone", self.list_zones)
        r.add_get(P + "/os-availability-zone/detail", self.list_zones)
        r.add_get(P + "/os-services", self.list_services)
        # keypairs, quotas, limits
        r.add_get(P + "/os-keypairs", self.list_keypairs)
        r.add_post(P + "/os-keypairs", self.create_keypair)
        r.add_get(P + "/os-keypairs/{name}", self.show_keypair)
        r.add_delete(P + "/os-keypairs/{name}", self.delete_keypair)
        r.add_get(P + "/os-quota-sets/{project}", self.show_quota)
        r.add_get(P + "/os-quota-sets/{project}/detail", self.show_quota)
        r.add_get(P + "/os-quota-sets/{project}/defaults", self.show_quota_defaults)
        r.add_put(P + "/os-quota-sets/{project}", self.update_quota)
        r.add_get(P + "/limits", self.limits)
        r.add_get("/vnc_auto.html", self.vnc_page)

    async def server_action(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/servers/{id}/action: dispatch to the named action."""
        ctx = ctx_of(request)
        s = self._server(request.match_info["id"], ctx)
        body = await read_json(request)
        if len(body) != 1:
            raise bad_request("There is either no action or more than one action in the request body.")
        name, args = next(iter(body.items()))
        handler: ActionHandler | None = {
            "os-start": self._act_start, "os-stop": self._act_stop, "reboot": self._act_reboot,
            "resize": self._act_resize, "confirmResize": self._act_confirm, "revertResize": self._act_revert,
            "lock": self._act_lock, "unlock": self._act_unlock, "createImage": self._act_create_image,
            "os-getVNCConsole": self._act_vnc, "rescue": self._act_rescue, "unrescue": self._act_unrescue,
            "liveResize": self._act_live_resize, "attachCdrom": self._act_attach_cdrom,
            "detachCdrom": self._act_detach_cdrom, "pause": self._act_pause, "unpause": self._act_unpause,
            "suspend": self._act_suspend, "resume": self._act_resume, "changePassword": self._act_password,
            "os-resetState": self._act_reset_state, "os-getConsoleOutput": self._act_console_output,
        }.get(name)  # fmt: skip
        if VENDOR_ACTIONS.get(name, "") not in ("", *self.cloud.vendor_extensions):
            handler = None  # upstream Nova does not know the vendor's actions: 400
        if handler is None:
            raise bad_request(f"Unsupported server action {name!r}.")
        return await handler(request, ctx, s, args if isinstance(args, dict) else {})
