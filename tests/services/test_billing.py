"""Billing (SPEC M5): price list, metering from the VM lifecycle, monthly bills against hand-computed totals,
the hooks in VmService/ResizeService against the dev cloud, validation and license gating."""

from __future__ import annotations

import csv
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ectui.config import Settings
from ectui.db.models import Cluster, MeterSpan, Project, Vm
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.i18n import render
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.billing import BillingError, PriceDraft, parse_month
from ectui.services.errors import LicenseError, ReadOnlyError, ValidationError
from ectui.services.projects import ProjectDraft
from ectui.services.templates import TemplateDraft
from tests.kit import CONSOLE_NOW, Clock
from tests.kit.cloud import cluster_draft, sdk

PASSWORD = "Secr3t!pass"
D = Decimal


async def licensed(
    home: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any], features: str
) -> ConsoleServices:
    issuer = build_issuer_services(settings_for(home / "issuer"))
    await issuer.start()
    try:
        issued = await make_license(
            issuer.issuer, home / "out", storage="local,shared", features=features, edition=f"E-{features}"
        )
    finally:
        issuer.close()
    console = build_console_services(
        settings_for(home / "console", ECTUI_OPERATOR="alice"), clock=Clock(CONSOLE_NOW)
    )
    await console.start()
    await console.license.import_license(issued.ec_path, issued.properties_path)
    return console


