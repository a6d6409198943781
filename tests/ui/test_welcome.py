"""The first-run screen of a console with an empty home: steps, check-off, keys and palette, Escape."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from uikit import settings_for, settle, started

from ectui.app import ConsoleApp
from ectui.screens.license import LicenseScreen
from ectui.screens.welcome import DONE, WelcomeScreen
from ectui.services import ConsoleServices, build_issuer_services
from ectui.services.issuer import EditionDraft, LicenseDraft
from ectui.widgets.license_import import ImportLicenseModal
from ectui.widgets.literal import Static


async def _issue(tmp: Path) -> tuple[Path, Path]:
    services = build_issuer_services(settings_for(tmp / "issuer-home"))
    try:
        await services.start()
        await services.issuer.create_edition(
            EditionDraft.parse(
                name="Standard", max_clusters="2", max_nodes="10", storage="local", features=["platform"]
            )
        )
        today = dt.date.today()
        info = await services.issuer.create_license(
            LicenseDraft.parse(
                customer="ACME",
                edition="Standard",
                valid_from=str(today),
                valid_to=str(today + dt.timedelta(days=30)),
            )
        )
        result = await services.issuer.export_license(info.id, tmp / "acme.ec", tmp / "acme.properties")
    finally:
        services.close()
    return result.ec_path, result.properties_path


def step_done(screen: WelcomeScreen, step: str) -> bool:
    """Whether a step is shown checked."""
    return str(screen.query_one(f"#welcome-step-{step}", Static).content).startswith(DONE)


async def _welcome(app: ConsoleApp, pilot) -> WelcomeScreen:  # type: ignore[no-untyped-def]
    await settle(pilot, lambda: isinstance(app.screen, WelcomeScreen))
    screen = app.screen
    assert isinstance(screen, WelcomeScreen)
    return screen


async def test_empty_home_shows_the_steps_unchecked_with_keys_and_palette(
    ui_console_services: ConsoleServices,
) -> None:
    app = ConsoleApp(ui_console_services, welcome=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _welcome(app, pilot)
        assert [step_done(screen, step) for step in ("demo", "license", "cluster")] == [False, False, False]
        text = " ".join(str(s.content) for s in screen.query(".welcome-step"))
        assert "ectui --demo" in text and "press i" in text and "press n" in text
        commands = {c.title for c in app.get_system_commands(screen)}
        assert {"Import license", "Add cluster", "Skip"} <= commands
        keys = {b.binding.id: b.binding.key for b in screen.active_bindings.values() if b.binding.id}
        assert keys["welcome.import_license"] == "i" and keys["welcome.add_cluster"] == "n"
        await pilot.press("i")  # the license import of the License screen, with path completion
        await settle(pilot, lambda: isinstance(app.screen, ImportLicenseModal))
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        await pilot.press("escape")  # skip: the License screen
        await settle(pilot, lambda: isinstance(app.screen, LicenseScreen))


async def test_a_license_checks_its_step_and_a_cluster_ends_the_steps(
    ui_console_services: ConsoleServices, tmp_path: Path
) -> None:
    ec, properties = await _issue(tmp_path)
    app = ConsoleApp(ui_console_services, welcome=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _welcome(app, pilot)
        await ui_console_services.license.import_license(ec, properties)
        await pilot.press("r")
        await settle(pilot, lambda: step_done(screen, "license"))
        assert not step_done(screen, "cluster") and app.screen is screen
        from ectui.services.clusters import ClusterDraft

        await ui_console_services.clusters.add(
            ClusterDraft.parse(
                name="c1", storage_mode="local", auth_url="http://127.0.0.1:1/v3", username="u", password="p",
                project="p",
            )
        )  # fmt: skip
        await pilot.press("r")
        await settle(pilot, lambda: isinstance(app.screen, LicenseScreen))  # both done: the first domain


async def test_a_home_with_a_license_opens_on_the_first_domain(
    ui_console_services: ConsoleServices, tmp_path: Path
) -> None:
    ec, properties = await _issue(tmp_path)
    await ui_console_services.start()
    await ui_console_services.license.import_license(ec, properties)
    app = ConsoleApp(ui_console_services, welcome=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await settle(pilot)
        assert isinstance(app.screen, LicenseScreen)
