"""`ectui vm …` and `ectui keypair …`: VMs of the current project and SSH key pairs."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ectui.commands._util import (
    Parser,
    command,
    describe,
    progress_printer,
    read_password,
    submitted_text,
    table,
)

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database


VM_COLUMNS = (
    "id", "cloud_id", "name", "project", "cluster", "status", "task_state", "vcpus", "ram_gb", "disk_gb", "node",
    "network", "fixed_ip", "floating_ip", "os_type", "login", "user_name", "keypair", "template", "locked",
    "lock_reason", "mounted_iso", "description", "created_by", "created_at",
)  # fmt: skip
"""The keys of a VM's JSON (VmInfo.to_json): the columns of `vm list`."""


def _vm_command(vsub: Any, name: str, **kwargs: Any) -> Any:
    """A `vm` subcommand that acts on one VM, given by id or name."""
    from ectui.i18n import _

    parser = vsub.add_parser(name, **kwargs)
    parser.add_argument("vm", metavar="VM", help=_("VM id or name"))
    return parser


def register(sub: Any) -> None:
    """Add the vm and keypair commands."""
    from ectui.i18n import _

    vm = sub.add_parser("vm", help=_("VMs of the current project"))
    vsub = vm.add_subparsers(dest="action", required=True, parser_class=Parser)
    create = vsub.add_parser("create", help=_("create a VM (the same checks and messages as the form)"))
    create.add_argument("--name", required=True, metavar=_("NAME"), help=_("VM name"))
    create.add_argument("--template", required=True, metavar=_("TEMPLATE"), help=_("template id or name"))
    create.add_argument("--cpu", required=True, metavar="N", help=_("number of vCPUs"))
    create.add_argument("--ram", required=True, metavar="GB", help=_("RAM in GiB"))
    create.add_argument(
        "--network", required=True, metavar=_("NETWORK"), help=_("private network name or id")
    )
    login = create.add_mutually_exclusive_group(required=True)
    login.add_argument("--password-stdin", action="store_true", help=_("read the login password from stdin"))
    login.add_argument("--keypair", metavar=_("KEYPAIR"), help=_("log in with this key pair"))
    place = create.add_mutually_exclusive_group(required=True)
    place.add_argument("--node", metavar=_("HOST"), help=_("boot on this compute node"))
    place.add_argument("--auto-place", action="store_true", help=_("let the cloud choose the node"))
    create.add_argument("--public-ip", action="store_true", help=_("attach a public (floating) IP"))
    create.add_argument("--description", default="", metavar=_("TEXT"), help=_("free text (default: empty)"))
    vlist = vsub.add_parser("list", help=_("list VMs (current project; --all: every project and cluster)"))
    vlist.add_argument("--all", action="store_true", help=_("VMs of every project and cluster"))
    vlist.add_argument(
        "--refresh",
        action="store_true",
        help=_("ask the clouds for the VMs' state first (default: the database view)"),
    )
    vlist.add_argument(
        "--no-refresh", action="store_true", help=argparse.SUPPRESS
    )  # the old default; a no-op
    vlist.set_defaults(local_read=True, quick=vm_list_quick)  # without --refresh: no cloud, no recovery
    show = _vm_command(vsub, "show", help=_("show one VM with its operations"))
    command(create, vm_create)
    command(vlist, vm_list, columns=VM_COLUMNS)
    command(show, vm_show)
    for action, text in (
        ("start", _("power on a VM")),
        ("stop", _("power off a VM")),
        ("reboot", _("reboot a VM")),
        ("delete", _("delete a VM")),
    ):
        parser = _vm_command(vsub, action, help=text)
        if action != "delete":
            parser.add_argument("--wait", action="store_true", help=_("wait until the VM is settled"))
        if action == "reboot":
            parser.add_argument(
                "--hard", action="store_true", help=_("power-cycle instead of a guest OS reboot")
            )
        command(parser, vm_action)
    console = _vm_command(vsub, "console", help=_("print a remote console URL"))
    console.add_argument(
        "--serial",
        action="store_true",
        help=_("also print the serial console URL (ws://), when the cloud offers it"),
    )
    console.add_argument(
        "--tunnel",
        action="store_true",
        help=_("also print an 'ssh -L' line to reach the noVNC URL through a jump host, and the local URL"),
    )
    console.add_argument(
        "--jump-host",
        default="JUMPHOST",
        metavar=_("HOST"),
        help=_("the SSH jump host of the --tunnel line (default: the placeholder JUMPHOST)"),
    )
    command(console, vm_console)
    clog = _vm_command(
        vsub, "console-log", help=_("print the console log of a VM (boot and cloud-init messages)")
    )
    clog.add_argument(
        "--lines", type=int, default=200, metavar="N", help=_("the last N lines (1-10000, default: 200)")
    )
    clog.add_argument("--follow", action="store_true", help=_("keep printing new lines until Ctrl+C"))
    clog.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)  # seconds between polls
    clog.add_argument("--max-seconds", type=float, default=None, help=argparse.SUPPRESS)  # tests: follow ends
    command(clog, vm_console_log)
    snap = _vm_command(vsub, "snapshot", help=_("snapshot a VM into a new custom template"))
    snap.add_argument("--template-name", required=True, metavar=_("NAME"), help=_("name of the new template"))
    command(snap, vm_snapshot)
    resize = _vm_command(
        vsub, "resize", help=_("change a VM's CPU and RAM (hot where the cloud can, else cold)")
    )
    resize.add_argument("--cpu", required=True, metavar="N", help=_("new number of vCPUs"))
    resize.add_argument("--ram", required=True, metavar="GB", help=_("new RAM in GiB"))
    how = resize.add_mutually_exclusive_group()
    how.add_argument(
        "--hot", action="store_true", help=_("resize while running (liveResize); refused when unavailable")
    )
    how.add_argument("--cold", action="store_true", help=_("stop, resize and start again"))
    resize.add_argument(
        "--yes", action="store_true", help=_("agree that a running VM is stopped (cold resize)")
    )
    command(resize, vm_resize)
    mount = _vm_command(vsub, "mount-iso", help=_("mount an enabled ISO of the VM's cluster as its CD-ROM"))
    mount.add_argument("iso", metavar="ISO", help=_("ISO id, name or file name"))
    mount.add_argument(
        "--yes",
        action="store_true",
        help=_("agree that the VM reboots into the ISO (clouds without CD-ROM extension)"),
    )
    command(mount, vm_mount_iso)
    unmount = _vm_command(vsub, "unmount-iso", help=_("unmount the VM's ISO"))
    command(unmount, vm_unmount_iso)

    keypair = sub.add_parser("keypair", help=_("SSH key pairs for VM logins"))
    ksub = keypair.add_subparsers(dest="action", required=True, parser_class=Parser)
    kimport = ksub.add_parser("import", help=_("import an OpenSSH public key"))
    kimport.add_argument("--name", required=True, metavar=_("NAME"), help=_("key pair name"))
    kimport.add_argument(
        "--public-key",
        required=True,
        metavar=_("FILE"),
        help=_("OpenSSH public key file, e.g. ~/.ssh/id_ed25519.pub"),
    )
    kimport.add_argument(
        "--cluster",
        metavar=_("CLUSTER"),
        help=_("cluster to import into (default: the current project's cluster)"),
    )
    klist = ksub.add_parser("list", help=_("list key pairs"))
    klist.add_argument(
        "--cluster", metavar=_("CLUSTER"), help=_("cluster to list (default: the current project's cluster)")
    )
    command(kimport, keypair_import)
    command(klist, keypair_list)


