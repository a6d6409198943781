"""Audit log (SPEC M3): entries for a scripted set of changes, refusals too; filters; append-only; CSV."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ectui.services import ConsoleServices
from ectui.services.audit import CSV_COLUMNS, AuditFilter, AuditRecord, AuditService, audited
from ectui.services.errors import ServiceError, ValidationError
from ectui.services.users import UserDraft
from tests.kit import CONSOLE_NOW, Clock
from tests.kit.users import ADMIN_PW, AUDIT_PW, OPS_PW, project, with_accounts


def rows(records: list[AuditRecord]) -> list[tuple[str, str, str, str, str]]:
    """(who, role, action, target, result), oldest first."""
    return [(r.who, r.role, r.action, r.target, r.result) for r in reversed(records)]


async def scripted(console: ConsoleServices, clock: Clock) -> None:
    """admin adds web and db, sets a quota; ops deletes db; aud tries to delete web (refused)."""
    await with_accounts(console)  # 08:00 … account set-up by the OS operator and admin
    await console.users.login("admin", ADMIN_PW)
    clock.now = CONSOLE_NOW + dt.timedelta(hours=1)
    await console.projects.add(project("web"))
    await console.projects.add(project("db"))
    with pytest.raises(ServiceError, match="already exists"):
        await console.projects.add(project("web"))
    from ectui.services.projects import Amounts

    await console.projects.set_quota("web", Amounts(vcpus=8, ram_gb=16, vms=4, public_ips=1))
    await console.users.logout()
    clock.now = CONSOLE_NOW + dt.timedelta(hours=2)
    await console.users.login("ops", OPS_PW)
    await console.projects.delete("db")
    await console.users.logout()
    clock.now = CONSOLE_NOW + dt.timedelta(hours=3)
    await console.users.login("aud", AUDIT_PW)
    with pytest.raises(ServiceError, match="auditor"):
        await console.projects.delete("web")


async def test_every_change_and_refusal_is_recorded(console: ConsoleServices, clock: Clock) -> None:
    await scripted(console, clock)
    records = await console.audit.list_all()
    assert rows(records)[0][:3] == ("osuser", "admin", "license.import")
    assert rows(records)[1:] == [
        ("osuser", "admin", "user.add", "admin", "ok"),
        ("admin", "admin", "user.login", "admin", "ok"),
        ("admin", "admin", "user.add", "ops", "ok"),
        ("admin", "admin", "user.add", "aud", "ok"),
        ("admin", "admin", "user.logout", "admin", "ok"),
        ("admin", "admin", "user.login", "admin", "ok"),
        ("admin", "admin", "project.add", "web", "ok"),
        ("admin", "admin", "project.add", "db", "ok"),
        ("admin", "admin", "project.add", "web", "failed"),
        ("admin", "admin", "project.set_quota", "web", "ok"),
        ("admin", "admin", "user.logout", "admin", "ok"),
        ("ops", "operator", "user.login", "ops", "ok"),
        ("ops", "operator", "project.delete", "db", "ok"),
        ("ops", "operator", "user.logout", "ops", "ok"),
        ("aud", "auditor", "user.login", "aud", "ok"),
        ("aud", "auditor", "project.delete", "web", "refused"),
    ]
    by_action = {(r.action, r.target, r.result): r for r in records}
    assert "already exists" in by_action["project.add", "web", "failed"].detail
    refused = by_action["project.delete", "web", "refused"]
    assert (
        refused.detail == "aud is logged in as an auditor: auditors can read everything and change nothing."
    )
    assert refused.at == CONSOLE_NOW + dt.timedelta(hours=3)
    assert by_action["project.delete", "db", "ok"].detail == ""


async def test_failed_logins_are_recorded_with_the_reason(console: ConsoleServices) -> None:
    await with_accounts(console)
    with pytest.raises(ServiceError):
        await console.users.login("ops", "wrong-password")
    await console.users.login("admin", ADMIN_PW)
    [entry] = await console.audit.list_all(AuditFilter.parse(action="user.login", who="ops"))
    assert (entry.target, entry.result, entry.detail) == ("ops", "refused", "Unknown user or wrong password.")


async def test_filters_since_who_and_action(console: ConsoleServices, clock: Clock) -> None:
    await scripted(console, clock)
    audit = console.audit
    since = await audit.list_all(AuditFilter.parse(since=(CONSOLE_NOW + dt.timedelta(hours=2)).isoformat()))
    assert {r.who for r in since} == {"ops", "aud"}
    assert rows(await audit.list_all(AuditFilter.parse(who="ops", action="project"))) == [
        ("ops", "operator", "project.delete", "db", "ok")
    ]
    assert {r.action for r in await audit.list_all(AuditFilter.parse(action="user"))} == {
        "user.add",
        "user.login",
        "user.logout",
    }
    assert await audit.list_all(AuditFilter.parse(since="2031-01-01")) == []
    with pytest.raises(ValidationError) as raised:
        AuditFilter.parse(since="yesterday")
    assert raised.value.field == "Since"


async def test_the_log_is_append_only(console: ConsoleServices) -> None:
    await console.projects.add(project("web"))
    assert not [
        name for name in dir(AuditService) if name.startswith(("update", "delete", "remove", "clear", "edit"))
    ]
    for statement in ("UPDATE audit_log SET result = 'ok'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), console.db.engine.begin() as connection:
            connection.execute(text(statement))
    entries = await console.audit.list_all()
    assert [(e.who, e.action, e.target, e.result) for e in entries][0] == (
        "osuser",
        "project.add",
        "web",
        "ok",
    )
    assert len(entries) == 2 and entries[1].action == "license.import"


async def test_csv_export(console: ConsoleServices, clock: Clock, tmp_path: Path) -> None:
    await scripted(console, clock)
    path = await console.audit.export_csv(tmp_path / "audit.csv", AuditFilter.parse(action="project"))
    with path.open(newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    assert tuple(table[0]) == CSV_COLUMNS
    assert [(r[2], r[4], r[5], r[6]) for r in table[1:]] == [
        ("admin", "project.add", "web", "ok"),
        ("admin", "project.add", "db", "ok"),
        ("admin", "project.add", "web", "failed"),
        ("admin", "project.set_quota", "web", "ok"),
        ("ops", "project.delete", "db", "ok"),
        ("aud", "project.delete", "web", "refused"),
    ]
    assert table[-1][7].startswith("aud is logged in as an auditor")
    assert table[1][1] == (CONSOLE_NOW + dt.timedelta(hours=1)).isoformat(timespec="seconds")
    with pytest.raises(ValidationError, match="CSV file"):
        await console.audit.export_csv("  ")
    with pytest.raises(ServiceError, match="Cannot write the CSV file"):
        await console.audit.export_csv(tmp_path / "missing-dir" / "x.csv")


async def test_without_a_license_changes_are_refused_and_recorded(make_console: Any, licenses: Any) -> None:
    services: ConsoleServices = await make_console(None)
    with pytest.raises(ServiceError, match="No license is installed"):
        await services.projects.add(project())
    with pytest.raises(ServiceError):
        await services.license.import_license(Path("/nonexistent.ec"))
    await services.license.import_license(*licenses.users)
    records = await services.audit.list_all()
    assert [(r.action, r.result) for r in reversed(records)] == [
        ("project.add", "refused"),
        ("license.import", "refused"),
        ("license.import", "ok"),
    ]
    assert records[0].target.endswith(".ec") and records[-1].detail.startswith("No license is installed")


async def test_passwords_are_hashed_with_argon2id(console: ConsoleServices) -> None:
    await console.users.add(UserDraft.parse(name="admin", role="admin", password=ADMIN_PW))
    with console.db.engine.connect() as connection:
        stored = connection.execute(text("SELECT password_hash FROM console_user")).scalar_one()
    assert stored.startswith("$argon2id$") and ADMIN_PW not in stored


# ------------------------------------------------------------------ the decorator itself


class _Sink:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, str]] = []

    async def record_acting(self, action: str, target: str, result: str, detail: str = "") -> None:
        self.entries.append((action, target, result, detail))


class _Service:
    def __init__(self, audit: _Sink | None) -> None:
        self._audit = audit

    @audited("thing.outer", "name")
    async def outer(self, name: str) -> str:
        await self.inner(name + "-child")
        return name

    @audited("thing.inner", lambda a: f"{a['name']}!")
    async def inner(self, name: str) -> None:
        return None

    @audited("thing.boom", "draft.name")
    async def boom(self, draft: Any) -> None:
        raise RuntimeError("secret-password-in-text")

    @audited("thing.slow", "name")
    async def slow(self, name: str, running: asyncio.Event) -> None:
        running.set()
        await asyncio.Event().wait()


async def test_the_decorator_records_once_per_call_and_hides_unexpected_text() -> None:
    sink = _Sink()
    service = _Service(sink)
    assert await service.outer("a") == "a"  # the inner change is part of the outer one
    await service.inner("b")
    with pytest.raises(RuntimeError):
        await service.boom(type("D", (), {"name": "x"})())
    running = asyncio.Event()
    task = asyncio.create_task(service.slow("s", running))
    await running.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sink.entries == [
        ("thing.outer", "a", "ok", ""),
        ("thing.inner", "b!", "ok", ""),
        ("thing.boom", "x", "failed", "RuntimeError"),
        ("thing.slow", "s", "cancelled", ""),
    ]
    assert await _Service(None).outer("quiet") == "quiet"  # a service built alone records nothing
