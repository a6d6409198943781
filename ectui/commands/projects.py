"""`ectui project …`: projects, the operator's current project and quotas."""

from __future__ import annotations

import argparse
from typing import Any

from ectui.commands._util import Parser, command, picked, table


def register(sub: Any) -> None:
    """Add the project commands."""
    from ectui.i18n import _

    project = sub.add_parser("project", help=_("projects and their quotas"))
    psub = project.add_subparsers(dest="action", required=True, parser_class=Parser)
    add = psub.add_parser("add", help=_("create a project mapped to a cloud project"))
    add.add_argument("--name", required=True, metavar=_("NAME"), help=_("project name in this console"))
    add.add_argument(
        "--cloud-project", metavar=_("PROJECT"), help=_("the project in the cloud (default: the name)")
    )
    add.add_argument("--cluster", metavar=_("CLUSTER"), help=_("the cluster of the cloud project"))
    add.add_argument("--vcpus", required=True, metavar="N", help=_("vCPU quota"))
    add.add_argument("--ram", required=True, metavar="GB", help=_("RAM quota in GiB"))
    add.add_argument("--vms", required=True, metavar="N", help=_("quota of VMs"))
    add.add_argument("--public-ips", default="0", metavar="N", help=_("quota of public IPs (default: 0)"))
    add.add_argument("--description", default="", metavar=_("TEXT"), help=_("free text (default: empty)"))
    plist = psub.add_parser("list", help=_("list projects with quota use"))
    use = psub.add_parser("use", help=_("make a project your current one"))
    use.add_argument("name", metavar=_("NAME"), help=_("project name"))
    quota = psub.add_parser("quota", help=_("show a project's quota, use and reservations (or change it)"))
    quota.add_argument("name", metavar=_("NAME"), help=_("project name"))
    quota.add_argument("--vcpus", metavar="N", help=_("new vCPU quota"))
    quota.add_argument("--ram", metavar="GB", help=_("new RAM quota in GiB"))
    quota.add_argument("--vms", metavar="N", help=_("new quota of VMs"))
    quota.add_argument("--public-ips", metavar="N", help=_("new quota of public IPs"))
    delete = psub.add_parser("delete", help=_("delete a project with nothing in use"))
    delete.add_argument("name", metavar=_("NAME"), help=_("project name"))
    command(add, project_add)
    command(plist, project_list)
    command(use, project_use)
    command(quota, project_quota)
    command(delete, project_delete)


async def project_add(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.projects import ProjectDraft

    draft = ProjectDraft.parse(
        **picked(
            a, "name", "vcpus", "vms", "public_ips", "cluster", "cloud_project", "description", ram_gb="ram"
        )
    )
    info = await s.projects.add(draft)
    return info.to_json(), _("Project '{name}' created.").format(name=info.name)


async def project_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    items = await s.projects.list_all()
    current = await s.projects.current()
    rows = [
        (
            ("* " if current and current.name == p.name else "  ") + p.name,
            p.cluster or "—",
            _usage(p, "vcpus"),
            _usage(p, "ram_gb"),
            _usage(p, "vms"),
            _usage(p, "public_ips"),
        )
        for p in items
    ]
    headers = (_("Project"), _("Cluster"), "vCPU", _("RAM GB"), "VMs", _("Public IPs"))
    data = {"projects": [p.to_json() for p in items], "current": current.name if current else None}
    return data, table(headers, rows)


def _usage(p: Any, key: str) -> str:
    used, reserved, quota = getattr(p.used, key), getattr(p.reserved, key), getattr(p.quota, key)
    return f"{used}+{reserved}/{quota}" if reserved else f"{used}/{quota}"


async def project_use(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.projects.use(a.name)
    return info.to_json(), _("Current project: {name}").format(name=info.name)


async def project_quota(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.projects import Amounts, ProjectDraft

    info = await s.projects.get(a.name)
    if any(v is not None for v in (a.vcpus, a.ram, a.vms, a.public_ips)):
        q = info.quota
        parsed = ProjectDraft.parse(
            name=info.name,
            vcpus=a.vcpus if a.vcpus is not None else q.vcpus,
            ram_gb=a.ram if a.ram is not None else q.ram_gb,
            vms=a.vms if a.vms is not None else q.vms,
            public_ips=a.public_ips if a.public_ips is not None else q.public_ips,
        )
        info = await s.projects.set_quota(a.name, Amounts(**parsed.quota.to_json()))
    headers = (_("Resource"), _("Quota"), _("Used"), _("Reserved"), _("Free"))
    labels = {"vcpus": "vCPU", "ram_gb": _("RAM GB"), "vms": "VMs", "public_ips": _("Public IPs")}
    rows = [
        (
            label,
            getattr(info.quota, k),
            getattr(info.used, k),
            getattr(info.reserved, k),
            getattr(info.free, k),
        )
        for k, label in labels.items()
    ]
    return info.to_json(), table(headers, rows)


async def project_delete(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    await s.projects.delete(a.name)
    return {"deleted": a.name}, _("Project '{name}' deleted.").format(name=a.name)
