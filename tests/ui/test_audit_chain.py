"""The Audit screen says whether the log's hash chain holds, and names the first entry where it breaks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Static
from uikit import settings_for, settle

from ectui.app import ConsoleApp
from ectui.screens._base import DomainScreen
from ectui.services import ConsoleServices, build_console_services
from ectui.services.projects import ProjectDraft
from tests.kit.audit import drop_guards, entry_ids, raw


@pytest.fixture
async def services(tmp_path: Path, today_license: tuple[Path, Path]) -> AsyncIterator[ConsoleServices]:  # noqa: F811
    """A licensed console without accounts (the OS operator reads the log) and three entries."""
    made = build_console_services(settings_for(tmp_path / "console"))
    await made.start()
    await made.license.import_license(*today_license)
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
