"""Fixtures of the Pilot tests: services on a temporary ECTUI_HOME, and the apps built from them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ectui.app import ConsoleApp, IssuerApp
from ectui.config import Settings
from ectui.services import (
    ConsoleServices,
    IssuerServices,
    build_console_services,
    build_issuer_services,
)


def settings_for(home: Path) -> Settings:
    """Settings of an installation rooted at `home` (English UI)."""
    return Settings.from_env({"ECTUI_HOME": str(home)}, lang="en")


@pytest.fixture
async def ui_issuer_services(tmp_path: Path) -> AsyncIterator[IssuerServices]:
    services = build_issuer_services(settings_for(tmp_path / "issuer"))
    yield services
    services.close()


@pytest.fixture
def issuer_app(ui_issuer_services: IssuerServices) -> IssuerApp:
    return IssuerApp(ui_issuer_services)


@pytest.fixture
async def ui_console_services(tmp_path: Path) -> AsyncIterator[ConsoleServices]:
    services = build_console_services(settings_for(tmp_path / "console"))
    yield services
    services.close()


@pytest.fixture
def console_app(ui_console_services: ConsoleServices) -> ConsoleApp:
    return ConsoleApp(ui_console_services)
