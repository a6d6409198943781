"""Users and audit screens (SPEC M3) with Pilot: the login gate, an admin adding accounts, audit filter and export."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual.widgets import Input, Static
from uikit import settings_for, settle

from ectui.app import ConsoleApp
from ectui.screens._base import DomainScreen
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.projects import ProjectDraft
from ectui.services.users import UserDraft
from ectui.widgets.tables import table_rows
from tests.kit import issue_license
from tests.kit.users import ADMIN_PW, FAST_HASHER, OPS_PW


@pytest.fixture(scope="module")
def license_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Licenses valid today: 'users' (platform + users module) and 'plain' (platform only)."""
    root = tmp_path_factory.mktemp("ui-user-licenses")
    today = dt.date.today()
    span = {
        "valid_from": (today - dt.timedelta(days=1)).isoformat(),
        "valid_to": (today + dt.timedelta(days=60)).isoformat(),
    }

    async def make() -> dict[str, tuple[Path, Path]]:
        issuer = build_issuer_services(settings_for(root / "issuer"))
        await issuer.start()
        try:
            users = await issue_license(
                issuer.issuer, root / "u", edition="Users", features="platform,users", **span
            )
            plain = await issue_license(
                issuer.issuer, root / "p", edition="Plain", features="platform", **span
            )
        finally:
            issuer.close()
        return {
            "users": (users.ec_path, users.properties_path),
            "plain": (plain.ec_path, plain.properties_path),
        }

    return asyncio.run(make())


@pytest.fixture
async def make_services(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    made: list[ConsoleServices] = []

    async def build(files: tuple[Path, Path]) -> ConsoleServices:
        services = build_console_services(settings_for(tmp_path / "console"))
        services.users._hasher = FAST_HASHER
        await services.start()
        await services.license.import_license(*files)
        made.append(services)
        return services

    yield build
    for services in made:
        services.close()


def is_screen(app: ConsoleApp, name: str) -> Callable[[], bool]:
    return lambda: type(app.screen).__name__ == name


async def type_into(pilot: object, app: ConsoleApp, selector: str, text: str) -> None:
    field = app.screen.query_one(selector, Input)
    field.focus()
    field.value = text
    await pilot.pause()  # type: ignore[attr-defined]


def error_text(app: ConsoleApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_users_and_audit_are_hidden_without_the_module(
    make_services: Callable[..., object], license_files: dict[str, tuple[Path, Path]]
) -> None:
    services: ConsoleServices = await make_services(license_files["plain"])  # type: ignore[operator]
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, DomainScreen))
        ids = [d.id for d in app.visible_domains()]
        assert "users" not in ids and "audit" not in ids
        assert not any(type(s).__name__ == "LoginScreen" for s in app.screen_stack)


async def test_the_login_screen_gates_the_console(
    make_services: Callable[..., object], license_files: dict[str, tuple[Path, Path]]
) -> None:
    services: ConsoleServices = await make_services(license_files["users"])  # type: ignore[operator]
    await services.users.add(UserDraft.parse(name="admin", role="admin", password=ADMIN_PW))
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, is_screen(app, "LoginScreen"))
        await pilot.press("escape", "2")  # neither closes the login nor switches domain
        await settle(pilot)
        assert type(app.screen).__name__ == "LoginScreen"
        await type_into(pilot, app, "#login-user", "admin")
        await type_into(pilot, app, "#login-password", "wrong-password")
        await pilot.press("enter")
        await settle(pilot, lambda: "wrong password" in error_text(app, "#login-error"))
        assert app.screen.query_one("#login-password", Input).value == ""
        await type_into(pilot, app, "#login-password", ADMIN_PW)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, DomainScreen))
        who = services.users.current_identity()
        assert (who.user, who.role, who.source) == ("admin", "admin", "login")


