"""Tampering with the audit log behind the services' back."""

from __future__ import annotations

from sqlalchemy import text

from ectui.db.session import Database


def drop_guards(db: Database) -> None:
    """What someone editing the database by hand does first: drop the append-only triggers of 0007."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
        else:
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")


def raw(db: Database, statement: str, **params: object) -> None:
    """Run SQL outside the services (the tampering)."""
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


def entry_ids(db: Database) -> list[int]:
    """The ids of the audit entries, oldest first."""
    with db.engine.connect() as connection:
        return list(connection.execute(text("SELECT id FROM audit_log ORDER BY id")).scalars())
