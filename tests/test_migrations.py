"""Migrations build exactly the schema the models describe, and run again as a no-op."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ectui.db.models import ConsoleBase, IssuerBase
from ectui.db.session import Database


@pytest.mark.parametrize(("kind", "base"), [("console", ConsoleBase), ("issuer", IssuerBase)])
def test_migrations_match_the_models(db_url: str, kind: str, base: type) -> None:
    db = Database(db_url, kind)  # type: ignore[arg-type]
    db.migrate()
    db.migrate()  # the second start finds the head and does nothing
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), base.metadata)
    db.dispose()
    assert diff == []


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'y.db'}", "console")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()
