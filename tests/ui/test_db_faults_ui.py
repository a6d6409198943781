"""The console TUI at start: a database fault found while starting shows as one clear line, not a crash."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import Static
from uikit import settings_for, settle

from ectui.app import ConsoleApp
from ectui.services import build_console_services


async def test_a_database_locked_at_start_shows_one_line(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "console").with_changes(db_busy_timeout=0.2)
    services = build_console_services(settings)
    await services.start()  # the database exists; now another writer holds its lock
    holder = sqlite3.connect(settings.data_dir / "console.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(100, 30)) as pilot:
            message = app.query_one("#startup-message", Static)
            await settle(pilot, lambda: "cannot start" in str(message.content))
            text = str(message.content)
            assert "is locked by another writer (waited 0.2 s)" in text
            assert "OperationalError" not in text and not app.started
    finally:
        holder.rollback()
        holder.close()
        services.close()
