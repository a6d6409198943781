"""Fixtures of the service tests: a fresh dev cloud, a console ready for VMs, consoles with operator accounts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from tests.kit import Clock, build_licensed_console, home_settings, issue_license
from tests.kit.users import FAST_HASHER, Licenses
from tests.kit.vms import Env, vm_env


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[DevCloudHandle]:
    """A fresh dev cloud per test, so leftovers and faults stay independent."""
    handle = run_in_thread(tmp_path / "cloud", timings=Timings.fast(0.05))
    yield handle
    handle.stop()


@pytest.fixture
async def env(tmp_path: Path, cloud: DevCloudHandle) -> AsyncIterator[Env]:
    """A console (operator alice, local and shared storage) with cluster dc1, templates cirros and win, project web."""
    s = await build_licensed_console(tmp_path, storage="local,shared", operator="alice")
    try:
        e = await vm_env(s, cloud, tmp_path)
    except BaseException:
        s.close()
        raise
    yield e
    s.close()


@pytest.fixture(scope="session")
def licenses(tmp_path_factory: pytest.TempPathFactory) -> Licenses:
    """License files of two editions: Users (platform, users) and Plain (platform only)."""
    root = tmp_path_factory.mktemp("user-licenses")

    async def make() -> Licenses:
        issuer = build_issuer_services(home_settings(root / "issuer"))
        await issuer.start()
        try:
            users = await issue_license(issuer.issuer, root / "u", edition="Users", features="platform,users")
            plain = await issue_license(issuer.issuer, root / "p", edition="Plain", features="platform")
        finally:
            issuer.close()
        return Licenses((users.ec_path, users.properties_path), (plain.ec_path, plain.properties_path))

    return asyncio.run(make())


@pytest.fixture
def make_console(tmp_path: Path, clock: Clock) -> Iterator[Callable[..., Awaitable[ConsoleServices]]]:
    """Build (and later close) started console services on tmp_path/<name>, with the given license."""
    made: list[ConsoleServices] = []

    async def build(license_files: tuple[Path, Path] | None, name: str = "console") -> ConsoleServices:
        services = build_console_services(
            home_settings(tmp_path / name, ECTUI_OPERATOR="osuser"), clock=clock
        )
        services.users._hasher = FAST_HASHER  # real Argon2id, cheaper parameters: keeps the tests fast
        await services.start()
        if license_files is not None and (await services.license.status()).license is None:
            await services.license.import_license(*license_files)
        made.append(services)
        return services

    yield build
    for services in made:
        services.close()


@pytest.fixture
async def console(
    make_console: Callable[..., Awaitable[ConsoleServices]], licenses: Licenses
) -> ConsoleServices:
    """A console licensed with the users module, no accounts yet (modules may define their own `console`)."""
    return await make_console(licenses.users)
