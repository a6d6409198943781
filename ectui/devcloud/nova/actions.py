"""Server actions: power, reboot, resize and live resize, lock, snapshot, rescue, pause, suspend."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..api import Context, base_url, json_response
from ..core import JSON, as_bool, now_iso
from ..errors import bad_request, conflict, forbidden
from .common import POWER, NovaBase, password


class ActionsMixin(NovaBase):
    """Server actions (POST /servers/{id}/action) and their timed transitions."""

    async def _begin(
        self, ctx: Context, s: JSON, action: str, vm_states: tuple[str, ...], fault: str, event: str,
        task_state: str | None, task_states: tuple[str | None, ...] = (None,),
    ) -> str:  # fmt: skip
        """Start a timed action: check the lock and the state, apply an armed fault, log the action and its
        first (unfinished) event, and enter `task_state` (None: unchanged); returns the action's id."""
        self._check_lock(s, ctx)
        self._check_state(s, action, vm_states, task_states)
        await self.cloud.faults.hit(fault)
        record = self._record(s, action, ctx)
        self._event(record["id"], event, result=None, host=s.get("host"))
        if task_state is not None:
            s["task_state"] = task_state
        return str(record["id"])

    async def _act_start(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        event = "compute_start_instance"
        action = await self._begin(ctx, s, "start", ("stopped",), "compute.start", event, "powering-on")
        self._schedule(
            s, "simple", self.t.start, action=action, event=event, vm_state="active", power="RUNNING"
        )
        return web.Response(status=202)

    async def _act_stop(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        event = "compute_stop_instance"
        states = ("active", "error", "rescued")
        action = await self._begin(ctx, s, "stop", states, "compute.stop", event, "powering-off")
        self._schedule(
            s, "simple", self.t.stop, action=action, event=event, vm_state="stopped", power="SHUTDOWN"
        )
        return web.Response(status=202)

    async def _act_reboot(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        kind = str(args.get("type", "SOFT")).upper()
        if kind not in ("SOFT", "HARD"):
            raise bad_request("Invalid input for field/attribute type.")
        states = ("active",) if kind == "SOFT" else ("active", "stopped", "error", "paused", "suspended")
        event = "compute_reboot_instance"
        action = await self._begin(
            ctx, s, "reboot", states, "compute.reboot", event, "rebooting" if kind == "SOFT" else "rebooting_hard",
            (None, "rebooting") if kind == "HARD" else (None,),
        )  # fmt: skip
        self._schedule(
            s, "simple", self.t.reboot, action=action, event=event, vm_state="active", power="RUNNING"
        )
        return web.Response(status=202)

    def _target_flavor(self, args: JSON) -> JSON:
        ref = str(args.get("flavorRef", "")).rsplit("/", 1)[-1]
        if not ref:
            raise bad_request("Invalid input for field/attribute flavorRef.")
        flavor = self.store.get("flavor", ref)
        if flavor is None:
            raise bad_request(f"Flavor {ref} could not be found.")
        return {
            k: flavor[k] for k in ("id", "name", "vcpus", "ram", "disk", "ephemeral", "swap", "extra_specs")
        }

    async def _act_resize(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "resize", ("active", "stopped"))
        new = self._target_flavor(args)
        old = s["flavor"]
        if new["id"] == old["id"]:
            raise bad_request("When resizing, instances must change flavor!")
        if new["disk"] < old["disk"] and new["disk"] != 0:
            raise bad_request("Resize error: Unable to resize disk down.")
        self._check_quota(s["project_id"], 0, new["vcpus"] - old["vcpus"], new["ram"] - old["ram"])
        fault = await self.cloud.faults.hit("compute.resize")
        action = self._record(s, "resize", ctx)
        self._event(action["id"], "conductor_migrate_server", result="Success")
        self._event(action["id"], "compute_prep_resize", result=None, host=s.get("host"))
        fail = None
        if fault is not None and fault.mode == "silent":
            fail = fault.message or "injected fault (silent)"
        else:
            host = self._host(s.get("host") or "")
            if host is None or not self._fits(host, new["vcpus"], new["ram"]):
                fail = "No valid host was found. There are not enough hosts available."
        s["pre_resize_vm_state"] = s["vm_state"]
        s["task_state"] = "resize_migrating"
        s["new_flavor"] = new
        self._schedule(s, "resize", self.t.resize, action=action["id"], flavor=new, fail=fail)
        return web.Response(status=202)

    async def _act_confirm(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        action = await self._begin(
            ctx, s, "confirmResize", ("resized",), "compute.confirm_resize", "compute_confirm_resize", None
        )
        # Nova answers 204; the server leaves VERIFY_RESIZE once the compute host has confirmed.
        self._schedule(s, "confirm", self.t.confirm, action=action)
        return web.Response(status=204)

    async def _act_revert(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        action = await self._begin(
            ctx,
            s,
            "revertResize",
            ("resized",),
            "compute.revert_resize",
            "compute_revert_resize",
            "resize_reverting",
        )
        self._schedule(s, "revert", self.t.revert, action=action)
        return web.Response(status=202)

    async def _act_live_resize(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "liveResize", ("active",))
        new = self._target_flavor(args)
        old = s["flavor"]
        if not as_bool(old["extra_specs"].get("hw:live_resize", "false")):
            raise conflict(f"Cannot 'liveResize' instance {s['id']}: its flavor {old['name']} has no extra spec "
                           "hw:live_resize=true")  # fmt: skip
        if new["id"] == old["id"]:
            raise bad_request("When resizing, instances must change flavor!")
        if new["vcpus"] < old["vcpus"] or new["ram"] < old["ram"] or new["disk"] < old["disk"]:
            raise bad_request("Live resize can only grow vCPUs, RAM and disk.")
        self._check_quota(s["project_id"], 0, new["vcpus"] - old["vcpus"], new["ram"] - old["ram"])
        host = self._host(s.get("host") or "")
        if host is None or not self._fits(host, new["vcpus"] - old["vcpus"], new["ram"] - old["ram"]):
            raise conflict(f"Not enough free vCPU or RAM on host {s.get('host')} for a live resize.")
        fault = await self.cloud.faults.hit("compute.live_resize")
        fail = (
            (fault.message or "injected fault (silent)")
            if fault is not None and fault.mode == "silent"
            else None
        )
        action = self._record(s, "liveResize", ctx)
        self._event(action["id"], "compute_live_resize", result=None, host=s.get("host"))
        s["task_state"] = "live_resizing"
        self._schedule(s, "live_resize", self.t.live_resize, action=action["id"], flavor=new, fail=fail)
        return web.Response(status=202)

    async def _act_lock(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        await self.cloud.faults.hit("compute.lock")
        reason = args.get("locked_reason") if self.mv(request) >= (2, 73) else None
        if reason is not None and self.mv(request) < (2, 73):
            raise bad_request("locked_reason needs microversion 2.73")
        self._record(s, "lock", ctx)
        s.update(locked=True, locked_reason=reason, locked_by="admin" if ctx.is_admin else "owner")
        self._save(s)
        return web.Response(status=202)

    async def _act_unlock(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        await self.cloud.faults.hit("compute.unlock")
        if s.get("locked_by") == "admin" and not ctx.is_admin:
            raise forbidden(
                "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed."
            )
        self._record(s, "unlock", ctx)
        s.update(locked=False, locked_reason=None, locked_by=None)
        self._save(s)
        return web.Response(status=202)

    async def _act_create_image(
        self, request: web.Request, ctx: Context, s: JSON, args: JSON
    ) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "createImage", ("active", "stopped", "paused", "suspended"))
        name = str(args.get("name") or "").strip()
        if not name:
            raise bad_request("Invalid input for field/attribute name.")
        await self.cloud.faults.hit("compute.create_image")
        base_image = self.store.get("image", s["image_id"]) or {}
        props = {k: v for k, v in base_image.items() if k.startswith(("os_", "hw_")) and k not in ("os_hash_algo",
                 "os_hash_value", "os_hidden")}  # fmt: skip
        props.update({str(k): str(v) for k, v in (args.get("metadata") or {}).items()})
        image = self.glance.new_image(
            s["project_id"], name=name, disk_format=base_image.get("disk_format") or "qcow2",
            container_format="bare", visibility="private", image_type="snapshot", instance_uuid=s["id"],
            base_image_ref=s["image_id"], user_id=ctx.user_id, min_disk=s["flavor"]["disk"],
            min_ram=int(base_image.get("min_ram") or 0), _snapshot_of=s["id"], **props,
        )  # fmt: skip
        image["status"] = "saving"
        self.store.put("image", image)
        action = self._record(s, "createImage", ctx)
        self._event(action["id"], "compute_snapshot_instance", result=None, host=s.get("host"))
        s["task_state"] = "image_uploading"
        self._schedule(s, "snapshot", self.t.snapshot, action=action["id"], image_id=image["id"])
        location = f"{base_url(request)}/image/v2/images/{image['id']}"
        body = {"image_id": image["id"]} if self.mv(request) >= (2, 45) else None
        if body is None:
            return web.Response(status=202, headers={"Location": location})
        return json_response(body, status=202)

    async def _act_rescue(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "rescue", ("active", "stopped", "error"))
        await self.cloud.faults.hit("compute.rescue")
        ref = args.get("rescue_image_ref")
        stable = False
        if ref:
            image = self.store.get("image", str(ref))
            if image is None or not self.glance.visible(image, ctx):
                raise bad_request(f"Image {ref} could not be found.")
            stable = bool(image.get("hw_rescue_device") or image.get("hw_rescue_bus"))
        action = self._record(s, "rescue", ctx)
        self._event(action["id"], "compute_rescue_instance", result=None, host=s.get("host"))
        s["task_state"] = "rescuing"
        s["rescue"] = {"image": ref or s["image_id"], "stable": stable,
                       "device": (self.store.get("image", str(ref)) or {}).get("hw_rescue_device") if ref else None}  # fmt: skip
        self._schedule(s, "simple", self.t.rescue, action=action["id"], event="compute_rescue_instance",
                       vm_state="rescued", power="RUNNING")  # fmt: skip
        return json_response({"adminPass": args.get("adminPass") or password()})

    async def _act_unrescue(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        event = "compute_unrescue_instance"
        action = await self._begin(ctx, s, "unrescue", ("rescued",), "compute.unrescue", event, "unrescuing")
        self._schedule(s, "simple", self.t.rescue, action=action, event=event, vm_state="active", power="RUNNING",
                       rescue=None)  # fmt: skip
        return web.Response(status=202)

    async def _simple_toggle(
        self, ctx: Context, s: JSON, action: str, from_state: str, to_state: str, power: str
    ) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, action, (from_state,))
        await self.cloud.faults.hit(f"compute.{action}")
        self._record(s, action, ctx)
        s.update(vm_state=to_state, task_state=None, power_state=POWER[power])
        self._save(s)
        return web.Response(status=202)

    async def _act_pause(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        return await self._simple_toggle(ctx, s, "pause", "active", "paused", "PAUSED")

    async def _act_unpause(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        return await self._simple_toggle(ctx, s, "unpause", "paused", "active", "RUNNING")

    async def _act_suspend(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        return await self._simple_toggle(ctx, s, "suspend", "active", "suspended", "SUSPENDED")

    async def _act_resume(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        return await self._simple_toggle(ctx, s, "resume", "suspended", "active", "RUNNING")

    async def _act_password(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._check_lock(s, ctx)
        self._check_state(s, "changePassword", ("active",))
        if not args.get("adminPass"):
            raise bad_request("Invalid input for field/attribute adminPass.")
        self._record(s, "changePassword", ctx)
        return web.Response(status=202)

    async def _act_reset_state(self, request: web.Request, ctx: Context, s: JSON, args: JSON) -> web.Response:
        self._admin(ctx, "os_compute_api:os-admin-actions:reset_state")
        state = args.get("state")
        if state not in ("active", "error"):
            raise bad_request("Invalid input for field/attribute state.")
        s.pop("pending", None)
        s.update(vm_state=state, task_state=None)
        self._record(s, "resetState", ctx)
        self._save(s)
        return web.Response(status=202)

    def _finish_simple(
        self, s: JSON, action: str, event: str, vm_state: str, power: str, **extra: Any
    ) -> None:
        s.update(vm_state=vm_state, task_state=None, power_state=POWER[power], **extra)
        self._event(action, event, result="Success", host=s.get("host"))
        self._save(s)

    def _finish_resize(self, s: JSON, action: str, flavor: JSON, fail: str | None = None) -> None:
        s.pop("new_flavor", None)
        if fail:
            # Nova's silent failure: back to the old flavor and state, an error event, no HTTP error.
            s.update(vm_state=s.pop("pre_resize_vm_state", "active"), task_state=None)
            s["power_state"] = POWER["RUNNING"] if s["vm_state"] == "active" else POWER["SHUTDOWN"]
            self._event(action, "compute_prep_resize", result="Error", host=s.get("host"),
                        traceback=f"Traceback (most recent call last):\nnova.exception.ResizeError: Resize error: {fail}",
                        details=f"Resize error: {fail}")  # fmt: skip
            self._save(s)
            return
        s["old_flavor"] = s["flavor"]
        s["flavor"] = flavor
        s.update(vm_state="resized", task_state=None)
        for event in ("compute_prep_resize", "compute_resize_instance", "compute_finish_resize"):
            self._event(action, event, result="Success", host=s.get("host"))
        self._save(s)

    def _finish_confirm(self, s: JSON, action: str) -> None:
        pre = s.pop("pre_resize_vm_state", "active")
        s.pop("old_flavor", None)
        s.update(
            vm_state=pre, task_state=None, power_state=POWER["RUNNING" if pre == "active" else "SHUTDOWN"]
        )
        self._event(action, "compute_confirm_resize", result="Success", host=s.get("host"))
        self._save(s)

    def _finish_revert(self, s: JSON, action: str) -> None:
        pre = s.pop("pre_resize_vm_state", "active")
        s["flavor"] = s.pop("old_flavor", s["flavor"])
        s.update(
            vm_state=pre, task_state=None, power_state=POWER["RUNNING" if pre == "active" else "SHUTDOWN"]
        )
        self._event(action, "compute_revert_resize", result="Success", host=s.get("host"))
        self._event(action, "compute_finish_revert_resize", result="Success", host=s.get("host"))
        self._save(s)

    def _finish_live_resize(self, s: JSON, action: str, flavor: JSON, fail: str | None = None) -> None:
        if fail:
            self._event(action, "compute_live_resize", result="Error", host=s.get("host"),
                        traceback=f"nova.exception.ResizeError: Resize error: {fail}", details=fail)  # fmt: skip
        else:
            s["flavor"] = flavor
            self._event(action, "compute_live_resize", result="Success", host=s.get("host"))
        s["task_state"] = None
        self._save(s)

    def _finish_snapshot(self, s: JSON, action: str, image_id: str) -> None:
        image = self.store.get("image", image_id)
        if image is not None:
            data = f"snapshot of {s['id']} at {now_iso()}\n".encode() * 64
            image.pop("_snapshot_of", None)
            self.glance.put_data(image, data)
        s["task_state"] = None
        self._event(action, "compute_snapshot_instance", result="Success", host=s.get("host"))
        self._save(s)
