"""The license inside the console (SPEC K1-K3): import, refusals, status, grace, clock, policy."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import shutil
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ectui.config import Settings
from ectui.db.session import Database
from ectui.services import ConsoleServices, build_console_services, build_issuer_services, licfile
from ectui.services.errors import LicenseError, ReadOnlyError
from ectui.services.license import ConsoleLicenseService, LicenseStatus, Usage

NOW = dt.datetime(2030, 6, 1, 12, 0, 0)  # the `clock` fixture's start (conftest CONSOLE_NOW)
VALID_TO = dt.date(2030, 12, 31)


@dataclass(frozen=True)
class Files:
    """Exported .ec + properties pairs, made once for the module."""

    main: Any  # 2030, edition Standard: 2 clusters, 10 nodes, local storage, platform+statistics+users.audit
    other: Any  # same issuer, another installation, 2030
    past: Any  # same issuer, 2020 (expired at NOW)
    future: Any  # same issuer, 2040 (not yet valid at NOW)
    foreign: Any  # another issuer, 2030


@pytest.fixture(scope="module")
def files(
    tmp_path_factory: pytest.TempPathFactory,
    settings_for: Callable[..., Settings],
    make_license: Callable[..., Any],
) -> Files:
    root = tmp_path_factory.mktemp("issued")

    async def make() -> Files:
        issuer = build_issuer_services(settings_for(root / "issuer-a"))
        stranger = build_issuer_services(settings_for(root / "issuer-b"))
        await issuer.start()
        await stranger.start()
        try:
            out = root / "out"
            return Files(
                main=await make_license(issuer.issuer, out / "main", customer="ACME Cloud"),
                other=await make_license(issuer.issuer, out / "other", customer="Other Corp"),
                past=await make_license(
                    issuer.issuer, out / "past", valid_from="2020-01-01", valid_to="2020-12-31"
                ),
                future=await make_license(
                    issuer.issuer, out / "future", valid_from="2040-01-01", valid_to="2040-12-31"
                ),
                foreign=await make_license(stranger.issuer, out / "foreign", customer="ACME Cloud"),
            )
        finally:
            issuer.close()
            stranger.close()

    return asyncio.run(make())


async def restart(services: ConsoleServices, clock: Callable[[], dt.datetime], **kw: Any) -> ConsoleServices:
    services.close()
    again = build_console_services(services.settings, clock=clock, **kw)
    await again.start()
    return again


async def install_main(services: ConsoleServices, files: Files) -> LicenseStatus:
    return await services.license.import_license(files.main.ec_path, files.main.properties_path)


def console_db(settings: Settings) -> Path:
    return settings.data_dir / "console.db"


def db_bytes(settings: Settings) -> bytes:
    path = console_db(settings)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def summary(status: LicenseStatus) -> tuple[object, ...]:
    lic = status.license
    return (
        status.state,
        status.writable,
        status.days_left,
        lic.license_id if lic else None,
        lic.valid_to if lic else None,
    )


# ------------------------------------------------------------------ no license, import


async def test_no_license_is_read_only(console_services: ConsoleServices) -> None:
    status = await console_services.license.status()
    assert status.state == "none"
    assert status.license is None
    assert not status.writable
    assert status.reason is not None and status.reason.key == "license.none"
    assert status.header_text() == "No license"
    with pytest.raises(ReadOnlyError) as err:
        console_services.license.policy().ensure_writable()
    assert err.value.key == "license.none"
    assert status.to_json()["customer"] is None


async def test_import_installs_a_valid_license(console_services: ConsoleServices, files: Files) -> None:
    status = await install_main(console_services, files)
    assert status.state == "valid"
    assert status.writable
    assert status.reason is None
    assert status.days_left == (VALID_TO - NOW.date()).days == 213
    lic = status.license
    assert lic is not None
    assert (lic.license_id, lic.customer, lic.edition) == (
        str(files.main.license_id),
        "ACME Cloud",
        "Standard",
    )
    assert (lic.max_clusters, lic.max_nodes, lic.storage, lic.grace_days) == (2, 10, ("local",), 7)
    assert (lic.valid_from, lic.valid_to) == (dt.date(2030, 1, 1), VALID_TO)
    assert "Standard" in status.header_text() and "213 days left" in status.header_text()
    data = status.to_json()
    assert {"customer", "edition", "valid_from", "valid_to", "days_left", "limits", "features"} <= set(data)
    assert data["limits"] == {"max_clusters": 2, "max_nodes": 10, "storage": ["local"]}
    console_services.license.policy().ensure_writable()
    # the status is the same from the next run on
    assert summary(await console_services.license.status()) == summary(status)


async def test_installed_license_survives_a_restart(
    console_services: ConsoleServices, files: Files, clock: Callable[[], dt.datetime]
) -> None:
    before = await install_main(console_services, files)
    again = await restart(console_services, clock)
    try:
        assert summary(await again.license.status()) == summary(before)
    finally:
        again.close()


async def test_days_left_follows_the_clock(
    console_services: ConsoleServices, files: Files, clock: Any
) -> None:
    await install_main(console_services, files)
    clock.now = dt.datetime(2030, 12, 30, 9, 0)
    status = await console_services.license.status()
    assert (status.state, status.days_left) == ("valid", 1)
    assert "1 day left" in status.header_text()
    clock.now = dt.datetime(2030, 12, 31, 23, 59)
    status = await console_services.license.status()
    assert (status.state, status.days_left, status.writable) == ("valid", 0, True)


async def test_import_uses_the_default_constant_properties(
    console_services: ConsoleServices, files: Files
) -> None:
    settings = console_services.settings
    shutil.copy(files.main.properties_path, settings.properties_path)
    status = await console_services.license.import_license(files.main.ec_path)
    assert status.state == "valid"


async def test_console_private_key_is_not_in_clear(console_services: ConsoleServices, files: Files) -> None:
    await install_main(console_services, files)
    props = dict(
        line.split("=", 1) for line in files.main.properties_path.read_text().splitlines() if "=" in line
    )
    der = base64.b64decode(props["private_key"])
    settings = console_services.settings
    console_services.close()
    stored = db_bytes(settings)
    assert files.main.ec_path.read_bytes()[:64] in stored  # the probe sees what is stored
    assert der not in stored
    assert der[100:160] not in stored
    assert props["private_key"][:64].encode() not in stored
    key_file = settings.console_key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


# ------------------------------------------------------------------ refusals keep the license in force


def _tampered(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    text = data.decode()
    pos = text.index("Ciphertext: ") + 40
    data[pos] = ord("A") if data[pos] != ord("A") else ord("B")
    dst.write_bytes(bytes(data))
    return dst


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _png(src: Path, dst: Path) -> Path:
    dst.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    return dst


REFUSALS: dict[str, tuple[str, Callable[[Files, Path], tuple[Path, Path]]]] = {
    "wrong-key": ("license.wrong_key", lambda f, d: (f.main.ec_path, f.other.properties_path)),
    "other-file-for-this-key": ("license.wrong_key", lambda f, d: (f.other.ec_path, f.main.properties_path)),
    "tampered": (
        "license.tampered",
        lambda f, d: (_tampered(f.main.ec_path, d / "t.ec"), f.main.properties_path),
    ),
    "truncated": (
        "license.truncated",
        lambda f, d: (_truncated(f.main.ec_path, d / "t.ec"), f.main.properties_path),
    ),
    "not-ec": ("license.not_ec", lambda f, d: (_png(f.main.ec_path, d / "p.ec"), f.main.properties_path)),
    "expired": ("license.expired", lambda f, d: (f.past.ec_path, f.past.properties_path)),
    "not-yet-valid": ("license.not_yet_valid", lambda f, d: (f.future.ec_path, f.future.properties_path)),
    "foreign-issuer": ("license.foreign_issuer", lambda f, d: (f.foreign.ec_path, f.main.properties_path)),
    "missing-file": ("license.file_missing", lambda f, d: (d / "nowhere.ec", f.main.properties_path)),
    "missing-properties": (
        "license.properties_missing",
        lambda f, d: (f.main.ec_path, d / "none.properties"),
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_refused_import_keeps_the_installed_license(
    console_services: ConsoleServices, files: Files, clock: Any, tmp_path: Path, case: str
) -> None:
    key, make = REFUSALS[case]
    installed = await install_main(console_services, files)
    ec_path, props_path = make(files, tmp_path)
    with pytest.raises(LicenseError) as err:
        await console_services.license.import_license(ec_path, props_path)
    assert err.value.key == key
    assert str(err.value)  # a readable sentence
    assert summary(await console_services.license.status()) == summary(installed)
    again = await restart(console_services, clock)
    try:
        assert summary(await again.license.status()) == summary(installed)
    finally:
        again.close()


async def test_refusal_with_nothing_installed_leaves_none(
    console_services: ConsoleServices, files: Files
) -> None:
    with pytest.raises(LicenseError) as err:
        await console_services.license.import_license(files.past.ec_path, files.past.properties_path)
    assert err.value.key == "license.expired"
    assert "2020-12-31" in str(err.value)
    assert (await console_services.license.status()).state == "none"


async def test_a_newer_import_replaces_the_license(
    console_services: ConsoleServices, files: Files, clock: Any
) -> None:
    await install_main(console_services, files)
    status = await console_services.license.import_license(files.other.ec_path, files.other.properties_path)
    assert status.license is not None and status.license.customer == "Other Corp"
    again = await restart(console_services, clock)
    try:
        after = await again.license.status()
        assert after.license is not None and after.license.customer == "Other Corp"
    finally:
        again.close()


async def test_forged_license_with_swapped_issuer_key_is_refused(
    console_services: ConsoleServices, files: Files, tmp_path: Path
) -> None:
    await install_main(console_services, files)
    values = dict(
        line.split("=", 1) for line in files.main.properties_path.read_text().splitlines() if "=" in line
    )
    private = licfile.load_private_key_der(base64.b64decode(values["private_key"]))
    forger = Ed25519PrivateKey.generate()
    forged_props = tmp_path / "forged.properties"
    forged_props.write_text(
        f"private_key={values['private_key']}\n"
        f"issuer_public_key={base64.b64encode(licfile.public_raw(forger.public_key())).decode()}\n"
    )
    doc = licfile.LicenseDocument(
        license_id=str(files.main.license_id),
        customer="ACME Cloud",
        edition="Unlimited",
        max_clusters=999,
        max_nodes=99999,
        storage=("local", "shared"),
        grace_days=365,
        features=("platform", "statistics", "users", "workflow", "billing"),
        valid_from=dt.date(2030, 1, 1),
        valid_to=dt.date(2099, 12, 31),
        issued_at=dt.datetime(2030, 5, 1),
    )
    forged_ec = tmp_path / "forged.ec"
    forged_ec.write_bytes(licfile.encode_ec(doc.to_xml(), private.public_key(), forger))
    with pytest.raises(LicenseError) as err:
        await console_services.license.import_license(forged_ec, forged_props)
    assert err.value.key == "license.foreign_issuer"
    status = await console_services.license.status()
    assert status.license is not None and status.license.edition == "Standard"


# ------------------------------------------------------------------ properties file


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"just some text\n", "missing private_key"),
        (b"private_key=AAAA\n", "missing issuer_public_key"),
        (b"private_key=not base64!\nissuer_public_key=AAAA\n", ""),
        (b"private_key=AAAA\nissuer_public_key=AAAA\n", ""),
        (b"\xff\xfe\x00garbage", ""),
    ],
)
async def test_invalid_properties_file_is_refused(
    console_services: ConsoleServices, files: Files, tmp_path: Path, content: bytes, reason: str
) -> None:
    props = tmp_path / "bad.properties"
    props.write_bytes(content)
    with pytest.raises(LicenseError) as err:
        await console_services.license.import_license(files.main.ec_path, props)
    assert err.value.key == "license.properties_invalid"
    assert str(props) in str(err.value)
    assert reason in str(err.value)
    assert (await console_services.license.status()).state == "none"


async def test_properties_key_swapped_is_refused(
    console_services: ConsoleServices, files: Files, tmp_path: Path
) -> None:
    """issuer_public_key holding the RSA key and vice versa: invalid, no traceback."""
    values = dict(
        line.split("=", 1) for line in files.main.properties_path.read_text().splitlines() if "=" in line
    )
    props = tmp_path / "swapped.properties"
    props.write_text(
        f"private_key={values['issuer_public_key']}\nissuer_public_key={values['private_key']}\n"
    )
    with pytest.raises(LicenseError) as err:
        await console_services.license.import_license(files.main.ec_path, props)
    assert err.value.key == "license.properties_invalid"


async def test_missing_default_properties_names_the_path(
    console_services: ConsoleServices, files: Files
) -> None:
    with pytest.raises(LicenseError) as err:
        await console_services.license.import_license(files.main.ec_path)
    assert err.value.key == "license.properties_missing"
    assert str(console_services.settings.properties_path) in str(err.value)


async def test_properties_with_comments_and_colons(
    console_services: ConsoleServices, files: Files, tmp_path: Path
) -> None:
    values = dict(
        line.split("=", 1) for line in files.main.properties_path.read_text().splitlines() if "=" in line
    )
    props = tmp_path / "java.properties"
    props.write_text(
        "# comment\n! another comment\n\n"
        f"private_key : {values['private_key']}\n"
        f"issuer_public_key = {values['issuer_public_key']}\n"
    )
    assert (await console_services.license.import_license(files.main.ec_path, props)).state == "valid"


# ------------------------------------------------------------------ grace, expiry, clock


async def test_grace_period_then_read_only(
    console_services: ConsoleServices, files: Files, clock: Any
) -> None:
    await install_main(console_services, files)
    service = console_services.license
    seen = []
    for day in range(1, 8):  # grace_days = 7
        clock.now = dt.datetime(2030, 12, 31, 10) + dt.timedelta(days=day)
        status = await service.status()
        assert status.state == "grace", day
        assert status.writable
        assert status.days_left == -day
        seen.append(status.grace_days_left)
        if day == 1:
            assert "expired, read-only in 6 days" in status.header_text()
        service.policy().ensure_writable()
        assert service.policy().may_add_cluster()
    assert seen == [6, 5, 4, 3, 2, 1, 0]

    clock.now = dt.datetime(2031, 1, 8, 10)  # valid_to + grace_days + 1
    status = await service.status()
    assert status.state == "expired"
    assert not status.writable
    assert status.grace_days_left is None
    assert status.reason is not None and status.reason.key == "license.expired_readonly"
    with pytest.raises(ReadOnlyError) as err:
        service.policy().ensure_writable()
    assert err.value.key == "license.expired_readonly"
    assert "2030-12-31" in str(err.value)
    decision = service.policy().may_add_cluster()
    assert not decision
    assert isinstance(decision.reason, ReadOnlyError)
    with pytest.raises(ReadOnlyError):
        decision.raise_if_denied()
    assert not service.policy().may_add_nodes(1)


async def test_expired_state_persists_across_restart(
    console_services: ConsoleServices, files: Files, clock: Any
) -> None:
    await install_main(console_services, files)
    clock.now = dt.datetime(2031, 3, 1)
    again = await restart(console_services, clock)
    try:
        status = await again.license.status()
        assert (status.state, status.writable) == ("expired", False)
    finally:
        again.close()


async def test_clock_rollback_is_detected(
    console_services: ConsoleServices, files: Files, clock: Any
) -> None:
    await install_main(console_services, files)
    service = console_services.license
    assert (await service.status()).state == "valid"
    clock.now = NOW - dt.timedelta(days=1)
    status = await service.status()
    assert status.state == "clock_rollback"
    assert not status.writable
    assert status.reason is not None and status.reason.key == "license.clock_rollback"
    with pytest.raises(ReadOnlyError):
        service.policy().ensure_writable()
    assert not service.policy().feature_enabled("platform")
    # the mark survives a restart: a console started with the clock set back is still caught
    again = await restart(console_services, clock)
    try:
        assert (await again.license.status()).state == "clock_rollback"
        clock.now = NOW + dt.timedelta(minutes=1)  # clock fixed
        assert (await again.license.status()).state == "valid"
    finally:
        again.close()


async def test_small_clock_adjustment_is_tolerated(
    console_services: ConsoleServices, files: Files, clock: Any
) -> None:
    await install_main(console_services, files)
    clock.now = NOW - dt.timedelta(minutes=2)
    status = await console_services.license.status()
    assert (status.state, status.writable) == ("valid", True)


async def test_not_yet_valid_by_clock(console_services: ConsoleServices, files: Files, clock: Any) -> None:
    """A console whose clock is before valid_from (and has no later time seen) is read-only: not yet valid."""
    await install_main(console_services, files)
    settings = console_services.settings
    console_services.close()
    # a fresh console database (no last-seen mark) with the same installed rows copied, at a clock before valid_from
    copy = Settings.from_env(
        {"ECTUI_HOME": str(settings.config_dir.parent.parent / "copy"), "ECTUI_LANG": "en"}
    )
    shutil.copytree(settings.config_dir.parent, copy.config_dir.parent)
    with sqlite3.connect(console_db(copy)) as conn:
        conn.execute("DELETE FROM console_state")
    early = type(clock)(dt.datetime(2029, 12, 1))
    services = build_console_services(copy, clock=early)
    await services.start()
    try:
        status = await services.license.status()
        assert status.state == "not_yet_valid"
        assert not status.writable
        assert status.reason is not None and status.reason.key == "license.not_yet_valid"
    finally:
        services.close()


async def test_edited_database_row_does_not_extend_the_license(
    console_services: ConsoleServices, files: Files, clock: Any
) -> None:
    await install_main(console_services, files)
    settings = console_services.settings
    console_services.close()
    with sqlite3.connect(console_db(settings)) as conn:
        changed = conn.execute(
            "UPDATE installed_license SET valid_to = '2099-12-31', edition = 'Unlimited', customer = 'Mallory'"
        ).rowcount
        assert changed == 1
        assert conn.execute("SELECT valid_to FROM installed_license").fetchone()[0] == "2099-12-31"
    clock.now = dt.datetime(2031, 2, 1)
    services = build_console_services(settings, clock=clock)
    await services.start()
    try:
        status = await services.license.status()
        assert status.license is not None
        assert status.license.valid_to == VALID_TO
        assert (status.license.edition, status.license.customer) == ("Standard", "ACME Cloud")
        assert (status.state, status.writable) == ("expired", False)
    finally:
        services.close()


async def test_edited_stored_file_grants_nothing(
    console_services: ConsoleServices, files: Files, clock: Any
) -> None:
    await install_main(console_services, files)
    settings = console_services.settings
    console_services.close()
    with sqlite3.connect(console_db(settings)) as conn:
        (data,) = conn.execute("SELECT ec_data FROM installed_license").fetchone()
        text = bytes(data).decode()
        pos = text.index("Nonce: ") + 8
        edited = text[:pos] + ("A" if text[pos] != "A" else "B") + text[pos + 1 :]
        conn.execute("UPDATE installed_license SET ec_data = ?", (edited.encode(),))
    services = build_console_services(settings, clock=clock)
    await services.start()
    try:
        status = await services.license.status()
        assert (status.state, status.writable, status.license) == ("none", False, None)
    finally:
        services.close()


async def test_readonly_flag_makes_a_valid_license_read_only(
    console_services: ConsoleServices, files: Files, clock: Any
) -> None:
    await install_main(console_services, files)
    again = await restart(console_services, clock, readonly=True)
    try:
        status = await again.license.status()
        assert status.state == "valid"
        assert not status.writable
        assert status.reason is not None and status.reason.key == "readonly.flag"
        with pytest.raises(ReadOnlyError) as err:
            again.license.policy().ensure_writable()
        assert err.value.key == "readonly.flag"
        assert not again.license.policy().may_add_cluster()
        assert again.readonly_flag
    finally:
        again.close()


# ------------------------------------------------------------------ policy


@pytest.fixture
async def policy_service(console_services: ConsoleServices, files: Files, clock: Any) -> Any:
    """Installs the main license, then returns a factory of services seeing a given usage."""
    await install_main(console_services, files)

    async def with_usage(clusters: int = 0, nodes: int = 0) -> ConsoleLicenseService:
        db: Database = console_services.db
        service = ConsoleLicenseService(
            console_services.settings, db, clock=clock, usage=lambda: Usage(clusters=clusters, nodes=nodes)
        )
        status = await service.status()
        assert status.usage == Usage(clusters, nodes)
        return service

    return with_usage


async def test_policy_features(policy_service: Any) -> None:
    policy = (await policy_service()).policy()
    # edition features: platform, statistics, users.audit
    for code in (
        "platform",
        "platform.vms",
        "platform.license",
        "statistics",
        "statistics.export",
        "users",
        "users.audit",
    ):
        assert policy.feature_enabled(code), code
    for code in (
        "users.accounts",
        "workflow",
        "workflow.requests",
        "billing",
        "billing.bills",
        "plat",
        "user",
    ):
        assert not policy.feature_enabled(code), code
    policy.require_feature("statistics")
    with pytest.raises(LicenseError) as err:
        policy.require_feature("billing")
    assert err.value.key == "license.feature_disabled"
    assert "billing" in str(err.value) and "Standard" in str(err.value)


async def test_policy_without_license(console_services: ConsoleServices) -> None:
    await console_services.license.status()
    policy = console_services.license.policy()
    assert not policy.feature_enabled("platform")
    assert not policy.may_add_cluster()
    assert not policy.may_add_nodes(1)
    assert not policy.storage_allowed("local")


async def test_policy_cluster_limit(policy_service: Any) -> None:
    assert (await policy_service(clusters=0)).policy().may_add_cluster()
    assert (await policy_service(clusters=1)).policy().may_add_cluster()
    decision = (await policy_service(clusters=2)).policy().may_add_cluster()
    assert not decision
    assert decision.reason is not None and decision.reason.key == "license.limit_clusters"
    assert "2 cluster" in str(decision.reason)
    with pytest.raises(LicenseError):
        decision.raise_if_denied()


async def test_policy_node_limit(policy_service: Any) -> None:
    policy = (await policy_service(nodes=8)).policy()
    assert policy.may_add_nodes(1)
    assert policy.may_add_nodes(2)  # exactly at the limit of 10
    decision = policy.may_add_nodes(3)
    assert not decision
    assert decision.reason is not None and decision.reason.key == "license.limit_nodes"
    assert decision.reason.params == {"max": 10, "adding": 3, "total": 11}
    assert not (await policy_service(nodes=10)).policy().may_add_nodes(1)


async def test_policy_storage_modes(policy_service: Any) -> None:
    policy = (await policy_service()).policy()
    assert policy.storage_allowed("local")
    decision = policy.storage_allowed("shared")
    assert not decision
    assert decision.reason is not None and decision.reason.key == "license.storage_mode"
    assert "shared" in str(decision.reason) and "local" in str(decision.reason)


async def test_concurrent_status_reads_do_not_lock_each_other_out(
    console_services: ConsoleServices, files: Files, clock: Any
) -> None:
    await install_main(console_services, files)
    for step in range(5):
        clock.now = NOW + dt.timedelta(minutes=step + 1)  # every round moves the mark forward
        results = await asyncio.gather(*(console_services.license.status() for _ in range(8)))
        assert {r.state for r in results} == {"valid"}
