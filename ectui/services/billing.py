"""Billing: a dated price list, metering from the VM lifecycle, monthly bills per project, CSV.

Metering is recorded as it happens: every VM the console creates has exactly one open span in the `meter`
table (its project, spec, public IPs and power state, from a time on). Each lifecycle event closes the open
span and opens the next: create and start open a running span, stop opens a stopped one, a resize opens
one with the new spec ("resizes bill each spec for the time it held"), attaching or detaching a public IP
opens one with the new count, delete closes it. An event that changes nothing (the same spec, power state
and IPs) leaves the open span as it is, so a repeated event is harmless.

Billing rules:
- CPU and RAM are billed while the VM runs; a stopped VM is not billed for them.
- A public IP is billed for every hour it is attached, running or stopped: the address stays allocated
  to the project (no one else can use it) until it is detached or the VM is deleted.
- A price applies from its date (00:00 UTC) until the next price's date; a span crossing a price change
  is split there, and spans are clipped to the month (an open span ends "now").
- Amounts are exact decimals: hours × quantity × unit price, rounded half-up to cents per line and
  resource; the totals are the sums of the rounded lines (so the CSV adds up).
Times are naive UTC, months are UTC months.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ectui.db.models import BillingPrice, Cluster, MeterSpan, Project, Vm, utcnow
from ectui.i18n import N_
from ectui.services.audit import AuditService, audited
from ectui.services.csvsafe import safe_writer
from ectui.services.errors import ServiceError, ValidationError, register_messages
from ectui.services.validation import date_value, required_text

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.license import ConsoleLicenseService

log = logging.getLogger("ectui.billing")

register_messages(
    {
        "billing.bad_price": N_(
            "{field} must be a number of 0 or more with at most 4 decimals (like 0.0125), got '{value}'."
        ),
        "billing.price_too_large": N_("{field} must be below {max}, got '{value}'."),
        "billing.bad_month": N_("{field} must be a month written YYYY-MM (like 2030-06), got '{value}'."),
        "billing.unknown_event": N_("Unknown metering event '{event}'; known: {choices}."),
        "billing.project_not_found": N_(
            "No project named '{name}' and no metering recorded for it. List them with: ectui project list"
        ),
        "billing.write_failed": N_("Cannot write the CSV file {path}: {reason}"),
        "billing.no_path": N_("Give the path of the CSV file to write."),
    }
)

FEATURE = "billing"
"""The licensed module."""
EVENTS = ("create", "start", "stop", "resize", "ip_attach", "ip_detach", "delete")
"""Lifecycle events that move a VM's metering."""
PRICE_FIELDS = (
    ("vcpu_hour", N_("Price per vCPU-hour")),
    ("ram_gb_hour", N_("Price per GB-RAM-hour")),
    ("ip_hour", N_("Price per public-IP-hour")),
)
"""The three unit prices: attribute and field label."""
EFFECTIVE_FROM = N_("Effective from")
MONTH = N_("Month")
PROJECT = N_("Project")
PRICE_MAX = Decimal(10) ** 10
"""Numeric(14, 4): ten digits before the point."""
CENT = Decimal("0.01")
HOURS_PLACES = Decimal("0.0001")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class BillingError(ServiceError):
    """A refused billing request."""


# ------------------------------------------------------------------ parsing


def parse_price(value: str | Decimal | int | None, field: str, *, field_id: str = "") -> Decimal:
    """A unit price: 0 or more, at most 4 decimals, below 10^10; raises ValidationError naming the field."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        text = str(value)
    else:
        text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationError("validation.required", field=field, field_id=field_id)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError("billing.bad_price", field=field, field_id=field_id, value=text) from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(HOURS_PLACES):
        raise ValidationError("billing.bad_price", field=field, field_id=field_id, value=text)
    if amount >= PRICE_MAX:
        raise ValidationError(
            "billing.price_too_large", field=field, field_id=field_id, value=text, max=PRICE_MAX
        )
    return amount.quantize(HOURS_PLACES)


def parse_month(value: str | None) -> dt.date:
    """'2030-06' → 2030-06-01; raises ValidationError naming the Month field."""
    text = (value or "").strip()
    if not text:
        raise ValidationError("validation.required", field=MONTH, field_id="month")
    match = _MONTH.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise ValidationError("billing.bad_month", field=MONTH, field_id="month", value=text)
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def next_month(first: dt.date) -> dt.date:
    """The first day of the month after `first`'s."""
    return dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)


