"""Only the vendor's issuer signs licenses: trusted keys when configured, else the first issuer is pinned."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ectui.config import Settings
from ectui.services import build_console_services, build_issuer_services
from ectui.services.errors import LicenseError
from tests.kit import CONSOLE_NOW, Clock


async def _issue(home: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]) -> Any:
    issuer = build_issuer_services(settings_for(home))
    await issuer.start()
    try:
        issued = await make_license(issuer.issuer, home / "out")
        key = await issuer.issuer.issuer_public_key()
    finally:
        issuer.close()
    return issued, key


async def test_configured_trusted_keys_refuse_other_issuers_on_a_fresh_console(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> None:
    vendor, vendor_key = await _issue(tmp_path / "vendor", settings_for, make_license)
    rogue, _rogue_key = await _issue(tmp_path / "rogue", settings_for, make_license)
    settings = settings_for(tmp_path / "console", ECTUI_TRUSTED_ISSUER_KEYS=vendor_key)
    console = build_console_services(settings, clock=Clock(CONSOLE_NOW))
    await console.start()
    try:
        with pytest.raises(LicenseError) as err:
            await console.license.import_license(rogue.ec_path, rogue.properties_path)
        assert err.value.key == "license.foreign_issuer"
        assert (await console.license.status()).state == "none"
        status = await console.license.import_license(vendor.ec_path, vendor.properties_path)
        assert status.state == "valid"
    finally:
        console.close()


async def test_trusted_keys_file_in_the_config_dir(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> None:
    vendor, vendor_key = await _issue(tmp_path / "vendor", settings_for, make_license)
    rogue, _ = await _issue(tmp_path / "rogue", settings_for, make_license)
    settings = settings_for(tmp_path / "console")
    settings.config_dir.mkdir(parents=True)
    (settings.config_dir / "trusted-issuers").write_text(f"# the vendor\n{vendor_key}\n")
    assert settings.trusted_issuer_keys() == [vendor_key]
    console = build_console_services(settings, clock=Clock(CONSOLE_NOW))
    await console.start()
    try:
        with pytest.raises(LicenseError):
            await console.license.import_license(rogue.ec_path, rogue.properties_path)
        await console.license.import_license(vendor.ec_path, vendor.properties_path)
    finally:
        console.close()


async def test_without_trusted_keys_the_first_issuer_is_pinned_and_survives_a_restart(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> None:
    first, first_key = await _issue(tmp_path / "first", settings_for, make_license)
    second, _ = await _issue(tmp_path / "second", settings_for, make_license)
    settings = settings_for(tmp_path / "console")
    console = build_console_services(settings, clock=Clock(CONSOLE_NOW))
    await console.start()
    await console.license.import_license(first.ec_path, first.properties_path)
    console.close()
    again = build_console_services(settings, clock=Clock(CONSOLE_NOW))
    await again.start()
    try:
        with pytest.raises(LicenseError) as err:
            await again.license.import_license(second.ec_path, second.properties_path)
        assert err.value.key == "license.foreign_issuer"
        status = await again.license.status()
        assert status.license is not None and status.license.license_id == str(first.license_id)
        assert base64.b64decode(first_key)  # the pinned key is the first issuer's
    finally:
        again.close()


async def test_a_refused_first_import_pins_nothing(
    tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> None:
    good, _ = await _issue(tmp_path / "good", settings_for, make_license)
    other, _ = await _issue(tmp_path / "other", settings_for, make_license)
    console = build_console_services(settings_for(tmp_path / "console"), clock=Clock(CONSOLE_NOW))
    await console.start()
    try:
        broken = tmp_path / "broken.ec"
        broken.write_bytes(other.ec_path.read_bytes()[:-40])
        with pytest.raises(LicenseError):
            await console.license.import_license(broken, other.properties_path)
        await console.license.import_license(good.ec_path, good.properties_path)
    finally:
        console.close()
