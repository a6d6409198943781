"""Command line: the console TUI by default, `issuer`, `license` and the scriptable `--json` subcommands.

Kept light at import: heavy modules (services, Textual) load only inside the command that needs them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from ectui.config import Settings

EXIT_REFUSED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one clear line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        from ectui.i18n import _

        hint = _("try '{prog} --help'").format(prog=self.prog)
        label = _("error")
        self.exit(EXIT_USAGE, f"{self.prog}: {label}: {message} ({hint})\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    from ectui import __version__

    parser = _Parser(prog="ectui", description="Terminal console for OpenStack private clouds.")
    parser.add_argument("--version", action="version", version=f"ectui {__version__}")
    parser.add_argument("--lang", help="UI language: en or zh_CN (default: from LANG)")
    parser.add_argument(
        "--db-url", help="SQLAlchemy URL of the console database (default: SQLite in the data dir)"
    )
    parser.add_argument("--readonly", action="store_true", help="refuse every changing action")
    parser.add_argument(
        "--demo", action="store_true", help="start the built-in dev cloud and open the console on it"
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    # -- console license
    lic = sub.add_parser("license", help="the license installed in this console")
    lic_sub = lic.add_subparsers(dest="action", required=True, parser_class=_Parser)
    imp = lic_sub.add_parser("import", help="install a license file (.ec)")
    imp.add_argument("file", type=Path, metavar="FILE.ec")
    imp.add_argument(
        "--properties",
        type=Path,
        metavar="FILE.properties",
        help="default: constant.properties in the config dir",
    )
    imp.add_argument("--json", action="store_true")
    show = lic_sub.add_parser("show", help="the license in force and its limits")
    show.add_argument("--json", action="store_true")

    # -- clusters and nodes
    cluster = sub.add_parser("cluster", help="OpenStack clusters managed by this console")
    csub = cluster.add_subparsers(dest="action", required=True, parser_class=_Parser)
    cadd = csub.add_parser("add", help="register a cluster (from clouds.yaml or explicit credentials)")
    cadd.add_argument("--name", required=True)
    cadd.add_argument("--cloud", metavar="CLOUD", help="a clouds.yaml entry (default: $OS_CLOUD)")
    cadd.add_argument("--auth-url", metavar="URL")
    cadd.add_argument("--username", metavar="USER")
    cadd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    cadd.add_argument("--project", metavar="PROJECT")
    cadd.add_argument("--user-domain", default="Default", metavar="DOMAIN")
    cadd.add_argument("--project-domain", default="Default", metavar="DOMAIN")
    cadd.add_argument("--region", default="", metavar="REGION")
    tls = cadd.add_mutually_exclusive_group()
    tls.add_argument("--cacert", metavar="FILE", help="CA bundle to verify the cloud's TLS certificate")
    tls.add_argument("--insecure", action="store_true", help="do not verify TLS (test clouds only)")
    cadd.add_argument("--storage", default="shared", choices=("local", "shared"))
    cadd.add_argument("--json", action="store_true")
    clist = csub.add_parser("list", help="list clusters")
    clist.add_argument("--json", action="store_true")
    ctest = csub.add_parser("test", help="test the connection (and the FTP server, when set)")
    ctest.add_argument("name", metavar="NAME")
    ctest.add_argument("--json", action="store_true")
    crm = csub.add_parser("remove", help="forget a cluster (nothing in the cloud is touched)")
    crm.add_argument("name", metavar="NAME")
    crm.add_argument("--json", action="store_true")
    cftp = csub.add_parser("ftp", help="set the cluster's FTP server for ISO files")
    cftp.add_argument("name", metavar="NAME")
    cftp.add_argument("--host", required=True)
    cftp.add_argument("--port", default="21")
    cftp.add_argument("--user", required=True)
    cftp.add_argument("--password-stdin", action="store_true", required=True)
    cftp.add_argument("--dir", default="/", metavar="DIR")
    cftp.add_argument("--json", action="store_true")

    node = sub.add_parser("node", help="compute nodes of the clusters")
    nsub = node.add_subparsers(dest="action", required=True, parser_class=_Parser)
    nsync = nsub.add_parser("sync", help="copy hypervisors and zones from the cloud")
    nsync.add_argument("cluster", metavar="CLUSTER")
    nsync.add_argument("--json", action="store_true")
    nlist = nsub.add_parser("list", help="list compute nodes with their capacity")
    nlist.add_argument("--cluster", metavar="C")
    nlist.add_argument("--json", action="store_true")

    # -- issuer
    issuer = sub.add_parser("issuer", help="the license authority (opens its TUI without a subcommand)")
    issuer.add_argument("--db-url", dest="issuer_db_url", help="SQLAlchemy URL of the issuer database")
    isub = issuer.add_subparsers(dest="area", parser_class=_Parser)

    edition = isub.add_parser("edition", help="editions: limits and features sold together")
    esub = edition.add_subparsers(dest="action", required=True, parser_class=_Parser)
    add = esub.add_parser("add", help="create an edition")
    add.add_argument("--name", required=True)
    add.add_argument("--max-clusters", required=True, metavar="N")
    add.add_argument("--max-nodes", required=True, metavar="N")
    add.add_argument("--storage", required=True, metavar="MODES", help="comma-separated: local,shared")
    add.add_argument(
        "--features",
        required=True,
        metavar="CODES",
        help="comma-separated modules or menus: platform,statistics,users,workflow,billing",
    )
    add.add_argument(
        "--grace-days", default="7", metavar="N", help="days an expired license keeps working (default 7)"
    )
    add.add_argument("--price", default="0", metavar="P")
    add.add_argument("--description", default="", metavar="D")
    add.add_argument("--json", action="store_true")
    elist = esub.add_parser("list", help="list editions")
    elist.add_argument("--json", action="store_true")
    eshow = esub.add_parser("show", help="one edition")
    eshow.add_argument("name")
    eshow.add_argument("--json", action="store_true")
    edel = esub.add_parser("delete", help="delete an edition no license uses")
    edel.add_argument("name")
    edel.add_argument("--json", action="store_true")

    license_ = isub.add_parser("license", help="licenses of customers")
    lsub = license_.add_subparsers(dest="action", required=True, parser_class=_Parser)
    ladd = lsub.add_parser("add", help="create a license (with its own RSA-3072 key pair)")
    ladd.add_argument("--customer", required=True)
    ladd.add_argument("--edition", required=True, metavar="NAME")
    ladd.add_argument("--valid-from", required=True, metavar="YYYY-MM-DD")
    ladd.add_argument("--valid-to", required=True, metavar="YYYY-MM-DD")
    ladd.add_argument("--json", action="store_true")
    llist = lsub.add_parser("list", help="list licenses")
    llist.add_argument("--json", action="store_true")
    lshow = lsub.add_parser("show", help="one license")
    lshow.add_argument("id", metavar="ID")
    lshow.add_argument("--json", action="store_true")
    lupd = lsub.add_parser("update", help="change customer, edition or validity")
    lupd.add_argument("id", metavar="ID")
    lupd.add_argument("--customer")
    lupd.add_argument("--edition", metavar="NAME")
    lupd.add_argument("--valid-from", metavar="YYYY-MM-DD")
    lupd.add_argument("--valid-to", metavar="YYYY-MM-DD")
    lupd.add_argument("--json", action="store_true")
    ldel = lsub.add_parser("delete", help="delete a license and its keys")
    ldel.add_argument("id", metavar="ID")
    ldel.add_argument("--json", action="store_true")
    lexp = lsub.add_parser("export", help="write the .ec file and the installation's constant.properties")
    lexp.add_argument("id", metavar="ID")
    lexp.add_argument("--out", required=True, type=Path, metavar="FILE.ec")
    lexp.add_argument("--properties", required=True, type=Path, metavar="FILE.properties")
    lexp.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ectui` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list == ["--version"]:  # the cheapest path: no parser, no imports
        from ectui import __version__

        print(f"ectui {__version__}")
        return 0
    from ectui.config import Settings, configure_logging, normalize_lang
    from ectui.i18n import set_language

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--lang")
    known, _rest = pre.parse_known_args(args_list)
    settings = Settings.from_env(lang=normalize_lang(known.lang) if known.lang else None)
    set_language(settings.lang)
    args = build_parser().parse_args(args_list)
    settings = settings.with_changes(db_url=args.db_url or settings.db_url)
    if getattr(args, "issuer_db_url", None):
        settings = settings.with_changes(issuer_db_url=args.issuer_db_url)
    for url in (args.db_url, getattr(args, "issuer_db_url", None)):
        if url and not _valid_db_url(url):  # never echo the URL: it may hold a password
            from ectui.i18n import render
            from ectui.services.errors import ValidationError

            print("ectui: " + render(ValidationError("validation.db_url", field="--db-url")), file=sys.stderr)
            return EXIT_USAGE
    try:
        configure_logging(settings)
    except OSError as err:
        print(f"ectui: cannot write logs in {settings.log_dir}: {err.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        return _dispatch(args, settings)
    except KeyboardInterrupt:
        print("ectui: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line here, the traceback in the log file
        from ectui.i18n import _

        _log_exception(settings, err)
        message = _("unexpected error ({kind}); details in {path}").format(
            kind=type(err).__name__, path=settings.log_dir / "ectui.log"
        )
        print("ectui: " + message, file=sys.stderr)
        return EXIT_REFUSED


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command is None:
        from ectui.tui import run_console

        return run_console(settings, readonly=args.readonly, demo=args.demo)
    if args.command == "issuer" and args.area is None:
        from ectui.tui import run_issuer

        return run_issuer(settings)
    if args.command == "issuer":
        handler = _ISSUER[(args.area, args.action)]
        return _run(settings, args, handler, issuer=True)
    handler = _CONSOLE[(args.command, args.action)]
    return _run(settings, args, handler, issuer=False)


Handler = Callable[[Any, argparse.Namespace], Coroutine[Any, Any, Any]]


def _run(settings: Settings, args: argparse.Namespace, handler: Handler, *, issuer: bool) -> int:
    """Start the right services, run one command, print its result; errors are one line on stderr."""
    import asyncio

    from ectui.i18n import _, render
    from ectui.services import build_console_services, build_issuer_services
    from ectui.services.errors import ServiceError

    services: Any = (
        build_issuer_services(settings)
        if issuer
        else build_console_services(settings, readonly=args.readonly)
    )

    async def go() -> Any:
        await services.start()
        return await handler(services, args)

    try:
        result = asyncio.run(go())
    except _Refused as refused:
        print(json.dumps(refused.data, ensure_ascii=False) if args.json else refused.text)
        return EXIT_REFUSED
    except ServiceError as err:
        print(f"ectui: {render(err)}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # a bug or an unreachable database: one line here, the details in the log
        _log_exception(settings, err)
        print(
            "ectui: "
            + _("unexpected error ({kind}); details in {path}").format(
                kind=type(err).__name__, path=settings.log_dir / "ectui.log"
            ),
            file=sys.stderr,
        )
        return EXIT_REFUSED
    finally:
        services.close()
    if result is not None:
        data, text = result
        print(json.dumps(data, ensure_ascii=False) if args.json else text)
    return 0


def _valid_db_url(url: str) -> bool:
    """The URL parses and names a database driver that is installed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url).get_dialect()
    except (ArgumentError, ImportError, ValueError):
        return False
    return True


