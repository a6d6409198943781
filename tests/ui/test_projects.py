"""Console Projects screen: create, quota, current project in the header, switch with `p`, delete."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList
from uikit import domain_key, settings_for, settle, started

from ectui.app import ConsoleApp
from ectui.screens.clusters import ClustersScreen
from ectui.screens.projects import ProjectFormModal, ProjectsScreen, quota_cell
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.issuer import EditionDraft, LicenseDraft
from ectui.services.projects import Amounts
from ectui.widgets import AppHeader, ConfirmModal
from ectui.widgets.project_picker import PickProjectModal
from ectui.widgets.tables import table_rows


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[ConsoleServices]:
    issuer = build_issuer_services(settings_for(tmp_path / "issuer"))
    await issuer.start()
    await issuer.issuer.create_edition(
        EditionDraft.parse(name="Std", max_clusters="2", max_nodes="10", storage="local", features="platform")
    )
    today = dt.date.today()
    lic = await issuer.issuer.create_license(
        LicenseDraft.parse(customer="ACME", edition="Std", valid_from=today.isoformat(),
                           valid_to=(today + dt.timedelta(days=30)).isoformat())
    )  # fmt: skip
    result = await issuer.issuer.export_license(lic.id, tmp_path / "a.ec", tmp_path / "a.properties")
    issuer.close()
    console = build_console_services(settings_for(tmp_path / "console"))
    await console.start()
    await console.license.import_license(result.ec_path, result.properties_path)
    yield console
    console.close()


def header_context(app: ConsoleApp) -> str:
    return str(app.screen.query_one(AppHeader).query_one("#header-context").content)


async def test_create_use_switch_quota_and_delete(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.press(domain_key(app, "projects"))
        await settle(pilot, lambda: isinstance(app.screen, ProjectsScreen))
        screen = app.screen
        assert isinstance(screen, ProjectsScreen)
        for name, vcpus in (("web", "8"), ("db", "4")):
            await pilot.press("n")
            await settle(pilot, lambda: isinstance(app.screen, ProjectFormModal))
            modal = app.screen
            for input_id, value in (("project-name", name), ("project-vcpus", vcpus), ("project-ram", "16"),
                                    ("project-vms", "4")):  # fmt: skip
                modal.query_one(f"#{input_id}", Input).value = value
            await pilot.press("ctrl+s")
            await settle(pilot, lambda n=name: any(r[1] == n for r in table_rows(screen.table)))
        # the first project became the current one
        assert [r[0] for r in table_rows(screen.table) if r[1] == "web"] == ["●"]
        await settle(pilot, lambda: "Project: web" in header_context(app))
        # switch from another screen with `p`
        await pilot.press(domain_key(app, "clusters"))
        await settle(pilot, lambda: isinstance(app.screen, ClustersScreen))
        await pilot.press("p")
        await settle(pilot, lambda: isinstance(app.screen, PickProjectModal))
        options = app.screen.query_one(OptionList)
        options.highlighted = [options.get_option_at_index(i).id for i in range(options.option_count)].index(
            "db"
        )
        await pilot.press("enter")
        await settle(pilot, lambda: app.project == "db")
        assert "Project: db" in header_context(app)
        assert (await services.projects.current()).name == "db"  # type: ignore[union-attr]
        # quota below use is refused on the form's save
        await services.projects.reserve("db", Amounts(vcpus=3))
        await pilot.press(domain_key(app, "projects"))
        await settle(pilot, lambda: isinstance(app.screen, ProjectsScreen))
        screen.refresh_projects(select="db")
        await settle(pilot, lambda: "0+3/4" in " ".join(table_rows(screen.table)[0]))
        await pilot.press("q")
        await settle(pilot, lambda: isinstance(app.screen, ProjectFormModal))
        app.screen.query_one("#project-vcpus", Input).value = "2"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, ProjectsScreen))
        assert (await services.projects.get("db")).quota.vcpus == 4
        # delete refuses while reserved; web deletes after confirm
        screen.table.move_cursor(row=[r[1] for r in table_rows(screen.table)].index("web"))
        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, lambda: [r[1] for r in table_rows(screen.table)] == ["db"])


def test_quota_cell() -> None:
    assert quota_cell(4, 2, 10) == "██████░░░░  60% 4+2/10"
    assert quota_cell(0, 0, 0).endswith("0/0")
