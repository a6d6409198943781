"""Read-only queries of the console database for the quick CLI reads (`vm list`, `image list`, completion).

SQLAlchemy Core with SQL text and typed result columns: no ORM, no mapped classes, no migrations. A
database whose schema is not at this ectui's newest revision is not read here (`open_current` returns
None); the caller then takes the full path, which migrates it. The rows come back as the JSON-ready
dicts the services give (`VmInfo.to_json()`, `ImageInfo.to_json()`); a test holds both to the same
output on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, Select, String, column, select, table, text
from sqlalchemy.engine import Connection

from ectui.db.errors import DatabaseError
from ectui.db.session import Database, Kind, head_revision

LAST_SEEN_KEY = "last_seen_at"
"""The console_state row of the license clock's high-water mark (the time last seen)."""
CLOCK_MARK_STEP = dt.timedelta(seconds=10)
"""The mark moves forward at most this often (as the license service moves it)."""


def open_current(url: str, kind: Kind, *, busy_timeout: float, create_dir: bool) -> Database | None:
    """The database, opened and checked without writing, when its schema is at the newest revision.

    None when it is new or older (it needs the migrations of the full start). Raises the DatabaseError
    of a database that cannot be used (unreachable, not a database, made by a newer ectui).
    """
    db = Database(url, kind, busy_timeout=busy_timeout, create_dir=create_dir)
    try:
        if db.check() == head_revision(kind):
            return db
    except BaseException:
        db.dispose()
        raise
    db.dispose()
    return None


def mark_clock(db: Database, now: dt.datetime) -> None:
    """Move the license clock's high-water mark forward, as every console start does (never back).

    A read-only database keeps its mark; a clock set back leaves the mark for the license check of the
    next full start to report.
    """
    with db.engine.connect() as connection:
        last = _last_seen(connection)
    if last is not None and now - last < CLOCK_MARK_STEP:
        return
    try:
        with db.engine.connect() as plain, plain.execution_options(sqlite_begin="IMMEDIATE").begin():
            connection = plain
            last = _last_seen(connection)
            if last is None:
                connection.execute(
                    text("INSERT INTO console_state (key, value) VALUES (:key, :value)"),
                    {"key": LAST_SEEN_KEY, "value": now.isoformat()},
                )
            elif now > last:
                connection.execute(
                    text("UPDATE console_state SET value = :value WHERE key = :key"),
                    {"key": LAST_SEEN_KEY, "value": now.isoformat()},
                )
    except DatabaseError as err:
        if err.key != "db.read_only":
            raise


def _last_seen(connection: Connection) -> dt.datetime | None:
    value = connection.execute(
        text("SELECT value FROM console_state WHERE key = :key"), {"key": LAST_SEEN_KEY}
    ).scalar()
    return dt.datetime.fromisoformat(value) if value else None


def current_project(db: Database, operator: str) -> int | None:
    """The id of the operator's current project, None when none is chosen or it no longer exists."""
    query = text("SELECT p.id FROM console_state s JOIN project p ON p.name = s.value WHERE s.key = :key")
    with db.engine.connect() as connection:
        found = connection.execute(query, {"key": f"current_project:{operator}"}).scalar()
    return int(found) if found is not None else None


_VM_QUERY = """
SELECT v.id, v.cloud_id, v.name, p.name AS project, c.name AS cluster, v.status, v.task_state, v.vcpus,
       v.ram_gb, v.disk_gb, v.node, v.network, v.fixed_ip, v.floating_ip, v.os_type, v.login, v.user_name,
       v.keypair_name, t.name AS template, v.locked_by_operation, o.kind AS operation_kind, v.nova_locked,
       i.name AS mounted_iso, v.mounted_iso_id, v.description, v.created_by, v.created_at
FROM vm v
LEFT JOIN project p ON p.id = v.project_id
LEFT JOIN cluster c ON c.id = v.cluster_id
LEFT JOIN template t ON t.id = v.template_id
LEFT JOIN iso_file i ON i.id = v.mounted_iso_id
LEFT JOIN operation o ON o.id = v.locked_by_operation
"""


def vms(db: Database, project_id: int | None) -> list[dict[str, Any]]:
    """VMs as `VmService.list` gives them (one project's, or all), by name then id, as JSON-ready dicts."""
    where = " WHERE v.project_id = :project" if project_id is not None else ""
    query = text(_VM_QUERY + where + " ORDER BY v.name, v.id").columns(
        nova_locked=Boolean, created_at=DateTime, locked_by_operation=Integer, mounted_iso_id=Integer
    )
    with db.engine.connect() as connection:
        rows = connection.execute(query, {"project": project_id}).mappings().all()
    return [_vm(r) for r in rows]


