"""Audit log: who changed what, when, on which target, with which result; append-only, CSV export.

Every public changing method of the console's services carries `@audited(action, target)`: the entry is
written after the method returns or raises, so it holds the real result (ok, or the refusal or error
text). A refusal by `LicensePolicy.ensure_writable()` (no license, read-only, an auditor) is recorded
like any other. There is no API that updates or deletes an entry, and the database refuses both too
(triggers of migration 0007).

Tamper evidence (migration 0010): each entry carries `hash`, the SHA-256 of the hash of the entry before
(`prev_hash`) and its own fields in a canonical serialisation (`entry_hash`), and the console keeps the id
and hash of the newest entry in `console_state` (CHAIN_HEAD). Whoever edits the database past the
triggers (drops them, then updates or deletes a row) breaks the chain, and `verify` names the first entry
where it breaks: a changed entry, a gap where one was removed, or missing entries at the end. Appends are
serialised (SQLite: the unit of work begins IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock),
and `prev_hash` is unique, so two processes cannot fork the chain. The chain is plain SHA-256, without a
secret: it shows edits made without recomputing it, not a rewrite by someone who recomputes every hash
after the edit.
"""

from __future__ import annotations

import asyncio
import contextvars
import csv
import datetime as dt
import functools
import hashlib
import inspect
import io
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import select, text

from ectui.db.models import AuditEntry, ConsoleState
from ectui.i18n import N_
from ectui.services.csvsafe import safe_writer
from ectui.services.errors import (
    LicenseError,
    ReadOnlyError,
    ServiceError,
    ValidationError,
    register_messages,
)
from ectui.services.identity import ROLES, AccessError, Identity, WhoActs, os_identity

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ectui.db.session import Database

__all__ = [
    "CSV_COLUMNS",
    "FEATURE",
    "READERS",
    "ROLES",
    "AccessError",
    "AuditChainError",
    "AuditFilter",
    "AuditRecord",
    "AuditService",
    "ChainVerdict",
    "Identity",
    "LicenseGate",
    "audited",
    "csv_text",
    "entry_hash",
    "note",
    "os_identity",
]

log = logging.getLogger("ectui.audit")

register_messages(
    {
        "audit.write_failed": N_("Cannot write the CSV file {path}: {reason}"),
        "audit.no_path": N_("Give the path of the CSV file to write."),
    }
)

FEATURE = "users.audit"
"""The licensed menu of the audit log (module 'users')."""
READERS = ("admin", "auditor")
"""Roles that may read the audit log and the account list."""
RESULTS = ("ok", "refused", "failed", "cancelled")
CSV_COLUMNS = ("id", "at", "who", "role", "action", "target", "result", "detail")
MAX_ROWS = 10_000
"""At most this many entries per list (newest first); narrow with a filter for older ones."""
GENESIS = "0" * 64
"""The `prev_hash` of the first entry."""
CHAIN_HEAD = "audit_chain_head"
"""The console_state key holding '<id>:<hash>' of the newest entry (notices entries deleted at the end)."""
_CHAIN_VERSION = "ectui-audit-v1"
_PG_LOCK = int.from_bytes(b"ectuiaud", "big")
"""The PostgreSQL advisory lock key that serialises appends."""
_VERIFY_BATCH = 2000
_NOBODY = Identity("", "none", "anonymous")
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""The canonical serialisation: compact JSON, non-ASCII kept as is (then UTF-8)."""


def entry_hash(
    prev_hash: str,
    at: dt.datetime,
    who: str,
    role: str,
    action: str,
    target: str,
    result: str,
    detail: str,
) -> str:
    """SHA-256 (hex) of an entry chained to the one before: a JSON array of fixed order, UTF-8, no spaces.

    Migration 0010 keeps a frozen copy of this function to hash the entries written before it.
    """
    payload = _CANONICAL.encode(
        [
            _CHAIN_VERSION,
            prev_hash,
            at.isoformat(timespec="microseconds"),
            who,
            role,
            action,
            target,
            result,
            detail,
        ]
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class AuditChainError(ServiceError):
    """The audit log's hash chain is broken: an entry was changed, removed or slipped in outside the console."""

    @property
    def entry_id(self) -> int:
        """The first entry where the chain breaks."""
        return int(self.params["id"])


