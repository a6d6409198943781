"""Console License screen: status, header, banner, and import with its refusals (K1, K2)."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.widgets import Input
from uikit import settings_for, settle, started

from ectui.app import ConsoleApp
from ectui.screens.license import LicenseScreen
from ectui.services import build_issuer_services
from ectui.services.issuer import EditionDraft, LicenseDraft
from ectui.widgets import AppHeader, Banner
from ectui.widgets.license_import import ImportLicenseModal
from ectui.widgets.literal import Label, Static


@dataclass(frozen=True)
class Handover:
    """Files of one exported license."""

    ec: Path
    properties: Path


@dataclass(frozen=True)
class LicenseFiles:
    good: Handover
    other: Handover
    expired: Handover
    tampered: Path


async def _issue(tmp: Path) -> LicenseFiles:
    services = build_issuer_services(settings_for(tmp / "issuer-home"))
    try:
        await services.start()
        issuer = services.issuer
        await issuer.create_edition(
            EditionDraft.parse(
                name="Enterprise",
                max_clusters="3",
                max_nodes="50",
                storage="local,shared",
                features=["platform", "users.audit"],
            )
        )
        today = dt.date.today()
        made: dict[str, Handover] = {}
        for label, start, end in (
            ("good", today, today + dt.timedelta(days=120)),
            ("other", today, today + dt.timedelta(days=30)),
            ("expired", dt.date(2020, 1, 1), dt.date(2020, 12, 31)),
        ):
            info = await issuer.create_license(
                LicenseDraft.parse(
                    customer=f"ACME {label}", edition="Enterprise", valid_from=str(start), valid_to=str(end)
                )
            )
            folder = tmp / label
            folder.mkdir()
            ec, props = await issuer.default_export_paths(info.id, folder)
            result = await issuer.export_license(info.id, ec, props)
            made[label] = Handover(result.ec_path, result.properties_path)
    finally:
        services.close()
    tampered = tmp / "tampered.ec"
    lines = made["good"].ec.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("Ciphertext: "))
    text = lines[index]
    lines[index] = text[:20] + ("A" if text[20] != "A" else "B") + text[21:]
    tampered.write_text("".join(lines))
    return LicenseFiles(made["good"], made["other"], made["expired"], tampered)


@pytest.fixture(scope="module")
def license_files(tmp_path_factory: pytest.TempPathFactory) -> LicenseFiles:
    """Licenses made by an issuer on its own ECTUI_HOME (three RSA keys: made once per module)."""
    return asyncio.run(_issue(tmp_path_factory.mktemp("issued")))


async def import_file(app: ConsoleApp, pilot, ec: Path, properties: Path | None) -> ImportLicenseModal:  # type: ignore[no-untyped-def]
    if not isinstance(app.screen, ImportLicenseModal):
        await pilot.press("i")
        await settle(pilot, lambda: isinstance(app.screen, ImportLicenseModal))
    modal = app.screen
    assert isinstance(modal, ImportLicenseModal)
    modal.query_one("#import-ec", Input).value = str(ec)
    modal.query_one("#import-properties", Input).value = str(properties) if properties else ""
    modal.query_one("#import-ec", Input).focus()
    await pilot.press("enter")
    await settle(pilot)
    return modal


async def test_no_license_is_read_only_with_a_banner(console_app: ConsoleApp) -> None:
    async with console_app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        screen = console_app.screen
        assert isinstance(screen, LicenseScreen)
        assert str(screen.query_one(AppHeader).query_one("#header-status", Label).content) == "No license"
        banner = screen.query_one(Banner)
        assert banner.display
        assert "No license is installed" in str(banner.content)
        assert "no license" in str(screen.query_one("#license-summary", Static).content)


async def test_import_success_then_refusals_keep_the_license(
    console_app: ConsoleApp, license_files: LicenseFiles
) -> None:
    async with console_app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        screen = console_app.screen
        assert isinstance(screen, LicenseScreen)
        header = screen.query_one(AppHeader)

        await import_file(console_app, pilot, license_files.good.ec, license_files.good.properties)
        await settle(pilot, lambda: console_app.screen is screen)
        assert str(header.query_one("#header-status", Label).content).startswith("Enterprise")
        assert "days left" in str(header.query_one("#header-status", Label).content)
        assert not screen.query_one(Banner).display
        summary = str(screen.query_one("#license-summary", Static).content)
        assert "ACME good" in summary
        assert "0 / 3" in summary and "0 / 50" in summary

        refusals = [
            (license_files.good.ec, license_files.other.properties, "another installation"),
            (license_files.tampered, license_files.good.properties, "modified after it was issued"),
            (license_files.expired.ec, license_files.expired.properties, "expired on 2020-12-31"),
        ]
        for ec, properties, reason in refusals:
            modal = await import_file(console_app, pilot, ec, properties)
            assert console_app.screen is modal, reason
            assert reason in str(modal.query_one("#import-error", Static).content)
            assert not modal.busy
        await pilot.press("escape")
        await settle(pilot, lambda: console_app.screen is screen)
        # the license imported first is still in force
        assert str(header.query_one("#header-status", Label).content).startswith("Enterprise")
        status = await console_app.services.license.status()
        assert status.license is not None and status.license.customer == "ACME good"
        assert "ACME good" in str(screen.query_one("#license-summary", Static).content)


async def test_import_with_default_properties(console_app: ConsoleApp, license_files: LicenseFiles) -> None:
    settings = console_app.services.settings
    async with console_app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        screen = console_app.screen
        modal = await import_file(console_app, pilot, license_files.good.ec, None)
        assert "constant.properties" in str(
            modal.query_one("#import-error", Static).content
        )  # none yet in the config dir
        settings.config_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(license_files.good.properties, settings.properties_path)
        await import_file(console_app, pilot, license_files.good.ec, None)
        await settle(pilot, lambda: console_app.screen is screen)
        assert str(screen.query_one(AppHeader).query_one("#header-status", Label).content).startswith(
            "Enterprise"
        )
