"""Operator accounts (SPEC M3): gating, first admin, login, lock-out, roles in the service layer, CLI sessions."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from ectui.services import ConsoleServices
from ectui.services.audit import AccessError, AuditFilter
from ectui.services.errors import LicenseError, ReadOnlyError, ValidationError
from ectui.services.users import LOCK_FAILURES, LOCK_WINDOW, UserDraft, UserError
from tests.kit import CONSOLE_NOW, Clock
from tests.kit.users import ADMIN_PW, AUDIT_PW, OPS_PW, Licenses, project, with_accounts

# ------------------------------------------------------------------ gating


async def test_without_the_users_module_the_os_operator_has_full_rights(
    make_console: Callable[..., object], licenses: Licenses
) -> None:
    services: ConsoleServices = await make_console(licenses.plain)  # type: ignore[operator]
    who = services.users.current_identity()
    assert (who.user, who.role, who.source) == ("osuser", "admin", "os")
    assert not await services.users.login_required()
    await services.projects.add(project())  # today's behaviour: changes allowed
    with pytest.raises(
        LicenseError, match="'users.accounts' feature is not in this license's edition \\(Plain\\)"
    ):
        await services.users.add(UserDraft.parse(name="admin", role="admin", password=ADMIN_PW))
    with pytest.raises(LicenseError, match="users.accounts"):
        await services.users.list_all()
    with pytest.raises(LicenseError, match="users.accounts"):
        await services.users.login("admin", ADMIN_PW)
    with pytest.raises(LicenseError, match="users.audit"):
        await services.audit.list_all()


async def test_the_first_account_is_an_admin_made_by_the_os_operator(console: ConsoleServices) -> None:
    users = console.users
    assert users.current_identity().source == "os"
    assert not await users.login_required()
    with pytest.raises(UserError, match="first account must be an admin"):
        await users.add(UserDraft.parse(name="ops", role="operator", password=OPS_PW))
    with pytest.raises(UserError, match="No accounts exist yet"):
        await users.login("admin", ADMIN_PW)
    info = await users.add(UserDraft.parse(name="admin", role="admin", password=ADMIN_PW))
    assert (info.name, info.role, info.created_by, info.enabled) == ("admin", "admin", "osuser", True)
    # from now on a login is needed: nobody logged in changes nothing
    assert await users.login_required()
    assert users.current_identity().role == "none"
    with pytest.raises(ReadOnlyError, match="Log in first"):
        await console.projects.add(project())
    with pytest.raises(AccessError, match="Log in first"):
        await users.list_all()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "", "role": "admin", "password": ADMIN_PW}, "User name"),
        ({"name": "9lives", "role": "admin", "password": ADMIN_PW}, "User name"),
        ({"name": "bob", "role": "root", "password": ADMIN_PW}, "Role"),
        ({"name": "bob", "role": "admin", "password": "short"}, "Password"),
        ({"name": "bobbybobby", "role": "admin", "password": "BobbyBobby"}, "Password"),
        (
            {"name": "bob", "role": "admin", "password": ADMIN_PW, "confirm": "other-pass-123"},
            "Confirm password",
        ),
    ],
)
def test_account_validation_names_the_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        UserDraft.parse(**fields)
    assert raised.value.field == field


def test_a_draft_never_shows_its_password() -> None:
    draft = UserDraft.parse(name="bob", role="operator", password=OPS_PW)
    assert OPS_PW not in repr(draft)


# ------------------------------------------------------------------ login and lock-out


async def test_login_wrong_password_lock_out_and_unlock_after_the_window(
    console: ConsoleServices, clock: Clock
) -> None:
    await with_accounts(console)
    users = console.users
    who = await users.login("ops", OPS_PW)
    assert (who.user, who.role, who.source) == ("ops", "operator", "login")
    await users.logout()
    assert users.current_identity().source == "anonymous"

    for _n in range(LOCK_FAILURES - 1):
        with pytest.raises(UserError, match="Unknown user or wrong password"):
            await users.login("ops", "wrong-password!")
    # the lock-out answers like a wrong password (it would tell that the account exists)
    with pytest.raises(
        UserError, match=r"wrong password\. After 5 failed logins in a row an account is locked"
    ):
        await users.login("ops", "wrong-password!")
    # the right password does not open a locked account
    clock.now = clock.now + dt.timedelta(minutes=6)
    with pytest.raises(UserError, match="Unknown user or wrong password"):
        await users.login("ops", OPS_PW)
    # an unknown name gets the same answer as a wrong password (names cannot be probed)
    with pytest.raises(UserError, match="Unknown user or wrong password"):
        await users.login("nobody", OPS_PW)
    clock.now = CONSOLE_NOW + LOCK_WINDOW + dt.timedelta(seconds=1)
    assert (await users.login("ops", OPS_PW)).user == "ops"
    [ops] = [u for u in await _as_admin_list(console) if u.name == "ops"]
    assert ops.failed_logins == 0 and ops.locked_until is None and ops.last_login_at == clock.now


async def test_failures_far_apart_do_not_lock_and_an_admin_unlocks(
    console: ConsoleServices, clock: Clock
) -> None:
    await with_accounts(console)
    users = console.users
    for _n in range(LOCK_FAILURES + 1):  # each more than the window after the one before
        with pytest.raises(UserError, match="wrong password"):
            await users.login("aud", "nope-nope-nope")
        clock.now += LOCK_WINDOW + dt.timedelta(minutes=1)
    assert (await users.login("aud", AUDIT_PW)).role == "auditor"
    await users.logout()
    for _n in range(LOCK_FAILURES):
        with pytest.raises(UserError):
            await users.login("aud", "nope-nope-nope")
    await users.login("admin", ADMIN_PW)
    info = await users.unlock("aud")
    assert info.locked_until is None
    await users.logout()
    assert (await users.login("aud", AUDIT_PW)).user == "aud"


async def test_a_disabled_account_cannot_log_in(console: ConsoleServices) -> None:
    await with_accounts(console)
    await console.users.login("admin", ADMIN_PW)
    await console.users.set_enabled("ops", False)
    await console.users.logout()
    with pytest.raises(UserError, match="'ops' is disabled"):
        await console.users.login("ops", OPS_PW)


# ------------------------------------------------------------------ roles at the service level


async def test_an_auditor_reads_everything_and_changes_nothing(console: ConsoleServices) -> None:
    await with_accounts(console)
    await console.users.login("admin", ADMIN_PW)
    await console.projects.add(project("web"))
    await console.users.logout()
    await console.users.login("aud", AUDIT_PW)
    # reads
    assert [p.name for p in await console.projects.list_all()] == ["web"]
    assert {u.name for u in await console.users.list_all()} == {"admin", "ops", "aud"}
    assert await console.audit.list_all()
    # every kind of change is refused, naming the role
    refusals = [
        console.projects.add(project("db")),
        console.projects.delete("web"),
        console.clusters.remove("dc1"),
        console.images.set_enabled(1, False),
        console.isos.delete(1),
        console.templates.delete(1),
        console.vms.stop(1),
        console.users.add(UserDraft.parse(name="eve", role="operator", password=OPS_PW)),
        console.users.unlock("ops"),
    ]
    for change in refusals:
        with pytest.raises(
            ReadOnlyError, match="aud is logged in as an auditor: auditors can read everything"
        ):
            await change
    with pytest.raises(ReadOnlyError, match="auditor"):
        console.license.policy().ensure_writable()
    with pytest.raises(ReadOnlyError, match="auditor"):
        await console.license.import_license(Path("/nonexistent.ec"))


async def test_an_operator_changes_things_but_not_accounts(console: ConsoleServices) -> None:
    await with_accounts(console)
    await console.users.login("ops", OPS_PW)
    console.license.policy().ensure_writable()
    info = await console.projects.add(project("web"))
    assert info.name == "web"
    await console.projects.delete("web")
    for change in (
        console.users.add(UserDraft.parse(name="eve", role="operator", password=OPS_PW)),
        console.users.set_role("aud", "admin"),
        console.users.set_password("admin", "new-pass-12345"),
        console.users.set_enabled("aud", False),
        console.users.unlock("aud"),
        console.users.delete("aud"),
    ):
        with pytest.raises(AccessError, match=r"ops \(operator\) may not manage accounts"):
            await change
    with pytest.raises(AccessError, match=r"ops \(operator\) may not list accounts"):
        await console.users.list_all()
    with pytest.raises(AccessError, match=r"ops \(operator\) may not read the audit log"):
        await console.audit.list_all()


async def test_an_admin_manages_accounts_and_keeps_an_admin(console: ConsoleServices) -> None:
    await with_accounts(console)
    users = console.users
    await users.login("admin", ADMIN_PW)
    with pytest.raises(UserError, match="already exists"):
        await users.add(UserDraft.parse(name="ops", role="operator", password=OPS_PW))
    with pytest.raises(UserError, match="'admin' is the last enabled admin"):
        await users.set_role("admin", "operator")
    with pytest.raises(UserError, match="cannot disable your own account"):
        await users.set_enabled("admin", False)
    with pytest.raises(UserError, match="cannot delete your own account"):
        await users.delete("admin")
    with pytest.raises(UserError, match="No account named 'zed'"):
        await users.delete("zed")
    assert (await users.set_role("ops", "admin")).role == "admin"
    await users.set_password("aud", "fresh-pass-123")
    await users.delete("aud")
    assert {u.name for u in await users.list_all()} == {"admin", "ops"}
    await users.logout()
    with pytest.raises(UserError, match="wrong password"):
        await users.login("aud", "fresh-pass-123")
    # the new admin may demote the first one now that another admin exists
    await users.login("ops", OPS_PW)
    assert (await users.set_role("admin", "operator")).role == "operator"


async def test_a_role_change_applies_to_the_logged_in_session(console: ConsoleServices) -> None:
    await with_accounts(console)
    await console.users.login("admin", ADMIN_PW)
    await console.users.set_role("ops", "auditor")
    await console.users.logout()
    await console.users.login("ops", OPS_PW)
    with pytest.raises(ReadOnlyError, match="auditor"):
        await console.projects.add(project())


# ------------------------------------------------------------------ CLI sessions


async def test_cli_session_file_is_private_and_read_by_a_new_process(
    console: ConsoleServices, make_console: Callable[..., object], licenses: Licenses, clock: Clock
) -> None:
    await with_accounts(console)
    await console.users.login_cli("ops", OPS_PW)
    path = console.users.session_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert len(token) >= 40
    # the database keeps only a hash of the token
    from sqlalchemy import text

    with console.db.engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash FROM user_session")).scalars().all()
    assert stored and token not in stored
    # another process on the same home: the session says who acts
    other: ConsoleServices = await make_console(None)  # type: ignore[operator]
    assert (other.users.current_identity().user, other.users.current_identity().source) == ("ops", "session")
    await other.projects.add(project())
    # an expired session is no session
    clock.now += dt.timedelta(hours=13)
    assert await other.users.login_required()
    await other.users.login_cli("ops", OPS_PW)
    assert not await other.users.login_required()
    assert await other.users.logout() == "ops"
    assert not path.exists()
    with console.db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM user_session")).scalar() == 0
    assert await console.users.login_required()


async def test_passwords_never_reach_the_audit_log(console: ConsoleServices) -> None:
    await with_accounts(console)
    with pytest.raises(UserError):
        await console.users.login("ops", "wrong-" + OPS_PW)
    await console.users.login("admin", ADMIN_PW)
    await console.users.set_password("ops", "brand-new-pass-1")
    text = "\n".join(str(r.to_json()) for r in await console.audit.list_all(AuditFilter()))
    for secret in (ADMIN_PW, OPS_PW, AUDIT_PW, "brand-new-pass-1", "wrong-"):
        assert secret not in text


async def _as_admin_list(console: ConsoleServices) -> list:  # type: ignore[type-arg]
    """The account list read as the admin, leaving whoever was logged in logged out."""
    await console.users.logout()
    await console.users.login("admin", ADMIN_PW)
    try:
        return await console.users.list_all()
    finally:
        await console.users.logout()