@dataclass(frozen=True)
class ChainVerdict:
    """What verifying the hash chain found: how many entries were checked and where it breaks (if it does)."""

    entries: int
    error: AuditChainError | None = None

    @property
    def intact(self) -> bool:
        """No entry was changed, removed or slipped in."""
        return self.error is None

    @property
    def broken_at(self) -> int | None:
        """The id of the first entry where the chain breaks (None when intact)."""
        return self.error.entry_id if self.error is not None else None

    def to_json(self) -> dict[str, object]:
        """The `ectui audit verify --json` object."""
        return {
            "intact": self.intact,
            "entries": self.entries,
            "broken_at": self.broken_at,
            "problem": self.error.key if self.error is not None else None,
            "message": str(self.error) if self.error is not None else None,
        }


class LicenseGate(Protocol):
    """The license check reading the log asks for (ConsoleLicenseService.require)."""

    async def require(self, feature: str | None = None, *, write: bool = False) -> object: ...


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the audit log."""

    id: int
    at: dt.datetime
    who: str
    role: str
    action: str
    target: str
    result: str
    detail: str

    def to_json(self) -> dict[str, object]:
        """The `ectui audit list --json` object."""
        return {
            "id": self.id,
            "at": self.at.isoformat(timespec="seconds"),
            "who": self.who,
            "role": self.role,
            "action": self.action,
            "target": self.target,
            "result": self.result,
            "detail": self.detail,
        }

    def csv_row(self) -> list[str]:
        """The CSV columns of this entry (CSV_COLUMNS)."""
        return [str(v) for v in self.to_json().values()]


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to show: since a time, by one user, of one action (or action prefix: 'vm' → vm.*)."""

    since: dt.datetime | None = None
    who: str | None = None
    action: str | None = None

    @classmethod
    def parse(
        cls, *, since: str | None = None, who: str | None = None, action: str | None = None
    ) -> AuditFilter:
        """Validate raw values (since: 2030-06-01 or 2030-06-01T12:00, UTC); raises ValidationError naming the field."""
        since_text = (since or "").strip()
        when: dt.datetime | None = None
        if since_text:
            try:
                when = dt.datetime.fromisoformat(since_text)
            except ValueError:
                raise ValidationError(
                    "validation.date", field=N_("Since"), field_id="since", value=since_text
                ) from None
            if when.tzinfo is not None:
                when = when.astimezone(dt.UTC).replace(tzinfo=None)
        return cls(since=when, who=(who or "").strip() or None, action=(action or "").strip() or None)

    def matches(self, record: AuditRecord) -> bool:
        """The same test as the SQL query, for entries already loaded."""
        if self.since is not None and record.at < self.since:
            return False
        if self.who is not None and record.who != self.who:
            return False
        return (
            self.action is None or record.action == self.action or record.action.startswith(self.action + ".")
        )


