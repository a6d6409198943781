"""Per-operator settings (`settings.operator`), kept in the console database so that they follow the operator.

Stored in `console_state` under the key `operator_settings:<operator>` as a JSON object (the operator
is ECTUI_OPERATOR or the OS user). Kept in the database rather than a file of the config dir because
several operators may share one console database (PostgreSQL) from different machines, and a
per-operator choice must hold wherever that operator logs in.

Settings:
- `readonly`: the console refuses every changing action for this operator, exactly as `--readonly` does
  (the license policy reads it); `ectui settings readonly on|off` switches it, even while read-only.
  Switching it is a change like any other: an auditor (or nobody, when accounts are in use) may not, and
  each switch, or refusal, is in the audit log with the old and new value.
- `theme`: the name of the colour theme the operator last chose in the console (the command palette's
  theme switcher); applied at start. Only a name is kept here: which names exist is the UI's business, and
  a name the UI no longer knows is ignored there. Not audited and allowed to everyone (looks only).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ectui.db.models import ConsoleState
from ectui.i18n import N_
from ectui.services.audit import audited, note
from ectui.services.errors import ValidationError, register_messages

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.audit import AuditService
    from ectui.services.license import ConsoleLicenseService

register_messages(
    {
        "readonly.setting": N_(
            "Read-only mode is on for operator {operator}; turn it off with: ectui settings readonly off"
        ),
        "settings.theme": N_("A theme name is 1 to 64 letters, digits, '-', '_' or '.', got '{value}'."),
    }
)

KEY_PREFIX = "operator_settings:"
THEME_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""What a stored theme name may be (Textual's theme names are like 'nord' or 'textual-dark')."""


def settings_key(operator: str) -> str:
    """The console_state key of an operator's settings (long names are hashed to fit the column)."""
    key = KEY_PREFIX + operator
    if len(key) <= 64:
        return key
    return KEY_PREFIX + "sha256:" + hashlib.sha256(operator.encode()).hexdigest()[:32]


def load_operator_settings(session: Session, operator: str) -> dict[str, Any]:
    """The stored settings of an operator ({} when none)."""
    row = session.get(ConsoleState, settings_key(operator))
    if row is None:
        return {}
    try:
        value = json.loads(row.value)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class OperatorSettings:
    """The settings of the operator at the keyboard."""

    operator: str
    readonly: bool
    """Refuse every changing action, like --readonly."""
    theme: str | None = None
    """The colour theme last chosen in the console (None: the default)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"operator": self.operator, "readonly": self.readonly}


def readonly_setting(db: Database, operator: str) -> bool:
    """Whether the operator chose read-only mode (blocking; what the license service asks in its thread)."""
    with db.session() as session:
        return bool(load_operator_settings(session, operator).get("readonly"))


class OperatorSettingsService:
    """Reads and changes the current operator's settings.

    `license` says who acts (auditors and nobody may not switch read-only); None (a service built alone):
    no role check. `audit` records the switches.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        license: ConsoleLicenseService | None = None,
        audit: AuditService | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._license = license
        self._audit = audit

    @property
    def operator(self) -> str:
        """Who the settings belong to."""
        return self._settings.operator

    def readonly_sync(self) -> bool:
        """Whether the operator chose read-only mode (blocking; the license service calls it in its thread)."""
        return readonly_setting(self._db, self.operator)

    def theme_sync(self) -> str | None:
        """The theme the operator last chose (None when none or not a valid name); blocking."""
        with self._db.session() as session:
            value = load_operator_settings(session, self.operator).get("theme")
        return value if isinstance(value, str) and THEME_NAME.fullmatch(value) else None

    async def show(self) -> OperatorSettings:
        """The current settings."""

        def read() -> OperatorSettings:
            return OperatorSettings(self.operator, self.readonly_sync(), self.theme_sync())

        return await asyncio.to_thread(read)

    async def set_theme(self, name: str) -> OperatorSettings:
        """Keep the operator's colour theme (a name; the UI checks it exists). Allowed while read-only."""
        if not isinstance(name, str) or not THEME_NAME.fullmatch(name):
            raise ValidationError("settings.theme", field="theme", field_id="name", value=str(name)[:80])

        def save() -> None:
            with self._db.locked_session() as session:
                values = load_operator_settings(session, self.operator)
                values["theme"] = name
                self._store(session, values)

        await asyncio.to_thread(save)
        return await self.show()

    def _store(self, session: Session, values: dict[str, Any]) -> None:
        text = json.dumps(values, sort_keys=True)
        row = session.get(ConsoleState, settings_key(self.operator))
        if row is None:
            session.add(ConsoleState(key=settings_key(self.operator), value=text))
        else:
            row.value = text

    @audited("settings.readonly", lambda a: f"readonly → {_on_off(bool(a.get('on')))}")
    async def set_readonly(self, on: bool) -> OperatorSettings:
        """Turn the operator's read-only mode on or off (allowed even while read-only, not to an auditor).

        The audit entry names the new value, and its detail the operator and the change ('alice: off → on').
        """
        if self._license is not None:
            await self._license.status()  # who acts now
            self._license.policy().ensure_role_may_change()  # refuses auditors and nobody; not read-only

        def save() -> None:
            with self._db.locked_session() as session:
                values = load_operator_settings(session, self.operator)
                old = bool(values.get("readonly"))
                note(f"{self.operator}: {_on_off(old)} → {_on_off(bool(on))}")
                values["readonly"] = bool(on)
                self._store(session, values)

        await asyncio.to_thread(save)
        return await self.show()


def _on_off(value: bool) -> str:
    return "on" if value else "off"