@pytest.fixture
async def s(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> AsyncIterator[ConsoleServices]:
    console = await licensed(tmp_path, settings_for, make_license, "platform,billing")
    yield console
    console.close()


def add_vm(s: ConsoleServices, name: str, project: str, vcpus: int, ram_gb: int) -> int:
    """A VM row in cluster dc1 (made with its project when missing), as VmService records one."""
    with s.db.session() as session:
        cluster = session.scalar(select(Cluster).where(Cluster.name == "dc1"))
        if cluster is None:
            cluster = Cluster(name="dc1")
            session.add(cluster)
            session.flush()
        row = session.scalar(select(Project).where(Project.name == project))
        if row is None:
            row = Project(name=project, cluster_id=cluster.id)
            session.add(row)
            session.flush()
        vm = Vm(
            cluster_id=cluster.id, project_id=row.id, name=name, vcpus=vcpus, ram_gb=ram_gb, status="ACTIVE"
        )
        session.add(vm)
        session.flush()
        return vm.id


def change_vm(s: ConsoleServices, vm_id: int, **values: Any) -> None:
    with s.db.session() as session:
        row = session.get(Vm, vm_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


def at(day: int, hour: int = 0, month: int = 6) -> dt.datetime:
    return dt.datetime(2030, month, day, hour)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("over", "key", "field"),
    [
        ({"vcpu_hour": ""}, "validation.required", "Price per vCPU-hour"),
        ({"vcpu_hour": "abc"}, "billing.bad_price", "Price per vCPU-hour"),
        ({"ram_gb_hour": "-0.01"}, "billing.bad_price", "Price per GB-RAM-hour"),
        ({"ram_gb_hour": "0.00001"}, "billing.bad_price", "Price per GB-RAM-hour"),
        ({"ip_hour": "NaN"}, "billing.bad_price", "Price per public-IP-hour"),
        ({"ip_hour": "1e12"}, "billing.price_too_large", "Price per public-IP-hour"),
        ({"effective_from": "2030-13-01"}, "validation.date", "Effective from"),
        ({"effective_from": ""}, "validation.required", "Effective from"),
    ],
)
def test_price_fields_have_clear_messages(over: dict[str, str], key: str, field: str) -> None:
    values = {"vcpu_hour": "0.01", "ram_gb_hour": "0.005", "ip_hour": "0.02", "effective_from": "2030-06-01"}
    values.update(over)
    with pytest.raises(ValidationError) as caught:
        PriceDraft.parse(**values)
    assert (caught.value.key, caught.value.field) == (key, field)
    assert field in render(caught.value)


def test_prices_are_exact_decimals_and_months_parse() -> None:
    draft = PriceDraft.parse(
        vcpu_hour="0.0125", ram_gb_hour="3", ip_hour=" 0.1 ", effective_from="2030-06-16"
    )
    assert (draft.vcpu_hour, draft.ram_gb_hour, draft.ip_hour) == (D("0.0125"), D("3.0000"), D("0.1000"))
    assert parse_month("2030-06") == dt.date(2030, 6, 1)
    for bad in ("2030-6", "2030-00", "2030-13", "June", "2030-06-01"):
        with pytest.raises(ValidationError) as caught:
            parse_month(bad)
        assert caught.value.field == "Month" and "YYYY-MM" in render(caught.value)


# ------------------------------------------------------------------ prices


async def test_price_list_keeps_history_and_effective_dates(s: ConsoleServices) -> None:
    assert await s.billing.prices() == []
    await s.billing.set_price(PriceDraft.parse(vcpu_hour="0.02", ram_gb_hour="0.004", ip_hour="0.01",
                                               effective_from="2030-06-16"))  # fmt: skip
    first = await s.billing.set_price(
        PriceDraft.parse(vcpu_hour="0.01", ram_gb_hour="0.005", ip_hour="0.02", effective_from="2030-05-01")
    )
    assert first.effective_to == dt.date(2030, 6, 16) and first.created_by == "alice"
    prices = await s.billing.prices()
    assert [(p.effective_from, p.effective_to, p.vcpu_hour) for p in prices] == [
        (dt.date(2030, 5, 1), dt.date(2030, 6, 16), D("0.0100")),
        (dt.date(2030, 6, 16), None, D("0.0200")),
    ]
    # the same date again replaces that entry (a correction), the others stay
    await s.billing.set_price(PriceDraft.parse(vcpu_hour="0.03", ram_gb_hour="0.004", ip_hour="0.01",
                                               effective_from="2030-06-16"))  # fmt: skip
    prices = await s.billing.prices()
    assert [str(p.vcpu_hour) for p in prices] == ["0.0100", "0.0300"]
    assert prices[1].to_json()["vcpu_hour"] == "0.0300"


# ------------------------------------------------------------------ the scripted month


async def test_scripted_month_against_hand_computed_totals(s: ConsoleServices, tmp_path: Path) -> None:
    # prices: P1 from 2030-05-01, P2 from 2030-06-16 (mid-June)
    await s.billing.set_price(PriceDraft.parse(vcpu_hour="0.01", ram_gb_hour="0.005", ip_hour="0.02",
                                               effective_from="2030-05-01"))  # fmt: skip
    await s.billing.set_price(PriceDraft.parse(vcpu_hour="0.02", ram_gb_hour="0.004", ip_hour="0.01",
                                               effective_from="2030-06-16"))  # fmt: skip
    record = s.billing.record_event
    # "old": 1 vCPU / 2 GB, 2030-04-30 12:00 → 2030-05-01 12:00 (half before any price)
    old = add_vm(s, "old", "web", 1, 2)
    await record(old, "create", at=at(30, 12, month=4))
    await record(old, "delete", at=at(1, 12, month=5))
    # "app": 2 vCPU / 4 GB from 2030-05-31 20:00
    app = add_vm(s, "app", "web", 2, 4)
    await record(app, "create", at=at(31, 20, month=5))
    change_vm(s, app, vcpus=4, ram_gb=8)
    await record(app, "resize", at=at(5))
    change_vm(s, app, floating_ip="172.24.4.9", floating_ip_id="fip-1")
    await record(app, "ip_attach", at=at(10))
    await record(app, "stop", at=at(12))
    await record(app, "stop", at=at(13))  # a repeated event changes nothing
    await record(app, "start", at=at(14))
    change_vm(s, app, floating_ip="", floating_ip_id="")
    await record(app, "ip_detach", at=at(20))
    await record(app, "delete", at=at(25, 12))
    # "db": 1 vCPU / 1 GB from 2030-06-28, still running when the bill is made (2030-07-02)
    db = add_vm(s, "db", "web", 1, 1)
    await record(db, "create", at=at(28))
    # another project's VM is not on web's bill
    other = add_vm(s, "x", "other", 8, 8)
    await record(other, "create", at=at(1))
    s.billing.clock = Clock(dt.datetime(2030, 7, 2, 9, 0))

    june = await s.billing.bill("web", "2030-06")
    rows = [
        (ln.vm_name, ln.started_at.day, ln.ended_at.day, ln.state, ln.vcpus, ln.ram_gb, ln.public_ips, str(ln.hours),
         ln.price_from.day if ln.price_from else None, str(ln.vcpu_amount), str(ln.ram_amount), str(ln.ip_amount),
         str(ln.total))
        for ln in june.lines
    ]  # fmt: skip
    assert rows == [
        # app, 2/4 running, Jun 1 00:00 (clipped) → Jun 5: 96 h at P1: 2·96·0.01 = 1.92; 4·96·0.005 = 1.92
        ("app", 1, 5, "running", 2, 4, 0, "96.0000", 1, "1.92", "1.92", "0.00", "3.84"),
        # resized to 4/8: Jun 5 → Jun 10, 120 h at P1: 4·120·0.01 = 4.80; 8·120·0.005 = 4.80
        ("app", 5, 10, "running", 4, 8, 0, "120.0000", 1, "4.80", "4.80", "0.00", "9.60"),
        # IP attached: Jun 10 → 12, 48 h at P1: 4·48·0.01 = 1.92; 8·48·0.005 = 1.92; 1·48·0.02 = 0.96
        ("app", 10, 12, "running", 4, 8, 1, "48.0000", 1, "1.92", "1.92", "0.96", "4.80"),
        # stopped Jun 12 → 14: no CPU/RAM, the IP still billed: 1·48·0.02 = 0.96
        ("app", 12, 14, "stopped", 4, 8, 1, "48.0000", 1, "0.00", "0.00", "0.96", "0.96"),
        # started Jun 14 → the price change on Jun 16, 48 h at P1: 1.92 + 1.92 + 0.96
        ("app", 14, 16, "running", 4, 8, 1, "48.0000", 1, "1.92", "1.92", "0.96", "4.80"),
        # Jun 16 → 20, 96 h at P2: 4·96·0.02 = 7.68; 8·96·0.004 = 3.072 → 3.07; 1·96·0.01 = 0.96
        ("app", 16, 20, "running", 4, 8, 1, "96.0000", 16, "7.68", "3.07", "0.96", "11.71"),
        # IP detached: Jun 20 → Jun 25 12:00, 132 h at P2: 4·132·0.02 = 10.56; 8·132·0.004 = 4.224 → 4.22
        ("app", 20, 25, "running", 4, 8, 0, "132.0000", 16, "10.56", "4.22", "0.00", "14.78"),
        # db: Jun 28 → Jul 1 00:00 (clipped; still open), 72 h at P2: 1·72·0.02 = 1.44; 1·72·0.004 = 0.288 → 0.29
        ("db", 28, 1, "running", 1, 1, 0, "72.0000", 16, "1.44", "0.29", "0.00", "1.73"),
    ]
    assert june.lines[-1].open and not june.lines[0].open
    # vCPU 1.92+4.80+1.92+0+1.92+7.68+10.56+1.44 = 30.24; RAM 1.92+4.80+1.92+0+1.92+3.07+4.22+0.29 = 18.14
    # IP 0.96·4 = 3.84; total 30.24 + 18.14 + 3.84 = 52.22 (= the sum of the line totals)
    assert (june.vcpu_total, june.ram_total, june.ip_total, june.total) == (
        D("30.24"), D("18.14"), D("3.84"), D("52.22"),
    )  # fmt: skip
    assert june.period_end == dt.datetime(2030, 7, 1) and june.unpriced_hours == 0
    # May: old 12 h (May 1 00:00 → 12:00) at P1: 1·12·0.01 = 0.12, 2·12·0.005 = 0.12;
    # app 4 h (May 31 20:00 → Jun 1) at P1: 2·4·0.01 = 0.08, 4·4·0.005 = 0.08 → total 0.40
    may = await s.billing.bill("web", "2030-05")
    assert [(ln.vm_name, str(ln.hours), str(ln.total)) for ln in may.lines] == [
        ("app", "4.0000", "0.16"), ("old", "12.0000", "0.24"),
    ]  # fmt: skip
    assert may.total == D("0.40")
    # April: old's 12 h before the first price are listed but charged nothing
    april = await s.billing.bill("web", "2030-04")
    assert [(ln.vm_name, str(ln.hours), ln.price_from, str(ln.total)) for ln in april.lines] == [
        ("old", "12.0000", None, "0.00")
    ]
    assert april.unpriced_hours == 12 and april.total == 0
    # the current month is billed up to now: db 1 vCPU / 1 GB, Jul 1 00:00 → Jul 2 09:00 = 33 h at P2:
    # 1·33·0.02 = 0.66; 1·33·0.004 = 0.132 → 0.13
    july = await s.billing.bill("web", "2030-07")
    assert [(ln.vm_name, str(ln.hours), str(ln.total), ln.open) for ln in july.lines] == [
        ("db", "33.0000", "0.79", True)
    ]
    assert july.period_end == dt.datetime(2030, 7, 2, 9)
    # other's x, 8 vCPU / 8 GB all June: Jun 1 → 16 = 360 h at P1: 8·360·0.01 = 28.80, 8·360·0.005 = 14.40;
    # Jun 16 → Jul 1 = 360 h at P2: 8·360·0.02 = 57.60, 8·360·0.004 = 11.52 → 112.32
    assert (await s.billing.bill("other", "2030-06")).total == D("112.32")
    # CSV: one row per line item and a TOTAL row that adds up
    path = await s.billing.write_bill_csv(june, tmp_path / "june.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 9 and table[-1]["vm"] == "TOTAL" and table[-1]["total"] == "52.22"
    assert sum(D(r["total"]) for r in table[:-1]) == D("52.22")
    assert table[5]["price_from"] == "2030-06-16" and table[5]["ram_amount"] == "3.07"
    assert june.to_json()["totals"] == {"vcpu": "30.24", "ram": "18.14", "ip": "3.84", "total": "52.22"}
    # the metering as recorded: one open span left for db (and x), app's spans all closed
    spans = await s.billing.spans(vm_id=app)
    assert [(sp.opened_by, sp.closed_by) for sp in spans] == [
        ("create", "resize"), ("resize", "ip_attach"), ("ip_attach", "stop"), ("stop", "start"),
        ("start", "ip_detach"), ("ip_detach", "delete"),
    ]  # fmt: skip


async def test_bill_refusals(s: ConsoleServices, tmp_path: Path) -> None:
    with pytest.raises(BillingError) as caught:
        await s.billing.bill("nosuch", "2030-06")
    assert caught.value.key == "billing.project_not_found" and "nosuch" in render(caught.value)
    with pytest.raises(ValidationError) as caught:
        await s.billing.bill("web", "2030/06")
    assert caught.value.field == "Month"
    with pytest.raises(ValidationError) as caught:
        await s.billing.bill(" ", "2030-06")
    assert caught.value.field == "Project"
    with pytest.raises(BillingError):
        await s.billing.record_event(1, "explode")
    await s.projects.add(ProjectDraft.parse(name="web", vcpus="4", ram_gb="4", vms="1"))
    empty = await s.billing.bill("web", "2030-06")
    assert empty.lines == () and empty.total == 0
    with pytest.raises(BillingError) as caught:
        await s.billing.write_bill_csv(empty, tmp_path / "missing" / "x.csv")
    assert caught.value.key == "billing.write_failed"


async def test_hook_never_fails_the_operation(
    s: ConsoleServices, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    vm = add_vm(s, "app", "web", 1, 1)

    def broken(*_args: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(s.billing, "_record", broken)
    with caplog.at_level(logging.WARNING, logger="ectui.billing"):
        await s.billing.vm_event(vm, "start")  # logged, not raised
    assert "disk full" in caplog.text


# ------------------------------------------------------------------ gating


async def test_refused_without_the_billing_module(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> None:
    console = await licensed(tmp_path, settings_for, make_license, "platform,statistics")
    try:
        draft = PriceDraft.parse(vcpu_hour="1", ram_gb_hour="1", ip_hour="1", effective_from="2030-06-01")
        for call in (
            lambda: console.billing.prices(),
            lambda: console.billing.set_price(draft),
            lambda: console.billing.bill("web", "2030-06"),
            lambda: console.billing.record_event(1, "start"),
            lambda: console.billing.spans(),
        ):
            with pytest.raises(LicenseError) as caught:
                await call()
            assert caught.value.key == "license.feature_disabled" and "'billing'" in render(caught.value)
        # the hook is silent and records nothing
        vm = add_vm(console, "app", "web", 1, 1)
        await console.billing.vm_event(vm, "create")
        with console.db.session() as session:
            assert session.scalars(select(MeterSpan)).all() == []
    finally:
        console.close()


async def test_read_only_console_cannot_set_prices(s: ConsoleServices) -> None:
    ro = build_console_services(s.settings, clock=Clock(CONSOLE_NOW), readonly=True)
    try:
        await ro.start()
        with pytest.raises(ReadOnlyError):
            await ro.billing.set_price(
                PriceDraft.parse(vcpu_hour="1", ram_gb_hour="1", ip_hour="1", effective_from="2030-06-01")
            )
        assert await ro.billing.prices() == []
    finally:
        ro.close()


# ------------------------------------------------------------------ the hooks, against the dev cloud


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path / "cloud", timings=Timings.fast(0.02))
    yield handle
    handle.stop()


async def test_vm_and_resize_services_meter_the_lifecycle(s: ConsoleServices, cloud: DevCloudHandle) -> None:
    from tests.kit.vms import Env, draft

    await s.clusters.add(cluster_draft(cloud))
    await s.images.sync("dc1")
    images = {i.name: i.id for i in await s.images.list_all("dc1")}
    linux = await s.templates.create(
        TemplateDraft.parse(name="cirros", image_id=images["cirros-0.6.2"], os_type="linux")
    )
    await s.projects.add(
        ProjectDraft.parse(name="web", vcpus="16", ram_gb="64", vms="5", public_ips="2", cluster="dc1")
    )
    await s.projects.use("web")
    env = Env(s, cloud, sdk(cloud), linux.id, linux.id, Path("."))
    await s.billing.set_price(PriceDraft.parse(vcpu_hour="0.01", ram_gb_hour="0.005", ip_hour="0.02",
                                               effective_from="2030-06-01"))  # fmt: skip
    clock = Clock(at(1))
    s.billing.clock = clock
    vm = await s.vms.create(draft(env, name="m1", cpu="2", ram_gb="2", public_ip=True))  # Jun 1 00:00
    clock.now = at(3)
    await s.vms.stop(vm.id, wait=True)
    clock.now = at(4)
    await s.vms.start(vm.id, wait=True)
    clock.now = at(6)
    plan = await s.resize.plan(vm.id, 3, 4)
    await s.resize.resize(plan)
    clock.now = at(8)
    await s.vms.reboot(vm.id)  # not metered: nothing changes
    await s.vms.delete(vm.id)
    spans = await s.billing.spans(project="web")
    assert [
        (sp.opened_by, sp.closed_by, sp.running, sp.vcpus, sp.ram_gb, sp.public_ips, sp.started_at.day,
         sp.ended_at.day if sp.ended_at else None)
        for sp in spans
    ] == [
        ("create", "stop", True, 2, 2, 1, 1, 3),
        ("stop", "start", False, 2, 2, 1, 3, 4),
        ("start", "resize", True, 2, 2, 1, 4, 6),
        ("resize", "delete", True, 3, 4, 1, 6, 8),
    ]  # fmt: skip
    bill = await s.billing.bill("web", "2030-06")
    # 48 h running 2/2/1: 2·48·0.01 = 0.96, 2·48·0.005 = 0.48, 48·0.02 = 0.96 → 2.40
    # 24 h stopped with the IP: 24·0.02 = 0.48
    # 48 h running 2/2/1: 2.40
    # 48 h running 3/4/1: 3·48·0.01 = 1.44, 4·48·0.005 = 0.96, 0.96 → 3.36; total 2.40+0.48+2.40+3.36 = 8.64
    assert [str(line.total) for line in bill.lines] == ["2.40", "0.48", "2.40", "3.36"]
    assert bill.total == D("8.64")


async def test_setting_a_price_is_in_the_audit_log(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> None:
    console = await licensed(tmp_path, settings_for, make_license, "platform,billing,users")
    try:
        await console.billing.set_price(
            PriceDraft.parse(
                vcpu_hour="0.01", ram_gb_hour="0.005", ip_hour="0.002", effective_from="2030-06-01"
            )
        )
        entries = await console.audit.list_all()
        assert ("price.set", "ok") in [(e.action, e.result) for e in entries]
    finally:
        console.close()