class AuditService:
    """The audit log: `record` is the only write; `list`, `verify` and `export_csv` read it (admins and auditors).

    `identity` is who acts: `record_acting` (what `@audited` calls) records the identity it holds now.
    `license` gates reading (the licensed users.audit menu); a log built without one writes and checks its
    chain at start, and refuses to be read.
    """

    def __init__(
        self,
        db: Database,
        identity: WhoActs | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        license: LicenseGate | None = None,
    ) -> None:
        self._db = db
        self._who = identity
        self._license = license
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))

    # -- writing (append only)

    def record_sync(
        self, identity: Identity, action: str, target: str, result: str, detail: str = ""
    ) -> None:
        """Append one entry, chained to the newest (blocking; callers on the loop use `record`).

        The entry chains to the hash kept in CHAIN_HEAD rather than to the last row found: when entries
        at the end were deleted, or the head record was, the new entry does not follow the last row, so
        the gap stays visible instead of being papered over.
        """
        at = self._clock()
        if at.tzinfo is not None:
            at = at.astimezone(dt.UTC).replace(tzinfo=None)
        who, role, action, target = identity.user[:200], identity.role[:16], action[:64], target[:255]
        result, detail = result[:16], detail[:2000]
        fields: dict[str, object] = dict(
            at=at, who=who, role=role, action=action, target=target, result=result, detail=detail
        )
        with self._db.locked_session() as session:
            _lock_chain(session)
            head = session.get(ConsoleState, CHAIN_HEAD)
            # a first entry, or a head record that was deleted (then the chain shows a gap here): GENESIS
            prev = _parse_head(head.value)[1] if head is not None else GENESIS
            digest = entry_hash(prev, at, who, role, action, target, result, detail)
            entry = AuditEntry(**fields, prev_hash=prev, hash=digest)
            session.add(entry)
            session.flush()
            value = f"{entry.id}:{entry.hash}"
            if head is None:
                session.add(ConsoleState(key=CHAIN_HEAD, value=value))
            else:
                head.value = value

    async def record(
        self, identity: Identity, action: str, target: str, result: str, detail: str = ""
    ) -> None:
        """Append one entry; a failure to write is logged, never raised over the change it records."""
        try:
            await asyncio.to_thread(self.record_sync, identity, action, target, result, detail)
        except Exception as err:  # the change happened; losing its entry must not hide that
            log.error("audit entry for %s on %s not written: %s", action, target, type(err).__name__)

    async def record_acting(self, action: str, target: str, result: str, detail: str = "") -> None:
        """Append one entry for the identity acting now; never raises (see `record`)."""
        await self.record(self.acting(), action, target, result, detail)

    def acting(self) -> Identity:
        """Who acts now; nobody (role 'none') for a log built without an identity."""
        return self._who.current() if self._who is not None else _NOBODY

    # -- reading

    async def list_all(
        self, audit_filter: AuditFilter | None = None, *, limit: int = MAX_ROWS
    ) -> list[AuditRecord]:
        """Entries matching the filter, newest first (admins and auditors; the licensed users.audit menu)."""
        await self._require_reader()
        return await asyncio.to_thread(self._list, audit_filter or AuditFilter(), limit)

    def _list(self, f: AuditFilter, limit: int) -> list[AuditRecord]:
        query = select(AuditEntry)
        if f.since is not None:
            query = query.where(AuditEntry.at >= f.since)
        if f.who is not None:
            query = query.where(AuditEntry.who == f.who)
        if f.action is not None:
            query = query.where(
                (AuditEntry.action == f.action) | AuditEntry.action.startswith(f.action + ".")
            )
        query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        with self._db.session() as session:
            return [
                AuditRecord(r.id, r.at, r.who, r.role, r.action, r.target, r.result, r.detail)
                for r in session.scalars(query)
            ]

    # -- tamper evidence

    async def verify(self) -> ChainVerdict:
        """Check the whole hash chain (admins and auditors; the licensed users.audit menu)."""
        await self._require_reader()
        return await asyncio.to_thread(self.verify_sync)

    async def check_at_start(self) -> ChainVerdict:
        """Check the chain without asking who reads (the console's start-up check; the verdict is a warning)."""
        return await asyncio.to_thread(self.verify_sync)

    def verify_sync(self) -> ChainVerdict:
        """Walk the entries oldest first, recomputing each hash; stop at the first break (blocking).

        Reads plain Core rows in batches (ORM loading would triple the time): about 10 µs an entry.
        """
        with self._db.session() as session:
            head_row = session.get(ConsoleState, CHAIN_HEAD)
            head_id, head_hash = _parse_head(head_row.value) if head_row is not None else (None, None)
            c = AuditEntry.__table__.c
            query = select(
                c.id, c.at, c.who, c.role, c.action, c.target, c.result, c.detail, c.prev_hash, c.hash
            )
            result = session.execute(query.order_by(c.id).execution_options(yield_per=_VERIFY_BATCH))
            prev, prev_id, count, head_hash_seen = GENESIS, 0, 0, None
            for batch in result.partitions():
                for ident, at, who, role, action, target, outcome, detail, prev_hash, digest in batch:
                    count += 1
                    if prev_hash != prev:
                        if prev_id == 0:
                            return ChainVerdict(count, AuditChainError("audit.chain_start", id=ident))
                        return ChainVerdict(
                            count, AuditChainError("audit.chain_gap", id=ident, after=prev_id)
                        )
                    if entry_hash(prev_hash, at, who, role, action, target, outcome, detail) != digest:
                        return ChainVerdict(count, AuditChainError("audit.chain_changed", id=ident))
                    if ident == head_id:
                        head_hash_seen = digest
                    prev, prev_id = digest, ident
        if head_id is None:
            if count:
                return ChainVerdict(count, AuditChainError("audit.chain_head_missing", id=prev_id))
            return ChainVerdict(0)
        if head_hash_seen is None:
            return ChainVerdict(
                count, AuditChainError("audit.chain_truncated", id=head_id, last=prev_id or "-")
            )
        if head_hash_seen != head_hash:
            return ChainVerdict(count, AuditChainError("audit.chain_changed", id=head_id))
        return ChainVerdict(count)

    async def export_csv(self, path: str | Path, audit_filter: AuditFilter | None = None) -> Path:
        """Write the matching entries (oldest first) as CSV with a header row; returns the path written."""
        text = str(path or "").strip()
        if not text:
            raise ValidationError("audit.no_path", field=N_("CSV file"), field_id="path")
        records = await self.list_all(audit_filter)
        return await asyncio.to_thread(_write_text, Path(text), csv_text(list(reversed(records))))

    async def _require_reader(self) -> None:
        if self._license is None:
            raise LicenseError("license.none")
        await self._license.require(FEATURE)
        who = self.acting()
        if who.role not in READERS:
            if who.role not in ROLES:
                raise AccessError("access.login_required")
            raise AccessError(
                "access.role_denied", user=who.user, role=who.role, field=N_("read the audit log")
            )


