"""Billing screen: price list edit with validation, a project's bill with line items, month navigation,
CSV export, hidden without the module, every action in the palette."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.widgets import Input, Static
from uikit import domain_key, notifications, settings_for, settle, started

from ectui.app import ConsoleApp
from ectui.db.models import Cluster, Project, Vm
from ectui.screens.billing import BillingScreen, ChooseBillModal, ExportBillModal, PriceFormModal, shift_month
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.billing import PriceDraft
from ectui.services.issuer import EditionDraft, LicenseDraft
from ectui.widgets import PathInput
from ectui.widgets.literal import DataTable
from ectui.widgets.tables import table_rows

NOW = dt.datetime(2030, 6, 20)


class FixedClock:
    def __call__(self) -> dt.datetime:
        return NOW


async def licensed_console(home: Path, features: str) -> ConsoleServices:
    issuer = build_issuer_services(settings_for(home / "issuer"))
    await issuer.start()
    await issuer.issuer.create_edition(
        EditionDraft.parse(name="Pro", max_clusters="3", max_nodes="10", storage="local", features=features)
    )
    today = dt.date.today()
    lic = await issuer.issuer.create_license(
        LicenseDraft.parse(customer="ACME", edition="Pro", valid_from=today.isoformat(),
                           valid_to=(today + dt.timedelta(days=30)).isoformat())
    )  # fmt: skip
    result = await issuer.issuer.export_license(lic.id, home / "a.ec", home / "a.properties")
    issuer.close()
    console = build_console_services(settings_for(home / "console"))
    await console.start()
    await console.license.import_license(result.ec_path, result.properties_path)
    return console


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[ConsoleServices]:
    """Project web (current) with VM app (2 vCPU / 4 GB, ran Jun 1 → 11) and lb (1/1 + IP from Jun 10, open)."""
    console = await licensed_console(tmp_path, "billing")
    console.billing.clock = FixedClock()
    with console.db.session() as session:
        dc1 = Cluster(name="dc1")
        session.add(dc1)
        session.flush()
        web = Project(name="web", cluster_id=dc1.id)
        session.add(web)
        session.flush()
        app = Vm(cluster_id=dc1.id, project_id=web.id, name="app", vcpus=2, ram_gb=4, status="ACTIVE")
        lb = Vm(cluster_id=dc1.id, project_id=web.id, name="lb", vcpus=1, ram_gb=1, status="ACTIVE",
                floating_ip_id="fip-1", floating_ip="172.24.4.7")  # fmt: skip
        session.add_all([app, lb])
        session.flush()
        ids = app.id, lb.id
    await console.projects.use("web")
    await console.billing.record_event(ids[0], "create", at=dt.datetime(2030, 6, 1))
    await console.billing.record_event(ids[0], "stop", at=dt.datetime(2030, 6, 11))
    await console.billing.record_event(ids[1], "create", at=dt.datetime(2030, 6, 10))
    yield console
    console.close()


async def open_billing(pilot: Any, app: ConsoleApp) -> BillingScreen:
    await started(pilot)
    await pilot.press(domain_key(app, "billing"))
    await settle(pilot, lambda: isinstance(app.screen, BillingScreen) and app.screen.bill is not None)
    screen = app.screen
    assert isinstance(screen, BillingScreen)
    return screen


def totals(screen: BillingScreen) -> str:
    return str(screen.query_one("#billing-totals", Static).render())


async def test_price_edit_and_bill_view(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_billing(pilot, app)
        assert table_rows(screen.query_one("#billing-prices", DataTable))[0][0] == "no prices yet: n adds one"
        # without a price the hours are listed but not charged
        assert [row[2] for row in table_rows(screen.query_one("#billing-lines", DataTable))] == [
            "no price",
            "no price",
        ]
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, PriceFormModal))
        modal = app.screen
        assert modal.query_one("#price-from", Input).value == "2030-06-20"  # the billing clock's today
        for input_id, value in (("price-vcpu", "0.01x"), ("price-ram", "0.005"), ("price-ip", "0.02"),
                                ("price-from", "2030-06-01")):  # fmt: skip
            modal.query_one(f"#{input_id}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is modal
        assert "Price per vCPU-hour must be a number" in str(modal.query_one("#price-error", Static).render())
        assert modal.query_one("#price-vcpu", Input).has_class("-invalid")
        modal.query_one("#price-vcpu", Input).value = "0.01"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: app.screen is screen and bool(screen.prices))
        assert any("Price from 2030-06-01 saved" in n for n in notifications(app))
        assert table_rows(screen.query_one("#billing-prices", DataTable)) == [
            ["2030-06-01", "—", "0.0100", "0.0050", "0.0200"]
        ]
        await settle(pilot, lambda: screen.bill is not None and screen.bill.total > 0)
        # app: Jun 1 → 11, 240 h: 2·240·0.01 = 4.80 + 4·240·0.005 = 4.80 → 9.60 (stopped after: no line)
        # lb: Jun 10 → now (Jun 20), 240 h: 2.40 + 1.20 + 1·240·0.02 = 4.80 → 8.40
        assert table_rows(screen.query_one("#billing-lines", DataTable)) == [
            ["app", "06-01 00:00–06-11 00:00", "9.60", "240.00", "running", "2C/4G/0IP"],
            ["lb", "06-10 00:00–06-20 00:00 …", "8.40", "240.00", "running", "1C/1G/1IP"],
        ]
        assert "total 18.00" in totals(screen)
        assert "Bill · web · 2030-06" in str(screen.query_one("#billing-bill-title").render())
        # choose another month: a bad one is refused on the form, naming the field
        await pilot.press("b")
        await settle(pilot, lambda: isinstance(app.screen, ChooseBillModal))
        form = app.screen
        form.query_one("#bill-month", Input).value = "2030-13"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and "Month must be a month" in str(form.query_one("#bill-error").render())
        form.query_one("#bill-month", Input).value = "2030-05"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: screen.bill is not None and screen.bill.month_text == "2030-05")
        assert table_rows(
            screen.query_one("#billing-lines", DataTable)
        ) == [] and "No usage metered in this month." in totals(screen)
        await pilot.press("right_square_bracket")
        await settle(pilot, lambda: screen.bill is not None and screen.bill.month_text == "2030-06")
        assert "total 18.00" in totals(screen)


async def test_export_csv(services: ConsoleServices, tmp_path: Path) -> None:
    await services.billing.set_price(
        PriceDraft.parse(vcpu_hour="0.01", ram_gb_hour="0.005", ip_hour="0.02", effective_from="2030-06-01")
    )
    app = ConsoleApp(services)
    target = tmp_path / "bill.csv"
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_billing(pilot, app)
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, ExportBillModal))
        app.screen.query_one("#bill-export-path", PathInput).value = str(tmp_path / "no-such-dir" / "x.csv")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ExportBillModal)
        assert "Cannot write the CSV file" in str(app.screen.query_one("#bill-export-error").render())
        app.screen.query_one("#bill-export-path", PathInput).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: app.screen is screen)
        assert any(f"CSV written to {target}" in n for n in notifications(app))
    with target.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["vm"], r["total"]) for r in rows] == [("app", "9.60"), ("lb", "8.40"), ("TOTAL", "18.00")]


async def test_hidden_without_the_module(tmp_path: Path) -> None:
    services = await licensed_console(tmp_path, "platform")
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            assert "billing" not in [d.id for d in app.visible_domains()]
    finally:
        services.close()


async def test_every_action_is_in_the_palette_and_footer(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_billing(pilot, app)
        titles = {command.title for command in app.get_system_commands(screen)}
        assert {"New price", "Choose bill", "Previous month", "Next month", "Export CSV", "Refresh"} <= titles
        ids = {b.id for b in BillingScreen.BINDINGS if isinstance(b, Binding)}
        assert ids == {"billing.price", "billing.bill", "billing.previous", "billing.next", "billing.export",
                       "billing.refresh"}  # fmt: skip
    assert shift_month("2030-01", -1) == "2029-12" and shift_month("2030-12", 1) == "2031-01"
