"""SQLite store of the dev cloud: one table of JSON documents, keyed by kind and id."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Doc = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    name    TEXT,
    status  TEXT,
    project TEXT,
    data    TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS docs_kind_id ON docs (kind, id);
CREATE INDEX IF NOT EXISTS docs_kind_name ON docs (kind, name);
CREATE INDEX IF NOT EXISTS docs_kind_seq ON docs (kind, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    """Documents of every kind (image, server, flavor, port ...) in one SQLite file.

    Used only from the dev cloud's event-loop thread. Each document is a JSON object with
    an ``id``; ``name``, ``status`` and ``project_id`` are copied to indexed columns so that
    list filters and marker pagination stay fast with tens of thousands of rows.
    """

    def __init__(self, path: Path) -> None:
        """Open (and create) the SQLite file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    # -- documents -------------------------------------------------------------------------
    def put(self, kind: str, doc: Doc) -> Doc:
        """Insert or replace a document (keeps its list position when replacing)."""
        data = json.dumps(doc, separators=(",", ":"))
        project = doc.get("project_id", doc.get("owner"))
        cols = (doc.get("name"), doc.get("status"), project, data, kind, doc["id"])
        cur = self._db.execute(
            "UPDATE docs SET name=?, status=?, project=?, data=? WHERE kind=? AND id=?", cols
        )
        if cur.rowcount == 0:
            self._db.execute(
                "INSERT INTO docs (name, status, project, data, kind, id) VALUES (?,?,?,?,?,?)", cols
            )
        return doc

    def get(self, kind: str, doc_id: str) -> Doc | None:
        """One document, or None."""
        row = self._db.execute("SELECT data FROM docs WHERE kind=? AND id=?", (kind, str(doc_id))).fetchone()
        return json.loads(row[0]) if row else None

    def delete(self, kind: str, doc_id: str) -> bool:
        """Remove a document; True when it existed."""
        return self._db.execute("DELETE FROM docs WHERE kind=? AND id=?", (kind, str(doc_id))).rowcount > 0

    def all(self, kind: str) -> list[Doc]:
        """Every document of a kind, oldest first."""
        return [
            json.loads(r[0])
            for r in self._db.execute("SELECT data FROM docs WHERE kind=? ORDER BY seq", (kind,))
        ]

    def iter(self, kind: str) -> Iterator[Doc]:
        """Iterate documents of a kind, oldest first."""
        for (data,) in self._db.execute("SELECT data FROM docs WHERE kind=? ORDER BY seq", (kind,)):
            yield json.loads(data)

    def find(self, kind: str, **where: Any) -> list[Doc]:
        """Documents whose top-level fields equal the given values."""
        return [d for d in self.iter(kind) if all(d.get(k) == v for k, v in where.items())]

    def count(self, kind: str) -> int:
        """How many documents of a kind."""
        return int(self._db.execute("SELECT COUNT(*) FROM docs WHERE kind=?", (kind,)).fetchone()[0])

    def page(
        self,
        kind: str,
        *,
        limit: int,
        marker: str | None = None,
        newest_first: bool = True,
        name: str | None = None,
        status: str | None = None,
        projects: list[str] | None = None,
        extra_sql: str = "",
        extra_args: tuple[Any, ...] = (),
    ) -> tuple[list[Doc], bool] | None:
        """One page of a kind ordered by creation; None when the marker is unknown.

        Returns the documents and whether more remain after them.
        """
        sql = "SELECT data FROM docs WHERE kind=?"
        args: list[Any] = [kind]
        if marker is not None:
            row = self._db.execute("SELECT seq FROM docs WHERE kind=? AND id=?", (kind, marker)).fetchone()
            if row is None:
                return None
            sql += " AND seq < ?" if newest_first else " AND seq > ?"
            args.append(row[0])
        if name is not None:
            sql += " AND name=?"
            args.append(name)
        if status is not None:
            sql += " AND status=?"
            args.append(status)
        if projects is not None:
            sql += f" AND project IN ({','.join('?' * len(projects))})"
            args.extend(projects)
        if extra_sql:
            sql += " AND " + extra_sql
            args.extend(extra_args)
        sql += " ORDER BY seq " + ("DESC" if newest_first else "ASC") + " LIMIT ?"
        args.append(limit + 1)
        rows = self._db.execute(sql, args).fetchall()
        docs = [json.loads(r[0]) for r in rows[:limit]]
        return docs, len(rows) > limit

    # -- metadata --------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        """A small string setting (seed marker, counters)."""
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Store a small string setting."""
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def next_int(self, key: str) -> int:
        """A persistent counter (hypervisor ids, instance names)."""
        value = int(self.meta(key, "0") or 0) + 1
        self.set_meta(key, str(value))
        return value

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one SQLite transaction (bulk seeding)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