async def test_an_admin_adds_accounts_on_the_users_screen(
    make_services: Callable[..., object], license_files: dict[str, tuple[Path, Path]]
) -> None:
    services: ConsoleServices = await make_services(license_files["users"])  # type: ignore[operator]
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, DomainScreen))  # no accounts: no login asked
        await app.switch_mode("users")
        await settle(pilot, is_screen(app, "UsersScreen"))
        assert "OS user" in error_text(app, "#users-status")
        # the first account: an admin, made by the OS operator
        await pilot.press("n")
        await settle(pilot, is_screen(app, "NewUserModal"))
        await type_into(pilot, app, "#user-name", "admin")
        await type_into(pilot, app, "#user-password", ADMIN_PW)
        await type_into(pilot, app, "#user-confirm", "mismatch-123")
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: "does not match" in error_text(app, "#user-error"))
        await type_into(pilot, app, "#user-confirm", ADMIN_PW)
        await pilot.press("ctrl+s")
        # accounts are in use now: the console asks for a login
        await settle(pilot, is_screen(app, "LoginScreen"))
        await type_into(pilot, app, "#login-user", "admin")
        await type_into(pilot, app, "#login-password", ADMIN_PW)
        await pilot.press("enter")
        await settle(pilot, is_screen(app, "UsersScreen"))
        await pilot.press("n")
        await settle(pilot, is_screen(app, "NewUserModal"))
        await type_into(pilot, app, "#user-name", "ops")
        await type_into(pilot, app, "#user-role", "operator")
        await type_into(pilot, app, "#user-password", OPS_PW)
        await type_into(pilot, app, "#user-confirm", OPS_PW)
        await pilot.press("ctrl+s")
        await settle(
            pilot, lambda: is_screen(app, "UsersScreen")() and len(table_rows(app.screen.table)) == 2
        )  # type: ignore[attr-defined]
        screen = app.screen
        assert [r[:3] for r in table_rows(screen.table)] == [
            ["admin", "admin", "yes"],
            ["ops", "operator", "yes"],
        ]  # type: ignore[attr-defined]
        assert "Logged in as admin (admin)" in error_text(app, "#users-status")
        # log out: the login screen comes back
        await pilot.press("L")
        await settle(pilot, is_screen(app, "LoginScreen"))
        assert services.users.current_identity().source == "anonymous"


async def test_audit_screen_filters_and_exports(
    make_services: Callable[..., object], license_files: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    services: ConsoleServices = await make_services(license_files["users"])  # type: ignore[operator]
    await services.projects.add(ProjectDraft.parse(name="web", vcpus="4", ram_gb="8", vms="2"))
    await services.projects.delete("web")
    await services.users.add(UserDraft.parse(name="admin", role="admin", password=ADMIN_PW))
    await services.users.login("admin", ADMIN_PW)  # logged in before the app starts: no login asked
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, DomainScreen))
        await app.switch_mode("audit")
        await settle(pilot, is_screen(app, "AuditScreen"))
        screen = app.screen
        await settle(pilot, lambda: len(table_rows(screen.table)) >= 5)  # type: ignore[attr-defined]
        actions = [r[3] for r in table_rows(screen.table)]  # type: ignore[attr-defined]
        assert actions[:2] == ["user.login", "user.add"] and "project.delete" in actions
        await pilot.press("f")
        await type_into(pilot, app, "#audit-action", "project")
        await pilot.press("enter")
        await settle(
            pilot, lambda: [r[3] for r in table_rows(screen.table)] == ["project.delete", "project.add"]
        )  # type: ignore[attr-defined]
        assert [r[4] for r in table_rows(screen.table)] == ["web", "web"]  # type: ignore[attr-defined]
        assert "2 entries" in error_text(app, "#audit-status")
        await type_into(pilot, app, "#audit-since", "not-a-date")
        await pilot.press("enter")
        await settle(pilot, lambda: "Since must be a date" in error_text(app, "#audit-status"))
        await type_into(pilot, app, "#audit-since", "")
        await pilot.press("enter")
        await settle(pilot, lambda: "2 entries" in error_text(app, "#audit-status"))
        await pilot.press("e")
        await settle(pilot, is_screen(app, "ExportAuditModal"))
        target = tmp_path / "audit.csv"
        await type_into(pilot, app, "#audit-export-path", str(target))
        await pilot.press("ctrl+s")
        await settle(pilot, is_screen(app, "AuditScreen"))
        with target.open(newline="", encoding="utf-8") as fh:
            table = list(csv.reader(fh))
        assert [(r[4], r[5], r[6]) for r in table[1:]] == [
            ("project.add", "web", "ok"),
            ("project.delete", "web", "ok"),
        ]
