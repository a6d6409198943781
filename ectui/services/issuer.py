"""The license authority: feature menus, editions, licenses with their keys, .ec export ."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ectui.config import Settings
from ectui.db.models import (
    FuncMenu,
    IssuerKey,
    IssuerMeta,
    License,
    LicenseVersion,
    LicenseVersionMenu,
    utcnow,
)
from ectui.db.session import Database
from ectui.i18n import N_
from ectui.services import licfile
from ectui.services.errors import IssuerError, ValidationError
from ectui.services.secrets import (
    SecretBox,
    SecretBoxError,
    derive_key,
    load_or_create_key_file,
)
from ectui.services.validation import choices, date_value, money, optional_text, required_text, whole_number

MODULES = ("platform", "statistics", "users", "workflow", "billing")
STORAGE_MODES = ("local", "shared")

# The console's feature menus: (code, English name). Codes are stable: licenses carry them.
MENU_TREE: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "platform",
        N_("Platform"),
        (
            ("platform.clusters", N_("Clusters")),
            ("platform.nodes", N_("Compute nodes")),
            ("platform.images", N_("Images")),
            ("platform.isos", N_("ISO files")),
            ("platform.templates", N_("Templates")),
            ("platform.vms", N_("VMs")),
            ("platform.resize", N_("CPU/RAM upgrade")),
            ("platform.license", N_("License")),
        ),
    ),
    (
        "statistics",
        N_("Statistics"),
        (("statistics.dashboard", N_("Dashboards")), ("statistics.export", N_("Usage export"))),
    ),
    (
        "users",
        N_("Users"),
        (("users.accounts", N_("Operator accounts")), ("users.audit", N_("Audit log"))),
    ),
    (
        "workflow",
        N_("Workflow"),
        (("workflow.requests", N_("Requests")), ("workflow.approvals", N_("Approvals"))),
    ),
    (
        "billing",
        N_("Billing"),
        (
            ("billing.prices", N_("Price list")),
            ("billing.metering", N_("Metering")),
            ("billing.bills", N_("Monthly bills")),
        ),
    ),
)
ALL_MENU_CODES = tuple(
    code for module, _n, children in MENU_TREE for code in (module, *(c for c, _ in children))
)
_SIGNING_PURPOSE = b"issuer-signing-key"
_LICENSE_PURPOSE = b"license-private-key"


def expand_features(codes: Iterable[str]) -> tuple[str, ...]:
    """Module codes become all their menus; a menu brings its module root. Result in tree order."""
    wanted = set(codes)
    chosen: set[str] = set()
    for module, _name, children in MENU_TREE:
        child_codes = [c for c, _ in children]
        if module in wanted:
            chosen.update([module, *child_codes])
        picked = [c for c in child_codes if c in wanted]
        if picked:
            chosen.update([module, *picked])
    return tuple(c for c in ALL_MENU_CODES if c in chosen)


def modules_of(features: Iterable[str]) -> tuple[str, ...]:
    """The modules that a feature list enables, in module order."""
    present = {code.split(".")[0] for code in features}
    return tuple(m for m in MODULES if m in present)


# ------------------------------------------------------------------ DTOs


@dataclass(frozen=True)
class MenuNode:
    """One feature menu and its children."""

    code: str
    module: str
    name: str
    children: tuple[MenuNode, ...] = ()


@dataclass(frozen=True)
class EditionDraft:
    """A validated new edition."""

    name: str
    max_clusters: int
    max_nodes: int
    storage: tuple[str, ...]
    features: tuple[str, ...]
    grace_days: int = 7
    price: Decimal = Decimal("0.00")
    description: str = ""

    @classmethod
    def parse(
        cls,
        *,
        name: str,
        max_clusters: str | int,
        max_nodes: str | int,
        storage: str | Iterable[str],
        features: str | Iterable[str],
        grace_days: str | int = "7",
        price: str = "0",
        description: str = "",
    ) -> EditionDraft:
        """Validate raw form or CLI values; raises ValidationError naming the field."""
        storage_modes = choices(storage, N_("Storage"), STORAGE_MODES, field_id="storage")
        if not storage_modes:
            raise ValidationError("issuer.storage_required", field=N_("Storage"), field_id="storage")
        items = [f.strip() for f in (features.split(",") if isinstance(features, str) else features)]
        items = [f for f in items if f]
        for code in items:
            if code not in ALL_MENU_CODES:
                raise ValidationError(
                    "issuer.unknown_feature",
                    field=N_("Features"),
                    field_id="features",
                    code=code,
                    choices=", ".join(MODULES),
                )
        if not items:
            raise ValidationError("issuer.no_features", field=N_("Features"), field_id="features")
        return cls(
            name=required_text(name, N_("Name"), field_id="name", max_len=128),
            max_clusters=whole_number(
                max_clusters, N_("Max clusters"), field_id="max_clusters", minimum=1, maximum=10_000
            ),
            max_nodes=whole_number(
                max_nodes, N_("Max nodes"), field_id="max_nodes", minimum=1, maximum=1_000_000
            ),
            storage=storage_modes,
            features=expand_features(items),
            grace_days=whole_number(
                grace_days, N_("Grace days"), field_id="grace_days", minimum=0, maximum=365
            ),
            price=money(price, N_("Price"), field_id="price"),
            description=optional_text(description, N_("Description"), field_id="description"),
        )


@dataclass(frozen=True)
class EditionInfo:
    """An edition as the screens and the CLI show it."""

    id: int
    name: str
    max_clusters: int
    max_nodes: int
    storage: tuple[str, ...]
    grace_days: int
    price: Decimal
    description: str
    features: tuple[str, ...]
    modules: tuple[str, ...]
    license_count: int
    created_at: dt.datetime

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "name": self.name,
            "max_clusters": self.max_clusters,
            "max_nodes": self.max_nodes,
            "storage": list(self.storage),
            "grace_days": self.grace_days,
            "price": str(self.price),
            "description": self.description,
            "features": list(self.features),
            "modules": list(self.modules),
            "license_count": self.license_count,
            "created_at": self.created_at.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class LicenseDraft:
    """A validated new license."""

    customer: str
    edition: str
    valid_from: dt.date
    valid_to: dt.date

    @classmethod
    def parse(cls, *, customer: str, edition: str, valid_from: str, valid_to: str) -> LicenseDraft:
        """Validate raw values; raises ValidationError naming the field."""
        draft = cls(
            customer=_customer(customer),
            edition=_edition(edition),
            valid_from=date_value(valid_from, N_("Valid from"), field_id="valid_from"),
            valid_to=date_value(valid_to, N_("Valid to"), field_id="valid_to"),
        )
        _check_order(draft.valid_from, draft.valid_to)
        return draft


@dataclass(frozen=True)
class LicenseChanges:
    """Validated changes to a license; None leaves a field as it is."""

    customer: str | None = None
    edition: str | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    @classmethod
    def parse(
        cls,
        *,
        customer: str | None = None,
        edition: str | None = None,
        valid_from: str | None = None,
        valid_to: str | None = None,
    ) -> LicenseChanges:
        """Validate the given values; raises ValidationError naming the field."""
        return cls(
            customer=None if customer is None else _customer(customer),
            edition=None if edition is None else _edition(edition),
            valid_from=None
            if valid_from is None
            else date_value(valid_from, N_("Valid from"), field_id="valid_from"),
            valid_to=None if valid_to is None else date_value(valid_to, N_("Valid to"), field_id="valid_to"),
        )


def _customer(value: str) -> str:
    name = required_text(value, N_("Customer"), field_id="customer", max_len=200)
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationError("validation.control_chars", field=N_("Customer"), field_id="customer")
    return name


def _edition(value: str) -> str:
    return required_text(value, N_("Edition"), field_id="edition", max_len=128)


def _check_order(valid_from: dt.date, valid_to: dt.date) -> None:
    if valid_to < valid_from:
        raise ValidationError(
            "validation.date_order",
            field=N_("Valid to"),
            field_id="valid_to",
            valid_from=valid_from.isoformat(),
            valid_to=valid_to.isoformat(),
        )


@dataclass(frozen=True)
class LicenseInfo:
    """A license as the screens and the CLI show it (never its private key)."""

    id: int
    customer: str
    edition: str
    valid_from: dt.date
    valid_to: dt.date
    created_at: dt.datetime
    updated_at: dt.datetime
    key_id: str
    status: str
    max_clusters: int
    max_nodes: int
    storage: tuple[str, ...]
    features: tuple[str, ...]
    grace_days: int

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "customer": self.customer,
            "edition": self.edition,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(),
            "status": self.status,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "updated_at": self.updated_at.isoformat(timespec="seconds"),
            "key_id": self.key_id,
            "limits": {
                "max_clusters": self.max_clusters,
                "max_nodes": self.max_nodes,
                "storage": list(self.storage),
            },
            "grace_days": self.grace_days,
            "features": list(self.features),
        }


@dataclass(frozen=True)
class ExportResult:
    """Where a license download was written."""

    license_id: int
    ec_path: Path
    properties_path: Path


# ------------------------------------------------------------------ the service


class IssuerService:
    """Editions and licenses of the license authority; keys encrypted at rest."""

    def __init__(
        self, settings: Settings, db: Database, *, today: Callable[[], dt.date] | None = None
    ) -> None:
        self._settings = settings
        self._db = db
        self._today = today or dt.date.today
        self._box: SecretBox | None = None

    # -- start-up

    async def start(self) -> None:
        """Migrate, seed the menu tree, unlock the key box and make the signing key on first start."""
        await asyncio.to_thread(self._start_sync)

    def _start_sync(self) -> None:
        self._settings.ensure_dirs()
        self._db.migrate()
        with self._db.session() as session:
            self._seed_menus(session)
            self._box = self._unlock(session)
            if session.scalar(select(func.count()).select_from(IssuerKey)) == 0:
                key = Ed25519PrivateKey.generate()
                raw = key.private_bytes(
                    serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
                )
                session.add(
                    IssuerKey(
                        key_id=licfile.issuer_key_id(key.public_key()),
                        public_key=licfile.public_raw(key.public_key()),
                        private_key=self._box.seal(raw, purpose=_SIGNING_PURPOSE),
                    )
                )

    @staticmethod
    def _seed_menus(session: Session) -> None:
        existing = {m.code: m for m in session.scalars(select(FuncMenu))}
        for order, (module, name, children) in enumerate(MENU_TREE):
            root = existing.get(module)
            if root is None:
                root = FuncMenu(code=module, module=module, name=name, sort_order=order * 100)
                session.add(root)
                session.flush()
            for child_order, (code, child_name) in enumerate(children, start=1):
                if code not in existing:
                    session.add(
                        FuncMenu(
                            code=code,
                            module=module,
                            name=child_name,
                            parent_id=root.id,
                            sort_order=order * 100 + child_order,
                        )
                    )

    def _unlock(self, session: Session) -> SecretBox:
        passphrase = self._settings.issuer_passphrase
        try:
            if passphrase is None:
                if session.get(IssuerMeta, "kdf_salt") is not None:
                    raise SecretBoxError(
                        "this issuer database is protected by a passphrase (ECTUI_ISSUER_PASSPHRASE)"
                    )
                return SecretBox(load_or_create_key_file(self._settings.issuer_key_file))
            salt_row = session.get(IssuerMeta, "kdf_salt")
            if salt_row is None:
                if session.scalar(select(func.count()).select_from(IssuerKey)):
                    raise SecretBoxError(
                        "this issuer database is protected by its key file, not a passphrase"
                    )
                salt_row = IssuerMeta(key="kdf_salt", value=secrets.token_bytes(16))
                session.add(salt_row)
                box = SecretBox(derive_key(passphrase, salt_row.value))
                session.add(IssuerMeta(key="kdf_check", value=box.seal(b"ectui-issuer", purpose=b"check")))
                return box
            box = SecretBox(derive_key(passphrase, salt_row.value))
            check = session.get(IssuerMeta, "kdf_check")
            try:
                valid = check is not None and box.open(check.value, purpose=b"check") == b"ectui-issuer"
            except SecretBoxError:
                valid = False
            if not valid:
                raise SecretBoxError("wrong passphrase")
            return box
        except SecretBoxError as err:
            raise IssuerError("issuer.key_locked", reason=str(err)) from None

    def _require_box(self) -> SecretBox:
        if self._box is None:
            raise RuntimeError("IssuerService.start() was not awaited")
        return self._box

    # -- menus

    async def menu_tree(self) -> list[MenuNode]:
        """The five module roots with their menus, as stored (seeded on first start)."""
        return await asyncio.to_thread(self._menu_tree)

    def _menu_tree(self) -> list[MenuNode]:
        with self._db.session() as session:
            rows = list(session.scalars(select(FuncMenu).order_by(FuncMenu.sort_order)))
        children: dict[int, list[FuncMenu]] = {}
        for row in rows:
            if row.parent_id is not None:
                children.setdefault(row.parent_id, []).append(row)
        return [
            MenuNode(
                code=root.code,
                module=root.module,
                name=root.name,
                children=tuple(MenuNode(c.code, c.module, c.name) for c in children.get(root.id, [])),
            )
            for root in rows
            if root.parent_id is None
        ]

    # -- editions

    async def list_editions(self) -> list[EditionInfo]:
        """All editions, by name."""
        return await asyncio.to_thread(self._list_editions)

    def _list_editions(self) -> list[EditionInfo]:
        with self._db.session() as session:
            counts = self._license_counts(session)
            rows = session.scalars(select(LicenseVersion).order_by(LicenseVersion.name))
            return [self._edition_info(session, row, counts.get(row.id, 0)) for row in rows]

    async def get_edition(self, name: str) -> EditionInfo:
        """One edition by name."""
        return await asyncio.to_thread(self._get_edition, name)

    def _get_edition(self, name: str) -> EditionInfo:
        with self._db.session() as session:
            row = self._edition_row(session, name)
            return self._edition_info(session, row, self._license_counts(session).get(row.id, 0))

    async def create_edition(self, draft: EditionDraft) -> EditionInfo:
        """Store a new edition and its menu links in one transaction."""
        return await asyncio.to_thread(self._create_edition, draft)

    def _create_edition(self, draft: EditionDraft) -> EditionInfo:
        try:
            with self._db.session() as session:
                if session.scalar(select(LicenseVersion).where(LicenseVersion.name == draft.name)):
                    raise IssuerError("issuer.edition_exists", name=draft.name)
                menus = {m.code: m for m in session.scalars(select(FuncMenu))}
                row = LicenseVersion(
                    name=draft.name,
                    max_clusters=draft.max_clusters,
                    max_nodes=draft.max_nodes,
                    storage_modes=",".join(draft.storage),
                    grace_days=draft.grace_days,
                    price=draft.price,
                    description=draft.description,
                )
                row.menus = [LicenseVersionMenu(menu=menus[code]) for code in draft.features]
                session.add(row)
                session.flush()
                return self._edition_info(session, row, 0)
        except IntegrityError:
            raise IssuerError("issuer.edition_exists", name=draft.name) from None

    async def delete_edition(self, name: str) -> None:
        """Delete an edition that no license uses."""
        await asyncio.to_thread(self._delete_edition, name)

    def _delete_edition(self, name: str) -> None:
        with self._db.session() as session:
            row = self._edition_row(session, name)
            used = self._license_counts(session).get(row.id, 0)
            if used:
                raise IssuerError("issuer.edition_in_use", name=name, count=used)
            session.delete(row)

    @staticmethod
    def _edition_row(session: Session, name: str) -> LicenseVersion:
        row = session.scalar(select(LicenseVersion).where(LicenseVersion.name == name.strip()))
        if row is None:
            raise IssuerError("issuer.edition_not_found", name=name)
        return row

    @staticmethod
    def _license_counts(session: Session) -> dict[int, int]:
        rows = session.execute(select(License.version_id, func.count()).group_by(License.version_id))
        return {version: count for version, count in rows}

    @staticmethod
    def _edition_info(session: Session, row: LicenseVersion, count: int) -> EditionInfo:
        codes = set(
            session.scalars(
                select(FuncMenu.code).join(LicenseVersionMenu).where(LicenseVersionMenu.version_id == row.id)
            )
        )
        features = tuple(c for c in ALL_MENU_CODES if c in codes)
        return EditionInfo(
            id=row.id,
            name=row.name,
            max_clusters=row.max_clusters,
            max_nodes=row.max_nodes,
            storage=tuple(s for s in row.storage_modes.split(",") if s),
            grace_days=row.grace_days,
            price=Decimal(row.price),
            description=row.description,
            features=features,
            modules=modules_of(features),
            license_count=count,
            created_at=row.created_at,
        )

    # -- licenses

    async def list_licenses(self) -> list[LicenseInfo]:
        """All licenses, newest first."""
        return await asyncio.to_thread(self._list_licenses)

    def _list_licenses(self) -> list[LicenseInfo]:
        with self._db.session() as session:
            rows = session.scalars(select(License).order_by(License.id.desc()))
            return [self._license_info(session, row) for row in rows]

    async def get_license(self, license_id: int) -> LicenseInfo:
        """One license by id."""
        return await asyncio.to_thread(self._get_license, license_id)

    def _get_license(self, license_id: int) -> LicenseInfo:
        with self._db.session() as session:
            return self._license_info(session, self._license_row(session, license_id))

    async def create_license(self, draft: LicenseDraft) -> LicenseInfo:
        """Make a license with its own RSA-3072 key pair; its information is stored encrypted for that key."""
        return await asyncio.to_thread(self._create_license, draft)

    def _create_license(self, draft: LicenseDraft) -> LicenseInfo:
        box = self._require_box()
        with self._db.session() as session:  # fail fast on a wrong edition, before the slow key generation
            self._edition_row(session, draft.edition)
        key = licfile.generate_license_key()
        with self._db.session() as session:
            version = self._edition_row(session, draft.edition)
            row = License(
                customer=draft.customer,
                version_id=version.id,
                valid_from=draft.valid_from,
                valid_to=draft.valid_to,
                key_id=licfile.license_key_id(key.public_key()),
                public_key=licfile.public_key_pem(key.public_key()),
                private_key=box.seal(licfile.private_key_der(key), purpose=_LICENSE_PURPOSE),
                license_info=b"",
            )
            session.add(row)
            session.flush()
            row.license_info = self._seal_info(session, row)
            return self._license_info(session, row)

    async def update_license(self, license_id: int, changes: LicenseChanges) -> LicenseInfo:
        """Change customer, edition or validity; the stored license information is re-encrypted."""
        return await asyncio.to_thread(self._update_license, license_id, changes)

    def _update_license(self, license_id: int, changes: LicenseChanges) -> LicenseInfo:
        with self._db.session() as session:
            row = self._license_row(session, license_id)
            if changes.edition is not None:
                row.version = self._edition_row(session, changes.edition)
                row.version_id = row.version.id
            if changes.customer is not None:
                row.customer = changes.customer
            valid_from = changes.valid_from or row.valid_from
            valid_to = changes.valid_to or row.valid_to
            _check_order(valid_from, valid_to)
            row.valid_from, row.valid_to = valid_from, valid_to
            row.updated_at = utcnow()
            session.flush()
            row.license_info = self._seal_info(session, row)
            return self._license_info(session, row)

    async def delete_license(self, license_id: int) -> None:
        """Delete a license and its keys."""
        await asyncio.to_thread(self._delete_license, license_id)

    def _delete_license(self, license_id: int) -> None:
        with self._db.session() as session:
            session.delete(self._license_row(session, license_id))

    async def default_export_paths(self, license_id: int, directory: Path) -> tuple[Path, Path]:
        """`<customer>.ec` and `constant.properties` in a directory (customer name made file-safe)."""
        info = await self.get_license(license_id)
        stem = (
            re.sub(r"[^\w.-]+", "_", info.customer, flags=re.UNICODE).strip("._") or f"license-{license_id}"
        )
        return directory / f"{stem}.ec", directory / "constant.properties"

    async def export_license(self, license_id: int, ec_path: Path, properties_path: Path) -> ExportResult:
        """Write the signed, encrypted .ec and the installation's constant.properties (0600)."""
        return await asyncio.to_thread(self._export_license, license_id, ec_path, properties_path)

    def _export_license(self, license_id: int, ec_path: Path, properties_path: Path) -> ExportResult:
        box = self._require_box()
        with self._db.session() as session:
            row = self._license_row(session, license_id)
            ec_data = self._seal_info(session, row)
            private_der = box.open(row.private_key, purpose=_LICENSE_PURPOSE)
            signing = self._signing_key(session)
            row.license_info = ec_data
        properties = (
            f"# ectui constant.properties for license {license_id} ({row.customer}).\n"
            "# It holds this installation's private key: keep it private (mode 0600).\n"
            f"license_id={license_id}\n"
            f"private_key={base64.b64encode(private_der).decode()}\n"
            f"issuer_public_key={base64.b64encode(licfile.public_raw(signing.public_key())).decode()}\n"
        ).encode()
        written: list[Path] = []
        try:
            for path, data in ((ec_path, ec_data), (properties_path, properties)):
                path = Path(path)
                _write_export_file(path, data)
                written.append(path)
        except OSError as err:
            for path in written:
                path.unlink(missing_ok=True)
            raise IssuerError(
                "issuer.write_failed", path=str(err.filename or ec_path), reason=err.strerror
            ) from None
        return ExportResult(license_id, Path(ec_path), Path(properties_path))

    async def reveal_private_key(self, license_id: int) -> str:
        """The license private key as PEM: only for an operator who asked to see it."""
        return await asyncio.to_thread(self._reveal_private_key, license_id)

    def _reveal_private_key(self, license_id: int) -> str:
        with self._db.session() as session:
            der = self._require_box().open(
                self._license_row(session, license_id).private_key, purpose=_LICENSE_PURPOSE
            )
        key = licfile.load_private_key_der(der, trusted=True)
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    async def issuer_public_key(self) -> str:
        """The issuer's Ed25519 verification key, base64 (as in constant.properties)."""
        return await asyncio.to_thread(self._issuer_public_key)

    def _issuer_public_key(self) -> str:
        with self._db.session() as session:
            row = session.scalars(select(IssuerKey).order_by(IssuerKey.id)).first()
            assert row is not None
            return base64.b64encode(row.public_key).decode()

    def _signing_key(self, session: Session) -> Ed25519PrivateKey:
        row = session.scalars(select(IssuerKey).order_by(IssuerKey.id)).first()
        if row is None:
            raise RuntimeError("IssuerService.start() was not awaited")
        try:
            raw = self._require_box().open(row.private_key, purpose=_SIGNING_PURPOSE)
        except SecretBoxError as err:
            raise IssuerError("issuer.key_locked", reason=str(err)) from None
        return Ed25519PrivateKey.from_private_bytes(raw)

    def document(self, session: Session, row: License) -> licfile.LicenseDocument:
        """The license document of a row, issued now."""
        edition = self._edition_info(session, row.version, 0)
        return licfile.LicenseDocument(
            license_id=str(row.id),
            customer=row.customer,
            edition=edition.name,
            max_clusters=edition.max_clusters,
            max_nodes=edition.max_nodes,
            storage=edition.storage,
            grace_days=edition.grace_days,
            features=edition.features,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            issued_at=utcnow(),
        )

    def _seal_info(self, session: Session, row: License) -> bytes:
        xml = self.document(session, row).to_xml()
        return licfile.encode_ec(xml, licfile.load_public_key_pem(row.public_key), self._signing_key(session))

    @staticmethod
    def _license_row(session: Session, license_id: int) -> License:
        row = session.get(License, license_id)
        if row is None:
            raise IssuerError("issuer.license_not_found", id=license_id)
        return row

    def _license_info(self, session: Session, row: License) -> LicenseInfo:
        edition = self._edition_info(session, row.version, 0)
        today = self._today()
        status = N_("valid")
        if today > row.valid_to:
            status = N_("expired")
        elif today < row.valid_from:
            status = N_("not yet valid")
        return LicenseInfo(
            id=row.id,
            customer=row.customer,
            edition=edition.name,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            created_at=row.created_at,
            updated_at=row.updated_at,
            key_id=row.key_id,
            status=status,
            max_clusters=edition.max_clusters,
            max_nodes=edition.max_nodes,
            storage=edition.storage,
            features=edition.features,
            grace_days=edition.grace_days,
        )


def _write_export_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a new private file beside it, then rename it into place.

    The temporary file has a random name in the target directory and is created with O_CREAT|O_EXCL|
    O_NOFOLLOW, mode 0600: a file or symlink planted under a predictable name (the old '<name>.part')
    cannot redirect the write to another file, and the content is never readable by others, even briefly.
    os.replace swaps it in atomically (a symlink at `path` itself is replaced, not followed); the
    temporary file is removed on any failure.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
