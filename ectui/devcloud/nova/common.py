"""Shared pieces of the compute API: constants, lookups, capacity, instance action records, timers."""

from __future__ import annotations

import secrets
import string
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from ..api import MV, Context, base_url, json_response
from ..base import Cloud, ServiceApp
from ..core import JSON, new_id, now_iso, request_id
from ..errors import bad_request, conflict, forbidden, not_found

if TYPE_CHECKING:
    from ..glance import Glance
    from ..neutron import Neutron

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 96)
P = "/compute/v2.1"
POWER = {"NOSTATE": 0, "RUNNING": 1, "PAUSED": 3, "SHUTDOWN": 4, "SUSPENDED": 7}

STATUS_OF = {
    ("active", None): "ACTIVE",
    ("building", None): "BUILD",
    ("stopped", None): "SHUTOFF",
    ("resized", None): "VERIFY_RESIZE",
    ("rescued", None): "RESCUE",
    ("paused", None): "PAUSED",
    ("suspended", None): "SUSPENDED",
    ("error", None): "ERROR",
}
TASK_STATUS = {
    "resize_prep": "RESIZE", "resize_migrating": "RESIZE", "resize_migrated": "RESIZE", "resize_finish": "RESIZE",
    "resize_reverting": "REVERT_RESIZE", "rebooting": "REBOOT", "reboot_started": "REBOOT",
    "rebooting_hard": "HARD_REBOOT", "reboot_started_hard": "HARD_REBOOT", "rescuing": "RESCUE",
    "scheduling": "BUILD", "networking": "BUILD", "spawning": "BUILD", "block_device_mapping": "BUILD",
}  # fmt: skip


def status_of(vm_state: str, task_state: str | None) -> str:
    """The API status of a vm_state/task_state pair, like nova.api.openstack.common.status_from_state."""
    if task_state in TASK_STATUS and not (vm_state == "building" and task_state is None):
        if task_state in ("rebooting", "rebooting_hard") and vm_state not in ("active", "stopped"):
            return STATUS_OF.get((vm_state, None), "ACTIVE")
        return TASK_STATUS[task_state]
    return STATUS_OF.get((vm_state, None), "ACTIVE")


