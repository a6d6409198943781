"""Templates screen: create from an enabled image, refuse a disabled one, edit, delete with confirmation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select
from uikit import domain_key, notifications, settle, started
from vmkit import images_console

from ectui.app import ConsoleApp
from ectui.devcloud import DevCloudHandle
from ectui.screens.templates import TemplateFormModal, TemplatesScreen
from ectui.services import ConsoleServices
from ectui.widgets import ConfirmModal
from ectui.widgets.tables import table_rows


@pytest.fixture
async def services(tmp_path: Path, cloud: DevCloudHandle) -> AsyncIterator[ConsoleServices]:  # noqa: F811
    console = await images_console(tmp_path, cloud)
    await console.images.sync("dc1")
    yield console
    console.close()


def fill(modal: Any, values: dict[str, str]) -> None:
    for input_id, value in values.items():
        modal.query_one(f"#{input_id}", Input).value = value


async def test_template_flows(services: ConsoleServices) -> None:
    images = {i.name: i for i in await services.images.list_all()}
    await services.images.set_enabled(images["ubuntu-22.04-mini"].id, False)
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press(domain_key(app, "templates"))
        await settle(pilot, lambda: isinstance(app.screen, TemplatesScreen))
        screen = app.screen
        assert isinstance(screen, TemplatesScreen)

        # a disabled image is offered, marked, and refused with the reason
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, TemplateFormModal))
        form = app.screen
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Template name is required" in str(form.query_one("#template-error").render())
        fill(form, {"template-name": "ubuntu-small"})
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Image is required" in str(form.query_one("#template-error").render())
        form.query_one("#template-image", Select).value = images["ubuntu-22.04-mini"].id
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: app.screen is screen)
        assert any("is disabled; enable it before making templates" in n for n in notifications(app))
        assert table_rows(screen.table) == []

        # an enabled one makes a template; the OS type follows the image
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, TemplateFormModal))
        form = app.screen
        fill(form, {"template-name": "win-std", "template-min-cpu": "2", "template-min-ram": "4"})
        form.query_one("#template-image", Select).value = images["windows-2019-mini"].id
        await pilot.pause()
        assert form.query_one("#template-os-type", Input).value == "windows"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: len(table_rows(screen.table)) == 1)
        assert table_rows(screen.table)[0][:8] == [
            "win-std",
            "System",
            "dc1",
            "windows",
            "windows-2019-mini",
            "2",
            "4",
            "10",
        ]

        # disabling the image keeps the template
        await services.images.set_enabled(images["windows-2019-mini"].id, False)
        await pilot.press("r")
        await settle(pilot, lambda: "(disabled)" in table_rows(screen.table)[0][4])

        # edit
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, TemplateFormModal))
        fill(app.screen, {"template-description": "Windows, standard"})
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: table_rows(screen.table)[0][8] == "Windows, standard")

        # delete, confirmed
        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, lambda: table_rows(screen.table) == [])
        assert "Template win-std deleted" in notifications(app)
        assert await services.templates.list_all() == []
