"""Database faults as domain errors: one line naming the problem and what to do, never the URL.

The engine of ectui.db.session turns driver exceptions into these (SQLAlchemy's handle_error event), so
every unit of work, migration and start-up check reports a read-only, locked, too new, foreign or
unreachable database the same way. Errors the services handle themselves (IntegrityError) pass through.
"""

from __future__ import annotations

import re
from typing import Any

from ectui.services.errors import ServiceError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


class DatabaseError(ServiceError):
    """The database cannot be used now (read-only, locked, too new, not a database, unreachable)."""

    exit_code = 1


class DatabaseUrlError(DatabaseError):
    """The configured database cannot be opened at all: unsupported URL, missing directory (bad usage)."""

    exit_code = 2


def url_scheme(url: str) -> str:
    """The scheme of a URL ('mysql+nonexistent'), safe to print; '?' when there is none."""
    match = _SCHEME.match(url.strip())
    return match.group(1) if match else "?"


def translate(
    error: BaseException,
    *,
    dialect: str,
    where: str,
    busy_timeout: float,
    connecting: bool,
    secrets: tuple[str, ...],
) -> DatabaseError | None:
    """The domain error of a driver exception, or None when the services handle it themselves."""
    if dialect == "sqlite":
        return _sqlite(error, where, busy_timeout)
    if dialect == "postgresql":
        return _postgresql(error, where, busy_timeout, connecting, secrets)
    return None


def _sqlite(error: BaseException, where: str, busy_timeout: float) -> DatabaseError | None:
    name = str(getattr(error, "sqlite_errorname", "") or "")
    text = str(error)
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return DatabaseError("db.read_only", where=where)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return DatabaseError("db.locked", where=where, seconds=f"{busy_timeout:g}")
    if name == "SQLITE_NOTADB" or name.startswith("SQLITE_CORRUPT") or "not a database" in text:
        return DatabaseError("db.not_a_database", where=where)
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_PERM")) or (
        "unable to open database" in text
    ):
        return DatabaseError("db.failed", where=where, reason=one_line(text, ()))
    return None


def _postgresql(
    error: BaseException, where: str, busy_timeout: float, connecting: bool, secrets: tuple[str, ...]
) -> DatabaseError | None:
    state: Any = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    text = str(error)
    if state == "25006":  # read_only_sql_transaction: a standby or default_transaction_read_only
        return DatabaseError("db.read_only", where=where)
    if state == "55P03":  # lock_not_available: lock_timeout ran out
        return DatabaseError("db.locked", where=where, seconds=f"{busy_timeout:g}")
    if not connecting or type(error).__name__ != "OperationalError":
        return None
    if state in ("28P01", "28000") or "authentication failed" in text:
        return DatabaseError("db.auth_failed", where=where)
    return DatabaseError("db.unreachable", where=where, reason=one_line(text, secrets))


def one_line(text: str, secrets: tuple[str, ...]) -> str:
    """The first line of a driver message, without any secret of the URL, at most 200 characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    return line[:200]
