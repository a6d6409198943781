"""Licenses screen of the issuer: create, modify, detail with the private key on request, export, delete."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from textual.widgets import Input, Select, Static
from uikit import notifications, settle, started

from ectui.app import IssuerApp
from ectui.screens.licenses import ExportLicenseModal, LicenseDetailModal, LicenseFormModal, LicensesScreen
from ectui.services.issuer import EditionDraft
from ectui.widgets import ConfirmModal, PathInput
from ectui.widgets.tables import table_rows


async def test_create_modify_export_delete_license(issuer_app: IssuerApp, tmp_path: Path) -> None:
    issuer = issuer_app.services.issuer
    async with issuer_app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        for name in ("Standard", "Enterprise"):
            await issuer.create_edition(
                EditionDraft.parse(
                    name=name, max_clusters="2", max_nodes="8", storage="local", features="platform"
                )
            )
        await pilot.press("2")
        await settle(pilot, lambda: isinstance(issuer_app.screen, LicensesScreen))
        screen = issuer_app.screen
        assert isinstance(screen, LicensesScreen)
        assert table_rows(screen.table) == []

        # create: defaults are today and one year later; the first edition is chosen
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(issuer_app.screen, LicenseFormModal))
        form = issuer_app.screen
        assert isinstance(form, LicenseFormModal)
        today = dt.date.today()
        assert form.query_one("#license-valid-from", Input).value == today.isoformat()
        assert form.query_one("#license-edition", Select).value == "Enterprise"  # editions are listed by name
        await pilot.press(*"ACME Corp")
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: len(table_rows(screen.table)) == 1)
        row = table_rows(screen.table)[0]
        assert row[1:3] == ["ACME Corp", "Enterprise"]
        assert row[5] == "valid"
        license_id = int(row[0])
        assert "1 licenses" in issuer_app.status_text

        # modify: prefilled; change customer and edition
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(issuer_app.screen, LicenseFormModal))
        form = issuer_app.screen
        assert isinstance(form, LicenseFormModal)
        customer = form.query_one("#license-customer", Input)
        assert customer.value == "ACME Corp"
        customer.value = "ACME Ltd"
        form.query_one("#license-edition", Select).value = "Standard"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: table_rows(screen.table)[0][1] == "ACME Ltd")
        info = await issuer.get_license(license_id)
        assert (info.customer, info.edition) == ("ACME Ltd", "Standard")

        # a bad date keeps the form open with the reason
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(issuer_app.screen, LicenseFormModal))
        form = issuer_app.screen
        form.query_one("#license-valid-to", Input).value = "2020-13-45"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert issuer_app.screen is form
        assert "Valid to" in str(form.query_one("#license-error", Static).content)
        await pilot.press("escape")
        await settle(pilot, lambda: issuer_app.screen is screen)

        # detail: no private key until asked for
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(issuer_app.screen, LicenseDetailModal))
        detail = issuer_app.screen
        key = detail.query_one("#license-private-key", Static)
        assert "PRIVATE KEY" not in str(key.content)
        await pilot.press("k")
        await settle(pilot, lambda: "BEGIN PRIVATE KEY" in str(key.content))
        await pilot.press("escape")
        await settle(pilot, lambda: issuer_app.screen is screen)

        # export into a chosen directory (completion offers it)
        target = tmp_path / "handover"
        target.mkdir()
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(issuer_app.screen, ExportLicenseModal))
        export = issuer_app.screen
        directory = export.query_one("#export-directory", PathInput)
        directory.value = str(tmp_path) + "/hand"
        directory.cursor_position = len(directory.value)
        await settle(pilot, lambda: directory.suggestion == str(target) + "/")
        await pilot.press("tab")
        assert directory.value == str(target) + "/"
        await settle(pilot, lambda: "ACME_Ltd.ec" in str(export.query_one("#export-targets", Static).content))
        await pilot.press("enter")
        await settle(pilot, lambda: (target / "constant.properties").exists())
        assert (target / "ACME_Ltd.ec").read_bytes().startswith(b"-----BEGIN ECTUI LICENSE-----")
        assert stat.S_IMODE((target / "constant.properties").stat().st_mode) == 0o600
        assert any("ACME_Ltd.ec" in text for text in notifications(issuer_app))

        # delete, after confirming
        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(issuer_app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, lambda: table_rows(screen.table) == [])
        assert await issuer.list_licenses() == []
        assert "0 licenses" in issuer_app.status_text
