"""Who acts: an operator account and its role, or the OS operator with full rights.

`WhoActs` is built before every other console service and shared by them: the license service asks it to
resolve the identity at each status (accounts count only when the license has the users module and one
exists), the audit log records the identity it holds, and the user service tells it who logged in to the
TUI. It knows nothing about the license or the audit log itself, so nothing imports in a circle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import func, select

from ectui.db.models import ConsoleUser, UserSession
from ectui.i18n import N_
from ectui.services.errors import ReadOnlyError, register_messages

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database

register_messages(
    {
        "access.auditor": N_(
            "{user} is logged in as an auditor: auditors can read everything and change nothing."
        ),
        "access.login_required": N_(
            "Log in first: the users module is on and nobody is logged in (ectui login, or restart the console)."
        ),
        "access.role_denied": N_("{user} ({role}) may not {field}; ask an admin."),
    }
)

ROLES = ("admin", "operator", "auditor")
"""The roles of operator accounts, from most to least rights."""
ACCOUNTS_FEATURE = "users.accounts"
"""The licensed menu of operator accounts (module 'users')."""


class AccessError(ReadOnlyError):
    """The acting identity's role does not allow the change (auditor, nobody logged in, not an admin)."""


@dataclass(frozen=True)
class Identity:
    """Who acts: an account and its role, or the OS operator with full rights when accounts are not in use."""

    user: str
    role: str
    """admin | operator | auditor; 'none' when the users module asks for a login and nobody is logged in"""
    source: str = "os"
    """os (users module off, or no accounts yet) | login (the TUI) | session (the CLI token file) | anonymous"""

    @property
    def may_change(self) -> bool:
        """Admins and operators may change things; auditors and nobody may not."""
        return self.role in ("admin", "operator")

    def refusal(self) -> AccessError | None:
        """Why this identity may change nothing (None when it may)."""
        if self.role == "auditor":
            return AccessError("access.auditor", user=self.user)
        if not self.may_change:
            return AccessError("access.login_required")
        return None


def os_identity(operator: str) -> Identity:
    """The OS operator with full rights: the identity when the users module is off or has no accounts."""
    return Identity(operator, "admin", "os")


def token_hash(token: str) -> str:
    """What the database keeps of a CLI session token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Licensed(Protocol):
    """What resolving the identity asks of the license: whether a module or menu is licensed."""

    def feature_enabled(self, code: str) -> bool: ...


class WhoActs:
    """The identity acting now, resolved again at each license status (blocking; in the license's thread).

    While the license lacks the users module, or no account exists, the OS operator acts with full rights.
    Then the account logged in to the TUI (`log_in`), else the one of a valid CLI session token file, else
    nobody (role 'none', source 'anonymous').
    """

    def __init__(
        self, settings: Settings, db: Database, *, clock: Callable[[], dt.datetime] | None = None
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
        self._current = os_identity(settings.operator)
        self._login_name: str | None = None
        """The account logged in through the TUI (in memory only)."""

    @property
    def session_file(self) -> Path:
        """The CLI session token file (0600, in the config dir)."""
        return self._settings.config_dir / "session"

    def current(self) -> Identity:
        """Who acts, as resolved at the last license status."""
        return self._current

    def log_in(self, name: str | None) -> None:
        """The account logged in to this process (the TUI); None: nobody (logged out)."""
        self._login_name = name

    def resolve(self, licensed: Licensed) -> Identity:
        """Resolve who acts under a license (blocking) and keep it as the current identity."""
        self._current = self._resolve(licensed)
        return self._current

    def _resolve(self, licensed: Licensed) -> Identity:
        operator = self._settings.operator
        if not licensed.feature_enabled(ACCOUNTS_FEATURE):
            return os_identity(operator)
        now = self._clock()
        with self._db.session() as session:
            if not session.scalar(select(func.count()).select_from(ConsoleUser)):
                return os_identity(operator)
            if self._login_name is not None:
                row = session.scalars(select(ConsoleUser).where(ConsoleUser.name == self._login_name)).first()
                if row is not None and row.enabled:
                    return Identity(row.name, row.role, "login")
            token = self.read_token()
            if token:
                found = session.execute(
                    select(ConsoleUser.name, ConsoleUser.role, ConsoleUser.enabled)
                    .join(UserSession, UserSession.user_id == ConsoleUser.id)
                    .where(UserSession.token_hash == token_hash(token), UserSession.expires_at > now)
                ).first()
                if found is not None and found.enabled:
                    return Identity(found.name, found.role, "session")
        return Identity(operator, "none", "anonymous")

    def read_token(self) -> str:
        """The CLI session token ('' when there is no readable session file)."""
        try:
            return self.session_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return ""
