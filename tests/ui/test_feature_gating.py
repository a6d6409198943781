"""Menus of feature modules the license does not enable are hidden, and appear when a license enables them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from uikit import settings_for, settle, started

from ectui.app import ConsoleApp
from ectui.screens._base import DomainScreen
from ectui.services import build_console_services, build_issuer_services
from ectui.services.issuer import EditionDraft, LicenseDraft
from ectui.widgets import Sidebar


async def issue(home: Path, edition: str, features: str, customer: str) -> tuple[Path, Path]:
    issuer = build_issuer_services(settings_for(home / "issuer"))
    await issuer.start()
    try:
        if edition not in {e.name for e in await issuer.issuer.list_editions()}:
            await issuer.issuer.create_edition(
                EditionDraft.parse(
                    name=edition, max_clusters="2", max_nodes="9", storage="local", features=features
                )
            )
        today = dt.date.today()
        lic = await issuer.issuer.create_license(
            LicenseDraft.parse(customer=customer, edition=edition, valid_from=today.isoformat(),
                               valid_to=(today + dt.timedelta(days=30)).isoformat())
        )  # fmt: skip
        result = await issuer.issuer.export_license(
            lic.id, home / f"{customer}.ec", home / f"{customer}.properties"
        )
    finally:
        issuer.close()
    return result.ec_path, result.properties_path


def sidebar_ids(app: ConsoleApp) -> list[str]:
    return [label.domain_id for label in app.screen.query_one(Sidebar).query("DomainLabel")]  # type: ignore[attr-defined]


async def test_domains_follow_the_licensed_features(tmp_path: Path) -> None:
    small = await issue(tmp_path, "Small", "platform.vms,platform.clusters", "a")
    full = await issue(tmp_path, "Full", "platform", "b")
    services = build_console_services(settings_for(tmp_path / "console"))
    await services.start()
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(100, 30)) as pilot:
            await started(pilot)
            # no license: only the License and Jobs screens
            assert sidebar_ids(app) == ["license", "jobs"]
            await services.license.import_license(*small)
            app.refresh_status()
            await settle(
                pilot,
                lambda: sidebar_ids(app) == ["license", "vms", "clusters", "projects", "operations", "jobs"],
            )
            assert [d.id for d in app.visible_domains()] == [
                "license",
                "vms",
                "clusters",
                "projects",
                "operations",
                "jobs",
            ]
            await services.license.import_license(*full)
            app.refresh_status()
            await settle(pilot, lambda: "images" in sidebar_ids(app) and "isos" in sidebar_ids(app))
            assert isinstance(app.screen, DomainScreen)
    finally:
        services.close()


async def test_vm_list_without_a_project_says_how_to_choose_one(tmp_path: Path) -> None:
    from uikit import domain_key

    from ectui.screens.vms import VmsScreen

    full = await issue(tmp_path, "Full", "platform", "b")
    services = build_console_services(settings_for(tmp_path / "console"))
    await services.start()
    await services.license.import_license(*full)
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(100, 30)) as pilot:
            await started(pilot)
            await pilot.press(domain_key(app, "vms"))
            await settle(pilot, lambda: isinstance(app.screen, VmsScreen))
            status = app.screen.query_one("#vms-status")
            await settle(pilot, lambda: "press p to choose one" in str(status.render()))
            assert "Refresh failed" not in str(status.render())
    finally:
        services.close()


async def test_colon_goes_to_any_domain_by_name_also_beyond_the_tenth(tmp_path: Path) -> None:
    from ectui.screens.jobs import JobsScreen
    from ectui.widgets.modals import GoToModal

    full = await issue(tmp_path, "All", "platform,statistics,users,workflow,billing", "c")
    services = build_console_services(settings_for(tmp_path / "console"))
    await services.start()
    await services.license.import_license(*full)
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            domains = app.visible_domains()
            labels = [str(label.render()) for label in app.screen.query_one(Sidebar).query("DomainLabel")]
            assert len(domains) > 10 and labels[9].startswith("0 ") and labels[10].startswith("  ")
            await pilot.press("colon")
            await settle(pilot, lambda: isinstance(app.screen, GoToModal))
            await pilot.press(*"jobs")
            await pilot.press("enter")
            await settle(pilot, lambda: isinstance(app.screen, JobsScreen))
    finally:
        services.close()


async def test_license_screen_names_the_features_in_the_ui_language(tmp_path: Path) -> None:
    full = await issue(tmp_path, "Full", "platform,users.audit", "b")
    services = build_console_services(settings_for(tmp_path / "console"))
    await services.start()
    await services.license.import_license(*full)
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(100, 30)) as pilot:
            await started(pilot)
            text = str(app.screen.query_one("#license-features").render())
            assert "Images" in text and "ISO files" in text and "Audit log" in text
            assert "isos" not in text  # names, not codes
    finally:
        services.close()
