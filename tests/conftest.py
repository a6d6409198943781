"""Shared fixtures: issuer and console services, each on its own ECTUI_HOME under tmp_path.

Plain helpers (the clock, settings, issuing a license) live in tests.kit; this file makes fixtures of them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from ectui.cli import main
from ectui.config import Settings
from ectui.i18n import set_language
from ectui.services import ConsoleServices, IssuerServices, build_console_services, build_issuer_services
from tests.kit import CONSOLE_NOW, Clock, Issued, build_licensed_console, home_settings, issue_license
from tests.kit.cli import Result
from tests.kit.users import project

__all__ = ["CONSOLE_NOW", "Clock", "Issued", "home_settings", "issue_license"]  # helpers live in tests.kit


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


class LicensedConsole(Protocol):
    """The `licensed_console` fixture: builds started, licensed console services (closed after the test)."""

    async def __call__(
        self,
        home: Path | None = None,
        *,
        clock: Clock | None = None,
        real_clock: bool = False,
        operator: str | None = None,
        env: dict[str, str] | None = None,
        readonly: bool = False,
        customer: str = "ACME Cloud",
        valid_from: str = "2030-01-01",
        valid_to: str = "2030-12-31",
        **edition: str,
    ) -> ConsoleServices: ...


@pytest.fixture
def licensed_console(tmp_path: Path) -> Iterator[LicensedConsole]:
    """The one builder of a licensed console: `await licensed_console(features=..., storage=..., ...)`.

    Home defaults to tmp_path (issuer, exported license and console below it); the options are those of
    tests.kit.build_licensed_console. Every console built is closed after the test.
    """
    made: list[ConsoleServices] = []

    async def build(home: Path | None = None, **options: Any) -> ConsoleServices:
        services = await build_licensed_console(home if home is not None else tmp_path, **options)
        made.append(services)
        return services

    yield build
    for services in made:
        services.close()


# ------------------------------------------------------------------ the command line in process


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Result]]:
    """Call `ectui.cli.main([...])` in this process with ECTUI_HOME=home; restores logging and language."""
    for name in ("ECTUI_DB_URL", "ECTUI_ISSUER_DB_URL", "ECTUI_ISSUER_PASSPHRASE", "OS_CLOUD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ECTUI_LANG", "en")
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level

    def call(home: Path, *args: object) -> Result:
        monkeypatch.setenv("ECTUI_HOME", str(home))
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return Result(code, out, err)

    yield call
    for handler in list(root.handlers):
        if handler not in saved_handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in saved_handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(saved_level)
    logging.captureWarnings(False)
    set_language("en")


# ------------------------------------------------------------------ a console home the CLI opens (real clock)


@pytest.fixture(scope="module")
def today_license(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A license with the users module, valid around today (the CLI runs on the real clock)."""
    root = tmp_path_factory.mktemp("chain-license")
    today = dt.date.today()

    async def make() -> tuple[Path, Path]:
        issuer = build_issuer_services(home_settings(root / "issuer"))
        await issuer.start()
        try:
            issued = await issue_license(
                issuer.issuer, root / "out", edition="Users", features="platform,users",
                valid_from=(today - dt.timedelta(days=1)).isoformat(),
                valid_to=(today + dt.timedelta(days=60)).isoformat(),
            )  # fmt: skip
        finally:
            issuer.close()
        return issued.ec_path, issued.properties_path

    return asyncio.run(make())


@pytest.fixture
def cli_home(tmp_path: Path, today_license: tuple[Path, Path]) -> Iterator[Path]:
    """A licensed console home with a few entries (no accounts: the OS operator reads the log)."""
    home = tmp_path / "cli-console"

    async def prepare() -> None:
        services = build_console_services(home_settings(home))
        await services.start()
        try:
            await services.license.import_license(*today_license)
            await services.projects.add(project("web"))
            await services.projects.add(project("db"))
        finally:
            services.close()

    asyncio.run(prepare())
    yield home


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
