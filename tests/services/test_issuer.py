"""The license authority service (SPEC L1-L6): menus, editions, licenses, keys at rest, export."""

from __future__ import annotations

import base64
import datetime as dt
import sqlite3
import stat
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ectui.config import Settings
from ectui.services import IssuerServices, build_issuer_services, licfile
from ectui.services.errors import IssuerError, ValidationError
from ectui.services.issuer import (
    MODULES,
    LicenseChanges,
    expand_features,
    modules_of,
)
from tests.kit.issuer import draft, edition

STABLE_CODES = [
    "platform",
    "platform.clusters",
    "platform.nodes",
    "platform.images",
    "platform.isos",
    "platform.templates",
    "platform.vms",
    "platform.resize",
    "platform.license",
    "statistics",
    "statistics.dashboard",
    "statistics.export",
    "users",
    "users.accounts",
    "users.audit",
    "workflow",
    "workflow.requests",
    "workflow.approvals",
    "billing",
    "billing.prices",
    "billing.metering",
    "billing.bills",
]
"""Licenses carry these codes: changing one breaks every console in the field."""


def db_bytes(settings: Settings) -> bytes:
    """All bytes of the issuer SQLite database, with its WAL and shared-memory files."""
    path = settings.data_dir / "issuer.db"
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


async def restart(services: IssuerServices, settings: Settings | None = None) -> IssuerServices:
    services.close()
    again = build_issuer_services(settings or services.settings)
    await again.start()
    return again


# ------------------------------------------------------------------ menus (L1)


async def test_menu_tree_has_five_modules_with_stable_codes(issuer_services: IssuerServices) -> None:
    tree = await issuer_services.issuer.menu_tree()
    assert (
        [node.code for node in tree]
        == list(MODULES)
        == ["platform", "statistics", "users", "workflow", "billing"]
    )
    codes = [code for node in tree for code in (node.code, *(c.code for c in node.children))]
    assert codes == STABLE_CODES
    for node in tree:
        assert node.children
        assert all(child.module == node.code for child in node.children)
        assert all(child.code.startswith(node.code + ".") for child in node.children)


async def test_seeding_is_idempotent_across_restarts(issuer_services: IssuerServices) -> None:
    settings = issuer_services.settings
    first_tree = await issuer_services.issuer.menu_tree()
    issuer_key = await issuer_services.issuer.issuer_public_key()
    again = await restart(issuer_services)
    again = await restart(again)
    try:
        assert await again.issuer.menu_tree() == first_tree
        assert await again.issuer.issuer_public_key() == issuer_key  # the signing key is made only once
    finally:
        again.close()
    with sqlite3.connect(settings.data_dir / "issuer.db") as conn:
        assert conn.execute("SELECT count(*) FROM cpc_func_menu").fetchone()[0] == len(STABLE_CODES)
        assert conn.execute("SELECT count(*) FROM issuer_key").fetchone()[0] == 1


