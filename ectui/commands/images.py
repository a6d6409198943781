"""`ectui image …` and `ectui template …`: Glance images and system templates."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ectui.commands._util import Parser, TextTable, command, one_argument_commands, picked, positive_id, table

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database


IMAGE_COLUMNS = (
    "id", "cluster", "cloud_id", "name", "disk_format", "container_format", "size", "checksum", "status",
    "visibility", "os_type", "min_disk", "min_ram", "source", "enabled", "gone", "uploaded_by", "created",
    "synced_at",
)  # fmt: skip
"""The keys of an image's JSON (ImageInfo.to_json): the columns of `image list`."""


def register(sub: Any) -> None:
    """Add the commands of this module to the top-level subparsers."""
    from ectui.i18n import _

    image = sub.add_parser("image", help=_("Glance images of the clusters"))
    isub = image.add_subparsers(dest="action", required=True, parser_class=Parser)
    isync = isub.add_parser("sync", help=_("copy the cluster's active images from the cloud"))
    isync.add_argument("cluster", metavar=_("CLUSTER"), help=_("cluster name"))
    ilist = isub.add_parser("list", help=_("list images as last synced or uploaded"))
    ilist.add_argument("--cluster", metavar=_("CLUSTER"), help=_("only this cluster's images (default: all)"))
    ilist.add_argument(
        "--refresh", action="store_true", help=_("sync the images from the clouds first (as 'image sync')")
    )
    ilist.set_defaults(local_read=True, quick=image_list_quick)  # without --refresh: no cloud, no recovery
    iup = isub.add_parser("upload", help=_("stream a local file into a new image"))
    iup.add_argument("file", metavar=_("FILE"), help=_("local image file"))
    iup.add_argument("--cluster", required=True, metavar=_("CLUSTER"), help=_("cluster to upload to"))
    iup.add_argument("--name", required=True, metavar=_("NAME"), help=_("image name"))
    iup.add_argument(
        "--disk-format",
        default="",
        metavar=_("FORMAT"),
        help=_("raw, qcow2, vmdk, vhd, vhdx, vdi, iso or ploop (default: from the file name)"),
    )
    iup.add_argument(
        "--container-format", default="bare", metavar="bare", help=_("container format (default: bare)")
    )
    iup.add_argument(
        "--os-type", default="linux", metavar="linux|windows", help=_("guest OS type (default: linux)")
    )
    iup.add_argument("--min-disk", default="0", metavar="GB", help=_("minimum disk in GiB (default: 0)"))
    iup.add_argument("--min-ram", default="0", metavar="MB", help=_("minimum RAM in MiB (default: 0)"))
    verbs = {
        "enable": (_("allow new templates from the image"), image_enable),
        "disable": (_("stop new templates from the image (existing ones keep working)"), image_disable),
        "delete": (_("delete an image uploaded through the console (in the cloud too)"), image_delete),
    }
    one_argument_commands(isub, verbs, dest="id", metavar="ID", help=_("image id (see 'image list')"))
    command(isync, image_sync)
    command(ilist, image_list, columns=IMAGE_COLUMNS)
    command(iup, image_upload)

    template = sub.add_parser("template", help=_("system templates made from enabled images"))
    tsub = template.add_subparsers(dest="action", required=True, parser_class=Parser)
    tadd = tsub.add_parser("add", help=_("make a system template from an enabled image"))
    tadd.add_argument("--name", required=True, metavar=_("NAME"), help=_("template name"))
    tadd.add_argument("--image", required=True, metavar="ID", help=_("id of an enabled image"))
    tadd.add_argument("--os-type", required=True, metavar="linux|windows", help=_("guest OS type"))
    tadd.add_argument("--min-cpu", default="1", metavar="N", help=_("minimum vCPUs (default: 1)"))
    tadd.add_argument("--min-ram", default="1", metavar="GB", help=_("minimum RAM in GiB (default: 1)"))
    tadd.add_argument("--min-disk", default="1", metavar="GB", help=_("minimum disk in GiB (default: 1)"))
    tadd.add_argument("--description", default="", metavar=_("TEXT"), help=_("free text (default: empty)"))
    tlist = tsub.add_parser("list", help=_("list templates"))
    tlist.add_argument(
        "--cluster", metavar=_("CLUSTER"), help=_("only this cluster's templates (default: all)")
    )
    tdel = tsub.add_parser("delete", help=_("delete a template (its image is not touched)"))
    tdel.add_argument("id", metavar="ID", help=_("template id (see 'template list')"))
    command(tadd, template_add)
    command(tlist, template_list)
    command(tdel, template_delete)


# ------------------------------------------------------------------ images