def _vm(r: Any) -> dict[str, Any]:
    operating = r["locked_by_operation"] is not None
    if operating:
        reason = f"operation #{r['locked_by_operation']} ({r['operation_kind'] or '?'})"
    else:
        reason = "nova" if r["nova_locked"] else ""
    created: dt.datetime = r["created_at"]
    return {
        "id": r["id"],
        "cloud_id": r["cloud_id"],
        "name": r["name"],
        "project": r["project"],
        "cluster": r["cluster"] if r["cluster"] is not None else "?",
        "status": "operating" if operating else r["status"],
        "task_state": r["task_state"],
        "vcpus": r["vcpus"],
        "ram_gb": r["ram_gb"],
        "disk_gb": r["disk_gb"],
        "node": r["node"],
        "network": r["network"],
        "fixed_ip": r["fixed_ip"],
        "floating_ip": r["floating_ip"],
        "os_type": r["os_type"],
        "login": r["login"],
        "user_name": r["user_name"],
        "keypair": r["keypair_name"],
        "template": r["template"],
        "locked": bool(operating or r["nova_locked"]),
        "lock_reason": reason,
        "mounted_iso": r["mounted_iso"] if r["mounted_iso_id"] else None,
        "description": r["description"],
        "created_by": r["created_by"],
        "created_at": created.isoformat(timespec="seconds"),
    }


def cluster_id(db: Database, name: str) -> int | None:
    """The id of a cluster by its name (surrounding blanks ignored), None when there is none."""
    with db.engine.connect() as connection:
        found = connection.execute(
            text("SELECT id FROM cluster WHERE name = :name"), {"name": name.strip()}
        ).scalar()
    return int(found) if found is not None else None


_IMAGE_QUERY = """
SELECT i.id, c.name AS cluster, i.cloud_id, i.name, i.disk_format, i.container_format, i.size, i.checksum,
       i.status, i.visibility, i.os_type, i.min_disk, i.min_ram, i.source, i.enabled, i.gone, i.uploaded_by,
       i.cloud_created_at AS created, i.synced_at
FROM image i JOIN cluster c ON c.id = i.cluster_id
"""


def images(db: Database, cluster: int | None) -> list[dict[str, Any]]:
    """Images as `ImageService.list` gives them (one cluster's, or all), by cluster then name, as dicts."""
    where = " WHERE c.id = :cluster" if cluster is not None else ""
    query = text(_IMAGE_QUERY + where + " ORDER BY c.name, i.name, i.id").columns(
        enabled=Boolean, gone=Boolean, synced_at=DateTime, created=String
    )
    with db.engine.connect() as connection:
        rows = connection.execute(query, {"cluster": cluster}).mappings().all()
    return [
        {**r, "synced_at": r["synced_at"].isoformat(timespec="seconds")}  # the order of to_json
        for r in rows
    ]


_NAMED = {  # kind: (table, id column or None, filter on a 'gone' flag)
    "cluster": ("cluster", None, False),
    "project": ("project", None, False),
    "vm": ("vm", None, False),
    "template": ("template", None, False),
    "iso": ("iso_file", None, False),
    "image": ("image", None, True),
    "image-id": ("image", "id", True),
    "iso-id": ("iso_file", "id", False),
    "template-id": ("template", "id", False),
}
NAME_KINDS = tuple(_NAMED)
"""The kinds of names `name_query` lists: names, or ids with their names."""


def name_query(kind: str, prefix: str, limit: int) -> Select[Any]:
    """The names of one kind (images gone from the cloud left out) starting with `prefix`, in order;
    for an '-id' kind, ids with their names (all of them: an id's prefix is matched by the caller)."""
    name_of, id_of, has_gone = _NAMED[kind]
    source = table(name_of, column("name", String), column("id", Integer), column("gone", Boolean))
    key = source.c.id if id_of else source.c.name
    query = select(source.c.id, source.c.name) if id_of else select(source.c.name)
    if has_gone:
        query = query.where(source.c.gone.is_(False))
    if prefix and not id_of:
        query = query.where(key.startswith(prefix, autoescape=True))
    return query.order_by(key).limit(limit)
