"""`ectui ops …`: persisted operations (create, resize, snapshot …) with their steps; resume interrupted ones."""

from __future__ import annotations

import argparse
from typing import Any

from ectui.commands._util import Parser, TextTable, command, describe, positive_id, table
from ectui.i18n import N_

STATE_WORDS = {"cleanup_pending": N_("cleanup pending")}
"""Operation states whose word differs from the stored code (the others are shown as stored, translated)."""


def register(sub: Any) -> None:
    """Add the ops commands."""
    from ectui.i18n import _

    ops = sub.add_parser("ops", help=_("operations (create, resize ...) with their steps"))
    osub = ops.add_subparsers(dest="action", required=True, parser_class=Parser)
    olist = osub.add_parser("list", help=_("list operations, newest first"))
    olist.add_argument("--vm", metavar="VM", help=_("only the operations of this VM (id or name)"))
    olist.add_argument("--limit", type=int, default=200, metavar="N", help=_("show at most N (default: 200)"))
    show = osub.add_parser("show", help=_("one operation with its steps, states and times"))
    show.add_argument("id", metavar="ID", help=_("operation id (see 'ops list')"))
    resume = osub.add_parser(
        "resume", help=_("resume or roll back what a crashed console left running; retry pending cleanups")
    )
    command(olist, ops_list)
    command(show, ops_show)
    command(resume, ops_resume)


def _time(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else "-"


async def ops_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    vm_id = (await s.vms.find(a.vm, all_projects=True)).id if a.vm else None
    items = await s.resize.operations(vm_id=vm_id, limit=max(1, a.limit))
    rows = [
        (op.id, op.kind, state_word(op.state), op.vm_id or "-", op.created_by, _time(op.created_at),
         _time(op.finished_at), (op.error or "")[:60])
        for op in items
    ]  # fmt: skip
    headers = (_("ID"), _("Kind"), _("State"), _("VM"), _("By"), _("Created"), _("Finished"), _("Error"))
    return {"operations": [op.to_json() for op in items]}, table(headers, rows)


def step_lines(op: Any) -> TextTable:
    """The steps of an operation as an aligned table (label in the UI language)."""
    from ectui.i18n import _

    rows = [
        (
            i + 1,
            _(step.label),
            _(step.state),
            _time(step.started_at),
            _time(step.finished_at),
            step.detail[:80],
        )
        for i, step in enumerate(op.steps)
    ]
    return table(("#", _("Step"), _("State"), _("Started"), _("Finished"), _("Detail")), rows)


async def ops_show(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    op = await s.resize.operation(positive_id(a.id))
    data = op.to_json()
    head = {k: v for k, v in data.items() if k != "steps"}
    return data, describe(head) + "\n" + _("Steps:") + "\n" + step_lines(op)


RESUME_GROUPS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("create_vm", "delete_vm", "snapshot_vm", "mount_iso", "unmount_iso"),
        N_("No interrupted VM operation (create, delete, snapshot, ISO mount) to resume."),
    ),
    (("resize",), N_("No interrupted resize to resume.")),
    (("image_upload",), N_("No interrupted image upload to clean up.")),
)
"""Kinds `ops resume` covers, in groups, with what it says when a group had nothing to do."""

RESUMED_LINES = {
    "done": N_("Operation #{id} ({kind}): resumed and finished."),
    "compensated": N_("Operation #{id} ({kind}): rolled back; what it made is gone."),
    "failed": N_("Operation #{id} ({kind}): rolled back, but the cloud refused to remove part of it."),
    "cleanup_pending": N_("Operation #{id} ({kind}): cleanup still pending; retried at the next start."),
    "running": N_("Operation #{id} ({kind}): left as it is for now: {note}"),
}
"""What `ops resume` did with one operation, by the state it left it in."""


def state_word(state: str) -> str:
    """An operation state in the UI language ('cleanup_pending' → 'cleanup pending')."""
    from ectui.i18n import _

    return _(STATE_WORDS.get(state, state))


def resumed_line(item: Any) -> str:
    """One operation `ops resume` handled: what it did, then the operation's own message (indented)."""
    from ectui.i18n import _

    op = item.operation
    template = RESUMED_LINES.get(op.state, N_("Operation #{id} ({kind}) is now {state}."))
    line = _(template).format(id=op.id, kind=op.kind, state=state_word(op.state), note=item.note or "-")
    if op.error and op.state != "done":
        line += "\n    " + op.error
    return line


async def ops_resume(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.errors import ServiceError

    if s.readonly_flag:
        raise ServiceError("ops.readonly")
    await s.recover()  # start() already tried; a cloud back online since lets the cleanups finish now
    handled = list(s.recovered)  # those of this start, too (the latest outcome of each)
    ids = {r.operation.id for r in handled}
    others = [op for op in await s.resize.operations(limit=1000) if op.id not in ids]
    still = [op for op in others if op.state == "running"]
    pending = [op for op in others if op.state == "cleanup_pending"]
    data = {
        "handled": [r.to_json() for r in handled],
        "running": [op.to_json() for op in still],
        "cleanup_pending": [op.to_json() for op in pending],
    }
    lines = [resumed_line(r) for r in handled]
    kinds = {r.operation.kind for r in handled}
    lines += [_(nothing) for group, nothing in RESUME_GROUPS if not kinds & set(group)]
    lines += [
        _("Operation #{id} ({kind}) is still running in a live console; left alone.").format(
            id=op.id, kind=op.kind
        )
        for op in still
    ]
    lines += [
        _("Operation #{id} ({kind}): another console is retrying its cleanup; left alone.").format(
            id=op.id, kind=op.kind
        )
        for op in pending
    ]
    return data, "\n".join(lines)