async def image_sync(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    result = await s.images.sync(a.cluster)
    return result.to_json(), _("{cluster}: {added} added, {updated} updated, {gone} gone.").format(
        cluster=result.cluster, added=result.added, updated=result.updated, gone=result.gone
    )


async def image_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    if a.refresh:  # each cluster (or the one asked for) synced first, as `ectui image sync` does
        for name in [a.cluster] if a.cluster else [c.name for c in await s.clusters.list_all()]:
            await s.images.sync(name)
    images = [i.to_json() for i in await s.images.list_all(a.cluster)]
    return {"images": images}, image_table(images)


def image_list_quick(db: Database, a: argparse.Namespace, settings: Settings) -> tuple[object, object] | None:
    """`image list` from the database through ectui.db.reads; None (the full command) for an unknown cluster."""
    from ectui.db import reads

    cluster = None
    if a.cluster is not None:
        cluster = reads.cluster_id(db, a.cluster)
        if cluster is None:  # the full command refuses it, in its words
            return None
    images = reads.images(db, cluster)
    return {"images": images}, image_table(images)


async def image_upload(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.images import ImageUpload

    names = ("cluster", "name", "disk_format", "container_format", "os_type", "min_disk", "min_ram")
    request = ImageUpload.parse(**picked(a, *names, path="file"))
    progress = TerminalProgress(a.name) if sys.stderr.isatty() else None
    try:
        image = await s.images.upload(request, on_progress=progress or _ignore)
    finally:
        if progress is not None:
            progress.end()
    return image.to_json(), _("Image '{name}' uploaded (id {id}, {size} bytes).").format(
        name=image.name, id=image.id, size=image.size
    )


async def image_enable(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    image = await s.images.set_enabled(positive_id(a.id), True)
    return image.to_json(), _("Image '{name}' enabled.").format(name=image.name)


async def image_disable(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    image = await s.images.set_enabled(positive_id(a.id), False)
    return image.to_json(), _("Image '{name}' disabled; existing templates keep working.").format(
        name=image.name
    )


async def image_delete(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    image = await s.images.delete(positive_id(a.id))
    return {"deleted": image.id, "cloud_id": image.cloud_id}, _(
        "Image '{name}' deleted from the cloud and the console."
    ).format(name=image.name)


def image_table(images: Sequence[dict[str, Any]]) -> TextTable:
    """Images given as their JSON dicts, as a table."""
    from ectui.i18n import _

    rows = [
        (
            i["id"],
            i["cluster"],
            i["name"],
            i["disk_format"],
            i["size"],
            _("gone") if i["gone"] else i["status"],
            _(i["source"]),
            _("yes") if i["enabled"] else _("no"),
            i["created"][:19],
        )
        for i in images
    ]
    headers = (
        "ID",
        _("Cluster"),
        _("Name"),
        _("Format"),
        _("Size"),
        _("Status"),
        _("Source"),
        _("Enabled"),
        _("Created"),
    )
    return table(headers, rows)


def _ignore(_progress: object) -> None:
    """No progress output (stderr is not a terminal)."""


class TerminalProgress:
    """One self-rewriting progress line on stderr (bytes, rate, ETA)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.shown = False

    def __call__(self, progress: Any) -> None:
        from ectui.i18n import _

        parts = [f"{self.name}: {_human(progress.done)}"]
        if progress.total:
            parts[0] += f" / {_human(progress.total)} ({round((progress.fraction or 0) * 100)}%)"
        if progress.rate:
            parts.append(f"{_human(progress.rate)}/s")
        if progress.eta_seconds is not None:
            parts.append(_("ETA {eta}").format(eta=f"{int(progress.eta_seconds + 0.5)}s"))
        sys.stderr.write("\r\033[K" + " · ".join(parts))
        sys.stderr.flush()
        self.shown = True

    def end(self) -> None:
        """Finish the line."""
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


# ------------------------------------------------------------------ templates


async def template_add(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.templates import TemplateDraft

    names = ("name", "os_type", "min_cpu", "description")
    draft = TemplateDraft.parse(
        **picked(a, *names, image_id="image", min_ram_gb="min_ram", min_disk_gb="min_disk")
    )
    info = await s.templates.create(draft)
    return info.to_json(), _("Template '{name}' added (id {id}).").format(name=info.name, id=info.id)


async def template_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    items = await s.templates.list_all(a.cluster)
    rows = [
        (
            t.id,
            t.cluster,
            t.name,
            t.os_type,
            t.image_name or t.image_cloud_id,
            t.min_cpu,
            t.min_ram_gb,
            t.min_disk_gb,
            t.description,
        )
        for t in items
    ]
    headers = (
        "ID",
        _("Cluster"),
        _("Name"),
        _("OS"),
        _("Image"),
        "CPU",
        _("RAM GB"),
        _("Disk GB"),
        _("Description"),
    )
    return {"templates": [t.to_json() for t in items]}, table(headers, rows)


async def template_delete(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.templates.delete(positive_id(a.id))
    return {"deleted": info.id}, _("Template '{name}' deleted.").format(name=info.name)
