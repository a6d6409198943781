"""Fixtures of the Pilot tests: services on a temporary ECTUI_HOME, the apps built from them, a dev cloud."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ectui.app import ConsoleApp, IssuerApp
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.services import (
    ConsoleServices,
    IssuerServices,
    build_console_services,
    build_issuer_services,
)
from tests.kit.ui import settings_for


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


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    """One dev cloud for the module (modules needing a fresh one per test define their own `cloud`)."""
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05))
    yield handle
    handle.stop()
