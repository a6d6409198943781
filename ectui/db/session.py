"""Engines, sessions and migrations: the one door to the database.

Database faults leave this module as domain errors (ectui.db.errors): the engine's handle_error event
turns a read-only, locked, foreign or unreachable database into one line that says what to do.

SQLite files are private: a new database file is created 0600 (SQLite gives its -wal and -shm side files
the mode of the database file), the default data directory 0700, and an existing file of ours with a
looser mode is tightened when it is opened. A file without any write permission bit (chmod 0400) or that
this user may not write is opened read-only (mode=ro), even by root: reads work, writes are refused with
db.read_only, and bookkeeping writes (the license clock mark) are skipped.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError

from ectui.db.errors import DatabaseError, DatabaseUrlError, one_line, translate, url_scheme

if TYPE_CHECKING:  # the ORM loads with the first unit of work: quick reads (ectui.db.reads) never need it
    from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("ectui.db")
_open_sessions = threading.local()
"""How many units of work the current thread has open (the outermost one takes SQLite's write lock)."""
Kind = Literal["console", "issuer"]
DEFAULT_BUSY_TIMEOUT = 30.0
"""Seconds a unit of work waits for another writer's lock before it fails with db.locked."""
PG_CONNECT_TIMEOUT = 10
"""Seconds to wait for a PostgreSQL server to answer before it counts as unreachable."""
_READ_ONLY = "ectui_read_only"
"""Key of a pooled connection's info: True when SQLite opened the file read-only."""


def _sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def describe(url: URL) -> str:
    """Where the database is, safe to print: the file path, or host:port/name (never user or password)."""
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        return str(path) if path is not None else ":memory:"
    where = url.host or "localhost"
    if url.port:
        where += f":{url.port}"
    return f"{where}/{url.database or ''}"


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL (also of a file: URI), None for an in-memory database."""
    database = url.database or ""
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
        if database.startswith("//"):  # file://host/path: only the local host is allowed
            database = "/" + database[2:].split("/", 1)[-1]
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None
    return Path(database)


def parse_url(url: str) -> URL:
    """The parsed URL of a database this ectui can open; DatabaseUrlError (without the URL) if not."""
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, ImportError, ValueError):  # NoSuchModuleError is an ArgumentError
        raise DatabaseUrlError("db.unsupported_url", scheme=url_scheme(url)) from None
    return parsed


def make_engine(url: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT, create_dir: bool = False) -> Engine:
    """Create an engine whose driver errors become DatabaseError.

    SQLite gets WAL, foreign keys, a busy timeout and private files. The directory of a SQLite file must
    exist (DatabaseUrlError db.no_directory), unless `create_dir` (the default database in the data
    directory), which makes it 0700. PostgreSQL gets a connect timeout and a lock timeout.
    """
    parsed = parse_url(url)
    where = describe(parsed)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed, busy_timeout=busy_timeout, create_dir=create_dir)
        else:
            engine = _server_engine(parsed, busy_timeout=busy_timeout)
    except ImportError:  # the dialect exists but its driver is not installed
        raise DatabaseUrlError("db.unsupported_url", scheme=url_scheme(url)) from None
    secrets = tuple(s for s in (parsed.password and str(parsed.password), url) if s)

    @event.listens_for(engine, "handle_error")
    def _to_domain_error(context: ExceptionContext) -> None:
        if context.is_pre_ping:  # the pool reconnects by itself
            return
        fault = translate(
            context.original_exception,
            dialect=engine.dialect.name,
            where=where,
            busy_timeout=busy_timeout,
            connecting=context.connection is None or context.is_disconnect,
            secrets=secrets,
        )
        if fault is not None:  # the driver's words go to the log only, without the URL's secrets
            log.warning(
                "database %s: %s (%s)", where, fault.key, one_line(str(context.original_exception), secrets)
            )
            raise fault from None

    return engine


def _sqlite_engine(url: URL, *, busy_timeout: float, create_dir: bool) -> Engine:
    path = sqlite_path(url)
    fixed_read_only = url.query.get("mode") == "ro" or url.query.get("immutable") in ("1", "true")
    if path is not None:
        directory = path.parent
        if create_dir:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            _tighten(directory, 0o700)
        elif not directory.is_dir():
            raise DatabaseUrlError("db.no_directory", path=str(directory))
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "do_connect")
    def _open_private(_dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if path is None:
            return
        read_only = fixed_read_only or _not_writable(path)
        record.info[_READ_ONLY] = read_only
        if read_only and not fixed_read_only and cargs and not cparams.get("uri"):
            cargs[0] = "file:" + quote(str(path.absolute())) + _read_only_query(path)
            cparams["uri"] = True
        elif not read_only:
            _create_private(path)
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            _tighten(file, 0o600)
            if not read_only and file != path:  # side files left 0400 by a read-only open
                _owner_writable(file)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, record: Any) -> None:
        # SQLAlchemy's recipe for real SQLite transactions: the driver stops issuing its own BEGIN
        # (it would start one only before DML), and _sqlite_begin emits it, IMMEDIATE when asked.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={max(0, int(busy_timeout * 1000))}")
            if not record.info.get(_READ_ONLY):
                try:
                    cursor.execute("PRAGMA journal_mode=WAL")
                except Exception as err:  # a read-only file or directory: reads still work
                    if "readonly" not in str(err):
                        raise
                    record.info[_READ_ONLY] = True
        finally:
            cursor.close()

    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _server_engine(url: URL, *, busy_timeout: float) -> Engine:
    connect_args: dict[str, Any] = {}
    postgres = url.get_backend_name() == "postgresql"
    if postgres and url.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    if postgres:

        @event.listens_for(engine, "connect")
        def _lock_timeout(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"SET lock_timeout = {max(0, int(busy_timeout * 1000))}")
            finally:
                cursor.close()
            dbapi_connection.commit()  # keep the setting past the driver's implicit transaction

    return engine


def _not_writable(path: Path) -> bool:
    """True for an existing file that this user may not write, or that has no write permission bit at all.

    The second test makes `chmod 0400` mean read-only for root too, who may write any file.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not mode & 0o222 or not os.access(path, os.W_OK)


def _read_only_query(path: Path) -> str:
    """How to open a file we may not write: mode=ro; immutable when SQLite could not even make the WAL
    index (-shm) it needs to read (no -wal left, directory not writable): nobody can write it then."""
    side_files = Path(f"{path}-wal").exists() or Path(f"{path}-shm").exists()
    if not side_files and not os.access(path.absolute().parent, os.W_OK):
        return "?immutable=1"
    return "?mode=ro"


def _create_private(path: Path) -> None:
    """Create an empty database file 0600 before SQLite creates it with the umask's mode."""
    with suppress(OSError):  # it exists (another process made it), or SQLite will say why it cannot
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _tighten(path: Path, private: int) -> None:
    """Take group and other permissions off a file or directory of ours (never someone else's)."""
    with suppress(OSError, AttributeError):  # AttributeError: no geteuid (Windows)
        info = path.stat()
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & ~private & 0o077:
            path.chmod(stat.S_IMODE(info.st_mode) & private)


def _owner_writable(path: Path) -> None:
    """Give a side file of ours (-wal, -shm) back its owner's write bit once the database is writable again."""
    with suppress(OSError, AttributeError):
        info = path.stat()
        if info.st_uid == os.geteuid() and not info.st_mode & stat.S_IWUSR:
            path.chmod(stat.S_IMODE(info.st_mode) | stat.S_IWUSR)


class Database:
    """One database (console or issuer): engine, unit-of-work sessions, migrations."""

    def __init__(
        self,
        url: str,
        kind: Kind,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        create_dir: bool = False,
    ) -> None:
        self.url = url
        self.kind = kind
        self.engine = make_engine(url, busy_timeout=busy_timeout, create_dir=create_dir)
        self.where = describe(self.engine.url)
        """Where the database is, for messages: a file path or host:port/name (never the URL)."""
        self._sessions: sessionmaker[Session] | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error.

        On SQLite the outermost unit of work of a thread begins IMMEDIATE (takes the write lock at
        BEGIN): a deferred transaction that reads and then writes fails at once with "database is
        locked" when another writer committed meanwhile, and no busy timeout can help it. A unit of
        work opened inside another one in the same thread stays deferred, so it cannot wait on its own
        thread's lock.
        """
        if self._sessions is None:
            from sqlalchemy.orm import sessionmaker

            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
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

    def check(self) -> str | None:
        """Open the database and read its schema revision, writing nothing; return that revision.

        Raises the DatabaseError of a database this ectui cannot use: not a database, unreachable,
        made by a newer ectui (db.too_new), or read-only while it needs an upgrade.
        """
        with self.engine.connect() as connection:
            current = _revision(connection)
            read_only = bool(connection.connection.info.get(_READ_ONLY))
        if current is not None and current not in _revisions(self.kind):
            raise DatabaseError("db.too_new", where=self.where, revision=current)
        if read_only and current != head_revision(self.kind):
            raise DatabaseError("db.read_only_upgrade", where=self.where)
        return current

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to the newest migration (fast no-op when already there, so a read-only
        database at the head starts). A schema made by a newer ectui is refused with db.too_new."""
        current = self.check() if revision == "head" else self._current_revision()
        if revision == "head" and current == head_revision(self.kind):
            return
        try:
            self._upgrade(revision)
        except DatabaseError as err:
            if err.key == "db.read_only":
                raise DatabaseError("db.read_only_upgrade", where=self.where) from None
            raise

    def _upgrade(self, revision: str) -> None:
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
        with self.engine.connect() as connection:
            return _revision(connection)

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()


def _revision(connection: Connection) -> str | None:
    """The schema revision stored in the database; None for a new, empty one."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _revisions(kind: Kind) -> set[str]:
    """The revision ids this version of ectui knows ('<rev>_<slug>.py')."""
    return {p.name.split("_", 1)[0] for p in (MIGRATIONS / kind / "versions").glob("[0-9]*_*.py")}


def head_revision(kind: Kind) -> str:
    """The newest revision id, read from the file names ('<rev>_<slug>.py', newest sorts last)."""
    return max(_revisions(kind))
