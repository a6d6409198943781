"""`ectui login | logout`, `ectui user …`, `ectui audit list | verify`: operator accounts and the audit log."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ectui.commands._util import (
    CsvDocument,
    Parser,
    Refused,
    command,
    one_argument_commands,
    read_password,
    table,
)

ROLE_CHOICES = "admin|operator|auditor"


def register(sub: Any) -> None:
    """Add the login, logout, user and audit commands."""
    from ectui.i18n import _

    login = sub.add_parser("login", help=_("log in (users module); later commands act as this account"))
    login.add_argument("--user", metavar=_("NAME"), help=_("account name (asked when missing)"))
    login.add_argument(
        "--password-stdin", action="store_true", help=_("read the password from standard input")
    )
    command(login, do_login)
    logout = sub.add_parser("logout", help=_("end the session started by 'ectui login'"))
    command(logout, do_logout)

    user = sub.add_parser("user", help=_("operator accounts (users module; admins manage them)"))
    usub = user.add_subparsers(dest="action", required=True, parser_class=Parser)
    add = usub.add_parser("add", help=_("create an account (the first one: an admin, by the OS operator)"))
    add.add_argument("--name", required=True, metavar=_("NAME"), help=_("account name"))
    add.add_argument("--role", required=True, metavar=ROLE_CHOICES, help=_("the account's role"))
    add.add_argument("--password-stdin", action="store_true", help=_("read the password from standard input"))
    ulist = usub.add_parser("list", help=_("list accounts (admins and auditors)"))
    role = usub.add_parser("role", help=_("change an account's role"))
    role.add_argument("name", metavar=_("NAME"), help=_("account name"))
    role.add_argument("role", metavar=ROLE_CHOICES, help=_("the new role"))
    passwd = usub.add_parser("passwd", help=_("set an account's password (also unlocks it)"))
    passwd.add_argument("name", metavar=_("NAME"), help=_("account name"))
    passwd.add_argument(
        "--password-stdin", action="store_true", help=_("read the password from standard input")
    )
    command(add, user_add)
    command(ulist, user_list)
    command(role, user_role)
    command(passwd, user_passwd)
    verbs = {
        "unlock": (_("clear a lock-out after failed logins"), user_unlock),
        "enable": (_("allow an account to log in again"), user_enable),
        "disable": (_("stop an account from logging in"), user_disable),
        "delete": (_("delete an account and its sessions"), user_delete),
    }
    one_argument_commands(usub, verbs, dest="name", metavar=_("NAME"), help=_("account name"))

    audit = sub.add_parser("audit", help=_("the audit log of changes (users module)"))
    asub = audit.add_subparsers(dest="action", required=True, parser_class=Parser)
    alist = asub.add_parser("list", help=_("entries, newest first"))
    alist.add_argument(
        "--since",
        metavar=_("WHEN"),
        help=_("from this UTC date or time: YYYY-MM-DD or YYYY-MM-DDTHH:MM (2030-06-01T12:00)"),
    )
    alist.add_argument("--who", metavar=_("NAME"), help=_("only this user"))
    alist.add_argument(
        "--action", metavar=_("ACTION"), help=_("only this action, or a prefix: vm, vm.create")
    )
    alist.add_argument("--csv", metavar=_("FILE"), help=_("also write the entries as CSV to FILE"))
    command(alist, audit_list)
    verify = asub.add_parser(
        "verify", help=_("check the hash chain: exit 1 naming the first entry changed or missing")
    )
    command(verify, audit_verify)


async def _password(a: argparse.Namespace, prompt: str, *, confirm: bool = False) -> tuple[str, str | None]:
    """The password from stdin (--password-stdin) or asked on the terminal (twice when `confirm`)."""
    if a.password_stdin:
        return read_password(), None
    import asyncio
    import getpass

    from ectui.i18n import _

    first = await asyncio.to_thread(getpass.getpass, prompt)
    again = await asyncio.to_thread(getpass.getpass, _("Repeat the password: ")) if confirm else None
    return first, again


async def do_login(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.users import FEATURE

    await s.license.status()
    s.license.policy().require_feature(FEATURE)
    name = a.user
    if not name:
        if a.password_stdin or not sys.stdin.isatty():
            from ectui.services.errors import ValidationError

            raise ValidationError("validation.required", field="--user")
        import asyncio

        name = await asyncio.to_thread(input, _("User: "))
    password, _unused = await _password(a, _("Password: "))
    who = await s.users.login_cli(name, password)
    data = {"user": who.user, "role": who.role, "session_file": str(s.users.session_file)}
    return data, _("Logged in as {user} ({role}).").format(user=who.user, role=who.role)


async def do_logout(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.users import FEATURE

    await s.license.status()
    s.license.policy().require_feature(FEATURE)
    who = await s.users.logout()
    text = _("Logged out {user}.").format(user=who) if who else _("Nobody was logged in.")
    return {"logged_out": who}, text


async def user_add(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.users import UserDraft

    password, confirm = await _password(a, _("Password of {name}: ").format(name=a.name), confirm=True)
    info = await s.users.add(UserDraft.parse(name=a.name, role=a.role, password=password, confirm=confirm))
    return info.to_json(), _("Account {name} ({role}) created.").format(name=info.name, role=info.role)


async def user_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    users = await s.users.list_all()
    now = s.users.now()
    rows = [
        (
            u.name,
            u.role,
            _("yes") if u.enabled else _("no"),
            u.locked_until.strftime("%Y-%m-%d %H:%M") if u.locked(now) else "—",
            u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "—",
            u.created_by,
        )
        for u in users
    ]
    headers = [_("Name"), _("Role"), _("Enabled"), _("Locked until"), _("Last login"), _("Created by")]
    text = table(headers, rows) if users else _("No accounts yet.")
    return [u.to_json(now) for u in users], text


async def user_role(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.users.set_role(a.name, a.role)
    return info.to_json(), _("{name} is now {role}.").format(name=info.name, role=info.role)


async def user_passwd(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    password, confirm = await _password(a, _("New password of {name}: ").format(name=a.name), confirm=True)
    info = await s.users.set_password(a.name, password, confirm)
    return info.to_json(), _("Password of {name} changed.").format(name=info.name)


async def user_unlock(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.users.unlock(a.name)
    return info.to_json(), _("{name} is unlocked.").format(name=info.name)


async def user_enable(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.users.set_enabled(a.name, True)
    return info.to_json(), _("{name} may log in.").format(name=info.name)


async def user_disable(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    info = await s.users.set_enabled(a.name, False)
    return info.to_json(), _("{name} is disabled.").format(name=info.name)


async def user_delete(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _

    await s.users.delete(a.name)
    return {"deleted": a.name}, _("Account {name} deleted.").format(name=a.name)


async def audit_list(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.audit import AuditFilter

    audit_filter = AuditFilter.parse(since=a.since, who=a.who, action=a.action)
    records = await s.audit.list_all(audit_filter)
    data: Any = [r.to_json() for r in records]
    rows = [
        (r.at.strftime("%Y-%m-%d %H:%M:%S"), r.who, r.role, r.action, r.target, r.result, r.detail)
        for r in records
    ]
    headers = [_("Time (UTC)"), _("Who"), _("Role"), _("Action"), _("Target"), _("Result"), _("Detail")]
    text = table(headers, rows) if records else _("No audit entries match.")
    if a.csv == "-":  # the export (oldest first), on stdout instead of the table
        from ectui.services.audit import CSV_COLUMNS

        return data, CsvDocument(CSV_COLUMNS, [r.csv_row() for r in reversed(records)])
    if a.csv:
        path = await s.audit.export_csv(a.csv, audit_filter)
        data = {"entries": data, "csv": str(path)}
        text += "\n\n" + _("CSV written to {path}").format(path=path)
    return data, text


async def audit_verify(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    """Verify the audit log's hash chain; a break is reported on stdout with exit status 1."""
    from ectui.i18n import _, ngettext, render

    verdict = await s.audit.verify()
    if verdict.error is not None:
        raise Refused(verdict.to_json(), render(verdict.error))
    checked = ngettext("{n} entry checked", "{n} entries checked", verdict.entries).format(n=verdict.entries)
    return verdict.to_json(), _("The audit log is intact: {checked}.").format(checked=checked)
