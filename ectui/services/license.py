"""The license inside the console: import, status, clock rollback, and the policy other domains ask.

Clock rollback: the console keeps the latest time it has seen (a high-water mark in console_state) and
goes read-only while the clock is more than CLOCK_TOLERANCE behind it. A clock that was once ahead by
mistake would then lock the console until real time caught up with the mistake, so the mark is reset to
the system clock by importing a license that is valid now, or by an admin with `ectui license
reset-clock --yes`; both are in the audit log with the old and new mark.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update

from ectui.config import Settings
from ectui.db.errors import DatabaseError
from ectui.db.models import ConsoleState
from ectui.db.models import InstalledLicense as InstalledRow
from ectui.db.session import Database
from ectui.i18n import N_, _, ngettext
from ectui.services import licfile
from ectui.services.audit import AuditService, audited, note
from ectui.services.boundedio import read_file_bounded
from ectui.services.errors import LicenseError, ReadOnlyError, ServiceError
from ectui.services.identity import AccessError, Identity, WhoActs, os_identity
from ectui.services.secrets import LazyKeyFileBox, SecretBox, SecretBoxError

MAX_PROPERTIES_BYTES = 64 * 1024
CLOCK_TOLERANCE = dt.timedelta(minutes=5)
CLOCK_MARK_STEP = dt.timedelta(seconds=10)
"""The last-seen mark moves forward at most this often (a write per status read is not needed)."""
"""A clock set back by more than this, below the last time seen, is a rollback."""
_KEY_PURPOSE = b"console-license-key"
_LAST_SEEN = "last_seen_at"
_PINNED_ISSUER = "pinned_issuer_key"


@dataclass(frozen=True)
class InstalledLicense:
    """The license in force: what it allows and until when."""

    license_id: str
    customer: str
    edition: str
    valid_from: dt.date
    valid_to: dt.date
    issued_at: dt.datetime
    max_clusters: int
    max_nodes: int
    storage: tuple[str, ...]
    grace_days: int
    features: tuple[str, ...]

    @classmethod
    def from_document(cls, doc: licfile.LicenseDocument) -> InstalledLicense:
        """Copy the facts of a decrypted license document."""
        return cls(
            license_id=doc.license_id,
            customer=doc.customer,
            edition=doc.edition,
            valid_from=doc.valid_from,
            valid_to=doc.valid_to,
            issued_at=doc.issued_at,
            max_clusters=doc.max_clusters,
            max_nodes=doc.max_nodes,
            storage=doc.storage,
            grace_days=doc.grace_days,
            features=doc.features,
        )


@dataclass(frozen=True)
class Usage:
    """What this console manages now, counted against the license limits."""

    clusters: int = 0
    nodes: int = 0


@dataclass(frozen=True)
class LicenseStatus:
    """The license state at one moment, and whether the console may change anything."""

    state: str
    """none | valid | grace | expired | not_yet_valid | clock_rollback"""
    license: InstalledLicense | None
    days_left: int | None
    grace_days_left: int | None
    writable: bool
    reason: ServiceError | None
    usage: Usage

    def header_text(self) -> str:
        """A short line for the header, in the UI language."""
        if self.license is None:
            return _("No license")
        edition = self.license.edition
        if self.state == "valid":
            days = self.days_left or 0
            return _("{edition} · {days}").format(
                edition=edition, days=ngettext("{n} day left", "{n} days left", days).format(n=days)
            )
        if self.state == "grace":
            days = self.grace_days_left or 0
            return _("{edition} · expired, read-only in {days}").format(
                edition=edition, days=ngettext("{n} day", "{n} days", days).format(n=days)
            )
        if self.state == "not_yet_valid":
            return _("{edition} · not yet valid").format(edition=edition)
        if self.state == "clock_rollback":
            return _("{edition} · clock set back").format(edition=edition)
        return _("{edition} · expired").format(edition=edition)

    def to_json(self) -> dict[str, object]:
        """The `ectui license show --json` object."""
        lic = self.license
        data: dict[str, object] = {
            "state": self.state,
            "writable": self.writable,
            "reason": str(self.reason) if self.reason else None,
            "usage": {"clusters": self.usage.clusters, "nodes": self.usage.nodes},
        }
        if lic is None:
            return {"customer": None, "edition": None, **data}
        return {
            "license_id": lic.license_id,
            "customer": lic.customer,
            "edition": lic.edition,
            "valid_from": lic.valid_from.isoformat(),
            "valid_to": lic.valid_to.isoformat(),
            "issued_at": lic.issued_at.isoformat(),
            "days_left": self.days_left,
            "grace_days": lic.grace_days,
            "grace_days_left": self.grace_days_left,
            "limits": {
                "max_clusters": lic.max_clusters,
                "max_nodes": lic.max_nodes,
                "storage": list(lic.storage),
            },
            "features": list(lic.features),
            **data,
        }


@dataclass(frozen=True)
class Decision:
    """The policy's answer: allowed, or the reason why not."""

    allowed: bool
    reason: ServiceError | None = None

    def __bool__(self) -> bool:
        return self.allowed

    def raise_if_denied(self) -> None:
        """Raise the reason when not allowed."""
        if not self.allowed and self.reason is not None:
            raise self.reason


