"""The console clock, settings on one ECTUI_HOME, issued licenses, and the one builder of a licensed console."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ectui.config import Settings
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.issuer import EditionDraft, IssuerService, LicenseDraft

CONSOLE_NOW = dt.datetime(2030, 6, 1, 12, 0, 0)
"""The console clock of service tests: inside the default license validity (2030)."""


def home_settings(home: Path, **env: str) -> Settings:
    """Settings whose config, data and logs all live under `home` (English UI)."""
    return Settings.from_env({"ECTUI_HOME": str(home), "ECTUI_LANG": "en", **env})


class Clock:
    """A settable clock (naive UTC), injected into the console services."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass(frozen=True)
class Issued:
    """One license made by an issuer and exported as `.ec` + `constant.properties`."""

    license_id: int
    ec_path: Path
    properties_path: Path


async def issue_license(
    issuer: IssuerService,
    out_dir: Path,
    *,
    customer: str = "ACME Cloud",
    edition: str = "Standard",
    valid_from: str = "2030-01-01",
    valid_to: str = "2030-12-31",
    **edition_fields: Any,
) -> Issued:
    """Create the edition when missing (defaults below, overridable), a license, and export both files.

    The export makes `out_dir` when needed.
    """
    if edition not in {e.name for e in await issuer.list_editions()}:
        fields: dict[str, Any] = {
            "max_clusters": "2",
            "max_nodes": "10",
            "storage": "local",
            "features": "platform,statistics,users.audit",
            "grace_days": "7",
            "price": "1999.00",
        }
        fields.update(edition_fields)
        await issuer.create_edition(EditionDraft.parse(name=edition, **fields))
    info = await issuer.create_license(
        LicenseDraft.parse(customer=customer, edition=edition, valid_from=valid_from, valid_to=valid_to)
    )
    result = await issuer.export_license(
        info.id, out_dir / f"license-{info.id}.ec", out_dir / f"license-{info.id}.properties"
    )
    return Issued(info.id, result.ec_path, result.properties_path)


def today_validity(days: int = 90) -> dict[str, str]:
    """valid_from today, valid_to `days` later: a license for a console on the real clock."""
    today = dt.date.today()
    return {"valid_from": today.isoformat(), "valid_to": (today + dt.timedelta(days=days)).isoformat()}


async def build_licensed_console(
    home: Path,
    *,
    clock: Clock | None = None,
    real_clock: bool = False,
    operator: str | None = None,
    env: dict[str, str] | None = None,
    readonly: bool = False,
    customer: str = "ACME Cloud",
    valid_from: str = "2030-01-01",
    valid_to: str = "2030-12-31",
    **edition: str,
) -> ConsoleServices:
    """Started console services on `home`/console with a license from an issuer on `home`/issuer.

    `edition` overrides the edition fields of `issue_license` (`edition=` names it, `features=`,
    `storage=`, `max_clusters=`, ...). The console runs on `clock` (a fresh one at CONSOLE_NOW when
    not given), or on the real clock with `real_clock` (for a console the CLI also opens, at today's
    date: pass a validity that covers today, e.g. `**today_validity()`). `operator` sets ECTUI_OPERATOR;
    `env` adds settings; `readonly` opens the console read-only.
    The caller closes the services (the `licensed_console` fixture does it itself).
    """
    issuer = build_issuer_services(home_settings(home / "issuer"))
    await issuer.start()
    try:
        issued = await issue_license(
            issuer.issuer, home / "out", valid_from=valid_from, valid_to=valid_to, **edition
        )
    finally:
        issuer.close()
    extra = dict(env or {})
    if operator is not None:
        extra["ECTUI_OPERATOR"] = operator
    console = build_console_services(
        home_settings(home / "console", **extra),
        clock=None if real_clock else (clock if clock is not None else Clock(CONSOLE_NOW)),
        readonly=readonly,
    )
    await console.start()
    try:
        await console.license.import_license(issued.ec_path, issued.properties_path)
    except BaseException:
        console.close()
        raise
    return console
