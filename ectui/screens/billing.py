"""Billing (console, licensed module): the price list with effective dates, a project's monthly bill, CSV."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from ectui.i18n import _, render
from ectui.screens._base import ConsoleDomainScreen, opens_screen
from ectui.services.errors import ServiceError
from ectui.widgets import ShellModal
from ectui.widgets.csv_export import CsvExportModal
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import DataTable, Input, Label, Static

if TYPE_CHECKING:
    from ectui.services.billing import Bill, PriceDraft, PriceInfo

PRICE_FIELDS = {
    "vcpu_hour": "price-vcpu",
    "ram_gb_hour": "price-ram",
    "ip_hour": "price-ip",
    "effective_from": "price-from",
}
"""ValidationError.field_id → the widget to mark and focus."""
BILL_FIELDS = {"project": "bill-project", "month": "bill-month"}
"""ValidationError.field_id → the widget to mark and focus."""


def shift_month(month: str, delta: int) -> str:
    """'2030-06' moved by `delta` months."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


class PriceFormModal(ShellModal["PriceDraft | None"]):
    """A new price list entry: three unit prices and the date they apply from."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Save"), id="price_form.submit")]

    def __init__(self, latest: PriceInfo | None, today: dt.date) -> None:
        super().__init__()
        self.latest = latest
        self.today = today

    def compose(self) -> ComposeResult:
        p = self.latest
        rows = [
            (_("vCPU-hour"), "price-vcpu", str(p.vcpu_hour) if p else ""),
            (_("GB-RAM-hour"), "price-ram", str(p.ram_gb_hour) if p else ""),
            (_("Public-IP-hour"), "price-ip", str(p.ip_hour) if p else ""),
            (_("From"), "price-from", self.today.isoformat()),
        ]
        with Vertical(classes="modal-box", id="price-form-box"):
            yield Label(_("New price (applies from its date on)"), classes="modal-title")
            for label, input_id, value in rows:
                with Horizontal(classes="form-row"):
                    yield Label(label)
                    yield Input(value, id=input_id)
            yield Static(id="price-error", classes="modal-error")
            yield Label(_("Ctrl+S: save · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="price-cancel")
                yield Button(_("Save"), id="price-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#price-vcpu", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#price-save")
    def action_submit(self) -> None:
        """Validate and return the draft."""
        from ectui.services.billing import PriceDraft

        def value(input_id: str) -> str:
            return self.query_one(f"#{input_id}", Input).value

        try:
            draft = PriceDraft.parse(
                vcpu_hour=value("price-vcpu"),
                ram_gb_hour=value("price-ram"),
                ip_hour=value("price-ip"),
                effective_from=value("price-from"),
            )
        except ServiceError as err:
            mark_field(self, PRICE_FIELDS, "price-error", err)
            return
        self.dismiss(draft)


class ChooseBillModal(ShellModal["tuple[str, str] | None"]):
    """Which bill to show: a project and a month."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Show"), id="bill_form.submit")]

    def __init__(self, project: str, month: str, projects: list[str]) -> None:
        super().__init__()
        self.project = project
        self.month = month
        self.projects = projects

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="bill-form-box"):
            yield Label(_("Show the bill of"), classes="modal-title")
            with Horizontal(classes="form-row"):
                yield Label(_("Project"))
                yield Input(self.project, id="bill-project")
            with Horizontal(classes="form-row"):
                yield Label(_("Month"))
                yield Input(self.month, id="bill-month", placeholder="YYYY-MM")
            yield Static(
                _("Projects: {names}").format(names=", ".join(self.projects) or "—"), classes="modal-hint"
            )
            yield Static(id="bill-error", classes="modal-error")
            yield Label(_("Enter/Ctrl+S: show · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="bill-cancel")
                yield Button(_("Show"), id="bill-show", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#bill-project", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#bill-show")
    def action_submit(self) -> None:
        """Validate the month and project name, then return them."""
        from ectui.services.billing import PROJECT, parse_month
        from ectui.services.errors import ValidationError

        project = self.query_one("#bill-project", Input).value.strip()
        month = self.query_one("#bill-month", Input).value.strip()
        try:
            if not project:
                raise ValidationError("validation.required", field=PROJECT, field_id="project")
            parse_month(month)
        except ServiceError as err:
            mark_field(self, BILL_FIELDS, "bill-error", err)
            return
        self.dismiss((project, month))


class ExportBillModal(CsvExportModal):
    """Writes the bill shown as CSV."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Export"), id="bill_export.submit")]


class BillingScreen(ConsoleDomainScreen):
    """The price list, and the bill of one project for one month with its line items."""

    DOMAIN = "billing"
    CSS_PATH = "billing.tcss"
    BINDINGS = [
        Binding("n", "new_price", _("New price"), id="billing.price"),
        Binding("b", "choose_bill", _("Choose bill"), id="billing.bill"),
        Binding("left_square_bracket", "previous_month", _("Previous month"), id="billing.previous"),
        Binding("right_square_bracket", "next_month", _("Next month"), id="billing.next"),
        Binding("e", "export", _("Export CSV"), id="billing.export"),
        Binding("r", "refresh", _("Refresh"), id="billing.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.project: str | None = None
        """The project of the bill shown (None until one is chosen or found)."""
        self.month: str = ""
        """The month of the bill shown, 'YYYY-MM'."""
        self.prices: list[PriceInfo] = []
        """The price list shown."""
        self.bill: Bill | None = None
        """The bill shown."""
        self.from_modal = False
        """A form of this screen is open (its return resumes the screen without a refresh)."""

    def compose_content(self) -> ComposeResult:
        yield Label(_("Price list"), classes="section-title")
        yield DataTable(id="billing-prices", cursor_type="row", zebra_stripes=True)
        yield Label(_("Bill"), classes="billing-heading", id="billing-bill-title")
        yield DataTable(id="billing-lines", cursor_type="row", zebra_stripes=True)
        yield Static("", id="billing-totals", markup=False)

    def on_mount(self) -> None:
        prices = self.query_one("#billing-prices", DataTable)
        for label, key in ((_("From"), "from"), (_("Until"), "to"), (_("vCPU-hour"), "vcpu"),
                           (_("GB-RAM-hour"), "ram"), (_("IP-hour"), "ip")):  # fmt: skip
            prices.add_column(label, key=key)
        lines = self.query_one("#billing-lines", DataTable)
        for label, key in ((_("VM"), "vm"), (_("Period"), "period"), (_("Amount"), "amount"),
                           (_("Hours"), "hours"), (_("State"), "state"), (_("Spec"), "spec")):  # fmt: skip
            lines.add_column(label, key=key)
        lines.focus()

    def on_screen_resume(self) -> None:
        if self.from_modal:  # back from this screen's own form: its callback refreshes after saving
            self.from_modal = False
            return
        self.refresh_billing()

    def push_modal(self, modal: ShellModal[Any], callback: Callable[[Any], None]) -> None:
        """Open one of this screen's forms (no refresh on return: the form's own work refreshes)."""
        self.from_modal = True
        self.app.push_screen(modal, callback=callback)

    # -- loading and showing

    @work(exclusive=True, group="billing-refresh", exit_on_error=False)
    async def refresh_billing(self) -> None:
        """Read the price list and the bill chosen (by default: the current project, this month)."""
        billing = self.services.billing
        try:
            self.show_prices(await billing.prices())
            if not self.month:
                self.month = billing.current_month()
            if self.project is None:
                current = await self.services.projects.current()
                names = await billing.projects()
                self.project = current.name if current else (names[0] if names else None)
            if self.project is None:
                self.show_title(_("Bill · no project yet"))
                return
            self.show_bill(await billing.bill(self.project, self.month))
        except ServiceError as err:
            self.notify(render(err), title=_("Billing"), severity="error", timeout=10)

    def show_prices(self, prices: list[PriceInfo]) -> None:
        """Fill the price list."""
        self.prices = prices
        table = self.query_one("#billing-prices", DataTable)
        table.clear()
        for p in prices:
            table.add_row(
                p.effective_from.isoformat(), p.effective_to.isoformat() if p.effective_to else "—",
                str(p.vcpu_hour), str(p.ram_gb_hour), str(p.ip_hour), key=str(p.id),
            )  # fmt: skip
        if not prices:
            table.add_row(_("no prices yet: n adds one"), "", "", "", "", key="none")

    def show_title(self, text: str) -> None:
        self.query_one("#billing-bill-title", Label).update(text)

    def show_bill(self, bill: Bill) -> None:
        """Fill the line items and the totals."""
        self.bill = bill
        self.show_title(
            _("Bill · {project} · {month} (until {end} UTC)").format(
                project=bill.project, month=bill.month_text, end=bill.period_end.strftime("%m-%d %H:%M")
            )
        )
        table = self.query_one("#billing-lines", DataTable)
        table.clear()
        for i, line in enumerate(bill.lines):
            period = f"{line.started_at:%m-%d %H:%M}–{line.ended_at:%m-%d %H:%M}" + (
                " …" if line.open else ""
            )
            spec = f"{line.vcpus}C/{line.ram_gb}G/{line.public_ips}IP"
            state = _("running") if line.running else _("stopped")
            amount = str(line.total) if line.price_from is not None else _("no price")
            hours = str(line.hours.quantize(Decimal("0.01")))  # the exact hours are in the CSV
            table.add_row(line.vm_name, period, amount, hours, state, spec, key=str(i))
        totals = _("vCPU {vcpu} · RAM {ram} · IP {ip} · total {total}").format(
            vcpu=bill.vcpu_total, ram=bill.ram_total, ip=bill.ip_total, total=bill.total
        )
        if not bill.lines:
            totals = _("No usage metered in this month.") + " " + totals
        self.query_one("#billing-totals", Static).update(totals)

    # -- actions

    def action_refresh(self) -> None:
        """Read the prices and the bill again."""
        self.refresh_billing()

    def action_new_price(self) -> None:
        """Add a price from a date on (prefilled with the newest price)."""

        def submitted(draft: PriceDraft | None) -> None:
            if draft is not None:
                self.save_price(draft)

        latest = self.prices[-1] if self.prices else None
        today = self.services.billing.clock().date()
        self.push_modal(PriceFormModal(latest, today), submitted)

    @work(group="billing-save", exit_on_error=False)
    async def save_price(self, draft: PriceDraft) -> None:
        """Save a price; refusals are shown."""
        try:
            info = await self.services.billing.set_price(draft)
        except ServiceError as err:
            self.notify(render(err), title=_("Price not saved"), severity="error", timeout=10)
            return
        self.notify(_("Price from {date} saved").format(date=info.effective_from.isoformat()))
        self.refresh_billing()

    def action_choose_bill(self) -> None:
        """Choose the project and month of the bill shown."""
        self.open_bill_form()

    @opens_screen
    @work(exclusive=True, group="billing-form", exit_on_error=False)
    async def open_bill_form(self) -> None:
        try:
            names = await self.services.billing.projects()
        except ServiceError as err:
            self.notify(render(err), title=_("Billing"), severity="error", timeout=10)
            return

        def chosen(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                self.project, self.month = choice
                self.refresh_billing()

        month = self.month or self.services.billing.current_month()
        self.push_modal(ChooseBillModal(self.project or "", month, names), chosen)

    def action_previous_month(self) -> None:
        """The bill of the month before."""
        if self.month:
            self.month = shift_month(self.month, -1)
            self.refresh_billing()

    def action_next_month(self) -> None:
        """The bill of the month after."""
        if self.month:
            self.month = shift_month(self.month, 1)
            self.refresh_billing()

    def action_export(self) -> None:
        """Write the bill shown as CSV to a file the operator names."""
        if self.bill is None:
            self.notify(_("Nothing to export yet."), severity="warning")
            return
        default = Path.cwd() / f"ectui-bill-{self.bill.project}-{self.bill.month_text}.csv"

        def written(path: Path | None) -> None:
            if path is not None:
                self.notify(_("CSV written to {path}").format(path=path), title=_("Bill exported"))

        write = functools.partial(self.services.billing.write_bill_csv, self.bill)
        self.push_modal(ExportBillModal(_("Export the bill as CSV"), write, default, prefix="bill"), written)
