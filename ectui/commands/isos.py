"""`ectui iso …`: ISO files on the clusters' FTP shares."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ectui.commands._util import Parser, TextTable, command, one_argument_commands, positive_id, table


def register(sub: Any) -> None:
    """Add the commands of this module to the top-level subparsers."""
    from ectui.i18n import _

    iso = sub.add_parser("iso", help=_("ISO files on the clusters' FTP shares"))
    isub = iso.add_subparsers(dest="action", required=True, parser_class=Parser)
    isync = isub.add_parser("sync", help=_("list the cluster's FTP ISO directory into the database"))
    isync.add_argument("cluster", metavar=_("CLUSTER"), help=_("cluster name"))
    ilist = isub.add_parser("list", help=_("list ISO files as last synced or uploaded"))
    ilist.add_argument(
        "--cluster", metavar=_("CLUSTER"), help=_("only this cluster's ISO files (default: all)")
    )
    iup = isub.add_parser("upload", help=_("upload a local ISO over FTP (resumable when interrupted)"))
    iup.add_argument("file", metavar=_("FILE"), help=_("local .iso file"))
    iup.add_argument(
        "--cluster", required=True, metavar=_("CLUSTER"), help=_("cluster whose FTP server gets the file")
    )
    iup.add_argument(
        "--name", metavar=_("NAME"), help=_("display name (default: the file name without .iso)")
    )
    iup.add_argument("--os-type", default="", metavar=_("TYPE"), help=_("linux, windows or other"))
    iresume = isub.add_parser(
        "resume", help=_("continue an interrupted upload from where the server stopped")
    )
    iresume.add_argument("id", metavar="ID", help=_("upload id (see 'iso uploads')"))
    iuploads = isub.add_parser("uploads", help=_("list interrupted uploads"))
    iuploads.add_argument(
        "--cluster", metavar=_("CLUSTER"), help=_("only this cluster's uploads (default: all)")
    )
    idiscard = isub.add_parser("discard", help=_("forget an interrupted upload and remove its partial file"))
    idiscard.add_argument("id", metavar="ID", help=_("upload id (see 'iso uploads')"))
    iedit = isub.add_parser("edit", help=_("change an ISO's name, OS type or description"))
    iedit.add_argument("id", metavar="ID", help=_("ISO id (see 'iso list')"))
    iedit.add_argument("--name", metavar=_("NAME"), help=_("new display name"))
    iedit.add_argument("--os-type", metavar=_("TYPE"), help=_("new OS type: linux, windows or other"))
    iedit.add_argument("--description", metavar=_("TEXT"), help=_("new description"))
    verbs = {
        "enable": (_("allow mounting the ISO on VMs"), iso_enable),
        "disable": (_("stop new mounts of the ISO"), iso_disable),
        "delete": (
            _("delete an ISO uploaded through the console and mounted nowhere (on the server too)"),
            iso_delete,
        ),
    }
    one_argument_commands(isub, verbs, dest="id", metavar="ID", help=_("ISO id (see 'iso list')"))
    command(isync, iso_sync)
    command(ilist, iso_list)
    command(iup, iso_upload)
    command(iresume, iso_resume)
    command(iuploads, iso_uploads)
    command(idiscard, iso_discard)
    command(iedit, iso_edit)


async def iso_sync(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    result = await s.isos.sync(a.cluster)
    text = _("{cluster}: {added} added, {updated} updated, {gone} gone.").format(
        cluster=result.cluster, added=result.added, updated=result.updated, gone=result.gone
    )
    if result.skipped:
        text += "\n" + result.skipped_note()
    return result.to_json(), text + "\n" + iso_table(result.isos)


async def iso_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    isos = await s.isos.list_all(a.cluster)
    return {"isos": [i.to_json() for i in isos]}, iso_table(isos)


def _progress(label: str) -> Any:
    if not sys.stderr.isatty():
        return None
    from ectui.commands.images import TerminalProgress

    return TerminalProgress(label)


async def _send(s: Any, label: str, start: Any) -> tuple[object, object]:
    from ectui.i18n import _

    progress = _progress(label)
    try:
        result = await start(progress or _ignore)
    finally:
        if progress is not None:
            progress.end()
    iso = result.iso
    text = _("ISO {file} uploaded to {cluster} (id {id}, {size} bytes, {sent} sent now).").format(
        file=iso.file_name, cluster=iso.cluster, id=iso.id, size=iso.size, sent=result.sent
    )
    return result.to_json(), text


async def iso_upload(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.services.isos import IsoUploadRequest

    request = IsoUploadRequest.parse(path=a.file, cluster=a.cluster, name=a.name, os_type=a.os_type)
    return await _send(s, request.file_name, lambda p: s.isos.upload(request, on_progress=p))


async def iso_resume(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    upload_id = positive_id(a.id)
    return await _send(s, f"#{upload_id}", lambda p: s.isos.resume(upload_id, on_progress=p))


async def iso_uploads(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    uploads = await s.isos.interrupted(a.cluster)
    rows = [(u.id, u.cluster, u.file_name, f"{u.percent}%", u.size, u.local_path) for u in uploads]
    headers = ("ID", _("Cluster"), _("File"), _("Sent"), _("Size"), _("Local file"))
    return {"uploads": [u.to_json() for u in uploads]}, table(headers, rows)


async def iso_discard(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    upload = await s.isos.discard(positive_id(a.id))
    return upload.to_json(), _("Upload {id} of {file} discarded.").format(id=upload.id, file=upload.file_name)


async def iso_enable(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    iso = await s.isos.set_enabled(positive_id(a.id), True)
    return iso.to_json(), _("ISO {name} enabled.").format(name=iso.name)


async def iso_disable(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    iso = await s.isos.set_enabled(positive_id(a.id), False)
    return iso.to_json(), _("ISO {name} disabled.").format(name=iso.name)


async def iso_edit(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.isos import IsoEdit

    changes = IsoEdit.parse(name=a.name, os_type=a.os_type, description=a.description)
    iso = await s.isos.edit(positive_id(a.id), changes)
    return iso.to_json(), _("ISO {name} saved.").format(name=iso.name)


async def iso_delete(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    iso = await s.isos.delete(positive_id(a.id))
    return {"deleted": iso.id, "file": iso.file_name}, _("ISO {name} deleted (file {file} removed).").format(
        name=iso.name, file=iso.file_name
    )


def _ignore(_progress: object) -> None:
    """No progress display (not a terminal)."""


def iso_table(isos: Sequence[Any]) -> TextTable:
    """ISO files as text columns."""
    from ectui.i18n import _

    rows = [
        (
            i.id,
            i.cluster,
            i.name,
            i.file_name,
            i.size,
            i.modified_at or "-",
            i.os_type or "-",
            _(i.source),
            _("gone") if i.gone else (_("yes") if i.enabled else _("no")),
            i.mount_count,
        )
        for i in isos
    ]
    headers = (
        "ID", _("Cluster"), _("Name"), _("File"), _("Size"), _("Modified"), _("OS type"), _("Source"),
        _("Enabled"), _("Mounted"),
    )  # fmt: skip
    return table(headers, rows)