@dataclass(frozen=True)
class PriceDraft:
    """A validated price list entry."""

    effective_from: dt.date
    vcpu_hour: Decimal
    ram_gb_hour: Decimal
    ip_hour: Decimal

    @classmethod
    def parse(
        cls,
        *,
        vcpu_hour: str | Decimal | None,
        ram_gb_hour: str | Decimal | None,
        ip_hour: str | Decimal | None,
        effective_from: str | dt.date | None,
    ) -> PriceDraft:
        """Validate raw values (each error names its field)."""
        (vcpu_id, vcpu), (ram_id, ram), (ip_id, ip) = PRICE_FIELDS
        return cls(
            vcpu_hour=parse_price(vcpu_hour, vcpu, field_id=vcpu_id),
            ram_gb_hour=parse_price(ram_gb_hour, ram, field_id=ram_id),
            ip_hour=parse_price(ip_hour, ip, field_id=ip_id),
            effective_from=date_value(effective_from, EFFECTIVE_FROM, field_id="effective_from"),
        )


# ------------------------------------------------------------------ DTOs


@dataclass(frozen=True)
class PriceInfo:
    """A price list entry; `effective_to` is the next entry's date (exclusive), None for the newest."""

    id: int
    effective_from: dt.date
    effective_to: dt.date | None
    vcpu_hour: Decimal
    ram_gb_hour: Decimal
    ip_hour: Decimal
    created_by: str
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (money as exact decimal strings)."""
        return {
            "id": self.id,
            "effective_from": self.effective_from.isoformat(),
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "vcpu_hour": str(self.vcpu_hour),
            "ram_gb_hour": str(self.ram_gb_hour),
            "ip_hour": str(self.ip_hour),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class SpanInfo:
    """One metering span as recorded."""

    id: int
    project: str
    vm_id: int
    vm_name: str
    running: bool
    vcpus: int
    ram_gb: int
    public_ips: int
    started_at: dt.datetime
    ended_at: dt.datetime | None
    opened_by: str
    closed_by: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            **{k: v for k, v in self.__dict__.items() if k not in ("started_at", "ended_at")},
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "ended_at": self.ended_at.isoformat(timespec="seconds") if self.ended_at else None,
        }


@dataclass(frozen=True)
class BillLine:
    """One line item: a VM with one spec and power state under one price, within the month."""

    vm_id: int
    vm_name: str
    started_at: dt.datetime
    ended_at: dt.datetime
    open: bool
    """The span is still open (the line ends 'now' or at the month's end)."""
    running: bool
    vcpus: int
    ram_gb: int
    public_ips: int
    hours: Decimal
    price_from: dt.date | None
    """The date of the price applied; None when no price was in force (nothing charged)."""
    vcpu_hour: Decimal
    ram_gb_hour: Decimal
    ip_hour: Decimal
    vcpu_amount: Decimal
    ram_amount: Decimal
    ip_amount: Decimal

    @property
    def total(self) -> Decimal:
        """The three amounts together."""
        return self.vcpu_amount + self.ram_amount + self.ip_amount

    @property
    def state(self) -> str:
        """'running' or 'stopped'."""
        return "running" if self.running else "stopped"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (money and hours as exact decimal strings)."""
        return {
            "vm_id": self.vm_id,
            "vm": self.vm_name,
            "from": self.started_at.isoformat(timespec="seconds"),
            "to": self.ended_at.isoformat(timespec="seconds"),
            "open": self.open,
            "state": self.state,
            "vcpus": self.vcpus,
            "ram_gb": self.ram_gb,
            "public_ips": self.public_ips,
            "hours": str(self.hours),
            "price_from": self.price_from.isoformat() if self.price_from else None,
            "vcpu_hour": str(self.vcpu_hour),
            "ram_gb_hour": str(self.ram_gb_hour),
            "ip_hour": str(self.ip_hour),
            "vcpu_amount": str(self.vcpu_amount),
            "ram_amount": str(self.ram_amount),
            "ip_amount": str(self.ip_amount),
            "total": str(self.total),
        }


CSV_HEADER = (
    "project", "month", "vm_id", "vm", "from", "to", "state", "vcpus", "ram_gb", "public_ips", "hours",
    "price_from", "vcpu_hour", "ram_gb_hour", "ip_hour", "vcpu_amount", "ram_amount", "ip_amount", "total",
)  # fmt: skip


@dataclass(frozen=True)
class Bill:
    """The bill of one project for one month: line items and totals."""

    project: str
    month: dt.date
    """The first day of the month."""
    period_start: dt.datetime
    period_end: dt.datetime
    """The month's end, or 'now' for the current month (what is billed so far)."""
    generated_at: dt.datetime
    lines: tuple[BillLine, ...]

    @property
    def month_text(self) -> str:
        """'2030-06'."""
        return self.month.strftime("%Y-%m")

    @property
    def vcpu_total(self) -> Decimal:
        """Sum of the vCPU amounts."""
        return sum((line.vcpu_amount for line in self.lines), Decimal("0.00"))

    @property
    def ram_total(self) -> Decimal:
        """Sum of the RAM amounts."""
        return sum((line.ram_amount for line in self.lines), Decimal("0.00"))

    @property
    def ip_total(self) -> Decimal:
        """Sum of the public IP amounts."""
        return sum((line.ip_amount for line in self.lines), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        """What the project owes for the month."""
        return self.vcpu_total + self.ram_total + self.ip_total

    @property
    def unpriced_hours(self) -> Decimal:
        """Hours of lines with no price in force (charged nothing)."""
        return sum((line.hours for line in self.lines if line.price_from is None), Decimal(0))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "project": self.project,
            "month": self.month_text,
            "period_start": self.period_start.isoformat(timespec="seconds"),
            "period_end": self.period_end.isoformat(timespec="seconds"),
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "lines": [line.to_json() for line in self.lines],
            "totals": {
                "vcpu": str(self.vcpu_total),
                "ram": str(self.ram_total),
                "ip": str(self.ip_total),
                "total": str(self.total),
            },
            "unpriced_hours": str(self.unpriced_hours),
        }

    def csv_rows(self) -> Iterator[tuple[object, ...]]:
        """One row per line item, then a TOTAL row."""
        for line in self.lines:
            data = line.to_json()
            yield (
                self.project,
                self.month_text,
                *(data[k] if k != "vm" else line.vm_name for k in CSV_HEADER[2:]),
            )
        yield (
            self.project, self.month_text, "", "TOTAL", self.period_start.isoformat(timespec="seconds"),
            self.period_end.isoformat(timespec="seconds"), "", "", "", "", "", "", "", "", "",
            str(self.vcpu_total), str(self.ram_total), str(self.ip_total), str(self.total),
        )  # fmt: skip


def _money(seconds: int, quantity: int, unit: Decimal) -> Decimal:
    return (Decimal(seconds) * quantity * unit / 3600).quantize(CENT, rounding=ROUND_HALF_UP)


# ------------------------------------------------------------------ the service


class BillingService:
    """Price list, metering and bills; everything refused unless the license has the 'billing' module."""

    def __init__(
        self,
        db: Database,
        license_service: ConsoleLicenseService,
        settings: Settings,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        audit: AuditService | None = None,
    ) -> None:
        self._db = db
        self._license = license_service
        self._settings = settings
        self._audit = audit
        self.clock: Callable[[], dt.datetime] = clock or utcnow
        """Naive UTC now: the time of metering events and the end of the current month's bill (tests script it)."""

    def current_month(self) -> str:
        """'YYYY-MM' of the clock's now."""
        return self.clock().strftime("%Y-%m")

    # -- prices

    async def prices(self) -> list[PriceInfo]:
        """The price list, oldest first, each with the date the next one takes over."""
        await self._license.require(FEATURE)
        return await asyncio.to_thread(self._prices)

    def _prices(self) -> list[PriceInfo]:
        with self._db.session() as session:
            rows = list(session.scalars(select(BillingPrice).order_by(BillingPrice.effective_from)))
        return [
            PriceInfo(
                id=r.id,
                effective_from=r.effective_from,
                effective_to=rows[i + 1].effective_from if i + 1 < len(rows) else None,
                vcpu_hour=Decimal(r.vcpu_hour).quantize(HOURS_PLACES),
                ram_gb_hour=Decimal(r.ram_gb_hour).quantize(HOURS_PLACES),
                ip_hour=Decimal(r.ip_hour).quantize(HOURS_PLACES),
                created_by=r.created_by,
                created_at=r.created_at,
            )
            for i, r in enumerate(rows)
        ]

    @audited("price.set", "draft")
    async def set_price(self, draft: PriceDraft) -> PriceInfo:
        """Add a price from its date on (earlier prices are kept); a price of the same date is replaced."""
        await self._license.require(FEATURE, write=True)

        def save() -> int:
            with self._db.locked_session() as session:
                row = session.scalar(
                    select(BillingPrice).where(BillingPrice.effective_from == draft.effective_from)
                )
                if row is None:
                    row = BillingPrice(effective_from=draft.effective_from)
                    session.add(row)
                row.vcpu_hour, row.ram_gb_hour, row.ip_hour = (
                    draft.vcpu_hour,
                    draft.ram_gb_hour,
                    draft.ip_hour,
                )
                row.created_by, row.created_at = self._settings.operator, utcnow()
                session.flush()
                return row.id

        price_id = await asyncio.to_thread(save)
        return next(p for p in await asyncio.to_thread(self._prices) if p.id == price_id)

    # -- metering

    async def record_event(self, vm_id: int, event: str, *, at: dt.datetime | None = None) -> SpanInfo | None:
        """Move a VM's metering for a lifecycle event at `at` (default: the clock); returns the open span.

        The spec, project and public IPs are read from the VM row (after the operation changed it); delete
        (or a VM row that is gone) closes the metering. Refused unless the billing module is licensed.
        """
        if event not in EVENTS:
            raise BillingError("billing.unknown_event", event=event, choices=", ".join(EVENTS))
        await self._license.require(FEATURE, write=True)
        return await asyncio.to_thread(self._record, vm_id, event, at or self.clock())

    async def vm_event(self, vm_id: int, event: str) -> None:
        """A VM lifecycle event (the VM and resize services report each to their listeners): meter it now.

        Does nothing when the license lacks the billing module; any error is logged and swallowed (a
        metering problem must never fail or undo a VM operation).
        """
        try:
            if not self._license.policy().feature_enabled(FEATURE):
                return
            await asyncio.to_thread(self._record, vm_id, event, self.clock())
        except Exception as err:
            log.warning("billing: could not meter '%s' of VM %s: %s", event, vm_id, err)

    def _record(self, vm_id: int, event: str, at: dt.datetime) -> SpanInfo | None:
        with self._db.locked_session() as session:
            open_spans = list(
                session.scalars(
                    select(MeterSpan)
                    .where(MeterSpan.vm_id == vm_id, MeterSpan.ended_at.is_(None))
                    .order_by(MeterSpan.started_at, MeterSpan.id)
                    .with_for_update()
                )
            )
            row = session.get(Vm, vm_id)
            if event == "delete" or row is None:
                self._close(open_spans, at, event)
                return None
            current = open_spans[-1] if open_spans else None
            if event in ("create", "start"):
                running = True
            elif event == "stop":
                running = False
            else:
                running = current.running if current is not None else row.status == "ACTIVE"
            project = session.get(Project, row.project_id) if row.project_id else None
            cluster = session.get(Cluster, row.cluster_id)
            wanted = (
                project.name if project else "",
                running,
                row.vcpus,
                row.ram_gb,
                1 if row.floating_ip_id else 0,
            )
            if current is not None and len(open_spans) == 1 and wanted == (
                current.project, current.running, current.vcpus, current.ram_gb, current.public_ips
            ):  # fmt: skip
                return _span_info(current)
            self._close(open_spans, at, event)
            span = MeterSpan(
                project=wanted[0],
                cluster=cluster.name if cluster else "",
                vm_id=vm_id,
                vm_name=row.name,
                running=running,
                vcpus=row.vcpus,
                ram_gb=row.ram_gb,
                public_ips=wanted[4],
                started_at=at,
                opened_by=event,
                closed_by="",
            )
            session.add(span)
            session.flush()
            return _span_info(span)

    @staticmethod
    def _close(spans: list[MeterSpan], at: dt.datetime, event: str) -> None:
        for span in spans:
            span.ended_at = max(at, span.started_at)
            span.closed_by = event

    async def spans(self, *, project: str | None = None, vm_id: int | None = None) -> list[SpanInfo]:
        """The metering recorded (of a project, or of a VM), oldest first."""
        await self._license.require(FEATURE)

        def load() -> list[SpanInfo]:
            query = select(MeterSpan).order_by(MeterSpan.started_at, MeterSpan.id)
            if project is not None:
                query = query.where(MeterSpan.project == project)
            if vm_id is not None:
                query = query.where(MeterSpan.vm_id == vm_id)
            with self._db.session() as session:
                return [_span_info(s) for s in session.scalars(query)]

        return await asyncio.to_thread(load)

    # -- bills

    async def projects(self) -> list[str]:
        """Names a bill can be asked for: the projects, and projects gone that still have metering."""
        await self._license.require(FEATURE)

        def load() -> list[str]:
            with self._db.session() as session:
                names = set(session.scalars(select(Project.name)))
                names.update(n for n in session.scalars(select(MeterSpan.project).distinct()) if n)
            return sorted(names)

        return await asyncio.to_thread(load)

    async def bill(self, project: str, month: str | dt.date) -> Bill:
        """The bill of `project` for `month` ('YYYY-MM'); the current month is billed up to now."""
        name = required_text(project, PROJECT, field_id="project", max_len=64)
        first = month.replace(day=1) if isinstance(month, dt.date) else parse_month(month)
        await self._license.require(FEATURE)
        return await asyncio.to_thread(self._bill, name, first)

    def _bill(self, project: str, first: dt.date) -> Bill:
        now = self.clock()
        start = dt.datetime.combine(first, dt.time())
        month_end = dt.datetime.combine(next_month(first), dt.time())
        with self._db.session() as session:
            known = session.scalar(select(Project.id).where(Project.name == project)) is not None
            metered = session.scalar(select(MeterSpan.id).where(MeterSpan.project == project).limit(1))
            if not known and metered is None:
                raise BillingError("billing.project_not_found", name=project)
            spans = list(
                session.scalars(
                    select(MeterSpan)
                    .where(
                        MeterSpan.project == project,
                        MeterSpan.started_at < month_end,
                        (MeterSpan.ended_at.is_(None)) | (MeterSpan.ended_at > start),
                    )
                    .order_by(MeterSpan.vm_name, MeterSpan.vm_id, MeterSpan.started_at, MeterSpan.id)
                )
            )
            prices = self._prices_in(session)
        lines: list[BillLine] = []
        for span in spans:
            if not span.running and span.public_ips == 0:
                continue  # a stopped VM without a public IP costs nothing: no line
            begin = max(span.started_at, start)
            end = min(span.ended_at or now, month_end)
            if end <= begin:
                continue
            lines.extend(_lines_of(span, begin, end, prices))
        return Bill(
            project=project,
            month=first,
            period_start=start,
            period_end=min(month_end, max(now, start)),
            generated_at=now,
            lines=tuple(lines),
        )

    @staticmethod
    def _prices_in(session: Session) -> list[tuple[dt.datetime, BillingPrice]]:
        rows = session.scalars(select(BillingPrice).order_by(BillingPrice.effective_from))
        return [(dt.datetime.combine(r.effective_from, dt.time()), r) for r in rows]

    async def write_bill_csv(self, bill: Bill, path: Path | str) -> Path:
        """Write a bill as CSV (what is shown is what is written); returns the absolute path."""
        await self._license.require(FEATURE)
        return await asyncio.to_thread(write_csv, bill, path)


def _lines_of(
    span: MeterSpan, begin: dt.datetime, end: dt.datetime, prices: list[tuple[dt.datetime, BillingPrice]]
) -> Iterator[BillLine]:
    """The span's part [begin, end) cut at each price change inside it."""
    cuts = [when for when, _row in prices if begin < when < end]
    bounds = [begin, *cuts, end]
    for seg_start, seg_end in zip(bounds, bounds[1:], strict=False):
        price = None
        for when, row in prices:
            if when <= seg_start:
                price = row
        seconds = int((seg_end - seg_start).total_seconds())
        zero = Decimal("0.0000")
        unit = (
            (Decimal(price.vcpu_hour), Decimal(price.ram_gb_hour), Decimal(price.ip_hour))
            if price is not None
            else (zero, zero, zero)
        )
        unit = tuple(u.quantize(HOURS_PLACES) for u in unit)  # type: ignore[assignment]
        yield BillLine(
            vm_id=span.vm_id,
            vm_name=span.vm_name,
            started_at=seg_start,
            ended_at=seg_end,
            open=span.ended_at is None and seg_end == end,
            running=span.running,
            vcpus=span.vcpus,
            ram_gb=span.ram_gb,
            public_ips=span.public_ips,
            hours=(Decimal(seconds) / 3600).quantize(HOURS_PLACES, rounding=ROUND_HALF_UP),
            price_from=price.effective_from if price is not None else None,
            vcpu_hour=unit[0],
            ram_gb_hour=unit[1],
            ip_hour=unit[2],
            vcpu_amount=_money(seconds, span.vcpus if span.running else 0, unit[0]),
            ram_amount=_money(seconds, span.ram_gb if span.running else 0, unit[1]),
            ip_amount=_money(seconds, span.public_ips, unit[2]),
        )


def _span_info(s: MeterSpan) -> SpanInfo:
    return SpanInfo(
        id=s.id, project=s.project, vm_id=s.vm_id, vm_name=s.vm_name, running=bool(s.running), vcpus=s.vcpus,
        ram_gb=s.ram_gb, public_ips=s.public_ips, started_at=s.started_at, ended_at=s.ended_at,
        opened_by=s.opened_by, closed_by=s.closed_by,
    )  # fmt: skip


def write_csv(bill: Bill, path: Path | str) -> Path:
    """Write the bill's rows with a header; refuses an empty path, a missing directory or an unwritable file."""
    if not str(path).strip():
        raise ValidationError("billing.no_path", field=N_("File"), field_id="path")
    target = Path(path).expanduser().resolve()
    try:
        with target.open("w", newline="", encoding="utf-8") as fh:
            writer = safe_writer(csv.writer(fh))
            writer.writerow(CSV_HEADER)
            writer.writerows(bill.csv_rows())
    except OSError as err:
        raise BillingError("billing.write_failed", path=str(target), reason=err.strerror or str(err)) from err
    return target
