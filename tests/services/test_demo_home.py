"""`ectui --demo` runs on its own home: the operator's home stays empty, a vendor license imports there
afterwards, and `ectui demo reset --yes` removes the demo home (one dev cloud start in this module)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ectui.app import ConsoleApp
from ectui.services import build_console_services, build_issuer_services
from ectui.services.demo import DEMO_CLUSTER, demo_session
from tests.kit import home_settings, issue_license
from tests.kit.cli import Result


async def _vendor_license(tmp: Path) -> tuple[Path, Path]:
    issuer = build_issuer_services(home_settings(tmp / "vendor-issuer"))
    try:
        await issuer.start()
        today = dt.date.today()
        issued = await issue_license(
            issuer.issuer,
            tmp / "vendor",
            valid_from=(today - dt.timedelta(days=1)).isoformat(),
            valid_to=(today + dt.timedelta(days=90)).isoformat(),
        )
    finally:
        issuer.close()
    return issued.ec_path, issued.properties_path


async def _console_state(home: Path, *, demo: bool) -> tuple[str, str | None, list[str]]:
    settings = home_settings(home)
    services = build_console_services(settings.for_demo() if demo else settings)
    try:
        await services.start()
        status = await services.license.status()
        clusters = [c.name for c in await services.clusters.list_all()]
    finally:
        services.close()
    return status.state, status.license.customer if status.license else None, clusters


def test_demo_keeps_its_own_home_and_reset_removes_it(
    cli: Callable[..., Result],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    opened: list[Any] = []
    monkeypatch.setattr(ConsoleApp, "run", lambda self, *a, **k: opened.append(self.services.settings))

    result = cli(home, "--demo")
    assert result.code == 0, result.err
    demo_home = home / "data" / "demo" / "home"
    assert [s.data_dir for s in opened] == [demo_home / "data"]  # the console ran on the demo home
    # the operator's home: no console database, no keys, no config, no logs
    assert not (home / "data" / "console.db").exists()
    assert not (home / "config").exists() and not (home / "logs").exists()
    assert (demo_home / "data" / "console.db").exists() and (demo_home / "logs" / "ectui.log").exists()
    state, customer, clusters = asyncio.run(_console_state(home, demo=True))
    assert (state, customer, clusters) == ("valid", "Demo", [DEMO_CLUSTER])

    # the vendor's license imports into the operator's home as on a new installation
    ec, properties = asyncio.run(_vendor_license(tmp_path))
    result = cli(home, "license", "import", ec, "--properties", properties)
    assert result.code == 0, result.err
    assert asyncio.run(_console_state(home, demo=False)) == ("valid", "ACME Cloud", [])

    # reset: refused without --yes, and while a demo console runs; then removes the demo home only
    refused = cli(home, "demo", "reset")
    assert refused.code in (1, 2) and len(refused.err.strip().splitlines()) == 1 and "--yes" in refused.err
    assert demo_home.exists()
    with demo_session(home_settings(home)):
        running = cli(home, "demo", "reset", "--yes")
    assert running.code == 1 and len(running.err.strip().splitlines()) == 1 and "running" in running.err
    assert demo_home.exists()
    done = cli(home, "demo", "reset", "--yes")
    assert done.code == 0, done.err
    assert not demo_home.exists()
    assert asyncio.run(_console_state(home, demo=False))[:2] == ("valid", "ACME Cloud")
    again = cli(home, "demo", "reset", "--yes")
    assert again.code == 0 and "No demo home" in again.out
