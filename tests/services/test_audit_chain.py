"""The audit log's SHA-256 hash chain: entries chained in order, edits past the triggers named, deletions
noticed, the migration hashing old entries, concurrent writers kept on one chain, and `ectui audit verify`."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ectui.db.models import AuditEntry, ConsoleState
from ectui.db.session import Database
from ectui.services import ConsoleServices, build_console_services
from ectui.services.audit import (
    CHAIN_HEAD,
    GENESIS,
    AccessError,
    AuditChainError,
    AuditService,
    ChainVerdict,
    Identity,
    entry_hash,
)
from tests.kit import Clock, home_settings
from tests.kit.audit import drop_guards, entry_ids, raw
from tests.kit.cli import Result
from tests.kit.users import ADMIN_PW, OPS_PW, project, with_accounts


async def some_history(services: ConsoleServices) -> list[int]:
    """Accounts, a login and two projects: a dozen entries; returns their ids, oldest first."""
    await with_accounts(services)
    await services.users.login("admin", ADMIN_PW)
    await services.projects.add(project("web"))
    await services.projects.add(project("db"))
    return entry_ids(services.db)


# ------------------------------------------------------------------ the chain as written


async def test_each_entry_is_chained_to_the_one_before(console: ConsoleServices) -> None:
    ids = await some_history(console)
    verdict = await console.audit.verify()
    assert verdict == ChainVerdict(len(ids)) and verdict.intact and verdict.broken_at is None
    with console.db.session() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        head = session.get(ConsoleState, CHAIN_HEAD)
        assert head is not None and head.value == f"{rows[-1].id}:{rows[-1].hash}"
    prev = GENESIS
    for row in rows:
        fields = (row.at, row.who, row.role, row.action, row.target, row.result, row.detail)
        assert (row.prev_hash, row.hash) == (prev, entry_hash(prev, *fields))
        prev = row.hash
    assert verdict.to_json() == {
        "intact": True,
        "entries": len(ids),
        "broken_at": None,
        "problem": None,
        "message": None,
    }


def test_the_hash_covers_every_field_and_the_entry_before() -> None:
    at = dt.datetime(2030, 6, 1, 12, 0, 0, 123456)
    fields: list[Any] = [GENESIS, at, "ops", "operator", "vm.create", "web-1", "ok", "细节"]
    digest = entry_hash(*fields)
    assert len(digest) == 64 and digest == entry_hash(*fields)
    for i, other in enumerate(["1" * 64, at + dt.timedelta(microseconds=1), "opz", "admin", "vm.delete",
                               "web-2", "failed", "细"]):  # fmt: skip
        changed = list(fields)
        changed[i] = other
        assert entry_hash(*changed) != digest, i


# ------------------------------------------------------------------ tampering past the triggers


async def test_an_entry_updated_past_the_triggers_is_named(console: ConsoleServices, clock: Clock) -> None:
    ids = await some_history(console)
    victim = ids[4]
    drop_guards(console.db)
    raw(console.db, "UPDATE audit_log SET result = 'ok', target = 'tampered' WHERE id = :id", id=victim)
    verdict = await console.audit.verify()
    assert isinstance(verdict.error, AuditChainError)
    assert (verdict.error.key, verdict.broken_at, verdict.entries) == ("audit.chain_changed", victim, 5)
    assert f"entry {victim} was changed after it was written" in str(verdict.error)
    # the start-up check finds it too, and says so as a warning (the console still starts)
    again = build_console_services(console.settings, clock=clock)
    await again.start()
    try:
        assert [(w.key, w.params["id"]) for w in again.start_warnings] == [("audit.chain_changed", victim)]
    finally:
        again.close()


async def test_an_entry_rewritten_with_a_fresh_hash_breaks_at_the_next(console: ConsoleServices) -> None:
    ids = await some_history(console)
    victim = ids[3]
    drop_guards(console.db)
    with console.db.session() as session:
        row = session.get(AuditEntry, victim)
        assert row is not None
        forged = entry_hash(
            row.prev_hash, row.at, "someone-else", row.role, row.action, row.target, row.result, ""
        )
    raw(console.db, "UPDATE audit_log SET who = 'someone-else', detail = '', hash = :h WHERE id = :id",
        h=forged, id=victim)  # fmt: skip
    verdict = await console.audit.verify()
    assert verdict.error is not None
    assert (verdict.error.key, verdict.broken_at, verdict.error.params["after"]) == (
        "audit.chain_gap",
        ids[4],
        victim,
    )


@pytest.mark.parametrize(
    ("which", "key", "named", "after"),
    [
        ("first", "audit.chain_start", 1, None),
        ("middle", "audit.chain_gap", 4, 2),
        ("last", "audit.chain_truncated", -1, None),
    ],
)
async def test_a_deleted_entry_is_noticed(
    console: ConsoleServices, which: str, key: str, named: int, after: int | None
) -> None:
    ids = await some_history(console)
    gone = {"first": ids[0], "middle": ids[3], "last": ids[-1]}[which]
    drop_guards(console.db)
    raw(console.db, "DELETE FROM audit_log WHERE id = :id", id=gone)
    verdict = await console.audit.verify()
    assert verdict.error is not None and verdict.error.key == key
    assert verdict.broken_at == ids[named]
    if after is not None:
        assert verdict.error.params["after"] == ids[after]
    if which == "last":
        assert verdict.error.params["last"] == ids[-2]
        assert f"entry {gone}, the newest one written, is missing" in str(verdict.error)
        # a later entry does not paper over the gap: it chains to the deleted one, not to the last row left
        await console.projects.add(project("cache"))
        later = await console.audit.verify()
        assert later.error is not None and later.error.key == "audit.chain_gap"
        assert (later.broken_at, later.error.params["after"]) == (entry_ids(console.db)[-1], ids[-2])


async def test_a_deleted_head_record_is_noticed(console: ConsoleServices) -> None:
    ids = await some_history(console)
    raw(console.db, "DELETE FROM console_state WHERE key = :k", k=CHAIN_HEAD)
    verdict = await console.audit.verify()
    assert verdict.error is not None
    assert (verdict.error.key, verdict.broken_at) == ("audit.chain_head_missing", ids[-1])


async def test_verifying_needs_a_reader(console: ConsoleServices) -> None:
    await with_accounts(console)
    await console.users.login("ops", OPS_PW)
    with pytest.raises(AccessError, match="may not read the audit log"):
        await console.audit.verify()


# ------------------------------------------------------------------ migration 0010 and concurrent writers


def test_migration_0010_chains_the_entries_already_written(db_url: str) -> None:
    db = Database(db_url, "console")
    db.migrate("0009")
    at = dt.datetime(2030, 6, 1, 12, 0, 0)
    for i, (who, detail) in enumerate([("osuser", ""), ("admin", "已拒绝"), ("ops", "x" * 300)]):
        raw(db, "INSERT INTO audit_log (at, who, role, action, target, result, detail)"
                " VALUES (:at, :who, 'admin', 'project.add', :target, 'ok', :detail)",
            at=at + dt.timedelta(seconds=i, microseconds=i), who=who, target=f"p{i}", detail=detail)  # fmt: skip
    db.migrate()
    service = AuditService(db)  # writing and verifying need no license and no identity
    try:
        assert service.verify_sync() == ChainVerdict(3)
        service.record_sync(Identity("admin", "admin"), "project.delete", "p0", "ok")
        assert service.verify_sync() == ChainVerdict(4)
        # the append-only triggers are back after the migration
        with pytest.raises(Exception, match="append-only"):
            raw(db, "UPDATE audit_log SET detail = 'changed'")
        with pytest.raises(Exception, match="append-only"):
            raw(db, "DELETE FROM audit_log")
        assert service.verify_sync() == ChainVerdict(4)
    finally:
        db.dispose()


def test_two_writers_appending_at_once_keep_one_chain(db_url: str) -> None:
    first = Database(db_url, "console")
    first.migrate()
    second = Database(db_url, "console")  # another engine: its own connections, as another process has
    writers = [AuditService(db) for db in (first, second)]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def append(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                writers[n % 2].record_sync(Identity(f"w{n}", "admin"), "test.append", f"{n}-{i}", "ok")
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert writers[1].verify_sync() == ChainVerdict(40)
    finally:
        first.dispose()
        second.dispose()


# ------------------------------------------------------------------ `ectui audit verify`


def test_audit_verify_command_exits_1_naming_the_entry(
    cli: Callable[..., Result],  # noqa: F811
    cli_home: Path,
) -> None:
    ok = cli(cli_home, "audit", "verify")
    assert (ok.code, ok.err) == (0, "")
    assert "The audit log is intact: 3 entries checked." in ok.out
    db = Database(home_settings(cli_home).console_db_url, "console")
    try:
        ids = entry_ids(db)
        drop_guards(db)
        raw(db, "UPDATE audit_log SET target = 'other' WHERE id = :id", id=ids[1])
    finally:
        db.dispose()
    broken = cli(cli_home, "audit", "verify")
    assert broken.code == 1
    assert f"entry {ids[1]} was changed after it was written" in broken.out
    as_json = cli(cli_home, "audit", "verify", "--json")
    assert as_json.code == 1
    data = json.loads(as_json.out)
    assert (data["intact"], data["broken_at"], data["problem"]) == (False, ids[1], "audit.chain_changed")
