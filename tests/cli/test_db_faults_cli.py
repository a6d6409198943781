"""Database faults through the real entry point (`python -m ectui …`): one line on stderr, a clear exit status.

Covered for commands and for the console TUI at start (no command: the database is checked before the
full screen starts). Read-only is `chmod 0400`, which the data layer honours for root too (see
tests/services/test_db_faults.py).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ectui.services import build_console_services
from tests.kit import CONSOLE_NOW, Clock, home_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-pw"


def ectui(home: Path, *args: object, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m ectui ARGS` with ECTUI_HOME=home, in English, plus `env`."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ECTUI_", "OS_")) and k not in ("LANG", "LC_ALL", "LANGUAGE")
    }
    environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en", "PYTHONIOENCODING": "utf-8", **env})
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "ectui", *map(str, args)],
        cwd=ROOT, env=environ, capture_output=True, text=True, encoding="utf-8", timeout=120, check=False,
    )  # fmt: skip


def one_line_error(proc: subprocess.CompletedProcess[str], status: int) -> str:
    """The exit status is `status` and stderr is one 'ectui: ' line, no traceback; returns that line."""
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ectui: "), proc.stderr
    assert "unexpected error" not in lines[0] and "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
async def home(tmp_path: Path) -> Path:
    """A console home whose database exists at the newest schema (started once in-process)."""
    services = build_console_services(home_settings(tmp_path / "home"), clock=Clock(CONSOLE_NOW))
    await services.start()
    services.close()
    return tmp_path / "home"


def console_db(home: Path) -> Path:
    return home / "data" / "console.db"


def sql(path: Path, statement: str) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_read_only_database_reads_and_refuses_writes_in_one_line(home: Path) -> None:
    db_file = console_db(home)
    sql(db_file, "UPDATE console_state SET value = '2020-01-01T00:00:00' WHERE key = 'last_seen_at'")
    db_file.chmod(0o400)  # the start now wants to move the clock mark: it must not need to
    for args in (["cluster", "list"], ["license", "show", "--json"]):
        listed = ectui(home, *args)
        assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    line = one_line_error(ectui(home, "settings", "readonly", "on"), 1)
    assert "read-only" in line and str(db_file) in line and "chmod" in line
    assert stat.S_IMODE(db_file.stat().st_mode) == 0o400


def test_locked_database_is_one_line_after_the_wait(home: Path) -> None:
    holder = sqlite3.connect(console_db(home), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for the whole run
    try:
        began = time.monotonic()
        line = one_line_error(ectui(home, "license", "show", ECTUI_DB_BUSY_TIMEOUT="0.3"), 1)
        assert time.monotonic() - began < 10  # the wait is 0.3 s; the rest is Python starting
    finally:
        holder.rollback()
        holder.close()
    assert "locked by another writer" in line and "0.3 s" in line and "ECTUI_DB_BUSY_TIMEOUT" in line


@pytest.mark.parametrize("args", [["license", "show"], []], ids=["command", "tui"])
def test_schema_newer_than_this_version(home: Path, args: list[str]) -> None:
    sql(console_db(home), "UPDATE alembic_version SET version_num = '9999_future'")
    line = one_line_error(ectui(home, *args), 1)
    assert "9999_future" in line and "newer ectui" in line


@pytest.mark.parametrize("args", [["vm", "list"], []], ids=["command", "tui"])
def test_a_file_that_is_not_a_database(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "data").mkdir()
    console_db(tmp_path).write_bytes(os.urandom(8192))
    proc = ectui(tmp_path, *args)
    line = one_line_error(proc, 1)
    assert proc.stdout == ""  # the full screen never started
    assert str(console_db(tmp_path)) in line and "not a database" in line


@pytest.mark.parametrize("args", [["vm", "list"], ["license", "show"], []], ids=["vm", "license", "tui"])
def test_unreachable_postgresql_without_the_url(tmp_path: Path, args: list[str]) -> None:
    url = f"postgresql://ectui:{SECRET}@127.0.0.1:{closed_port()}/ectui"
    proc = ectui(tmp_path, *args, ECTUI_DB_URL=url)
    line = one_line_error(proc, 1)
    assert "cannot be reached" in line and "127.0.0.1" in line
    assert SECRET not in proc.stderr + proc.stdout and "postgresql://" not in proc.stderr
    assert SECRET not in (tmp_path / "logs" / "ectui.log").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("variable", "url", "args"),
    [
        ("ECTUI_DB_URL", f"mysql+nonexistent://u:{SECRET}@db/x", ["license", "show"]),
        ("ECTUI_DB_URL", f"ftp://u:{SECRET}@host/x", ["cluster", "list"]),
        ("ECTUI_DB_URL", f"ftp://u:{SECRET}@host/x", []),
        ("ECTUI_ISSUER_DB_URL", f"ftp://u:{SECRET}@host/x", ["issuer", "edition", "list"]),
    ],
    ids=["mysql", "ftp", "tui", "issuer"],
)
def test_unsupported_url_scheme(tmp_path: Path, variable: str, url: str, args: list[str]) -> None:
    proc = ectui(tmp_path, *args, **{variable: url})
    line = one_line_error(proc, 2)
    assert url.split("://")[0] + "://" in line and "not supported" in line
    assert SECRET not in proc.stderr


def test_a_given_sqlite_path_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    line = one_line_error(
        ectui(tmp_path, "--db-url", f"sqlite:///{missing / 'console.db'}", "license", "show"), 2
    )
    assert str(missing) in line and "does not exist" in line
    assert not missing.exists()


def test_the_default_database_is_made_private(tmp_path: Path) -> None:
    proc = ectui(tmp_path / "fresh", "license", "show")
    assert proc.returncode == 0, proc.stderr
    data = tmp_path / "fresh" / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "console.db").stat().st_mode) == 0o600
