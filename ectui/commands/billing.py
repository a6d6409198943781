"""`ectui price set|list` and `ectui bill`: the price list and monthly bills of the billing module."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ectui.commands._util import CsvDocument, TextTable, command, table

if TYPE_CHECKING:
    from ectui.services.billing import Bill, PriceInfo


def register(sub: Any) -> None:
    """Add the price and bill commands."""
    from ectui.i18n import _

    price = sub.add_parser("price", help=_("price list of the billing module (licensed module)"))
    area = price.add_subparsers(dest="price_command", required=True)
    set_price = area.add_parser("set", help=_("add a price from a date on (earlier prices are kept)"))
    set_price.add_argument("--vcpu-hour", required=True, metavar=_("PRICE"), help=_("price per vCPU-hour"))
    set_price.add_argument(
        "--ram-gb-hour", required=True, metavar=_("PRICE"), help=_("price per GB-of-RAM-hour")
    )
    set_price.add_argument("--ip-hour", required=True, metavar=_("PRICE"), help=_("price per public-IP-hour"))
    set_price.add_argument("--from", dest="effective_from", metavar="YYYY-MM-DD",
                           help=_("effective from this date, YYYY-MM-DD (default: today, UTC)"))  # fmt: skip
    command(set_price, price_set)
    listing = area.add_parser("list", help=_("the price list with effective dates"))
    command(listing, price_list)

    bill = sub.add_parser("bill", help=_("monthly bill of a project, with line items (licensed module)"))
    bill.add_argument("--project", required=True, metavar=_("PROJECT"), help=_("project name"))
    bill.add_argument("--month", required=True, metavar="YYYY-MM", help=_("the month billed, YYYY-MM (UTC)"))
    bill.add_argument("--csv", metavar=_("FILE"), help=_("also write the bill as CSV to FILE"))
    command(bill, bill_show)


async def price_set(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.billing import PriceDraft

    draft = PriceDraft.parse(
        vcpu_hour=a.vcpu_hour,
        ram_gb_hour=a.ram_gb_hour,
        ip_hour=a.ip_hour,
        effective_from=a.effective_from or s.billing.clock().date(),
    )
    info = await s.billing.set_price(draft)
    text = _("Price effective from {date}: vCPU-hour {vcpu}, GB-RAM-hour {ram}, public-IP-hour {ip}").format(
        date=info.effective_from.isoformat(), vcpu=info.vcpu_hour, ram=info.ram_gb_hour, ip=info.ip_hour
    )
    return info.to_json(), text


async def price_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    prices = await s.billing.prices()
    return [p.to_json() for p in prices], prices_text(prices)


def prices_text(prices: list[PriceInfo]) -> TextTable | str:
    """The price list as a table."""
    from ectui.i18n import _

    if not prices:
        return _("No prices yet. Add one with: ectui price set --vcpu-hour X --ram-gb-hour Y --ip-hour Z")
    return table(
        [_("From"), _("Until"), _("vCPU-hour"), _("GB-RAM-hour"), _("Public-IP-hour"), _("Set by")],
        [
            (p.effective_from.isoformat(), p.effective_to.isoformat() if p.effective_to else "—",
             p.vcpu_hour, p.ram_gb_hour, p.ip_hour, p.created_by)
            for p in prices
        ],
    )  # fmt: skip


async def bill_show(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    bill = await s.billing.bill(a.project, a.month)
    data = bill.to_json()
    text = bill_text(bill)
    if a.csv == "-":  # the rows of the CSV file, on stdout instead of the bill
        from ectui.services.billing import CSV_HEADER

        return data, CsvDocument(CSV_HEADER, list(bill.csv_rows()))
    if a.csv:
        path = await s.billing.write_bill_csv(bill, a.csv)
        data["csv"] = str(path)
        text += "\n\n" + _("CSV written to {path}").format(path=path)
    return data, text


def bill_text(bill: Bill) -> str:
    """The bill as a heading, a table of line items and the totals."""
    from ectui.i18n import _

    out: list[object] = [
        _("Bill of project {project} for {month} ({start} — {end} UTC)").format(
            project=bill.project,
            month=bill.month_text,
            start=bill.period_start.strftime("%Y-%m-%d %H:%M"),
            end=bill.period_end.strftime("%Y-%m-%d %H:%M"),
        ),
        "",
    ]
    if bill.lines:
        out.append(
            table(
                [
                    _("VM"),
                    _("From"),
                    _("To"),
                    _("State"),
                    _("vCPU"),
                    _("RAM GB"),
                    _("IPs"),
                    _("Hours"),
                    _("vCPU"),
                    _("RAM"),
                    _("IP"),
                    _("Total"),
                ],
                [
                    (
                        line.vm_name,
                        line.started_at.strftime("%m-%d %H:%M"),
                        line.ended_at.strftime("%m-%d %H:%M") + (" …" if line.open else ""),
                        _("running") if line.running else _("stopped"),
                        line.vcpus,
                        line.ram_gb,
                        line.public_ips,
                        line.hours,
                        line.vcpu_amount,
                        line.ram_amount,
                        line.ip_amount,
                        line.total,
                    )
                    for line in bill.lines
                ],
            )  # fmt: skip
        )
    else:
        out.append(_("No usage metered in this month."))
    out += [
        "",
        _("vCPU {vcpu} · RAM {ram} · public IP {ip} · total {total}").format(
            vcpu=bill.vcpu_total, ram=bill.ram_total, ip=bill.ip_total, total=bill.total
        ),
    ]
    if bill.unpriced_hours:
        out.append(
            _("{hours} hours had no price in force and are not charged.").format(hours=bill.unpriced_hours)
        )
    return "\n".join(map(str, out))  # tables among the lines
