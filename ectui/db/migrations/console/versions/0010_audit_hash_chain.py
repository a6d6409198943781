"""audit log: SHA-256 hash chain (tamper evidence)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 10:00:00

Adds `prev_hash` and `hash` to audit_log and hashes the entries already there, oldest first, with the
same canonical serialisation the service uses (a frozen copy below), then records the newest entry in
console_state ('audit_chain_head'). The append-only triggers of 0007 are dropped for the update and made
again afterwards (SQLite also loses them when batch mode rebuilds the table).

"""

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
CHAIN_HEAD = "audit_chain_head"
_BATCH = 1000

_SQLITE_GUARDS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
)
_PG_GUARDS = (
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log"
    " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
)

_audit = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("at", sa.DateTime()),
    sa.column("who", sa.String()),
    sa.column("role", sa.String()),
    sa.column("action", sa.String()),
    sa.column("target", sa.String()),
    sa.column("result", sa.String()),
    sa.column("detail", sa.Text()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_state = sa.table("console_state", sa.column("key", sa.String()), sa.column("value", sa.Text()))


def _entry_hash(prev_hash: str, at, who, role, action, target, result, detail) -> str:  # type: ignore[no-untyped-def]
    """Frozen copy of ectui.services.audit.entry_hash (chain version ectui-audit-v1)."""
    payload = json.dumps(
        [
            "ectui-audit-v1",
            prev_hash,
            at.isoformat(timespec="microseconds"),
            who,
            role,
            action,
            target,
            result,
            detail,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _drop_guards(dialect: str) -> None:
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")


def _create_guards(dialect: str) -> None:
    guards = _SQLITE_GUARDS if dialect == "sqlite" else _PG_GUARDS if dialect == "postgresql" else ()
    for statement in guards:
        op.execute(statement)


def _hash_existing_entries() -> None:
    """Chain the entries already written, oldest first, in batches (keyset pages: no cursor held open)."""
    bind = op.get_bind()
    update = (
        sa.update(_audit)
        .where(_audit.c.id == sa.bindparam("entry_id"))
        .values(prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash"))
    )
    prev, last_id = GENESIS, None
    while True:
        query = sa.select(
            _audit.c.id,
            _audit.c.at,
            _audit.c.who,
            _audit.c.role,
            _audit.c.action,
            _audit.c.target,
            _audit.c.result,
            _audit.c.detail,
        ).order_by(_audit.c.id)
        if last_id is not None:
            query = query.where(_audit.c.id > last_id)
        rows = bind.execute(query.limit(_BATCH)).all()
        if not rows:
            break
        changes = []
        for row in rows:
            digest = _entry_hash(
                prev, row.at, row.who, row.role, row.action, row.target, row.result, row.detail
            )
            changes.append({"entry_id": row.id, "new_prev": prev, "new_hash": digest})
            prev, last_id = digest, row.id
        bind.execute(update, changes)
    bind.execute(sa.delete(_state).where(_state.c.key == CHAIN_HEAD))
    if last_id is not None:
        bind.execute(sa.insert(_state).values(key=CHAIN_HEAD, value=f"{last_id}:{prev}"))


def upgrade() -> None:
    """Upgrade schema."""
    dialect = op.get_bind().dialect.name
    _drop_guards(dialect)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    _hash_existing_entries()
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_prev_hash"), ["prev_hash"])
    _create_guards(dialect)


def downgrade() -> None:
    """Downgrade schema."""
    dialect = op.get_bind().dialect.name
    _drop_guards(dialect)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_log_prev_hash"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
    op.get_bind().execute(sa.delete(_state).where(_state.c.key == CHAIN_HEAD))
    _create_guards(dialect)
