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


def test_upgrading_keeps_the_rows_of_altered_tables_and_their_children(db_url: str) -> None:
    from sqlalchemy import text

    db = Database(db_url, "console")
    db.migrate("0004")  # before 0005 altered the cluster table
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO cluster (id, name, auth_url, username, project_name, user_domain, project_domain,"
                " region, cacert, insecure, storage_mode, created_at, updated_at)"
                " VALUES (1, 'c', 'http://x', 'u', 'p', 'Default', 'Default', '', '', false, 'local',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO cluster_ftp (cluster_id, host, port, username, password, iso_dir)"
                " VALUES (1, 'h', 21, 'u', :pw, '/')"
            ),
            {"pw": b"sealed"},
        )
        connection.execute(
            text(
                "INSERT INTO compute_node (cluster_id, name, hypervisor_id, zone, state, status, vcpus, vcpus_used,"
                " memory_mb, memory_mb_used, running_vms, present, synced_at)"
                " VALUES (1, 'n1', '1', 'nova', 'up', 'enabled', 4, 0, 1024, 0, 0, true, CURRENT_TIMESTAMP)"
            )
        )
    db.migrate()
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM cluster_ftp")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM compute_node")).scalar() == 1
        assert connection.execute(text("SELECT production FROM cluster")).scalar() in (False, 0)
    db.dispose()