_ALLOW = Decision(True)


class LicensePolicy:
    """What the installed license allows; later domains ask it before they add or sync anything."""

    def __init__(self, status: LicenseStatus, identity: Identity | None = None) -> None:
        self.status = status
        self.identity = identity
        """Who acts (users module); None: the OS operator with full rights."""

    def ensure_writable(self) -> None:
        """Raise ReadOnlyError when nothing may be changed; running workloads are never touched by this."""
        if not self.status.writable:
            reason = self.status.reason or LicenseError("license.none")
            raise ReadOnlyError(reason.key, **reason.params)
        self.ensure_role_may_change()

    def ensure_role_may_change(self) -> None:
        """Raise AccessError (a ReadOnlyError) when the acting role changes nothing: an auditor, or nobody."""
        refusal = self.identity.refusal() if self.identity is not None else None
        if refusal is not None:
            raise refusal

    def _writable(self) -> Decision:
        try:
            self.ensure_writable()
        except ReadOnlyError as err:
            return Decision(False, err)
        return _ALLOW

    def feature_enabled(self, code: str) -> bool:
        """A module ('statistics') or menu ('users.audit') is licensed; menus of others are hidden."""
        lic = self.status.license
        if lic is None or self.status.state == "clock_rollback":
            return False
        return any(f == code or f.startswith(code + ".") for f in lic.features)

    def require_feature(self, code: str) -> None:
        """Raise LicenseError naming the missing feature."""
        if not self.feature_enabled(code):
            edition = self.status.license.edition if self.status.license else "-"
            raise LicenseError("license.feature_disabled", feature=code, edition=edition)

    def may_add_cluster(self, *, used: int | None = None) -> Decision:
        """One more cluster fits the license (`used`: clusters counted now, default: at the last status)."""
        decision = self._writable()
        if not decision:
            return decision
        lic = self.status.license
        assert lic is not None
        used = self.status.usage.clusters if used is None else used
        if used + 1 > lic.max_clusters:
            return Decision(False, LicenseError("license.limit_clusters", max=lic.max_clusters, used=used))
        return _ALLOW

    def may_add_nodes(self, n: int, *, used: int | None = None) -> Decision:
        """n more compute nodes fit the license (`used`: nodes counted now, default: at the last status)."""
        decision = self._writable()
        if not decision:
            return decision
        lic = self.status.license
        assert lic is not None
        total = (self.status.usage.nodes if used is None else used) + n
        if total > lic.max_nodes:
            return Decision(
                False, LicenseError("license.limit_nodes", max=lic.max_nodes, adding=n, total=total)
            )
        return _ALLOW

    def storage_allowed(self, mode: str) -> Decision:
        """The storage mode (local, shared) is in the edition."""
        lic = self.status.license
        if lic is None or mode not in lic.storage:
            allowed = ", ".join(lic.storage) if lic else "-"
            return Decision(False, LicenseError("license.storage_mode", mode=mode, allowed=allowed))
        return _ALLOW