def password(length: int = 12) -> str:
    """A random admin password like Nova's."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


class NovaBase(ServiceApp):
    """State and helpers every part of the compute API uses."""

    def __init__(self, cloud: Cloud, *, glance: Glance, neutron: Neutron) -> None:
        """Build the component over the image and network services; no I/O happens here."""
        super().__init__(cloud)
        self.glance = glance
        self.neutron = neutron
        self.t = cloud.timings

    # -- common helpers -------------------------------------------------------------------------
    @staticmethod
    def mv(request: web.Request) -> tuple[int, int]:
        """The negotiated microversion of a request."""
        return request.get(MV, MIN_VERSION)

    def _admin(self, ctx: Context, rule: str) -> None:
        if not ctx.is_admin:
            raise forbidden(f"Policy doesn't allow {rule} to be performed.")

    def _links(self, base: str, kind: str, item_id: str) -> list[JSON]:
        return [
            {"rel": "self", "href": f"{base}{P}/{kind}/{item_id}"},
            {"rel": "bookmark", "href": f"{base}/compute/{kind}/{item_id}"},
        ]

    @staticmethod
    def _listing(name: str, items: list[JSON], links: list[JSON]) -> web.Response:
        """A list answer: the items under `name`, and the next-page links under ``<name>_links`` when any."""
        body: JSON = {name: items}
        if links:
            body[f"{name}_links"] = links
        return json_response(body)

    def _paginate(self, items: list[JSON], request: web.Request) -> tuple[list[JSON], list[JSON]]:
        """The page the request's marker and limit select, and a next link when more follow."""
        q = request.query
        if "marker" in q:
            ids = [i["id"] for i in items]
            if q["marker"] not in ids:
                raise bad_request(f"marker [{q['marker']}] not found")
            items = items[ids.index(q["marker"]) + 1 :]
        limit = min(int(q.get("limit", 1000)), 1000)
        if limit < 0:
            raise bad_request("Invalid input for query parameters limit.")
        if len(items) > limit:
            items = items[:limit]
            params = [(k, v) for k, v in q.items() if k != "marker"] + [("marker", items[-1]["id"])]
            return items, [{"rel": "next", "href": f"{base_url(request)}{request.path}?{urlencode(params)}"}]
        return items, []

    # -- capacity and quota checks ---------------------------------------------------------------------
    @staticmethod
    def _live(server: JSON) -> bool:
        return not server.get("deleted")

    def host_usage(self, host: str) -> dict[str, int]:
        """vCPU, RAM, disk and VM count held on a host (both flavors while a resize is unconfirmed)."""
        use = {"vcpus": 0, "ram": 0, "disk": 0, "vms": 0}
        for s in self.store.iter("server"):
            if s.get("host") != host or not self._live(s):
                continue
            flavors = [s["flavor"]]
            if s.get("task_state") in ("resize_prep", "resize_migrating", "resize_finish") and s.get(
                "new_flavor"
            ):
                flavors.append(s["new_flavor"])
            elif s.get("old_flavor") and (
                s["vm_state"] == "resized" or s.get("task_state") == "resize_reverting"
            ):
                flavors.append(s["old_flavor"])
            for f in flavors:
                use["vcpus"] += f["vcpus"]
                use["ram"] += f["ram"]
                use["disk"] += f["disk"]
            use["vms"] += 1
        return use

    def _fits(self, host: JSON, vcpus: int, ram: int) -> bool:
        use = self.host_usage(host["name"])
        return (
            use["vcpus"] + vcpus <= host["vcpus"] * self.cloud.cpu_allocation_ratio
            and use["ram"] + ram <= host["memory_mb"] * self.cloud.ram_allocation_ratio
            and host["status"] == "enabled"
            and host["state"] == "up"
        )

    def _host(self, name: str) -> JSON | None:
        found = self.store.find("host", name=name)
        return found[0] if found else None

    def project_usage(self, project: str) -> dict[str, int]:
        """Cores, RAM and instances counted from the project's servers (no reservations)."""
        use = {"instances": 0, "cores": 0, "ram": 0}
        for s in self.store.iter("server"):
            if s["project_id"] == project and self._live(s):
                f = s["flavor"]
                if s.get("old_flavor") and s["vm_state"] == "resized":
                    f = {
                        "vcpus": max(f["vcpus"], s["old_flavor"]["vcpus"]),
                        "ram": max(f["ram"], s["old_flavor"]["ram"]),
                    }
                use["instances"] += 1
                use["cores"] += f["vcpus"]
                use["ram"] += f["ram"]
        return use

    def _check_quota(self, project: str, instances: int, cores: int, ram: int) -> None:
        limits = self.neutron.quota(project)
        used = self.project_usage(project)
        for key, delta in (("instances", instances), ("cores", cores), ("ram", ram)):
            if delta > 0 and limits[key] >= 0 and used[key] + delta > limits[key]:
                raise forbidden(
                    f"Quota exceeded for {key}: Requested {delta}, but already used {used[key]} of {limits[key]} {key}"
                )

    # -- server lookup and saving -----------------------------------------------------------------------
    def _server(self, server_id: str, ctx: Context) -> JSON:
        s = self.store.get("server", server_id)
        if s is None or not self._live(s) or (not ctx.is_admin and s["project_id"] != ctx.project_id):
            raise not_found(f"Instance {server_id} could not be found.")
        return s

    def _save(self, s: JSON) -> JSON:
        s["status"] = status_of(s["vm_state"], s["task_state"])
        s["updated"] = now_iso()
        return self.store.put("server", s)

    # -- instance actions -------------------------------------------------------------------------
    def _record(self, s: JSON, action: str, ctx: Context, req_id: str | None = None) -> JSON:
        doc = {
            "id": req_id or request_id(),
            "server_id": s["id"],
            "action": action,
            "message": None,
            "project_id": ctx.project_id,
            "user_id": ctx.user_id,
            "start_time": now_iso(micro=True),
            "updated_at": now_iso(micro=True),
            "events": [],
            "seq": self.store.next_int("action_seq"),
        }
        return self.store.put("iaction", doc)

    def _event(
        self, action_id: str, event: str, *, result: str | None = "Success", host: str | None = None,
        traceback: str | None = None, details: str | None = None,
    ) -> None:  # fmt: skip
        doc = self.store.get("iaction", action_id)
        if doc is None:
            return
        ts = now_iso(micro=True)
        existing = next((e for e in doc["events"] if e["event"] == event and e["finish_time"] is None), None)
        if existing is None:
            existing = {"event": event, "start_time": ts, "finish_time": None, "result": None, "traceback": None,
                        "host": host, "details": None}  # fmt: skip
            doc["events"].append(existing)
        if result is not None:
            existing.update(finish_time=ts, result=result, traceback=traceback, details=details)
            if result == "Error":
                doc["message"] = "Error"
        doc["updated_at"] = ts
        self.store.put("iaction", doc)

    # -- transitions ------------------------------------------------------------------------------------
    def _schedule(self, s: JSON, op: str, delay: float, **args: Any) -> None:
        token = new_id()
        s["pending"] = {"op": op, "at": time.time() + delay, "token": token, "args": args}
        self._save(s)
        self.cloud.later.call(delay, self._complete, s["id"], token)

    def resume_pending(self) -> None:
        """After a restart: finish the transitions that were under way (remaining time, at least zero)."""
        for s in self.store.all("server"):
            pending = s.get("pending")
            if pending:
                self.cloud.later.call(
                    max(0.0, pending["at"] - time.time()), self._complete, s["id"], pending["token"]
                )
        for image in self.store.find("image", status="saving"):
            if not image.get("_snapshot_of"):
                image["status"] = "queued"  # the upload died with the previous process
                self.store.put("image", image)

    def _complete(self, server_id: str, token: str) -> None:
        s = self.store.get("server", server_id)
        if s is None or not s.get("pending") or s["pending"]["token"] != token:
            return
        pending = s.pop("pending")
        getattr(self, f"_finish_{pending['op']}")(s, **pending["args"])

    # -- lock and state checks -----------------------------------------------------------------------
    def _check_lock(self, s: JSON, ctx: Context) -> None:
        if s.get("locked") and not ctx.is_admin:
            raise conflict(f"Instance {s['id']} is locked")

    @staticmethod
    def _check_state(
        s: JSON, action: str, vm_states: tuple[str, ...], task_states: tuple[str | None, ...] = (None,)
    ) -> None:
        if s["vm_state"] not in vm_states:
            raise conflict(f"Cannot '{action}' instance {s['id']} while it is in vm_state {s['vm_state']}")
        if s["task_state"] not in task_states:
            raise conflict(
                f"Cannot '{action}' instance {s['id']} while it is in task_state {s['task_state']}"
            )
