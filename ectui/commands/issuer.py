"""`ectui issuer …`: editions and licenses of the license authority."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ectui.commands._util import Parser, command, describe, picked, positive_id, table


def register(sub: Any) -> None:
    """Add the commands of this module to the top-level subparsers."""
    from ectui.i18n import _

    # -- issuer
    issuer = sub.add_parser("issuer", help=_("the license authority (opens its TUI without a subcommand)"))
    issuer.add_argument(
        "--db-url",
        dest="issuer_db_url",
        metavar="URL",
        help=_("SQLAlchemy URL of the issuer database (default: SQLite in the data dir)"),
    )
    isub = issuer.add_subparsers(dest="area", parser_class=Parser)

    edition = isub.add_parser("edition", help=_("editions: limits and features sold together"))
    esub = edition.add_subparsers(dest="action", required=True, parser_class=Parser)
    add = esub.add_parser("add", help=_("create an edition"))
    add.add_argument("--name", required=True, metavar=_("NAME"), help=_("edition name"))
    add.add_argument(
        "--max-clusters", required=True, metavar="N", help=_("most clusters a console may manage")
    )
    add.add_argument("--max-nodes", required=True, metavar="N", help=_("most compute nodes in all clusters"))
    add.add_argument("--storage", required=True, metavar="MODES", help=_("comma-separated: local,shared"))
    add.add_argument(
        "--features",
        required=True,
        metavar="CODES",
        help=_("comma-separated modules or menus: platform,statistics,users,workflow,billing"),
    )
    add.add_argument(
        "--grace-days", default="7", metavar="N", help=_("days an expired license keeps working (default 7)")
    )
    add.add_argument(
        "--price", default="0", metavar=_("PRICE"), help=_("list price, informative (default: 0)")
    )
    add.add_argument("--description", default="", metavar=_("TEXT"), help=_("free text (default: empty)"))
    elist = esub.add_parser("list", help=_("list editions"))
    eshow = esub.add_parser("show", help=_("one edition"))
    eshow.add_argument("name", metavar=_("NAME"), help=_("edition name"))
    edel = esub.add_parser("delete", help=_("delete an edition no license uses"))
    edel.add_argument("name", metavar=_("NAME"), help=_("edition name"))

    license_ = isub.add_parser("license", help=_("licenses of customers"))
    lsub = license_.add_subparsers(dest="action", required=True, parser_class=Parser)
    ladd = lsub.add_parser("add", help=_("create a license (with its own RSA-3072 key pair)"))
    ladd.add_argument("--customer", required=True, metavar=_("NAME"), help=_("customer name"))
    ladd.add_argument("--edition", required=True, metavar=_("NAME"), help=_("edition name"))
    ladd.add_argument(
        "--valid-from", required=True, metavar="YYYY-MM-DD", help=_("first valid day, YYYY-MM-DD")
    )
    ladd.add_argument("--valid-to", required=True, metavar="YYYY-MM-DD", help=_("last valid day, YYYY-MM-DD"))
    llist = lsub.add_parser("list", help=_("list licenses"))
    lshow = lsub.add_parser("show", help=_("one license"))
    lshow.add_argument("id", metavar="ID", help=_("license id (see 'issuer license list')"))
    lupd = lsub.add_parser("update", help=_("change customer, edition or validity"))
    lupd.add_argument("id", metavar="ID", help=_("license id (see 'issuer license list')"))
    lupd.add_argument("--customer", metavar=_("NAME"), help=_("new customer name"))
    lupd.add_argument("--edition", metavar=_("NAME"), help=_("new edition name"))
    lupd.add_argument("--valid-from", metavar="YYYY-MM-DD", help=_("new first valid day, YYYY-MM-DD"))
    lupd.add_argument("--valid-to", metavar="YYYY-MM-DD", help=_("new last valid day, YYYY-MM-DD"))
    ldel = lsub.add_parser("delete", help=_("delete a license and its keys"))
    ldel.add_argument("id", metavar="ID", help=_("license id (see 'issuer license list')"))
    lexp = lsub.add_parser("export", help=_("write the .ec file and the installation's constant.properties"))
    lexp.add_argument("id", metavar="ID", help=_("license id (see 'issuer license list')"))
    lexp.add_argument(
        "--out", required=True, type=Path, metavar="FILE.ec", help=_("where to write the license file (.ec)")
    )
    lexp.add_argument(
        "--properties",
        required=True,
        type=Path,
        metavar="FILE.properties",
        help=_("where to write the constant.properties for the customer's console"),
    )
    command(add, edition_add, app="issuer")
    command(elist, edition_list, app="issuer")
    command(eshow, edition_show, app="issuer")
    command(edel, edition_delete, app="issuer")
    command(ladd, license_add, app="issuer")
    command(llist, license_list, app="issuer")
    command(lshow, license_show, app="issuer")
    command(lupd, license_update, app="issuer")
    command(ldel, license_delete, app="issuer")
    command(lexp, license_export, app="issuer")


async def edition_add(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.issuer import EditionDraft

    draft = EditionDraft.parse(
        **picked(
            a,
            "name",
            "max_clusters",
            "max_nodes",
            "storage",
            "features",
            "grace_days",
            "price",
            "description",
        )
    )
    info = await s.issuer.create_edition(draft)
    return info.to_json(), _("Edition '{name}' created.").format(name=info.name)


async def edition_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
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
    return {"editions": [e.to_json() for e in items]}, table(headers, rows)


async def edition_show(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    info = await s.issuer.get_edition(a.name)
    return info.to_json(), describe(info.to_json())


async def edition_delete(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    await s.issuer.delete_edition(a.name)
    return {"deleted": a.name}, _("Edition '{name}' deleted.").format(name=a.name)


async def license_add(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.issuer import LicenseDraft

    draft = LicenseDraft.parse(
        customer=a.customer, edition=a.edition, valid_from=a.valid_from, valid_to=a.valid_to
    )
    info = await s.issuer.create_license(draft)
    return info.to_json(), _("License {id} created for {customer}.").format(
        id=info.id, customer=info.customer
    )


async def license_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    items = await s.issuer.list_licenses()
    rows = [(i.id, i.customer, i.edition, i.valid_from, i.valid_to, _(i.status)) for i in items]
    headers = ("ID", _("Customer"), _("Edition"), _("Valid from"), _("Valid to"), _("Status"))
    return {"licenses": [i.to_json() for i in items]}, table(headers, rows)


async def license_show(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    info = await s.issuer.get_license(positive_id(a.id))
    return info.to_json(), describe(info.to_json())


async def license_update(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.issuer import LicenseChanges

    changes = LicenseChanges.parse(
        customer=a.customer, edition=a.edition, valid_from=a.valid_from, valid_to=a.valid_to
    )
    info = await s.issuer.update_license(positive_id(a.id), changes)
    return info.to_json(), _("License {id} updated.").format(id=info.id)


async def license_delete(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    license_id = positive_id(a.id)
    await s.issuer.delete_license(license_id)
    return {"deleted": license_id}, _("License {id} deleted.").format(id=license_id)


async def license_export(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    result = await s.issuer.export_license(positive_id(a.id), a.out, a.properties)
    data = {"id": result.license_id, "ec": str(result.ec_path), "properties": str(result.properties_path)}
    text = _("Wrote {ec} and {properties} (keep the properties file private).").format(
        ec=result.ec_path, properties=result.properties_path
    )
    return data, text