@dataclass(frozen=True)
class _Properties:
    private_key: bytes
    issuer_public_key: bytes
    key: rsa.RSAPrivateKey
    issuer: Ed25519PublicKey


class ConsoleLicenseService:
    """Imports and keeps the console's license; computes its status against a clock."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        readonly: bool = False,
        readonly_setting: Callable[[], bool] | None = None,
        usage: Callable[[], Usage] | None = None,
        box: SecretBox | LazyKeyFileBox | None = None,
        audit: AuditService | None = None,
        identity: WhoActs | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
        self._readonly = readonly
        self._readonly_setting = readonly_setting or (lambda: False)
        """The operator's own read-only setting (settings.operator), honoured like the flag."""
        self._usage = usage or Usage
        self._box = box or LazyKeyFileBox(settings.console_key_file)
        self._installed: InstalledLicense | None = None
        self._loaded = False
        self._last = LicenseStatus("none", None, None, None, False, LicenseError("license.none"), Usage())
        self._audit = audit
        """Where the license's own changes (import, clock reset) are recorded."""
        self._who = identity
        """Who acts, resolved again at each status; None: the OS operator with full rights."""
        self._os_identity = os_identity(settings.operator)

    # -- status

    async def status(self) -> LicenseStatus:
        """The license state now (also records the time seen, to notice a clock set back)."""
        return await asyncio.to_thread(self._status)

    def policy(self) -> LicensePolicy:
        """The policy of the last computed status, for the identity acting now."""
        return LicensePolicy(self._last, self.current_identity())

    async def require(self, feature: str | None = None, *, write: bool = False) -> LicensePolicy:
        """The one license check of every service call: a fresh status, the module licensed, and, for a
        change, a writable console (not read-only, not an auditor). Returns the policy it checked."""
        await self.status()
        policy = self.policy()
        if write:
            policy.ensure_writable()
        if feature is not None:
            policy.require_feature(feature)
        return policy

    def current_identity(self) -> Identity:
        """Who acts, as resolved at the last status: an account, or the OS operator with full rights."""
        return self._who.current() if self._who is not None else self._os_identity

    def _status(self) -> LicenseStatus:
        if not self._loaded:
            self._installed = self._load_installed()
            self._loaded = True
        now = self._clock()
        rollback = self._observe_clock(now)
        self._last = self._compute(self._installed, now, rollback)
        if self._who is not None:
            self._who.resolve(LicensePolicy(self._last))
        return self._last

    def _compute(
        self, lic: InstalledLicense | None, now: dt.datetime, rollback: dt.datetime | None
    ) -> LicenseStatus:
        usage = self._usage()
        reason: ServiceError | None
        if rollback is not None:
            reason = LicenseError(
                "license.clock_rollback",
                now=now.isoformat(timespec="seconds"),
                last_seen=rollback.isoformat(timespec="seconds"),
            )
            return LicenseStatus("clock_rollback", lic, None, None, False, reason, usage)
        if lic is None:
            return LicenseStatus("none", None, None, None, False, LicenseError("license.none"), usage)
        today = now.date()
        days_left = (lic.valid_to - today).days
        if today < lic.valid_from:
            reason = LicenseError("license.not_yet_valid", valid_from=lic.valid_from.isoformat())
            return LicenseStatus("not_yet_valid", lic, days_left, None, False, reason, usage)
        state, grace_left, reason = "valid", None, None
        if days_left < 0:
            grace_left = lic.grace_days + days_left
            if grace_left >= 0:
                state = "grace"
            else:
                state, grace_left = "expired", None
                reason = LicenseError("license.expired_readonly", valid_to=lic.valid_to.isoformat())
        writable = reason is None
        if writable and self._readonly:
            writable, reason = False, ServiceError("readonly.flag")
        elif writable and self._readonly_setting():
            writable, reason = False, ServiceError("readonly.setting", operator=self._settings.operator)
        return LicenseStatus(state, lic, days_left, grace_left, writable, reason, usage)

    def _observe_clock(self, now: dt.datetime) -> dt.datetime | None:
        """Return the last time seen when the clock went back; otherwise move the mark forward.

        Status is read often and from several workers at once: the read is a plain transaction, and
        the mark is written (at most every few seconds) in a serialised one, so concurrent readers
        never fail with "database is locked" upgrading a read transaction to a write.
        """
        with self._db.session() as session:
            row = session.get(ConsoleState, _LAST_SEEN)
            last = dt.datetime.fromisoformat(row.value) if row else None
        if last is not None and now < last - CLOCK_TOLERANCE:
            return last
        if last is None or now - last >= CLOCK_MARK_STEP:
            try:
                with self._db.locked_session() as session:
                    row = session.get(ConsoleState, _LAST_SEEN)
                    if row is None:
                        session.add(ConsoleState(key=_LAST_SEEN, value=now.isoformat()))
                    elif now > dt.datetime.fromisoformat(row.value):
                        row.value = now.isoformat()
            except DatabaseError as err:  # a read-only database still shows its license; the mark waits
                if err.key != "db.read_only":
                    raise
        return None

    # -- clock high-water mark

    async def clock_mark(self) -> tuple[dt.datetime | None, dt.datetime]:
        """The last time seen (None before the first status) and the system clock now."""
        return await asyncio.to_thread(self._clock_mark)

    def _clock_mark(self) -> tuple[dt.datetime | None, dt.datetime]:
        with self._db.session() as session:
            row = session.get(ConsoleState, _LAST_SEEN)
            return (dt.datetime.fromisoformat(row.value) if row else None), self._clock()

    @audited("license.reset_clock")
    async def reset_clock(self) -> LicenseStatus:
        """Move the last-time-seen mark back to the system clock (admins; the OS operator without accounts).

        For a clock that was once ahead: the console stays read-only ('clock set back') until then.
        """
        await self.status()
        who = self.current_identity()
        if who.role != "admin":
            self.policy().ensure_role_may_change()  # auditors and nobody: their own reason
            raise AccessError(
                "access.role_denied", user=who.user, role=who.role, field=N_("reset the license clock")
            )
        return await asyncio.to_thread(self._reset_clock)

    def _reset_clock(self) -> LicenseStatus:
        self._set_clock_mark(self._clock())
        return self._status()

    def _set_clock_mark(self, now: dt.datetime) -> None:
        """Set the mark to `now`, also backwards; notes 'last seen: old → new' in the audit entry when it moves back."""
        with self._db.locked_session() as session:
            row = session.get(ConsoleState, _LAST_SEEN)
            old = dt.datetime.fromisoformat(row.value) if row else None
            if row is None:
                session.add(ConsoleState(key=_LAST_SEEN, value=now.isoformat()))
            else:
                row.value = now.isoformat()
        if old is not None and old > now:
            note(
                "last seen: {old} → {new}".format(
                    old=old.isoformat(timespec="seconds"), new=now.isoformat(timespec="seconds")
                )
            )

    # -- import

    @audited("license.import", "ec_path")
    async def import_license(self, ec_path: Path, properties_path: Path | None = None) -> LicenseStatus:
        """Verify, decrypt and install an .ec file; a refused file leaves the installed license in force."""
        return await asyncio.to_thread(self._import, Path(ec_path), properties_path)

    def _import(self, ec_path: Path, properties_path: Path | None) -> LicenseStatus:
        self.policy().ensure_role_may_change()
        props_path = Path(properties_path) if properties_path else self._settings.properties_path
        props = read_properties(props_path)
        try:
            data = read_file_bounded(ec_path, licfile.MAX_FILE_BYTES, N_("License file"))
        except OSError as err:
            raise LicenseError(
                "license.file_missing", path=str(ec_path), reason=err.strerror or str(err)
            ) from None
        self._check_issuer_trusted(props.issuer_public_key)
        lic = InstalledLicense.from_document(licfile.decode_ec(data, props.key, props.issuer))
        today = self._clock().date()
        if today > lic.valid_to:
            raise LicenseError("license.expired", valid_to=lic.valid_to.isoformat())
        if today < lic.valid_from:
            raise LicenseError("license.not_yet_valid", valid_from=lic.valid_from.isoformat())
        box = self._box
        with self._db.session() as session:
            if session.get(ConsoleState, _PINNED_ISSUER) is None:
                session.add(
                    ConsoleState(key=_PINNED_ISSUER, value=base64.b64encode(props.issuer_public_key).decode())
                )
            session.execute(update(InstalledRow).where(InstalledRow.active.is_(True)).values(active=False))
            session.add(
                InstalledRow(
                    license_id=lic.license_id,
                    customer=lic.customer,
                    edition=lic.edition,
                    valid_from=lic.valid_from,
                    valid_to=lic.valid_to,
                    ec_data=data,
                    private_key=box.seal(props.private_key, purpose=_KEY_PURPOSE),
                    issuer_public_key=props.issuer_public_key,
                )
            )
        self._installed, self._loaded = lic, True
        # a license valid now: a clock that was once ahead no longer keeps the console read-only
        self._set_clock_mark(self._clock())
        return self._status()

    def _check_issuer_trusted(self, issuer_raw: bytes) -> None:
        """Only the vendor's issuer may sign: whoever holds constant.properties must not be able to swap it.

        Trusted keys come from ECTUI_TRUSTED_ISSUER_KEYS, <config>/trusted-issuers and ectui/trusted_issuers.txt.
        With none configured (development, demo), the first issuer whose license is installed is pinned.
        """
        encoded = base64.b64encode(issuer_raw).decode()
        trusted = set(self._settings.trusted_issuer_keys())
        if trusted:
            if encoded not in trusted:
                raise LicenseError("license.foreign_issuer")
            return
        with self._db.session() as session:
            pinned = session.get(ConsoleState, _PINNED_ISSUER)
            if pinned is not None and pinned.value != encoded:
                raise LicenseError("license.foreign_issuer")

    def _load_installed(self) -> InstalledLicense | None:
        """Decrypt and verify the stored .ec again: an edited database row does not grant anything."""
        with self._db.session() as session:
            row = session.scalars(
                select(InstalledRow).where(InstalledRow.active.is_(True)).order_by(InstalledRow.id.desc())
            ).first()
            if row is None:
                return None
            data, sealed_key, issuer_raw = row.ec_data, row.private_key, row.issuer_public_key
        try:
            der = self._box.open(sealed_key, purpose=_KEY_PURPOSE)
            private = licfile.load_private_key_der(der, trusted=True)  # authenticated by our own sealed box
            issuer = Ed25519PublicKey.from_public_bytes(issuer_raw)
            return InstalledLicense.from_document(licfile.decode_ec(data, private, issuer))
        except (LicenseError, SecretBoxError, ValueError):
            return None


def read_properties(path: Path) -> _Properties:
    """Read constant.properties (Java properties: key=value or key: value, # and ! comments)."""
    try:
        text = read_file_bounded(path, MAX_PROPERTIES_BYTES, N_("Properties file")).decode("utf-8")
    except FileNotFoundError:
        raise LicenseError("license.properties_missing", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise LicenseError("license.properties_invalid", path=str(path), reason=str(err)) from None
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        sep = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if sep < 0:
            continue
        values[line[:sep].strip()] = line[sep + 1 :].strip()
    missing = [k for k in ("private_key", "issuer_public_key") if not values.get(k)]
    if missing:
        raise LicenseError(
            "license.properties_invalid", path=str(path), reason="missing " + ", ".join(missing)
        )
    try:
        private = base64.b64decode(values["private_key"], validate=True)
        issuer = base64.b64decode(values["issuer_public_key"], validate=True)
        key = licfile.load_private_key_der(private)
        issuer_key = Ed25519PublicKey.from_public_bytes(issuer)
    except (binascii.Error, ValueError, TypeError) as err:
        reason = "private_key or issuer_public_key is not a valid key"
        raise LicenseError("license.properties_invalid", path=str(path), reason=reason) from err
    return _Properties(private, issuer, key, issuer_key)
