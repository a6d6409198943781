"""The Audit screen says whether the log's hash chain holds, and names the first entry where it breaks."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import settings_for
from textual.widgets import Static
from uikit import settle

from ectui.app import ConsoleApp
from ectui.screens._base import DomainScreen
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.projects import ProjectDraft
from tests.conftest import issue_license
from tests.services.test_audit_chain import drop_guards, entry_ids, raw


@pytest.fixture(scope="module")
def license_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A license with the users module (so the Audit screen), valid today."""
    root = tmp_path_factory.mktemp("ui-chain-license")
    today = dt.date.today()

    async def make() -> tuple[Path, Path]:
        issuer = build_issuer_services(settings_for(root / "issuer"))
        await issuer.start()
        try:
            issued = await issue_license(
                issuer.issuer, root / "out", edition="Users", features="platform,users",
                valid_from=(today - dt.timedelta(days=1)).isoformat(),
                valid_to=(today + dt.timedelta(days=60)).isoformat(),
            )  # fmt: skip
        finally:
            issuer.close()
        return issued.ec_path, issued.properties_path

    return asyncio.run(make())


@pytest.fixture
async def services(tmp_path: Path, license_files: tuple[Path, Path]) -> AsyncIterator[ConsoleServices]:
    """A licensed console without accounts (the OS operator reads the log) and three entries."""
    made = build_console_services(settings_for(tmp_path / "console"))
    await made.start()
    await made.license.import_license(*license_files)
    for name in ("web", "db"):
        await made.projects.add(ProjectDraft.parse(name=name, vcpus="4", ram_gb="8", vms="2"))
    yield made
    made.close()


def shown(app: ConsoleApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_the_audit_screen_names_the_entry_that_breaks_the_chain(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, DomainScreen))
        await app.switch_mode("audit")
        await settle(pilot, lambda: type(app.screen).__name__ == "AuditScreen")
        await settle(pilot, lambda: "intact" in shown(app, "#audit-chain"))
        assert shown(app, "#audit-chain") == "Hash chain intact (3 checked)."
        assert not app.screen.query_one("#audit-chain").has_class("-broken")
        victim = entry_ids(services.db)[1]
        drop_guards(services.db)
        raw(services.db, "UPDATE audit_log SET target = 'other' WHERE id = :id", id=victim)
        await pilot.press("r")
        await settle(pilot, lambda: "tampered" in shown(app, "#audit-chain"))
        assert f"entry {victim} was changed after it was written" in shown(app, "#audit-chain")
        assert app.screen.query_one("#audit-chain").has_class("-broken")
