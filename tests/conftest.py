"""Shared fixtures: issuer and console services, each on its own ECTUI_HOME under tmp_path."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ectui.config import Settings
from ectui.services import ConsoleServices, IssuerServices, build_console_services, build_issuer_services
from ectui.services.issuer import EditionDraft, IssuerService, LicenseDraft

CONSOLE_NOW = dt.datetime(2030, 6, 1, 12, 0, 0)
"""The console clock of service tests: inside the default license validity (2030)."""


def home_settings(home: Path, **env: str) -> Settings:
    """Settings whose config, data and logs all live under `home` (English UI)."""
    return Settings.from_env({"ECTUI_HOME": str(home), "ECTUI_LANG": "en", **env})


class Clock:
    """A settable clock (naive UTC), injected into the console services."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass(frozen=True)
class Issued:
    """One license made by an issuer and exported as `.ec` + `constant.properties`."""

    license_id: int
    ec_path: Path
    properties_path: Path


async def issue_license(
    issuer: IssuerService,
    out_dir: Path,
    *,
    customer: str = "ACME Cloud",
    edition: str = "Standard",
    valid_from: str = "2030-01-01",
    valid_to: str = "2030-12-31",
    **edition_fields: Any,
) -> Issued:
    """Create the edition when missing (defaults below, overridable), a license, and export both files.

    The export makes `out_dir` when needed.
    """
    if edition not in {e.name for e in await issuer.list_editions()}:
        fields: dict[str, Any] = {
            "max_clusters": "2",
            "max_nodes": "10",
            "storage": "local",
            "features": "platform,statistics,users.audit",
            "grace_days": "7",
            "price": "1999.00",
        }
        fields.update(edition_fields)
        await issuer.create_edition(EditionDraft.parse(name=edition, **fields))
    info = await issuer.create_license(
        LicenseDraft.parse(customer=customer, edition=edition, valid_from=valid_from, valid_to=valid_to)
    )
    result = await issuer.export_license(
        info.id, out_dir / f"license-{info.id}.ec", out_dir / f"license-{info.id}.properties"
    )
    return Issued(info.id, result.ec_path, result.properties_path)


@pytest.fixture(scope="session")
def settings_for() -> Callable[..., Settings]:
    """The `home_settings` helper: Settings on one ECTUI_HOME."""
    return home_settings


@pytest.fixture(scope="session")
def make_license() -> Callable[..., Awaitable[Issued]]:
    """The `issue_license` helper: edition (if missing) + license + export."""
    return issue_license


@pytest.fixture
async def issuer_services(tmp_path: Path) -> AsyncIterator[IssuerServices]:
    """Started issuer services on tmp_path/issuer (key-file mode)."""
    services = build_issuer_services(home_settings(tmp_path / "issuer"))
    await services.start()
    yield services
    services.close()


@pytest.fixture
def clock() -> Clock:
    """The console clock, at CONSOLE_NOW; tests move it with `clock.now = ...`."""
    return Clock(CONSOLE_NOW)


@pytest.fixture
async def console_services(tmp_path: Path, clock: Clock) -> AsyncIterator[ConsoleServices]:
    """Started console services on tmp_path/console, driven by the `clock` fixture."""
    services = build_console_services(home_settings(tmp_path / "console"), clock=clock)
    await services.start()
    yield services
    services.close()


# ------------------------------------------------------------------ databases: SQLite always, PostgreSQL on demand


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    """A throwaway PostgreSQL (scripts/pg-test-server.sh) when ECTUI_TEST_PG=1 (CI turns it on), else None."""
    if os.environ.get("ECTUI_TEST_PG") != "1":
        yield None
        return
    given = os.environ.get("ECTUI_TEST_PG_URL")
    if given:
        yield given
        return
    directory = tempfile.mkdtemp(prefix="ectui-pg-")
    script = Path(__file__).resolve().parent.parent / "scripts" / "pg-test-server.sh"
    url = subprocess.run([str(script), "start", directory], check=True, capture_output=True, text=True).stdout
    try:
        yield url.strip()
    finally:
        subprocess.run([str(script), "stop", directory], check=False, capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_server: str | None) -> Iterator[str]:
    """A fresh, empty console database URL: SQLite, and PostgreSQL when ECTUI_TEST_PG=1."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'console.db'}"
        return
    if postgres_server is None:
        pytest.skip("PostgreSQL tests run with ECTUI_TEST_PG=1")
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