def csv_text(records: list[AuditRecord]) -> str:
    """Entries as CSV text (header CSV_COLUMNS)."""
    out = io.StringIO()
    writer = safe_writer(csv.writer(out, lineterminator="\n"))
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow(record.csv_row())
    return out.getvalue()


def _lock_chain(session: Session) -> None:
    """Serialise appends: SQLite's unit of work already holds the write lock (BEGIN IMMEDIATE); PostgreSQL
    takes a transaction-scoped advisory lock (also when the log is empty, where no row could be locked);
    other databases lock the newest entry (SELECT ... FOR UPDATE)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    elif dialect != "sqlite":
        session.execute(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1).with_for_update())


def _parse_head(value: str) -> tuple[int, str]:
    """'<id>:<hash>' of CHAIN_HEAD; a damaged value points nowhere (id 0), so verification reports it."""
    ident, _sep, digest = value.partition(":")
    try:
        return int(ident), digest
    except ValueError:
        return 0, digest


def _write_text(path: Path, text: str) -> Path:
    path = path.expanduser()
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ServiceError("audit.write_failed", path=str(path), reason=err.strerror or str(err)) from None
    return path


# ------------------------------------------------------------------ the decorator

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
Target = str | Callable[[Mapping[str, Any]], object]
"""A parameter path ('draft.name', 'vm_id') or a function of the bound arguments (without self)."""

_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("ectui_audit_inside", default=False)
"""True inside an audited call: a change made by another audited change is part of it, not a new entry."""
_NOTES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("ectui_audit_notes", default=None)
"""The detail lines the audited call in progress noted (its threads share the list)."""


def note(detail: str) -> None:
    """Add a line to the detail of the audited call in progress ('readonly: off → on'); no-op outside one.

    Works from the call's worker threads too (asyncio.to_thread copies the context, and the list is shared).
    """
    notes = _NOTES.get()
    if notes is not None:
        notes.append(detail)


REFUSALS = (ReadOnlyError, LicenseError, ValidationError)
"""Errors recorded as 'refused' (the console said no); other errors are 'failed'."""


def audited(action: str, target: Target = "") -> Callable[[F], F]:
    """Record each call of an async service method in the audit log, with its result.

    The service holds its log in `self._audit` (the `audit=` argument of its constructor); the log records
    who acts itself. Without one (a service built alone) nothing is recorded.
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            sink: AuditService | None = self._audit
            if sink is None or _INSIDE.get():
                return await fn(self, *args, **kwargs)
            token = _INSIDE.set(True)
            notes: list[str] = []
            notes_token = _NOTES.set(notes)
            what = _describe(signature, target, self, args, kwargs)
            try:
                value = await fn(self, *args, **kwargs)
            except REFUSALS as err:
                await sink.record_acting(action, what, "refused", str(err))
                raise
            except ServiceError as err:
                await sink.record_acting(action, what, "failed", str(err))
                raise
            except asyncio.CancelledError:
                await asyncio.shield(sink.record_acting(action, what, "cancelled"))
                raise
            except Exception as err:  # unexpected: the kind only (its text may carry anything)
                await sink.record_acting(action, what, "failed", type(err).__name__)
                raise
            finally:
                _NOTES.reset(notes_token)
                _INSIDE.reset(token)
            await sink.record_acting(action, what, "ok", "; ".join(notes))
            return value

        return wrapper  # type: ignore[return-value]

    return decorate


def _describe(signature: inspect.Signature, target: Target, owner: Any, args: Any, kwargs: Any) -> str:
    try:
        bound = signature.bind_partial(owner, *args, **kwargs).arguments
        values = {k: v for k, v in list(bound.items())[1:]}
        if callable(target):
            return str(target(values))
        if not target:
            return ""
        head, *attrs = target.split(".")
        value: Any = values.get(head, "")
        for attr in attrs:
            value = getattr(value, attr, "")
        return str(value)
    except Exception:  # a target that cannot be described must not stop the change
        return ""