async def vm_create(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.vms import VmDraft

    password = read_password() if a.password_stdin else ""
    template_id = await s.vms.template_ref(a.template)
    draft = VmDraft.parse(
        name=a.name,
        template_id=template_id,
        placement="auto" if a.auto_place else "manual",
        node=a.node,
        login="password" if a.password_stdin else "keypair",
        password=password,
        password_confirm=password,
        keypair=a.keypair,
        cpu=a.cpu,
        ram_gb=a.ram,
        description=a.description,
        network=a.network,
        public_ip=a.public_ip,
    )
    outcome = await s.workflow.submit_or_run(draft, on_progress=progress_printer())
    if outcome.submitted:  # an operator with the workflow module: an admin approves it later
        return outcome.request.to_json(), submitted_text(outcome.request)
    info = outcome.result
    text = _("VM '{name}' created (id {id}) on {node}: {ip}{public}; log in as {user}.").format(
        name=info.name,
        id=info.id,
        node=info.node,
        ip=info.fixed_ip or "-",
        public=f" / {info.floating_ip}" if info.floating_ip else "",
        user=info.user_name,
    )
    return info.to_json(), text


async def vm_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    items = await (s.vms.refresh if a.refresh else s.vms.list_all)(all_projects=a.all)
    return _vm_list_result([v.to_json() for v in items], all_projects=a.all)


def vm_list_quick(db: Database, a: argparse.Namespace, settings: Settings) -> tuple[object, object] | None:
    """`vm list` from the database through ectui.db.reads; None (the full command) without a current project."""
    from ectui.db import reads

    project = None
    if not a.all:
        project = reads.current_project(db, settings.operator)
        if project is None:  # the full command refuses it, in its words
            return None
    return _vm_list_result(reads.vms(db, project), all_projects=a.all)


def _vm_list_result(items: list[dict[str, Any]], *, all_projects: bool) -> tuple[object, object]:
    """The `vm list` result of VMs given as their JSON dicts: the document and the table."""
    from ectui.i18n import _

    headers = [_("ID"), _("Name"), _("Status"), "vCPU", _("RAM GB"), _("Node"), _("IP"), _("Public IP")]
    if all_projects:
        headers += [_("Project"), _("Cluster")]
    rows = []
    for v in items:
        status = (
            v["status"]
            + (f" ({v['task_state']})" if v["task_state"] else "")
            + (" 🔒" if v["locked"] else "")
        )
        row: list[object] = [
            v["id"],
            v["name"],
            status,
            v["vcpus"],
            v["ram_gb"],
            v["node"],
            v["fixed_ip"],
            v["floating_ip"] or "-",
        ]
        if all_projects:
            row += [v["project"] or "-", v["cluster"]]
        rows.append(row)
    return {"vms": items}, table(headers, rows)


async def vm_show(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    info = await s.vms.find(a.vm, all_projects=True)
    history = await s.vms.history(info.id)
    data = info.to_json()
    data["operations"] = [op.to_json() for op in history]
    text = describe(info.to_json())
    if history:
        from ectui.i18n import _

        lines = [
            f"  #{op.id} {op.kind} {op.state} {op.created_at:%Y-%m-%d %H:%M} {op.error}".rstrip()
            for op in history
        ]
        text += "\n" + _("Operations:") + "\n" + "\n".join(lines)
    return data, text


async def vm_action(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.vms.find(a.vm, all_projects=True)
    if a.action == "delete":
        await s.vms.delete(info.id)
        return {"deleted": info.id, "name": info.name}, _("VM '{name}' deleted.").format(name=info.name)
    if a.action == "reboot":
        done = await s.vms.reboot(info.id, hard=a.hard, wait=a.wait)
    else:
        done = await getattr(s.vms, a.action)(info.id, wait=a.wait)
    status = done.status + (f" ({done.task_state})" if done.task_state else "")
    return done.to_json(), _("VM '{name}': {status}").format(name=done.name, status=status)


async def vm_console(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    info = await s.vms.find(a.vm, all_projects=True)
    url = await s.vms.console_url(info.id)
    if not (a.serial or a.tunnel):
        return {"id": info.id, "url": url}, url
    from ectui.i18n import _
    from ectui.services.console import ssh_tunnel

    data: dict[str, Any] = {"id": info.id, "url": url}
    lines = [url]
    if a.tunnel:
        tunnel = ssh_tunnel(url, a.jump_host)
        data["tunnel"] = {"command": tunnel.command, "local_url": tunnel.local_url}
        lines += [_("Tunnel: {command}").format(command=tunnel.command),
                  _("Then open: {url}").format(url=tunnel.local_url)]  # fmt: skip
    if a.serial:
        data["serial_url"] = await s.console.serial_console(info.id)
        lines.append(_("Serial console: {url}").format(url=data["serial_url"]))
        from ectui.services.console import serial_attach

        data["serial_attach"] = serial_attach(data["serial_url"])
        lines.append(_("Attach from a terminal: {command}").format(command=data["serial_attach"]))
    return data, "\n".join(lines)


async def vm_console_log(s: Any, a: argparse.Namespace) -> tuple[object, str] | None:
    from ectui.services.console import MAX_LINES

    info = await s.vms.find(a.vm, all_projects=True)
    text = await s.console.console_log(info.id, lines=a.lines)
    lines = text.splitlines()
    if not a.follow:
        return {"id": info.id, "name": info.name, "lines": lines}, "\n".join(lines)
    as_json = getattr(a, "json", False) is True or getattr(a, "format", None) == "json"
    _emit(lines, as_json)
    stop = await _follow(
        s, info.id, lines, as_json, min(max(a.lines, 1000), MAX_LINES), a.interval, a.max_seconds
    )
    if stop:
        raise SystemExit(130)  # Ctrl+C: the quiet end of following
    return None


def _emit(lines: list[str], as_json: bool) -> None:
    from ectui.commands._util import write_json
    from ectui.text import visible

    for line in lines:
        write_json({"line": line}) if as_json else sys.stdout.write(visible(line) + "\n")
    sys.stdout.flush()


async def _follow(
    s: Any,
    vm_id: int,
    seen: list[str],
    as_json: bool,
    window: int,
    interval: float,
    max_seconds: float | None,
) -> bool:
    """Print the lines the log gains, polling every `interval` s; True when ended by Ctrl+C (SIGINT)."""
    import asyncio
    import signal

    from ectui.services.console import new_lines

    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    try:
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
        handled = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        handled = False
    deadline = None if max_seconds is None else loop.time() + max_seconds
    try:
        while not interrupted.is_set():
            wait = max(interval, 0.05)
            if deadline is not None:
                wait = min(wait, deadline - loop.time())
                if wait <= 0:
                    return False
            try:
                await asyncio.wait_for(interrupted.wait(), wait)
                break
            except TimeoutError:
                pass
            current = (await s.console.console_log(vm_id, lines=window)).splitlines()
            _emit(new_lines(seen, current), as_json)
            seen = current
        return True
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)


async def vm_snapshot(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.vms.find(a.vm, all_projects=True)
    made = await s.vms.snapshot(info.id, a.template_name, on_progress=progress_printer())
    return made.to_json(), _(
        "Custom template '{template}' (id {id}) made from a snapshot of VM '{name}'."
    ).format(template=made.template, id=made.template_id, name=made.vm)


async def vm_resize(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.commands._util import Refused
    from ectui.i18n import _

    info = await s.vms.find(a.vm, all_projects=True)
    plan = await s.resize.plan(info.id, a.cpu, a.ram, "hot" if a.hot else "cold" if a.cold else None)
    if plan.will_stop and not a.yes:
        text = _(
            "VM '{name}' is running: a cold resize stops it and starts it again. Add --yes to go on."
        ).format(name=plan.vm_name)
        if plan.hot_reason:
            text += " " + _("Hot resize is not possible: {reason}.").format(reason=_(plan.hot_reason))
        raise Refused({"refused": "will_stop", "plan": plan.to_json(), "message": text}, text)
    outcome = await s.workflow.submit_or_run(plan, on_progress=progress_printer())
    if outcome.submitted:  # an operator with the workflow module: an admin approves it later
        return outcome.request.to_json(), submitted_text(outcome.request)
    op = outcome.result
    data = {"operation": op.to_json(), "plan": plan.to_json(), "vm": (await s.vms.get(info.id)).to_json()}
    text = _("VM '{name}' resized to {vcpus} vCPU and {ram_gb} GB ({mode}, operation #{id}).").format(
        name=plan.vm_name, vcpus=plan.new_vcpus, ram_gb=plan.new_ram_gb, mode=plan.mode, id=op.id
    )
    return data, text


async def _iso_id(s: Any, vm: Any, ref: str) -> int:
    from ectui.services.vms import VmError

    text = ref.strip()
    isos = await s.isos.list_all(vm.cluster)
    if text.isascii() and text.isdigit() and any(i.id == int(text) for i in isos):
        return int(text)
    found = [i.id for i in isos if text in (i.name, i.file_name)]
    if len(found) != 1:
        raise VmError("vm.iso_not_found", id=text)
    return int(found[0])


async def vm_mount_iso(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.vms.find(a.vm, all_projects=True)
    mounted = await s.vms.mount_iso(info.id, await _iso_id(s, info, a.iso), confirm_reboot=a.yes)
    text = _("ISO {iso} mounted on VM {name}. In the guest: {hint}").format(
        iso=mounted.iso, name=info.name, hint=mounted.hint
    )
    return mounted.to_json(), text


async def vm_unmount_iso(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.vms.find(a.vm, all_projects=True)
    done = await s.vms.unmount_iso(info.id)
    return done.to_json(), _("ISO unmounted from VM {name}.").format(name=done.name)


async def keypair_import(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.keypairs.import_key_file(a.name, a.public_key, cluster=a.cluster)
    return info.to_json(), _("Key pair '{name}' imported into {cluster} ({fingerprint}).").format(
        name=info.name, cluster=info.cluster, fingerprint=info.fingerprint
    )


async def keypair_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    items = await s.keypairs.list_all(cluster=a.cluster)
    rows = [(k.name, k.cluster, k.fingerprint) for k in items]
    return {"keypairs": [k.to_json() for k in items]}, table(
        (_("Name"), _("Cluster"), _("Fingerprint")), rows
    )