def _log_exception(settings: Settings, err: BaseException) -> None:
    import logging

    logging.getLogger("ectui").error("command failed", exc_info=err)


def _license_id(value: str) -> int:
    from ectui.services.errors import ValidationError

    try:
        number = int(value)
    except ValueError:
        raise ValidationError("validation.int", field="ID", value=value) from None
    if number < 1:
        raise ValidationError("validation.positive", field="ID", value=number)
    return number


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


# ------------------------------------------------------------------ issuer handlers


async def _edition_add(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _
    from ectui.services.issuer import EditionDraft

    draft = EditionDraft.parse(
        name=a.name,
        max_clusters=a.max_clusters,
        max_nodes=a.max_nodes,
        storage=a.storage,
        features=a.features,
        grace_days=a.grace_days,
        price=a.price,
        description=a.description,
    )
    info = await s.issuer.create_edition(draft)
    return info.to_json(), _("Edition '{name}' created.").format(name=info.name)


async def _edition_list(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    items = await s.issuer.list_editions()
    rows = [
        (
            e.name,
            e.max_clusters,
            e.max_nodes,
            ",".join(e.storage),
            ",".join(e.modules),
            e.price,
            e.license_count,
        )
        for e in items
    ]
    headers = (_("Name"), _("Clusters"), _("Nodes"), _("Storage"), _("Modules"), _("Price"), _("Licenses"))
    return {"editions": [e.to_json() for e in items]}, _table(headers, rows)


async def _edition_show(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    info = await s.issuer.get_edition(a.name)
    return info.to_json(), _describe(info.to_json())


async def _edition_delete(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    await s.issuer.delete_edition(a.name)
    return {"deleted": a.name}, _("Edition '{name}' deleted.").format(name=a.name)


async def _license_add(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _
    from ectui.services.issuer import LicenseDraft

    draft = LicenseDraft.parse(
        customer=a.customer, edition=a.edition, valid_from=a.valid_from, valid_to=a.valid_to
    )
    info = await s.issuer.create_license(draft)
    return info.to_json(), _("License {id} created for {customer}.").format(
        id=info.id, customer=info.customer
    )


async def _license_list(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    items = await s.issuer.list_licenses()
    rows = [(i.id, i.customer, i.edition, i.valid_from, i.valid_to, _(i.status)) for i in items]
    headers = ("ID", _("Customer"), _("Edition"), _("Valid from"), _("Valid to"), _("Status"))
    return {"licenses": [i.to_json() for i in items]}, _table(headers, rows)


async def _license_show(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    info = await s.issuer.get_license(_license_id(a.id))
    return info.to_json(), _describe(info.to_json())


async def _license_update(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _
    from ectui.services.issuer import LicenseChanges

    changes = LicenseChanges.parse(
        customer=a.customer, edition=a.edition, valid_from=a.valid_from, valid_to=a.valid_to
    )
    info = await s.issuer.update_license(_license_id(a.id), changes)
    return info.to_json(), _("License {id} updated.").format(id=info.id)


async def _license_delete(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    license_id = _license_id(a.id)
    await s.issuer.delete_license(license_id)
    return {"deleted": license_id}, _("License {id} deleted.").format(id=license_id)


async def _license_export(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    result = await s.issuer.export_license(_license_id(a.id), a.out, a.properties)
    data = {"id": result.license_id, "ec": str(result.ec_path), "properties": str(result.properties_path)}
    text = _("Wrote {ec} and {properties} (keep the properties file private).").format(
        ec=result.ec_path, properties=result.properties_path
    )
    return data, text


# ------------------------------------------------------------------ console handlers


async def _console_import(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    status = await s.license.import_license(a.file, a.properties)
    return status.to_json(), _("License installed: {header}").format(header=status.header_text())


async def _console_show(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _, render

    status = await s.license.status()
    data = status.to_json()
    text = _describe(data)
    if status.reason is not None:
        text += "\n" + _("Read-only: {reason}").format(reason=render(status.reason))
    return data, text


def _read_password() -> str:
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


async def _cluster_add(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    import os

    from ectui.i18n import _
    from ectui.services.clusters import ClusterDraft

    cloud = a.cloud or (None if a.auth_url else os.environ.get("OS_CLOUD"))
    password = _read_password() if a.password_stdin else None
    draft = ClusterDraft.parse(
        name=a.name,
        storage_mode=a.storage,
        cloud=cloud,
        auth_url=a.auth_url,
        username=a.username,
        password=password,
        project=a.project,
        user_domain=a.user_domain,
        project_domain=a.project_domain,
        region=a.region,
        cacert=a.cacert,
        insecure=a.insecure,
    )
    info = await s.clusters.add(draft)
    return info.to_json(), _("Cluster '{name}' added; test it with: ectui cluster test {name}").format(
        name=info.name
    )


async def _cluster_list(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    items = await s.clusters.list()
    rows = [(c.name, c.source, c.project, c.storage_mode, c.node_count, c.ftp or "-") for c in items]
    headers = (_("Name"), _("Source"), _("Project"), _("Storage"), _("Nodes"), "FTP")
    return {"clusters": [c.to_json() for c in items]}, _table(headers, rows)


class _Refused(Exception):
    """A command that ran but reports failure (exit 1) after printing its result."""

    def __init__(self, data: object, text: str) -> None:
        super().__init__(text)
        self.data, self.text = data, text


async def _cluster_test(s: Any, a: argparse.Namespace) -> tuple[object, str]:
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
        raise _Refused(data, "\n".join(lines))
    return data, "\n".join(lines)


async def _cluster_remove(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    await s.clusters.remove(a.name)
    return {"removed": a.name}, _("Cluster '{name}' removed.").format(name=a.name)


async def _cluster_ftp(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _
    from ectui.services.clusters import FtpDraft

    draft = FtpDraft.parse(
        host=a.host, port=a.port, username=a.user, password=_read_password(), iso_dir=a.dir
    )
    info = await s.clusters.set_ftp(a.name, draft)
    return info.to_json(), _("FTP settings of '{name}' saved.").format(name=info.name)


async def _node_sync(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    result = await s.clusters.sync_nodes(a.cluster)
    text = _("{cluster}: {added} added, {updated} updated, {gone} gone.").format(
        cluster=result.cluster, added=result.added, updated=result.updated, gone=result.gone
    )
    return result.to_json(), text + "\n" + _node_table(result.nodes)


async def _node_list(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    nodes = await s.clusters.list_nodes(a.cluster)
    return {"nodes": [n.to_json() for n in nodes]}, _node_table(nodes)


def _node_table(nodes: Sequence[Any]) -> str:
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
    return _table(headers, rows)


def _describe(data: dict[str, Any]) -> str:
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        lines.append(f"{key:<16} {'-' if value is None else value}")
    return "\n".join(lines)


_ISSUER: dict[tuple[str, str], Handler] = {
    ("edition", "add"): _edition_add,
    ("edition", "list"): _edition_list,
    ("edition", "show"): _edition_show,
    ("edition", "delete"): _edition_delete,
    ("license", "add"): _license_add,
    ("license", "list"): _license_list,
    ("license", "show"): _license_show,
    ("license", "update"): _license_update,
    ("license", "delete"): _license_delete,
    ("license", "export"): _license_export,
}
_CONSOLE: dict[tuple[str, str], Handler] = {
    ("license", "import"): _console_import,
    ("license", "show"): _console_show,
    ("cluster", "add"): _cluster_add,
    ("cluster", "list"): _cluster_list,
    ("cluster", "test"): _cluster_test,
    ("cluster", "remove"): _cluster_remove,
    ("cluster", "ftp"): _cluster_ftp,
    ("node", "sync"): _node_sync,
    ("node", "list"): _node_list,
}
