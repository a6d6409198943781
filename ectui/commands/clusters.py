"""`ectui cluster …` and `ectui node …`: clusters, their FTP servers and compute nodes."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ectui.commands._util import Parser, Refused, TextTable, command, picked, read_password, table


def register(sub: Any) -> None:
    """Add the commands of this module to the top-level subparsers."""
    from ectui.i18n import _

    # -- clusters and nodes
    cluster = sub.add_parser("cluster", help=_("OpenStack clusters managed by this console"))
    csub = cluster.add_subparsers(dest="action", required=True, parser_class=Parser)
    cadd = csub.add_parser("add", help=_("register a cluster (from clouds.yaml or explicit credentials)"))
    cadd.add_argument(
        "--name", required=True, metavar=_("NAME"), help=_("name of the cluster in this console")
    )
    cadd.add_argument("--cloud", metavar="CLOUD", help=_("a clouds.yaml entry (default: $OS_CLOUD)"))
    cadd.add_argument("--auth-url", metavar="URL", help=_("Keystone URL, e.g. https://keystone:5000/v3"))
    cadd.add_argument("--username", metavar=_("USER"), help=_("OpenStack user name (an admin of the cloud)"))
    cadd.add_argument(
        "--password-stdin", action="store_true", help=_("read the password from standard input")
    )
    cadd.add_argument("--project", metavar=_("PROJECT"), help=_("OpenStack project to log in to"))
    cadd.add_argument(
        "--user-domain",
        default="Default",
        metavar=_("DOMAIN"),
        help=_("the user's domain (default: Default)"),
    )
    cadd.add_argument(
        "--project-domain",
        default="Default",
        metavar=_("DOMAIN"),
        help=_("the project's domain (default: Default)"),
    )
    cadd.add_argument(
        "--region", default="", metavar=_("REGION"), help=_("region name (default: the cloud's only one)")
    )
    tls = cadd.add_mutually_exclusive_group()
    tls.add_argument("--cacert", metavar=_("FILE"), help=_("CA bundle to verify the cloud's TLS certificate"))
    tls.add_argument("--insecure", action="store_true", help=_("do not verify TLS (test clouds only)"))
    cadd.add_argument(
        "--storage",
        default="shared",
        choices=("local", "shared"),
        help=_("VM disks on the nodes' local disks or on shared storage (default: shared)"),
    )
    clist = csub.add_parser("list", help=_("list clusters"))
    ctest = csub.add_parser("test", help=_("test the connection (and the FTP server, when set)"))
    ctest.add_argument("name", metavar=_("NAME"), help=_("cluster name"))
    crm = csub.add_parser("remove", help=_("forget a cluster (nothing in the cloud is touched)"))
    crm.add_argument("name", metavar=_("NAME"), help=_("cluster name"))
    cftp = csub.add_parser("ftp", help=_("set the cluster's FTP server for ISO files"))
    cftp.add_argument("name", metavar=_("NAME"), help=_("cluster name"))
    cftp.add_argument("--host", required=True, metavar=_("HOST"), help=_("FTP server host name or IP"))
    cftp.add_argument("--port", default="21", metavar=_("PORT"), help=_("FTP port (default: 21)"))
    cftp.add_argument("--user", required=True, metavar=_("USER"), help=_("FTP user name"))
    cftp.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help=_("read the FTP password from standard input"),
    )
    cftp.add_argument(
        "--dir",
        default="/",
        metavar=_("DIR"),
        help=_("directory of the ISO files on the server (default: /)"),
    )

    node = sub.add_parser("node", help=_("compute nodes of the clusters"))
    nsub = node.add_subparsers(dest="action", required=True, parser_class=Parser)
    nsync = nsub.add_parser("sync", help=_("copy hypervisors and zones from the cloud"))
    nsync.add_argument("cluster", metavar=_("CLUSTER"), help=_("cluster name"))
    nlist = nsub.add_parser("list", help=_("list compute nodes with their capacity"))
    nlist.add_argument("--cluster", metavar=_("CLUSTER"), help=_("only this cluster's nodes (default: all)"))
    command(cadd, cluster_add)
    command(clist, cluster_list)
    command(ctest, cluster_test)
    command(crm, cluster_remove)
    command(cftp, cluster_ftp)
    command(nsync, node_sync)
    command(nlist, node_list)


async def cluster_add(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    import os

    from ectui.i18n import _
    from ectui.services.clusters import ClusterDraft

    cloud = a.cloud or (None if a.auth_url else os.environ.get("OS_CLOUD"))
    password = read_password() if a.password_stdin else None
    names = (
        "name",
        "auth_url",
        "username",
        "project",
        "user_domain",
        "project_domain",
        "region",
        "cacert",
        "insecure",
    )
    draft = ClusterDraft.parse(cloud=cloud, password=password, **picked(a, *names, storage_mode="storage"))
    info = await s.clusters.add(draft)
    return info.to_json(), _("Cluster '{name}' added; test it with: ectui cluster test {name}").format(
        name=info.name
    )


async def cluster_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    items = await s.clusters.list_all()
    rows = [(c.name, c.source, c.project, c.storage_mode, c.node_count, c.ftp or "-") for c in items]
    headers = (_("Name"), _("Source"), _("Project"), _("Storage"), _("Nodes"), "FTP")
    return {"clusters": [c.to_json() for c in items]}, table(headers, rows)


async def cluster_test(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _, render

    info = await s.clusters.get(a.name)
    verdict = await s.clusters.test(a.name)
    data: dict[str, Any] = {
        "cluster": info.name,
        "ok": verdict.ok,
        "verdict": verdict.verdict,
        "services": list(verdict.services),
        "reason": render(verdict.error) if verdict.error else None,
    }
    lines = [
        _("Cloud: OK ({services})").format(services=", ".join(verdict.services))
        if verdict.ok
        else _("Cloud: FAILED: {reason}").format(
            reason=render(verdict.error) if verdict.error else verdict.verdict
        )
    ]
    ok = verdict.ok
    if info.ftp:
        ftp = await s.clusters.test_ftp(a.name)
        data["ftp"] = {"ok": ftp.ok, "verdict": ftp.verdict, "iso_files": ftp.iso_count}
        lines.append(
            _("FTP: OK ({count} ISO files)").format(count=ftp.iso_count)
            if ftp.ok
            else _("FTP: FAILED: {reason}").format(reason=render(ftp.error) if ftp.error else ftp.verdict)
        )
        ok = ok and ftp.ok
    data["ok"] = ok
    if not ok:
        raise Refused(data, "\n".join(lines))
    return data, "\n".join(lines)


async def cluster_remove(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    await s.clusters.remove(a.name)
    return {"removed": a.name}, _("Cluster '{name}' removed.").format(name=a.name)


async def cluster_ftp(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.clusters import FtpDraft

    draft = FtpDraft.parse(host=a.host, port=a.port, username=a.user, password=read_password(), iso_dir=a.dir)
    info = await s.clusters.set_ftp(a.name, draft)
    return info.to_json(), _("FTP settings of '{name}' saved.").format(name=info.name)


async def node_sync(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    result = await s.clusters.sync_nodes(a.cluster)
    text = _("{cluster}: {added} added, {updated} updated, {gone} gone.").format(
        cluster=result.cluster, added=result.added, updated=result.updated, gone=result.gone
    )
    return result.to_json(), text + "\n" + node_table(result.nodes)


async def node_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    nodes = await s.clusters.list_nodes(a.cluster)
    return {"nodes": [n.to_json() for n in nodes]}, node_table(nodes)


def node_table(nodes: Sequence[Any]) -> TextTable:
    from ectui.i18n import _

    rows = [
        (
            n.cluster,
            n.name,
            n.zone,
            n.state if n.present else _("gone"),
            f"{n.vcpus_used}/{n.vcpus}",
            f"{n.memory_mb_used // 1024}/{n.memory_mb // 1024}",
            n.running_vms,
        )
        for n in nodes
    ]
    headers = (_("Cluster"), _("Node"), _("Zone"), _("State"), "vCPU", _("RAM GiB"), "VMs")
    return table(headers, rows)
