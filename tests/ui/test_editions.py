"""Editions screen of the issuer: create with the menu picker, validation, detail, delete and its refusal."""

from __future__ import annotations

import datetime as dt

from textual.widgets import Input, Static
from uikit import notifications, settle, started

from ectui.app import IssuerApp
from ectui.screens.editions import EditionDetailModal, EditionsScreen, NewEditionModal
from ectui.services.issuer import EditionDraft, LicenseDraft
from ectui.widgets import ConfirmModal, MenuTreePicker, PlainCheckbox
from ectui.widgets.literal import DataTable


def edition_names(screen: EditionsScreen) -> list[str]:
    """Edition names as listed."""
    return [str(row.key.value) for row in screen.query_one("#editions-table", DataTable).ordered_rows]


async def open_new_edition(app: IssuerApp, pilot) -> NewEditionModal:  # type: ignore[no-untyped-def]
    await pilot.press("n")
    await settle(pilot, lambda: isinstance(app.screen, NewEditionModal))
    assert isinstance(app.screen, NewEditionModal)
    return app.screen


async def type_into(pilot, widget_id: str, text: str) -> None:  # type: ignore[no-untyped-def]
    widget = pilot.app.screen.query_one(f"#{widget_id}", Input)
    widget.focus()
    widget.value = ""
    await pilot.press(*text)


async def test_create_edition_with_menus_from_the_tree(issuer_app: IssuerApp) -> None:
    async with issuer_app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        assert isinstance(issuer_app.screen, EditionsScreen)
        modal = await open_new_edition(issuer_app, pilot)
        await type_into(pilot, "edition-name", "Standard")
        await type_into(pilot, "edition-max-clusters", "3")
        await type_into(pilot, "edition-max-nodes", "40")
        await type_into(pilot, "edition-price", "1999.50")
        modal.query_one("#edition-storage-shared", PlainCheckbox).focus()
        await pilot.press("space")  # local (default) + shared
        picker = modal.query_one(MenuTreePicker)
        picker.focus()
        await pilot.pause()
        # cursor on the first module (platform): go down to its third menu (images) and check it
        picker.move_cursor(picker.root.children[0])
        await pilot.press("down", "down", "down", "space")
        # the statistics module: space checks it and all its menus
        picker.move_cursor(picker.root.children[1])
        await pilot.press("space")
        await pilot.pause()
        assert picker.selected == ("platform.images", "statistics.dashboard", "statistics.export")
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(issuer_app.screen, EditionsScreen))
        screen = issuer_app.screen
        assert isinstance(screen, EditionsScreen)
        assert edition_names(screen) == ["Standard"]
        edition = await issuer_app.services.issuer.get_edition("Standard")
        assert {"platform.images", "statistics.dashboard", "statistics.export"} <= set(edition.features)
        assert "platform.vms" not in edition.features
        assert edition.storage == ("local", "shared")
        assert edition.max_clusters == 3
        assert "1 editions" in issuer_app.status_text

        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(issuer_app.screen, EditionDetailModal))
        detail = issuer_app.screen
        assert isinstance(detail, EditionDetailModal)
        features = str(detail.query_one("#edition-features", Static).content)
        assert "Images" in features and "Dashboards" in features and "VMs" not in features
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(issuer_app.screen, EditionsScreen))


async def test_validation_error_names_the_field_and_keeps_the_form(issuer_app: IssuerApp) -> None:
    async with issuer_app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        modal = await open_new_edition(issuer_app, pilot)
        await type_into(pilot, "edition-name", "Bad")
        await type_into(pilot, "edition-max-clusters", "many")
        await type_into(pilot, "edition-max-nodes", "10")
        picker = modal.query_one(MenuTreePicker)
        picker.toggle(picker.root.children[0])
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert issuer_app.screen is modal
        error = str(modal.query_one("#edition-error", Static).content)
        assert "Max clusters" in error and "many" in error
        clusters = modal.query_one("#edition-max-clusters", Input)
        assert clusters.has_class("-invalid")
        assert issuer_app.focused is clusters
        assert await issuer_app.services.issuer.list_editions() == []


async def test_delete_edition_confirms_and_refuses_when_in_use(issuer_app: IssuerApp) -> None:
    issuer = issuer_app.services.issuer
    async with issuer_app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        for name in ("Basic", "Used"):
            await issuer.create_edition(
                EditionDraft.parse(
                    name=name, max_clusters="1", max_nodes="5", storage="local", features="platform"
                )
            )
        today = dt.date.today()
        await issuer.create_license(
            LicenseDraft.parse(
                customer="ACME",
                edition="Used",
                valid_from=str(today),
                valid_to=str(today + dt.timedelta(days=30)),
            )
        )
        screen = issuer_app.screen
        assert isinstance(screen, EditionsScreen)
        screen.refresh_editions()
        await settle(pilot, lambda: edition_names(screen) == ["Basic", "Used"])

        # the cursor is on Basic: ctrl+d asks; "n" keeps it
        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(issuer_app.screen, ConfirmModal))
        await pilot.press("n")
        await settle(pilot)
        assert edition_names(screen) == ["Basic", "Used"]

        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(issuer_app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, lambda: edition_names(screen) == ["Used"])
        assert [e.name for e in await issuer.list_editions()] == ["Used"]

        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(issuer_app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot)
        assert edition_names(screen) == ["Used"]
        assert any("Used" in text and "1 license" in text for text in notifications(issuer_app))
