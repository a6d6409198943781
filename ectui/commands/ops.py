"""`ectui ops …`: persisted operations (create, resize, snapshot …) with their steps; resume interrupted ones."""

from __future__ import annotations

import argparse
from typing import Any

from ectui.commands._util import Parser, command, describe, positive_id, table


def register(sub: Any) -> None:
    """Add the ops commands."""
    ops = sub.add_parser("ops", help="operations (create, resize ...) with their steps")
    osub = ops.add_subparsers(dest="action", required=True, parser_class=Parser)
    olist = osub.add_parser("list", help="list operations, newest first")
    olist.add_argument("--vm", metavar="VM", help="only the operations of this VM (id or name)")
    olist.add_argument("--limit", type=int, default=200, metavar="N")
    olist.add_argument("--json", action="store_true")
    show = osub.add_parser("show", help="one operation with its steps, states and times")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true")
    resume = osub.add_parser("resume", help="resume or compensate operations a crashed console left running")
    resume.add_argument("--json", action="store_true")
    command(olist, ops_list)
    command(show, ops_show)
    command(resume, ops_resume)


def _time(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else "-"


async def ops_list(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    vm_id = (await s.vms.find(a.vm, all_projects=True)).id if a.vm else None
    items = await s.resize.operations(vm_id=vm_id, limit=max(1, a.limit))
    rows = [
        (op.id, op.kind, _(op.state), op.vm_id or "-", op.created_by, _time(op.created_at),
         _time(op.finished_at), (op.error or "")[:60])
        for op in items
    ]  # fmt: skip
    headers = (_("ID"), _("Kind"), _("State"), _("VM"), _("By"), _("Created"), _("Finished"), _("Error"))
    return {"operations": [op.to_json() for op in items]}, table(headers, rows)


def step_lines(op: Any) -> str:
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


async def ops_show(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _

    op = await s.resize.operation(positive_id(a.id))
    data = op.to_json()
    head = {k: v for k, v in data.items() if k != "steps"}
    return data, describe(head) + "\n" + _("Steps:") + "\n" + step_lines(op)


async def ops_resume(s: Any, a: argparse.Namespace) -> tuple[object, str]:
    from ectui.i18n import _
    from ectui.services.errors import ServiceError

    if s.readonly_flag:
        raise ServiceError("ops.readonly")
    await s.vms.recover_interrupted()  # creates (start() already tried; a cloud back online lets it finish)
    await s.resize.resume_interrupted()
    handled = list(s.resize.recovered)  # those of this start, too
    still = [op for op in await s.resize.operations(limit=1000) if op.state == "running"]
    data = {"handled": [op.to_json() for op in handled], "running": [op.to_json() for op in still]}
    lines = [
        _("Operation #{id} ({kind}) is now {state}.").format(id=op.id, kind=op.kind, state=_(op.state))
        for op in handled
    ]
    if not handled:
        lines.append(_("No interrupted resize to resume."))
    lines += [
        _("Operation #{id} ({kind}) is still running in a live console; left alone.").format(
            id=op.id, kind=op.kind
        )
        for op in still
    ]
    return data, "\n".join(lines)
