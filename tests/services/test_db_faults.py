"""Database faults become one clear domain error, and database files are private.

Read-only is simulated with `chmod 0400`: the data layer opens a file without any write permission bit
read-only (SQLite mode=ro) even for root, who may write any file, so these tests mean the same as root
(as CI runs them) and as a normal user (for whom SQLite itself refuses the write).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ectui.config import Settings
from ectui.db.errors import DatabaseError, DatabaseUrlError
from ectui.db.models import ConsoleState
from ectui.db.session import Database
from ectui.i18n import render
from ectui.services import build_console_services, build_issuer_services
from tests.kit import CONSOLE_NOW, Clock, home_settings

SECRET = "s3cret-pw"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def started_home(home: Path, **env: str) -> Settings:
    """A console home whose database exists at the newest schema (services started once, then closed)."""
    settings = home_settings(home, **env)
    services = build_console_services(settings, clock=Clock(CONSOLE_NOW))
    await services.start()
    services.close()
    return settings


def console_db(settings: Settings) -> Path:
    return settings.data_dir / "console.db"


def state(path: Path, key: str) -> str | None:
    """A console_state value, read with the plain driver (immutable: never touches the file)."""
    connection = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        row = connection.execute("SELECT value FROM console_state WHERE key = ?", (key,)).fetchone()
    finally:
        connection.close()
    return row[0] if row else None


# ------------------------------------------------------------------ private files


async def test_console_and_issuer_databases_are_created_private(tmp_path: Path) -> None:
    settings = home_settings(tmp_path / "home")
    console = build_console_services(settings, clock=Clock(CONSOLE_NOW))
    issuer = build_issuer_services(settings)
    try:
        await console.start()
        await issuer.start()
        assert mode(settings.data_dir) == 0o700
        for name in ("console.db", "issuer.db"):
            base = settings.data_dir / name
            side = [Path(f"{base}-wal"), Path(f"{base}-shm")]  # exist while a pooled connection is open
            assert all(p.exists() for p in side), sorted(os.listdir(settings.data_dir))
            assert {p.name: mode(p) for p in [base, *side]} == {p.name: 0o600 for p in [base, *side]}
    finally:
        console.close()
        issuer.close()


async def test_a_looser_database_file_of_ours_is_tightened_at_start(tmp_path: Path) -> None:
    settings = await started_home(tmp_path / "home")
    db_file = console_db(settings)
    db_file.chmod(0o644)
    settings.data_dir.chmod(0o755)
    services = build_console_services(settings, clock=Clock(CONSOLE_NOW))
    try:
        await services.start()
        assert mode(db_file) == 0o600
        assert mode(settings.data_dir) == 0o700
    finally:
        services.close()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root")
def test_someone_elses_database_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    Database(f"sqlite:///{path}", "console").dispose()
    sqlite3.connect(path).close()
    path.chmod(0o644)
    os.chown(path, 65534, 65534)
    db = Database(f"sqlite:///{path}", "console")
    try:
        db.migrate()
    finally:
        db.dispose()
    assert mode(path) == 0o644


def test_a_given_sqlite_path_needs_its_directory(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(DatabaseUrlError) as raised:
        Database(f"sqlite:///{missing / 'console.db'}", "console")
    assert raised.value.key == "db.no_directory"
    assert raised.value.exit_code == 2
    assert str(missing) in render(raised.value)
    assert not missing.exists()  # refused, not silently created


def test_the_default_database_makes_its_private_directory(tmp_path: Path) -> None:
    settings = home_settings(tmp_path / "fresh")
    assert not settings.data_dir.exists()
    services = build_console_services(settings)
    services.close()
    assert mode(settings.data_dir) == 0o700


# ------------------------------------------------------------------ read-only


async def test_read_only_database_reads_and_refuses_writes(tmp_path: Path) -> None:
    settings = await started_home(tmp_path / "home")
    db_file = console_db(settings)
    mark = state(db_file, "last_seen_at")
    db_file.chmod(0o400)
    later = Clock(CONSOLE_NOW + dt.timedelta(hours=1))  # the start wants to move the clock mark forward
    services = build_console_services(settings, clock=later)
    try:
        await services.start()  # no migration due, no WAL switch, the mark write is skipped
        assert await services.clusters.list_all() == []
        assert (await services.license.status()).state == "none"
        with pytest.raises(DatabaseError) as raised:
            await services.operator_settings.set_readonly(True)
    finally:
        services.close()
    assert raised.value.key == "db.read_only"
    assert str(db_file) in render(raised.value)
    assert state(db_file, "last_seen_at") == mark
    assert mode(db_file) == 0o400  # read-only stays read-only (group and other bits only are taken)


def test_read_only_database_due_an_upgrade_says_so(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(f"sqlite:///{path}", "console")
    db.migrate("0004")
    db.dispose()
    path.chmod(0o400)
    db = Database(f"sqlite:///{path}", "console")
    try:
        with pytest.raises(DatabaseError) as raised:
            db.migrate()
    finally:
        db.dispose()
    assert raised.value.key == "db.read_only_upgrade"


def test_read_only_postgresql_is_refused_in_one_line(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the SQLite read-only file is tested above")
    from sqlalchemy.engine import make_url

    Database(db_url, "console").migrate()
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(
            f'ALTER DATABASE "{make_url(db_url).database}" SET default_transaction_read_only = on'
        )
    admin.dispose()
    db = Database(db_url, "console")
    try:
        with pytest.raises(DatabaseError) as raised, db.session() as session:
            session.add(ConsoleState(key="k", value="v"))
    finally:
        db.dispose()
    assert raised.value.key == "db.read_only"


# ------------------------------------------------------------------ locked, too new, not a database


@pytest.fixture
def lock_holder(db_url: str) -> Iterator[Database]:
    """A migrated database of `db_url` whose write lock another connection holds for the test."""
    Database(db_url, "console").migrate()
    if db_url.startswith("sqlite"):
        holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        yield Database(db_url, "console", busy_timeout=0.2)
        holder.rollback()
        holder.close()
        return
    engine = create_engine(db_url)
    with engine.connect() as connection, connection.begin():
        connection.execute(text("LOCK TABLE console_state IN ACCESS EXCLUSIVE MODE"))
        yield Database(db_url, "console", busy_timeout=0.2)
    engine.dispose()


def test_a_database_locked_longer_than_the_wait_is_one_error(lock_holder: Database) -> None:
    began = time.monotonic()
    with pytest.raises(DatabaseError) as raised, lock_holder.session() as session:
        session.add(ConsoleState(key="k", value="v"))
    lock_holder.dispose()
    assert time.monotonic() - began < 3
    assert raised.value.key == "db.locked"
    assert "0.2 s" in render(raised.value)


async def test_the_busy_timeout_comes_from_the_environment(tmp_path: Path) -> None:
    settings = await started_home(tmp_path / "home", ECTUI_DB_BUSY_TIMEOUT="0.2")
    assert settings.db_busy_timeout == 0.2
    assert home_settings(tmp_path, ECTUI_DB_BUSY_TIMEOUT="soon").db_busy_timeout == 30.0
    holder = sqlite3.connect(console_db(settings), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    services = build_console_services(settings, clock=Clock(CONSOLE_NOW))
    try:
        with pytest.raises(DatabaseError) as raised:
            await services.start()
    finally:
        services.close()
        holder.rollback()
        holder.close()
    assert raised.value.key == "db.locked"


def test_a_schema_newer_than_this_ectui_is_refused(db_url: str) -> None:
    Database(db_url, "console").migrate()
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    db = Database(db_url, "console")
    try:
        for call in (db.check, db.migrate):
            with pytest.raises(DatabaseError) as raised:
                call()
            assert raised.value.key == "db.too_new"
            assert "9999_from_the_future" in render(raised.value)
    finally:
        db.dispose()


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    settings = home_settings(tmp_path / "home")
    settings.data_dir.mkdir(parents=True)
    console_db(settings).write_bytes(os.urandom(8192))
    services = build_console_services(settings)
    try:
        with pytest.raises(DatabaseError) as raised:
            await services.start()
    finally:
        services.close()
    assert raised.value.key == "db.not_a_database"
    assert str(console_db(settings)) in render(raised.value)


# ------------------------------------------------------------------ servers and URLs


def test_an_unreachable_postgresql_is_one_error_without_the_password() -> None:
    url = f"postgresql://ectui:{SECRET}@127.0.0.1:{closed_port()}/ectui"
    db = Database(url, "console")
    try:
        with pytest.raises(DatabaseError) as raised:
            db.migrate()
    finally:
        db.dispose()
    line = render(raised.value)
    assert raised.value.key == "db.unreachable"
    assert "127.0.0.1" in line and "\n" not in line
    assert SECRET not in line and "postgresql://" not in line
    assert SECRET not in repr(raised.value.__cause__)  # the driver's error, kept for the log


@pytest.mark.parametrize(
    "url", [f"mysql+nonexistent://u:{SECRET}@db/x", f"ftp://u:{SECRET}@host/x", "not a url"]
)
def test_an_unsupported_url_is_refused_without_the_url(url: str, tmp_path: Path) -> None:
    with pytest.raises(DatabaseUrlError) as raised:
        build_console_services(home_settings(tmp_path, ECTUI_DB_URL=url))
    line = render(raised.value)
    assert raised.value.key == "db.unsupported_url"
    assert raised.value.exit_code == 2
    assert SECRET not in line and url not in line
