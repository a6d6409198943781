"""The operator's colour theme, kept in the console database per operator."""

from __future__ import annotations

from pathlib import Path

import pytest

from ectui.config import Settings
from ectui.services import build_console_services
from ectui.services.errors import ValidationError


def settings(home: Path, operator: str) -> Settings:
    return Settings.from_env({"ECTUI_HOME": str(home), "ECTUI_OPERATOR": operator}, lang="en")


async def test_theme_is_kept_per_operator(tmp_path: Path) -> None:
    alice = build_console_services(settings(tmp_path, "alice"))
    await alice.start()
    try:
        assert (await alice.operator_settings.show()).theme is None
        await alice.operator_settings.set_readonly(True)  # looks only: allowed while read-only
        shown = await alice.operator_settings.set_theme("nord")
        assert shown.theme == "nord" and shown.readonly is True
        assert alice.operator_settings.theme_sync() == "nord"
        assert alice.operator_settings.readonly_sync() is True  # the other setting is kept
        with pytest.raises(ValidationError):
            await alice.operator_settings.set_theme("no good\x1b[31m")
        assert alice.operator_settings.theme_sync() == "nord"
    finally:
        alice.close()
    bob = build_console_services(settings(tmp_path, "bob"))
    await bob.start()
    try:
        assert bob.operator_settings.theme_sync() is None
    finally:
        bob.close()
