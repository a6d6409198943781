"""`ectui request …`: requests that need an approver: list, approve, reject, cancel."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ectui.commands._util import (
    Parser,
    command,
    kind_text,
    positive_id,
    progress_printer,
    state_text,
    table,
)

if TYPE_CHECKING:
    from ectui.services.workflow import RequestInfo


def register(sub: Any) -> None:
    """Add the request commands."""
    from ectui.i18n import _

    request = sub.add_parser(
        "request", help=_("create/resize requests waiting for an approver (licensed module)")
    )
    rsub = request.add_subparsers(dest="action", required=True, parser_class=Parser)
    rlist = rsub.add_parser("list", help=_("list requests (operators: their own)"))
    rlist.add_argument("--open", action="store_true", help=_("only pending and running ones"))
    approve = rsub.add_parser("approve", help=_("approve a pending request and run it now (admins)"))
    approve.add_argument("id", metavar="ID", help=_("request id (see 'request list')"))
    reject = rsub.add_parser("reject", help=_("reject a pending request, with a reason (admins)"))
    reject.add_argument("id", metavar="ID", help=_("request id (see 'request list')"))
    reject.add_argument("--reason", required=True, metavar=_("TEXT"), help=_("why, shown to the requester"))
    cancel = rsub.add_parser("cancel", help=_("withdraw your own pending request"))
    cancel.add_argument("id", metavar="ID", help=_("request id (see 'request list')"))
    command(rlist, request_list)
    command(approve, request_approve)
    command(reject, request_reject)
    command(cancel, request_cancel)


def _line(r: RequestInfo) -> str:
    from ectui.i18n import _

    text = _("Request {id} ({kind}, {summary}): {state}").format(
        id=r.id, kind=kind_text(r.kind), summary=r.summary, state=state_text(r.state)
    )
    if r.reason:
        text += " — " + _("reason: {reason}").format(reason=r.reason)
    if r.error:
        text += " — " + r.error
    return text


async def request_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.workflow import OPEN_STATES

    items = await s.workflow.list_all(states=OPEN_STATES if a.open else None)
    rows = [
        (
            r.id,
            kind_text(r.kind),
            state_text(r.state),
            r.project,
            r.summary,
            r.requested_by,
            r.decided_by or "-",
            f"{r.created_at:%Y-%m-%d %H:%M}",
            r.reason or r.error or "",
        )
        for r in items
    ]
    headers = [
        _("ID"), _("Kind"), _("State"), _("Project"), _("Request"), _("By"), _("Decided by"), _("Created"),
        _("Reason"),
    ]  # fmt: skip
    text = table(headers, rows) if items else _("No requests.")
    return {"requests": [r.to_json() for r in items]}, text


async def request_approve(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.commands._util import Refused

    done = await s.workflow.approve(positive_id(a.id), on_progress=progress_printer())
    if done.state != "done":
        raise Refused(done.to_json(), _line(done))
    return done.to_json(), _line(done)


async def request_reject(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    done = await s.workflow.reject(positive_id(a.id), a.reason)
    return done.to_json(), _line(done)


async def request_cancel(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    done = await s.workflow.cancel(positive_id(a.id))
    return done.to_json(), _line(done)
