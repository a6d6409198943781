"""Engines, sessions and migrations: the one door to the database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_open_sessions = threading.local()
"""How many units of work the current thread has open (the outermost one takes SQLite's write lock)."""
Kind = Literal["console", "issuer"]


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # SQLAlchemy's recipe for real SQLite transactions: the driver stops issuing its own BEGIN
    # (it would start one only before DML), and _sqlite_begin emits it, IMMEDIATE when asked.
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout, and its directory is made."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    """One database (console or issuer): engine, unit-of-work sessions, migrations."""

    def __init__(self, url: str, kind: Kind) -> None:
        self.url = url
        self.kind = kind
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error.

        On SQLite the outermost unit of work of a thread begins IMMEDIATE (takes the write lock at
        BEGIN): a deferred transaction that reads and then writes fails at once with "database is
        locked" when another writer committed meanwhile, and no busy timeout can help it. A unit of
        work opened inside another one in the same thread stays deferred, so it cannot wait on its own
        thread's lock.
        """
        session = self._sessions()
        depth = getattr(_open_sessions, "depth", 0)
        _open_sessions.depth = depth + 1
        try:
            if depth == 0 and self.engine.dialect.name == "sqlite":
                session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            _open_sessions.depth = depth
            session.close()

    @contextmanager
    def locked_session(self) -> Iterator[Session]:
        """A unit of work that serialises writers: SQLite takes its write lock at BEGIN (IMMEDIATE, as every
        outermost unit of work does); other databases lock the rows the caller selects `with_for_update()`
        (SELECT ... FOR UPDATE). Two processes racing for the last quota pass through here one after the other.
        """
        with self.session() as session:
            yield session

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to the newest migration (fast no-op when already there)."""
        if revision == "head" and self._current_revision() == _head_revision(self.kind):
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS / self.kind))
        with self.engine.connect() as connection:
            sqlite = self.engine.dialect.name == "sqlite"
            if sqlite:
                # SQLite rebuilds a table to alter it (batch mode): with foreign keys on, dropping the
                # old table would cascade-delete the rows of every child table.
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                with connection.begin():
                    config.attributes["connection"] = connection
                    command.upgrade(config, revision)
            finally:
                if sqlite:
                    connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]

    def _current_revision(self) -> str | None:
        try:
            with self.engine.connect() as connection:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            return None

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()


def _head_revision(kind: Kind) -> str:
    """The newest revision id, read from the file names ('<rev>_<slug>.py', newest sorts last)."""
    versions = sorted(p.name for p in (MIGRATIONS / kind / "versions").glob("[0-9]*_*.py"))
    return versions[-1].split("_", 1)[0]
