"""Operator accounts: roles, Argon2 passwords, login with lock-out, CLI sessions, who acts now.

Accounts are in use when the license has the users module (menu `users.accounts`) and at least one account
exists. Until then the identity is the OS operator with full rights, as without the module, and that
operator may create the first account, which must be an admin. From then on a login is needed: the TUI
asks at start, the CLI reads the session token file written by `ectui login` (0600, config dir; the
database keeps only its SHA-256). Roles: admin (everything, and accounts), operator (every change but
accounts), auditor (reads everything, changes nothing; refused in LicensePolicy.ensure_writable).

Lock-out: LOCK_FAILURES failed logins, each within LOCK_WINDOW of the one before, lock the account for
LOCK_WINDOW (or until an admin unlocks it). Passwords are never stored, logged or audited.

A refused login does not tell whether the account exists: an unknown name, a locked account and a wrong
password get the same reply (users.login_refused), and each costs one Argon2 verification (a dummy hash
for an unknown name, the account's own hash while it is locked), so the answer's time does not tell
either. The audit log keeps the real reason for admins and auditors.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select

from ectui.db.models import ConsoleUser, UserSession
from ectui.i18n import N_
from ectui.services.audit import AuditService, audited
from ectui.services.errors import ServiceError, ValidationError, register_messages
from ectui.services.identity import ACCOUNTS_FEATURE, ROLES, AccessError, Identity, WhoActs, token_hash
from ectui.services.secrets import write_private
from ectui.services.validation import required_text

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.license import ConsoleLicenseService

register_messages(
    {
        "users.bad_name": N_(
            "{field} '{value}' is not valid: use letters, digits, '.', '_' or '-' (at most 64), starting with a letter."
        ),
        "users.password_short": N_("{field} must be at least {min} characters long."),
        "users.password_mismatch": N_("{field} does not match the password."),
        "users.password_is_name": N_("{field} must not be the account name."),
        "users.exists": N_("An account named '{name}' already exists; choose another name."),
        "users.not_found": N_("No account named '{name}'. List them with: ectui user list"),
        "users.first_admin": N_(
            "The first account must be an admin (role admin), so that someone can manage the others."
        ),
        "users.last_admin": N_("'{name}' is the last enabled admin; make another admin first."),
        "users.not_self": N_("You cannot {field} your own account ({name}); ask another admin."),
        "users.bad_login": N_("Unknown user or wrong password."),
        "users.locked": N_(
            "Account '{name}' is locked after {failures} failed logins; try again in {minutes} min "
            "(at {until} UTC), or ask an admin to unlock it."
        ),
        "users.disabled": N_("Account '{name}' is disabled; ask an admin."),
        "users.no_accounts": N_(
            "No accounts exist yet: create the first admin with: ectui user add --name N --role admin --password-stdin"
        ),
        "users.session_write": N_("Cannot write the session file {path}: {reason}"),
    }
)

FEATURE = ACCOUNTS_FEATURE
"""The licensed menu of operator accounts (module 'users')."""
LOCK_FAILURES = 5
LOCK_WINDOW = dt.timedelta(minutes=15)
SESSION_TTL = dt.timedelta(hours=12)
"""A CLI session lasts this long; `ectui login` again after."""
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
_DUMMY_HASH_SOURCE = "ectui-no-such-user"


class UserError(ServiceError):
    """A refused account operation or login."""


@dataclass(frozen=True)
class UserInfo:
    """An account as lists show it (never its password hash)."""

    name: str
    role: str
    enabled: bool
    failed_logins: int
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime

    def locked(self, now: dt.datetime) -> bool:
        """Locked out at `now`."""
        return self.locked_until is not None and self.locked_until > now

    def to_json(self, now: dt.datetime | None = None) -> dict[str, object]:
        """The `ectui user list --json` object."""

        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat(timespec="seconds") if value else None

        return {
            "name": self.name,
            "role": self.role,
            "enabled": self.enabled,
            "locked": self.locked(now) if now else self.locked_until is not None,
            "locked_until": iso(self.locked_until),
            "failed_logins": self.failed_logins,
            "last_login_at": iso(self.last_login_at),
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class UserDraft:
    """A new account: name, role, password (validated; the password is hashed, never kept)."""

    name: str
    role: str
    password: str

    def __repr__(self) -> str:  # never show the password
        return f"UserDraft(name={self.name!r}, role={self.role!r})"

    @classmethod
    def parse(
        cls, *, name: str | None, role: str | None, password: str | None, confirm: str | None = None
    ) -> UserDraft:
        """Validate raw values; raises ValidationError naming the field."""
        account = parse_name(name)
        return cls(account, parse_role(role), parse_password(password, confirm, name=account))


def parse_name(value: str | None) -> str:
    """An account name: a letter, then letters, digits, '.', '_' or '-'."""
    name = required_text(value, N_("User name"), field_id="name", max_len=64)
    if not _NAME.match(name):
        raise ValidationError("users.bad_name", field=N_("User name"), field_id="name", value=name)
    return name


def parse_role(value: str | None) -> str:
    """One of ROLES."""
    role = required_text(value, N_("Role"), field_id="role", max_len=16).lower()
    if role not in ROLES:
        raise ValidationError(
            "validation.choice", field=N_("Role"), field_id="role", choices=", ".join(ROLES), value=role
        )
    return role


def parse_password(value: str | None, confirm: str | None = None, *, name: str = "") -> str:
    """A password of at least MIN_PASSWORD characters, not the account name; `confirm` must match when given."""
    password = value or ""
    if not password:
        raise ValidationError("validation.required", field=N_("Password"), field_id="password")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            "users.password_short", field=N_("Password"), field_id="password", min=MIN_PASSWORD
        )
    if name and password.lower() == name.lower():
        raise ValidationError("users.password_is_name", field=N_("Password"), field_id="password")
    if confirm is not None and confirm != password:
        raise ValidationError("users.password_mismatch", field=N_("Confirm password"), field_id="confirm")
    return password


@dataclass(frozen=True)
class _Outcome:
    """What one login attempt decided (written before any error is raised)."""

    identity: Identity | None = None
    error: UserError | None = None
    """The real reason, for the audit log (a lock-out names the account and how long)."""
    reply: UserError | None = None
    """What the person at the login is told, when it must say less than `error` (None: `error`)."""


class UserService:
    """Accounts, login, lock-out and the identity every other service acts as."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        license_service: ConsoleLicenseService,
        *,
        identity: WhoActs,
        audit: AuditService | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._license = license_service
        self._who = identity
        """Who acts: told who logged in to the TUI; the license service resolves it at each status."""
        self._audit = audit
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    def now(self) -> dt.datetime:
        """The service clock (naive UTC): what lock-outs and sessions are measured against."""
        return self._clock()

    @property
    def session_file(self) -> Path:
        """The CLI session token file (0600, in the config dir)."""
        return self._who.session_file

    # -- identity

    def current_identity(self) -> Identity:
        """Who acts now (as of the last license status)."""
        return self._license.current_identity()

    async def refresh_identity(self) -> Identity:
        """Resolve the identity again (after a login, a logout, or accounts added elsewhere)."""
        await self._license.status()
        return self.current_identity()

    async def enabled(self) -> bool:
        """Whether the license has operator accounts (users.accounts)."""
        await self._license.status()
        return self._license.policy().feature_enabled(FEATURE)

    async def login_required(self) -> bool:
        """Accounts are in use and nobody is logged in (the TUI shows its login screen)."""
        return (await self.refresh_identity()).source == "anonymous"

    # -- login

    async def login(self, name: str, password: str) -> Identity:
        """Log in to this console process (the TUI); raises UserError on a wrong password or a lock-out."""
        identity = await self._authenticate(name, password)
        self._who.log_in(identity.user)
        return await self.refresh_identity()

    async def login_cli(self, name: str, password: str) -> Identity:
        """Log in and write the session token file for later commands (0600; only its hash is stored)."""
        identity = await self._authenticate(name, password)
        token = secrets.token_urlsafe(32)
        await asyncio.to_thread(self._store_session, identity.user, token)
        return await self.refresh_identity()

    async def logout(self) -> str | None:
        """End the session: the TUI login, and the CLI session file with its database row; returns who it was."""
        who = self.current_identity()
        self._who.log_in(None)
        await asyncio.to_thread(self._drop_session)
        await self.refresh_identity()
        if who.source in ("login", "session"):
            await self._record(who, "user.logout", who.user, "ok")
            return who.user
        return None

    async def _authenticate(self, name: str, password: str) -> Identity:
        await self._license.require(FEATURE)
        account = (name or "").strip()
        if not account:
            raise ValidationError("validation.required", field=N_("User name"), field_id="name")
        if not password:
            raise ValidationError("validation.required", field=N_("Password"), field_id="password")
        outcome = await asyncio.to_thread(self._check_password, account, password)
        who = outcome.identity or Identity(account[:64], "", "login")
        if outcome.error is not None:
            await self._record(who, "user.login", account[:64], "refused", str(outcome.error))
            raise outcome.reply or outcome.error
        await self._record(who, "user.login", account, "ok")
        return who

    async def _record(self, who: Identity, action: str, target: str, result: str, detail: str = "") -> None:
        """A login or logout in the audit log, as the identity it concerns (not the one acting before)."""
        if self._audit is not None:
            await self._audit.record(who, action, target, result, detail)

    def _check_password(self, name: str, password: str) -> _Outcome:
        dummy = self._dummy()  # made before any branch: the first login of any kind pays for it alike
        now = self._clock()
        with self._db.session() as session:
            if not session.scalar(select(func.count()).select_from(ConsoleUser)):
                return _Outcome(error=UserError("users.no_accounts"))
            row = session.scalars(select(ConsoleUser).where(ConsoleUser.name == name)).first()
            if row is None:
                self._verify(dummy, password)  # same cost as a real check: names cannot be probed by timing
                return _Outcome(error=UserError("users.bad_login"), reply=_refused())
            if row.locked_until is not None and row.locked_until > now:
                self._verify(row.password_hash, password)  # same cost; even the right password is refused
                return _Outcome(error=self._locked_error(row, now), reply=_refused())
            if not self._verify(row.password_hash, password):
                if row.last_failed_at is None or now - row.last_failed_at > LOCK_WINDOW:
                    row.failed_logins = 0
                row.failed_logins += 1
                row.last_failed_at = now
                if row.failed_logins >= LOCK_FAILURES:
                    row.locked_until = now + LOCK_WINDOW
                    return _Outcome(error=self._locked_error(row, now), reply=_refused())
                return _Outcome(error=UserError("users.bad_login"), reply=_refused())
            if not row.enabled:
                return _Outcome(error=UserError("users.disabled", name=row.name))
            row.failed_logins, row.last_failed_at, row.locked_until, row.last_login_at = 0, None, None, now
            if self._hasher.check_needs_rehash(row.password_hash):
                row.password_hash = self._hasher.hash(password)
            return _Outcome(identity=Identity(row.name, row.role, "login"))

    @staticmethod
    def _locked_error(row: ConsoleUser, now: dt.datetime) -> UserError:
        until = row.locked_until or now
        minutes = max(1, math.ceil((until - now).total_seconds() / 60))
        return UserError(
            "users.locked",
            name=row.name,
            failures=LOCK_FAILURES,
            minutes=minutes,
            until=until.strftime("%H:%M"),
        )

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(hashed, password))
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(_DUMMY_HASH_SOURCE)
        return self._dummy_hash

    def _store_session(self, name: str, token: str) -> None:
        now = self._clock()
        self._settings.ensure_dirs()
        with self._db.session() as session:
            row = session.scalars(select(ConsoleUser).where(ConsoleUser.name == name)).one()
            session.execute(delete(UserSession).where(UserSession.expires_at <= now))
            session.add(
                UserSession(
                    user_id=row.id,
                    token_hash=token_hash(token),
                    created_at=now,
                    expires_at=now + SESSION_TTL,
                )
            )
            _write_private(self.session_file, token + "\n")

    def _drop_session(self) -> None:
        token = self._who.read_token()
        if token:
            with self._db.session() as session:
                session.execute(delete(UserSession).where(UserSession.token_hash == token_hash(token)))
        with contextlib.suppress(FileNotFoundError):
            self.session_file.unlink()

    # -- accounts

    async def list_all(self) -> list[UserInfo]:
        """All accounts (admins and auditors; the OS operator while none exist)."""
        await self._license.require(FEATURE)
        who = self.current_identity()
        if who.role not in ("admin", "auditor"):
            self._deny(who, N_("list accounts"))
        return await asyncio.to_thread(self._list)

    def _list(self) -> list[UserInfo]:
        with self._db.session() as session:
            return [_info(r) for r in session.scalars(select(ConsoleUser).order_by(ConsoleUser.name))]

    @audited("user.add", "draft.name")
    async def add(self, draft: UserDraft) -> UserInfo:
        """Create an account (admins; the OS operator may create the first one, an admin)."""
        who = await self._require_admin()
        hashed = await asyncio.to_thread(self._hasher.hash, draft.password)
        return await asyncio.to_thread(self._add, draft, hashed, who)

    def _add(self, draft: UserDraft, hashed: str, who: Identity) -> UserInfo:
        now = self._clock()
        with self._db.locked_session() as session:
            if not session.scalar(select(func.count()).select_from(ConsoleUser)) and draft.role != "admin":
                raise UserError("users.first_admin")
            if session.scalars(select(ConsoleUser).where(ConsoleUser.name == draft.name)).first() is not None:
                raise UserError("users.exists", name=draft.name)
            row = ConsoleUser(
                name=draft.name,
                role=draft.role,
                password_hash=hashed,
                enabled=True,
                failed_logins=0,
                created_by=who.user,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return _info(row)

    @audited("user.set_role", lambda a: f"{a.get('name')} → {a.get('role')}")
    async def set_role(self, name: str, role: str) -> UserInfo:
        """Change an account's role (admins; the last enabled admin keeps the role)."""
        role = parse_role(role)
        who = await self._require_admin()

        def change(row: ConsoleUser, session: object) -> None:
            if row.role == "admin" and role != "admin":
                self._keep_an_admin(session, row, who, N_("demote"))
            row.role = role

        return await asyncio.to_thread(self._change, name, change)

    @audited("user.set_password", "name")
    async def set_password(self, name: str, password: str, confirm: str | None = None) -> UserInfo:
        """Set a new password (admins); also clears a lock-out."""
        password = parse_password(password, confirm, name=name)
        await self._require_admin()
        hashed = await asyncio.to_thread(self._hasher.hash, password)

        def change(row: ConsoleUser, _session: object) -> None:
            row.password_hash, row.failed_logins, row.locked_until = hashed, 0, None

        return await asyncio.to_thread(self._change, name, change)

    @audited("user.set_enabled", lambda a: f"{a.get('name')} → {'on' if a.get('enabled') else 'off'}")
    async def set_enabled(self, name: str, enabled: bool) -> UserInfo:
        """Enable or disable an account (admins; never the last enabled admin, never oneself)."""
        who = await self._require_admin()

        def change(row: ConsoleUser, session: object) -> None:
            if not enabled:
                if row.name == who.user:
                    raise UserError("users.not_self", field=N_("disable"), name=row.name)
                if row.role == "admin":
                    self._keep_an_admin(session, row, who, N_("disable"))
            row.enabled = enabled

        return await asyncio.to_thread(self._change, name, change)

    @audited("user.unlock", "name")
    async def unlock(self, name: str) -> UserInfo:
        """Clear a lock-out (admins)."""
        await self._require_admin()

        def change(row: ConsoleUser, _session: object) -> None:
            row.failed_logins, row.last_failed_at, row.locked_until = 0, None, None

        return await asyncio.to_thread(self._change, name, change)

    @audited("user.delete", "name")
    async def delete(self, name: str) -> None:
        """Delete an account and its sessions (admins; never oneself, never the last enabled admin)."""
        who = await self._require_admin()

        def drop() -> None:
            with self._db.locked_session() as session:
                row = self._row(session, name)
                if row.name == who.user:
                    raise UserError("users.not_self", field=N_("delete"), name=row.name)
                if row.role == "admin" and row.enabled:
                    self._keep_an_admin(session, row, who, N_("delete"))
                session.delete(row)

        await asyncio.to_thread(drop)

    def _change(self, name: str, change: Callable[[ConsoleUser, object], None]) -> UserInfo:
        with self._db.locked_session() as session:
            row = self._row(session, name)
            change(row, session)
            row.updated_at = self._clock()
            session.flush()
            return _info(row)

    @staticmethod
    def _row(session: object, name: str) -> ConsoleUser:
        row = session.scalars(select(ConsoleUser).where(ConsoleUser.name == name)).first()  # type: ignore[attr-defined]
        if row is None:
            raise UserError("users.not_found", name=name)
        return row  # type: ignore[no-any-return]

    @staticmethod
    def _keep_an_admin(session: object, row: ConsoleUser, who: Identity, what: str) -> None:
        others = session.scalar(  # type: ignore[attr-defined]
            select(func.count())
            .select_from(ConsoleUser)
            .where(ConsoleUser.role == "admin", ConsoleUser.enabled.is_(True), ConsoleUser.id != row.id)
        )
        if not others:
            raise UserError("users.last_admin", name=row.name)

    async def _require_admin(self) -> Identity:
        await self._license.require(FEATURE, write=True)  # also refuses auditors and nobody
        who = self.current_identity()
        if who.role != "admin":
            self._deny(who, N_("manage accounts"))
        return who

    @staticmethod
    def _deny(who: Identity, what: str) -> None:
        if who.role not in ROLES:
            raise AccessError("access.login_required")
        raise AccessError("access.role_denied", user=who.user, role=who.role, field=what)


def _info(row: ConsoleUser) -> UserInfo:
    return UserInfo(
        name=row.name,
        role=row.role,
        enabled=row.enabled,
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
        last_login_at=row.last_login_at,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _refused() -> UserError:
    """The one reply to a refused login: unknown name, wrong password and lock-out alike."""
    return UserError(
        "users.login_refused", failures=LOCK_FAILURES, minutes=int(LOCK_WINDOW.total_seconds() // 60)
    )


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (0600 from creation, never readable by others in between)."""
    try:
        write_private(path, text.encode("utf-8"))
    except OSError as err:
        raise UserError("users.session_write", path=str(path), reason=err.strerror or str(err)) from None