async def test_legacy_table_names(issuer_services: IssuerServices) -> None:
    with sqlite3.connect(issuer_services.settings.data_dir / "issuer.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"cpc_func_menu", "cpc_license_version", "cpc_license_version_menu", "cpc_license"} <= tables


def test_module_code_expands_to_all_its_menus() -> None:
    assert expand_features(["billing"]) == ("billing", "billing.prices", "billing.metering", "billing.bills")
    assert set(expand_features(["platform"])) == {c for c in STABLE_CODES if c.split(".")[0] == "platform"}


def test_single_menu_brings_its_module_root() -> None:
    assert expand_features(["users.audit"]) == ("users", "users.audit")
    assert expand_features(["workflow.approvals", "platform.images"]) == (
        "platform",
        "platform.images",
        "workflow",
        "workflow.approvals",
    )
    assert modules_of(expand_features(["billing.bills", "users"])) == ("users", "billing")


# ------------------------------------------------------------------ editions (L2)


async def test_edition_create_list_get_delete(issuer_services: IssuerServices) -> None:
    issuer = issuer_services.issuer
    created = await issuer.create_edition(edition())
    assert created.name == "Standard"
    assert (created.max_clusters, created.max_nodes) == (3, 50)
    assert created.storage == ("local", "shared")
    assert created.modules == ("platform", "users")
    assert created.features == tuple(c for c in STABLE_CODES if c.split(".")[0] in ("platform", "users"))
    assert created.price == Decimal("1999.00")
    assert created.description == "three clusters"
    assert created.license_count == 0
    await issuer.create_edition(edition(name="Basic", features="platform.vms", storage="local"))
    assert [e.name for e in await issuer.list_editions()] == ["Basic", "Standard"]
    basic = await issuer.get_edition("Basic")
    assert basic.features == ("platform", "platform.vms")
    assert basic.to_json()["storage"] == ["local"]
    await issuer.delete_edition("Basic")
    assert [e.name for e in await issuer.list_editions()] == ["Standard"]
    # its menu links went with it
    with sqlite3.connect(issuer_services.settings.data_dir / "issuer.db") as conn:
        links = conn.execute("SELECT count(*) FROM cpc_license_version_menu").fetchone()[0]
    assert links == len(created.features)
    with pytest.raises(IssuerError) as info:
        await issuer.get_edition("Basic")
    assert info.value.key == "issuer.edition_not_found"
    with pytest.raises(IssuerError) as info:
        await issuer.delete_edition("Basic")
    assert info.value.key == "issuer.edition_not_found"


async def test_duplicate_edition_name_is_refused(issuer_services: IssuerServices) -> None:
    await issuer_services.issuer.create_edition(edition())
    with pytest.raises(IssuerError) as info:
        await issuer_services.issuer.create_edition(edition(max_clusters="9"))
    assert info.value.key == "issuer.edition_exists"
    assert "Standard" in str(info.value)
    assert len(await issuer_services.issuer.list_editions()) == 1
    assert (await issuer_services.issuer.get_edition("Standard")).max_clusters == 3


@pytest.mark.parametrize(
    ("changes", "key", "field"),
    [
        ({"name": "  "}, "validation.required", "Name"),
        ({"max_clusters": "three"}, "validation.int", "Max clusters"),
        ({"max_clusters": "0"}, "validation.positive", "Max clusters"),
        ({"max_clusters": ""}, "validation.required", "Max clusters"),
        ({"max_nodes": "1.5"}, "validation.int", "Max nodes"),
        ({"max_nodes": "-4"}, "validation.positive", "Max nodes"),
        ({"features": "platform,teleport"}, "issuer.unknown_feature", "Features"),
        ({"features": " , "}, "issuer.no_features", "Features"),
        ({"storage": ""}, "issuer.storage_required", "Storage"),
        ({"storage": "local,ceph"}, "validation.choice", "Storage"),
        ({"price": "lots"}, "validation.decimal", "Price"),
        ({"price": "-1"}, "validation.decimal", "Price"),
        ({"price": "1.999"}, "validation.decimal", "Price"),
        ({"price": "NaN"}, "validation.decimal", "Price"),
        ({"grace_days": "-1"}, "validation.non_negative", "Grace days"),
        ({"grace_days": "x"}, "validation.int", "Grace days"),
        ({"description": "d" * 2001}, "validation.too_long", "Description"),
    ],
)
def test_edition_draft_validation_names_the_field(changes: dict[str, str], key: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        edition(**changes)
    assert info.value.key == key
    assert info.value.field == field
    if key.startswith("validation."):  # generic templates name the field; issuer.* ones say it in words
        assert field in str(info.value)


def test_edition_draft_normalises_values() -> None:
    parsed = edition(
        name="  Pro ", storage="shared, local", price="12.5", features=["users.audit", "platform"]
    )
    assert parsed.name == "Pro"
    assert parsed.storage == ("local", "shared")
    assert parsed.price == Decimal("12.50")
    assert parsed.features[0] == "platform"
    assert parsed.features[-2:] == ("users", "users.audit")


def test_edition_draft_too_large_number_says_the_maximum() -> None:
    with pytest.raises(ValidationError) as info:
        edition(max_clusters="20000")
    assert info.value.field == "Max clusters"
    assert info.value.key == "validation.too_large"
    assert "10000" in str(info.value)
    assert "whole number" not in str(info.value)


# ------------------------------------------------------------------ licenses (L3)


async def test_license_create_list_get_update_delete(issuer_services: IssuerServices) -> None:
    issuer = issuer_services.issuer
    await issuer.create_edition(edition())
    await issuer.create_edition(edition(name="Basic", max_clusters="1", max_nodes="5", features="platform"))
    info = await issuer.create_license(draft())
    assert info.customer == "ACME Cloud"
    assert info.edition == "Standard"
    assert (info.valid_from, info.valid_to) == (dt.date(2030, 1, 1), dt.date(2030, 12, 31))
    assert (info.max_clusters, info.max_nodes) == (3, 50)
    assert len(info.key_id) == 64
    assert "private" not in str(info.to_json()).lower()
    second = await issuer.create_license(draft(customer="Beta Corp"))
    assert second.key_id != info.key_id  # a key pair per license
    assert [lic.id for lic in await issuer.list_licenses()] == [second.id, info.id]  # newest first
    assert (await issuer.get_edition("Standard")).license_count == 2

    updated = await issuer.update_license(info.id, LicenseChanges.parse(edition="Basic", customer="ACME Ltd"))
    assert (updated.edition, updated.customer) == ("Basic", "ACME Ltd")
    assert (updated.max_clusters, updated.max_nodes, updated.features) == (
        1,
        5,
        expand_features(["platform"]),
    )
    assert updated.key_id == info.key_id
    assert updated.updated_at >= info.updated_at
    fetched = await issuer.get_license(info.id)
    assert fetched == updated
    assert (await issuer.get_edition("Basic")).license_count == 1

    moved = await issuer.update_license(info.id, LicenseChanges.parse(valid_to="2031-06-30"))
    assert moved.valid_to == dt.date(2031, 6, 30)
    assert moved.valid_from == dt.date(2030, 1, 1)

    await issuer.delete_license(info.id)
    assert [lic.id for lic in await issuer.list_licenses()] == [second.id]
    with pytest.raises(IssuerError) as err:
        await issuer.get_license(info.id)
    assert err.value.key == "issuer.license_not_found"
    with pytest.raises(IssuerError) as err:
        await issuer.delete_license(info.id)
    assert err.value.key == "issuer.license_not_found"


async def test_update_refuses_validity_out_of_order(issuer_services: IssuerServices) -> None:
    issuer = issuer_services.issuer
    await issuer.create_edition(edition())
    info = await issuer.create_license(draft())
    with pytest.raises(ValidationError) as err:
        await issuer.update_license(info.id, LicenseChanges.parse(valid_to="2029-12-31"))
    assert err.value.key == "validation.date_order"
    with pytest.raises(ValidationError) as err:
        await issuer.update_license(info.id, LicenseChanges.parse(valid_from="2031-01-01"))
    assert err.value.key == "validation.date_order"
    with pytest.raises(IssuerError) as ierr:
        await issuer.update_license(info.id, LicenseChanges.parse(edition="Nope"))
    assert ierr.value.key == "issuer.edition_not_found"
    unchanged = await issuer.get_license(info.id)
    assert (unchanged.valid_from, unchanged.valid_to, unchanged.edition) == (
        info.valid_from,
        info.valid_to,
        "Standard",
    )


@pytest.mark.parametrize(
    ("changes", "key", "field"),
    [
        ({"valid_from": "2031-01-01"}, "validation.date_order", "Valid to"),
        ({"valid_to": "31/12/2030"}, "validation.date", "Valid to"),
        ({"valid_from": ""}, "validation.required", "Valid from"),
        ({"customer": ""}, "validation.required", "Customer"),
        ({"customer": "x" * 201}, "validation.too_long", "Customer"),
        ({"edition": " "}, "validation.required", "Edition"),
    ],
)
def test_license_draft_validation(changes: dict[str, str], key: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        draft(**changes)
    assert (info.value.key, info.value.field) == (key, field)


def test_customer_with_control_character_gets_a_fitting_message() -> None:
    with pytest.raises(ValidationError) as info:
        draft(customer="ACME\tCloud")
    assert info.value.field == "Customer"
    assert "required" not in str(info.value)


async def test_export_file_name_stays_in_the_directory(
    issuer_services: IssuerServices, tmp_path: Path
) -> None:
    issuer = issuer_services.issuer
    await issuer.create_edition(edition())
    info = await issuer.create_license(draft(customer="../../etc/passwd"))
    ec_path, props_path = await issuer.default_export_paths(info.id, tmp_path)
    assert ec_path.parent == props_path.parent == tmp_path
    assert ".." not in ec_path.name and "/" not in ec_path.name
    await issuer.update_license(info.id, LicenseChanges.parse(customer="..."))
    ec_path, _props = await issuer.default_export_paths(info.id, tmp_path)
    assert ec_path == tmp_path / f"license-{info.id}.ec"


async def test_license_for_unknown_edition_is_refused(issuer_services: IssuerServices) -> None:
    with pytest.raises(IssuerError) as info:
        await issuer_services.issuer.create_license(draft(edition="Nope"))
    assert info.value.key == "issuer.edition_not_found"
    assert await issuer_services.issuer.list_licenses() == []


async def test_edition_in_use_cannot_be_deleted(issuer_services: IssuerServices) -> None:
    issuer = issuer_services.issuer
    await issuer.create_edition(edition())
    info = await issuer.create_license(draft())
    with pytest.raises(IssuerError) as err:
        await issuer.delete_edition("Standard")
    assert err.value.key == "issuer.edition_in_use"
    assert err.value.params["count"] == 1
    assert [e.name for e in await issuer.list_editions()] == ["Standard"]
    await issuer.delete_license(info.id)
    await issuer.delete_edition("Standard")
    assert await issuer.list_editions() == []


async def test_license_status_follows_today(tmp_path: Path, settings_for: Callable[..., Settings]) -> None:
    today = [dt.date(2029, 6, 1)]
    services = build_issuer_services(settings_for(tmp_path / "i"), today=lambda: today[0])
    await services.start()
    try:
        await services.issuer.create_edition(edition())
        info = await services.issuer.create_license(draft())
        assert info.status == "not yet valid"
        today[0] = dt.date(2030, 12, 31)
        assert (await services.issuer.get_license(info.id)).status == "valid"
        today[0] = dt.date(2031, 1, 1)
        assert (await services.issuer.get_license(info.id)).status == "expired"
    finally:
        services.close()


# ------------------------------------------------------------------ keys at rest (L6)


async def test_private_keys_are_not_stored_in_clear(issuer_services: IssuerServices) -> None:
    issuer = issuer_services.issuer
    await issuer.create_edition(edition())
    info = await issuer.create_license(draft())
    pem = await issuer.reveal_private_key(info.id)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size >= 3072
    assert licfile.license_key_id(key.public_key()) == info.key_id  # matches the license's public key
    der = licfile.private_key_der(key)
    pem_body = "".join(pem.strip().splitlines()[1:-1]).encode()
    settings = issuer_services.settings
    issuer_services.close()  # dispose: every connection closed, WAL left as it is
    stored = db_bytes(settings)
    assert len(stored) > 4096
    assert der not in stored
    assert der[64:128] not in stored  # not even a piece of it
    assert pem_body[:64] not in stored
    assert b"PRIVATE KEY" not in stored
    # sanity of the probe: public material of the same license is stored and found
    assert info.key_id.encode() in stored


async def test_master_key_file_is_private(issuer_services: IssuerServices) -> None:
    settings = issuer_services.settings
    key_file = settings.issuer_key_file
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.stat().st_size == 32
    assert stat.S_IMODE(settings.config_dir.stat().st_mode) == 0o700


async def test_master_key_file_permissions_repaired(issuer_services: IssuerServices) -> None:
    key_file = issuer_services.settings.issuer_key_file
    key_file.chmod(0o644)
    again = await restart(issuer_services)
    try:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    finally:
        again.close()


async def test_another_master_key_cannot_open_the_keys(issuer_services: IssuerServices) -> None:
    """A database copied without its key file gives away nothing: export refuses, no traceback."""
    await issuer_services.issuer.create_edition(edition())
    info = await issuer_services.issuer.create_license(draft())
    settings = issuer_services.settings
    issuer_services.close()
    settings.issuer_key_file.write_bytes(b"\x01" * 32)
    again = build_issuer_services(settings)
    try:
        await again.start()
        with pytest.raises(IssuerError) as err:
            await again.issuer.export_license(
                info.id, settings.data_dir / "x.ec", settings.data_dir / "x.properties"
            )
        assert err.value.key == "issuer.key_locked"
    finally:
        again.close()


# ------------------------------------------------------------------ export (L4, L5)


async def test_export_writes_decodable_ec_and_private_properties(
    issuer_services: IssuerServices, tmp_path: Path
) -> None:
    issuer = issuer_services.issuer
    await issuer.create_edition(edition())
    info = await issuer.create_license(draft(customer="ACME 云"))
    ec_path, props_path = await issuer.default_export_paths(info.id, tmp_path / "out")
    assert ec_path.name == "ACME_云.ec"
    assert props_path.name == "constant.properties"
    result = await issuer.export_license(info.id, ec_path, props_path)
    assert (result.license_id, result.ec_path, result.properties_path) == (info.id, ec_path, props_path)

    assert stat.S_IMODE(props_path.stat().st_mode) == 0o600
    lines = props_path.read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert any(line.startswith("private_key=") for line in lines)
    assert any(line.startswith("issuer_public_key=") for line in lines)
    assert values["license_id"] == str(info.id)
    assert values["issuer_public_key"] == await issuer.issuer_public_key()
    private = licfile.load_private_key_der(base64.b64decode(values["private_key"]))
    issuer_public = Ed25519PublicKey.from_public_bytes(base64.b64decode(values["issuer_public_key"]))
    assert licfile.license_key_id(private.public_key()) == info.key_id

    doc = licfile.decode_ec(ec_path.read_bytes(), private, issuer_public)
    assert doc.license_id == str(info.id)
    assert (doc.customer, doc.edition) == ("ACME 云", "Standard")
    assert (doc.max_clusters, doc.max_nodes, doc.storage, doc.grace_days) == (3, 50, ("local", "shared"), 7)
    assert doc.features == info.features
    assert (doc.valid_from, doc.valid_to) == (info.valid_from, info.valid_to)
    assert not list((tmp_path / "out").glob("*.part")) and not list((tmp_path / "out").glob("*.tmp"))


async def test_export_after_update_carries_the_new_edition(
    issuer_services: IssuerServices, tmp_path: Path
) -> None:
    issuer = issuer_services.issuer
    await issuer.create_edition(edition())
    await issuer.create_edition(
        edition(name="Basic", max_clusters="1", features="platform.vms", storage="local")
    )
    info = await issuer.create_license(draft())
    await issuer.update_license(info.id, LicenseChanges.parse(edition="Basic", valid_to="2032-01-31"))
    await issuer.export_license(info.id, tmp_path / "a.ec", tmp_path / "a.properties")
    values = dict(
        line.split("=", 1) for line in (tmp_path / "a.properties").read_text().splitlines() if "=" in line
    )
    doc = licfile.decode_ec(
        (tmp_path / "a.ec").read_bytes(),
        licfile.load_private_key_der(base64.b64decode(values["private_key"])),
        Ed25519PublicKey.from_public_bytes(base64.b64decode(values["issuer_public_key"])),
    )
    assert (doc.edition, doc.max_clusters, doc.storage) == ("Basic", 1, ("local",))
    assert doc.features == ("platform", "platform.vms")
    assert doc.valid_to == dt.date(2032, 1, 31)


async def test_export_failure_leaves_no_half_written_files(
    issuer_services: IssuerServices, tmp_path: Path
) -> None:
    issuer = issuer_services.issuer
    await issuer.create_edition(edition())
    info = await issuer.create_license(draft())
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    ec_path = tmp_path / "ok" / "acme.ec"
    with pytest.raises(IssuerError) as err:
        await issuer.export_license(info.id, ec_path, blocker / "constant.properties")
    assert err.value.key == "issuer.write_failed"
    assert not ec_path.exists()
    with pytest.raises(IssuerError) as err:
        await issuer.export_license(999, tmp_path / "x.ec", tmp_path / "x.properties")
    assert err.value.key == "issuer.license_not_found"
    assert not (tmp_path / "x.ec").exists()


# ------------------------------------------------------------------ passphrase mode (L6)


async def test_passphrase_mode(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Awaitable[Any]]
) -> None:
    home = tmp_path / "vault"
    settings = settings_for(home, ECTUI_ISSUER_PASSPHRASE="correct horse battery staple")
    services = build_issuer_services(settings)
    await services.start()
    try:
        issued = await make_license(services.issuer, tmp_path / "out")
        info = await services.issuer.get_license(issued.license_id)
        key = serialization.load_pem_private_key(
            (await services.issuer.reveal_private_key(issued.license_id)).encode(), password=None
        )
        assert isinstance(key, rsa.RSAPrivateKey)
        assert licfile.license_key_id(key.public_key()) == info.key_id
    finally:
        services.close()
    assert not settings.issuer_key_file.exists()  # the passphrase, not a key file, protects this database
    assert licfile.private_key_der(key) not in db_bytes(settings)

    # the right passphrase opens it again
    services = build_issuer_services(settings)
    await services.start()
    try:
        assert [lic.id for lic in await services.issuer.list_licenses()] == [issued.license_id]
        await services.issuer.export_license(
            issued.license_id, tmp_path / "again.ec", tmp_path / "again.properties"
        )
    finally:
        services.close()

    # a wrong passphrase is refused
    wrong = build_issuer_services(settings_for(home, ECTUI_ISSUER_PASSPHRASE="Tr0ub4dor&3"))
    try:
        with pytest.raises(IssuerError) as err:
            await wrong.start()
        assert err.value.key == "issuer.key_locked"
        assert "Tr0ub4dor" not in str(err.value)
    finally:
        wrong.close()

    # no passphrase at all is refused too (and does not quietly make a key file)
    bare = build_issuer_services(settings_for(home))
    try:
        with pytest.raises(IssuerError) as err:
            await bare.start()
        assert err.value.key == "issuer.key_locked"
    finally:
        bare.close()
    assert not settings.issuer_key_file.exists()


async def test_key_file_database_refuses_a_passphrase(
    issuer_services: IssuerServices, settings_for: Callable[..., Settings]
) -> None:
    home = issuer_services.settings.config_dir.parent
    issuer_services.close()
    services = build_issuer_services(settings_for(home, ECTUI_ISSUER_PASSPHRASE="late passphrase"))
    try:
        with pytest.raises(IssuerError) as err:
            await services.start()
        assert err.value.key == "issuer.key_locked"
    finally:
        services.close()
