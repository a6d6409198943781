"""Holes closed: CSV formula injection, an auditor switching read-only, the issuer's export through a planted
symlink, a clock once ahead locking the console for ever, and refused logins telling who exists."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import os
import re
import stat
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ectui.services import ConsoleServices, IssuerServices, licfile
from ectui.services.audit import AccessError, AuditFilter, Identity
from ectui.services.billing import Bill, BillLine
from ectui.services.billing import write_csv as write_bill_csv
from ectui.services.csvsafe import safe_cell, safe_row
from ectui.services.errors import IssuerError, LicenseError
from ectui.services.stats import StatsFilter, StatsReport
from ectui.services.stats import write_csv as write_stats_csv
from ectui.services.users import LOCK_FAILURES, LOCK_WINDOW, UserError
from tests.kit import CONSOLE_NOW, Clock, home_settings
from tests.kit.audit import raw
from tests.kit.cli import Result
from tests.kit.issuer import draft, edition
from tests.kit.users import ADMIN_PW, AUDIT_PW, OPS_PW, with_accounts

ROOT = Path(__file__).resolve().parents[2]


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


# ------------------------------------------------------------------ 2. CSV formula injection


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-5", "'-5"),  # text that looks like a number is still text
        ("web-1", "web-1"),
        ("a=b", "a=b"),
        ("", ""),
        ("云主机", "云主机"),
        (-5, -5),  # numbers stay numbers, negative ones too
        (Decimal("-1.50"), Decimal("-1.50")),
        (-0.25, -0.25),
        (None, None),
    ],
)
def test_formula_cells_get_an_apostrophe_and_numbers_stay_numbers(value: object, written: object) -> None:
    assert safe_cell(value) == written
    assert safe_row(["ok", value]) == ["ok", written]


def test_every_csv_writer_goes_through_csvsafe() -> None:
    unsafe = []
    for path in sorted((ROOT / "ectui").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"csv\.(writer|DictWriter)\(", line) and "safe_writer(csv.writer(" not in line:
                unsafe.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert unsafe == []


async def test_audit_csv_neutralises_formula_cells(console: ConsoleServices, tmp_path: Path) -> None:
    await console.audit.record(Identity("=evil", "admin"), "project.add", "@SUM(A1)", "failed", "-2+3")
    path = await console.audit.export_csv(tmp_path / "audit.csv", AuditFilter.parse(action="project"))
    [header, row] = read_csv(path)
    assert header[:3] == ["id", "at", "who"]
    assert (row[2], row[5], row[7]) == ("'=evil", "'@SUM(A1)", "'-2+3")
    assert row[0].isdigit()


def test_billing_csv_neutralises_formula_cells(tmp_path: Path) -> None:
    start, end = dt.datetime(2030, 6, 1), dt.datetime(2030, 6, 2)
    line = BillLine(
        vm_id=7, vm_name='=HYPERLINK("http://x")', started_at=start, ended_at=end, open=False, running=True,
        vcpus=2, ram_gb=4, public_ips=1, hours=Decimal("24.0000"), price_from=dt.date(2030, 1, 1),
        vcpu_hour=Decimal("0.0100"), ram_gb_hour=Decimal("0.0050"), ip_hour=Decimal("0.0020"),
        vcpu_amount=Decimal("0.48"), ram_amount=Decimal("0.48"), ip_amount=Decimal("0.05"),
    )  # fmt: skip
    bill = Bill(project="+web", month=dt.date(2030, 6, 1), period_start=start, period_end=end,
                generated_at=end, lines=(line,))  # fmt: skip
    table = read_csv(write_bill_csv(bill, tmp_path / "bill.csv"))
    assert table[1][:4] == ["'+web", "2030-06", "7", '\'=HYPERLINK("http://x")']
    assert table[1][-1] == "1.01" and table[2][0] == "'+web" and table[2][-1] == "1.01"


def test_stats_csv_neutralises_formula_cells(tmp_path: Path) -> None:
    report = StatsReport(
        filter=StatsFilter(cluster="=cmd|' /C calc'!A0", project="-x", days=14),
        generated_at=dt.datetime(2030, 6, 1, 12), since=dt.date(2030, 5, 19), until=dt.date(2030, 6, 1),
        clusters=(), nodes=(), projects=(), vm_states={"@odd": -1}, storage=(), size_classes=(), days=(),
        kinds=(),
    )  # fmt: skip
    table = read_csv(write_stats_csv(report, tmp_path / "stats.csv"))
    rows = {(r[0], r[1], r[2]): r[3] for r in table[1:]}
    assert rows["report", "filter", "cluster"] == "'=cmd|' /C calc'!A0"
    assert rows["report", "filter", "project"] == "'-x"
    assert rows["vm_state", "'@odd", "count"] == "-1"  # a number: left as a number


# ------------------------------------------------------------------ 3. the per-operator read-only setting


async def test_an_auditor_cannot_switch_read_only_and_each_switch_is_audited(
    console: ConsoleServices,
) -> None:
    await with_accounts(console)
    settings = console.operator_settings
    await console.users.login("aud", AUDIT_PW)
    with pytest.raises(AccessError, match="auditor"):
        await settings.set_readonly(True)
    assert not (await settings.show()).readonly
    await console.users.logout()
    with pytest.raises(AccessError, match="Log in first"):  # accounts in use and nobody logged in
        await settings.set_readonly(True)
    await console.users.login("ops", OPS_PW)
    assert (await settings.set_readonly(True)).readonly
    assert not (await console.license.status()).writable
    assert not (await settings.set_readonly(False)).readonly  # allowed while read-only
    await console.users.logout()
    await console.users.login("admin", ADMIN_PW)
    entries = await console.audit.list_all(AuditFilter.parse(action="settings"))
    assert [(e.who, e.action, e.target, e.result, e.detail) for e in reversed(entries)] == [
        ("aud", "settings.readonly", "readonly → on", "refused",
         "aud is logged in as an auditor: auditors can read everything and change nothing."),
        ("osuser", "settings.readonly", "readonly → on", "refused",
         "Log in first: the users module is on and nobody is logged in (ectui login, or restart the console)."),
        ("ops", "settings.readonly", "readonly → on", "ok", "osuser: off → on"),
        ("ops", "settings.readonly", "readonly → off", "ok", "osuser: on → off"),
    ]  # fmt: skip


# ------------------------------------------------------------------ 4. the issuer's export


async def _license_id(issuer_services: IssuerServices) -> int:
    await issuer_services.issuer.create_edition(edition())
    return (await issuer_services.issuer.create_license(draft())).id


async def test_export_does_not_follow_a_planted_symlink(
    issuer_services: IssuerServices, tmp_path: Path
) -> None:
    license_id = await _license_id(issuer_services)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    ec_path, props_path = out / "acme.ec", out / "constant.properties"
    for target in (ec_path, props_path):  # what overwrote another file before: '<name>.part' as a symlink
        (out / f"{target.name}.part").symlink_to(victim)
    await issuer_services.issuer.export_license(license_id, ec_path, props_path)
    assert victim.read_text() == "precious"
    assert not ec_path.is_symlink() and stat.S_IMODE(ec_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(props_path.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in props_path.read_text().splitlines() if "=" in line)
    doc = licfile.decode_ec(
        ec_path.read_bytes(),
        licfile.load_private_key_der(base64.b64decode(values["private_key"])),
        Ed25519PublicKey.from_public_bytes(base64.b64decode(values["issuer_public_key"])),
    )
    assert doc.license_id == str(license_id)
    assert sorted(p.name for p in out.iterdir()) == ["acme.ec", "acme.ec.part", "constant.properties",
                                                     "constant.properties.part"]  # fmt: skip


async def test_export_creates_a_private_random_temporary_file_beside_the_target(
    issuer_services: IssuerServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    license_id = await _license_id(issuer_services)
    out = tmp_path / "out"
    opened: list[tuple[Path, int, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        if Path(path).parent == out:
            opened.append((Path(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    for _n in range(2):
        await issuer_services.issuer.export_license(license_id, out / "a.ec", out / "a.properties")
    assert len(opened) == 4
    wanted = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY
    for path, flags, mode in opened:
        assert path.parent == out and path.name not in ("a.ec", "a.properties")
        assert flags & wanted == wanted and mode == 0o600
    assert len({path.name for path, _f, _m in opened}) == 4  # a new random name each time
    assert sorted(p.name for p in out.iterdir()) == ["a.ec", "a.properties"]


async def test_export_removes_its_temporary_file_when_the_rename_fails(
    issuer_services: IssuerServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    license_id = await _license_id(issuer_services)
    out = tmp_path / "out"

    def refuse(_src: Any, _dst: Any) -> None:
        raise PermissionError(13, "Permission denied", str(_dst))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(IssuerError) as err:
        await issuer_services.issuer.export_license(license_id, out / "a.ec", out / "a.properties")
    assert err.value.key == "issuer.write_failed"
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------ 5. a clock that was once ahead


async def _clock_once_ahead(services: ConsoleServices, clock: Clock) -> dt.datetime:
    """The clock runs 100 days ahead for a while (the mark follows), then is put right: read-only."""
    ahead = CONSOLE_NOW + dt.timedelta(days=100)
    clock.now = ahead
    assert (await services.license.status()).state == "valid"
    clock.now = CONSOLE_NOW
    assert (await services.license.status()).state == "clock_rollback"
    return ahead


async def test_reimporting_a_valid_license_resets_the_clock_mark(
    make_console: Callable[..., Any], licenses: Any, clock: Clock
) -> None:
    services: ConsoleServices = await make_console(licenses.users)
    ahead = await _clock_once_ahead(services, clock)
    status = await services.license.import_license(*licenses.users)
    assert (status.state, status.writable) == ("valid", True)
    assert (await services.license.clock_mark()) == (CONSOLE_NOW, CONSOLE_NOW)
    [entry, *_older] = await services.audit.list_all(AuditFilter.parse(action="license.import"))
    assert entry.result == "ok"
    assert entry.detail == f"last seen: {ahead.isoformat()} → {CONSOLE_NOW.isoformat()}"


async def test_an_admin_resets_the_clock_mark(
    make_console: Callable[..., Any], licenses: Any, clock: Clock
) -> None:
    services: ConsoleServices = await make_console(licenses.users)
    await with_accounts(services)
    # only an admin: an operator and an auditor are refused (and recorded)
    for name, password, match in (("ops", OPS_PW, r"ops \(operator\) may not reset the license clock"),
                                  ("aud", AUDIT_PW, "auditor")):  # fmt: skip
        await services.users.login(name, password)
        with pytest.raises(AccessError, match=match):
            await services.license.reset_clock()
        await services.users.logout()
    ahead = await _clock_once_ahead(services, clock)
    status = await services.license.reset_clock()  # while set back, accounts are off: the OS operator acts
    assert (status.state, status.writable) == ("valid", True)
    await services.users.login("admin", ADMIN_PW)
    entries = await services.audit.list_all(AuditFilter.parse(action="license.reset_clock"))
    assert [(e.who, e.result) for e in reversed(entries)] == [
        ("ops", "refused"), ("aud", "refused"), ("osuser", "ok")
    ]  # fmt: skip
    assert entries[0].detail == f"last seen: {ahead.isoformat()} → {CONSOLE_NOW.isoformat()}"


def test_reset_clock_command_needs_yes(
    cli: Callable[..., Result],  # noqa: F811
    cli_home: Path,  # noqa: F811
) -> None:
    ahead = (dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=30)).replace(microsecond=0)
    db_url = home_settings(cli_home).console_db_url
    from ectui.db.session import Database

    db = Database(db_url, "console")
    try:
        raw(db, "UPDATE console_state SET value = :v WHERE key = 'last_seen_at'", v=ahead.isoformat())
    finally:
        db.dispose()
    show = cli(cli_home, "license", "show", "--json")
    assert '"state": "clock_rollback"' in show.out
    refused = cli(cli_home, "license", "reset-clock")
    assert refused.code == 1 and refused.out == ""
    assert f"The last time seen is {ahead.isoformat()}" in refused.err
    assert "then run again with --yes" in refused.err
    assert '"state": "clock_rollback"' in cli(cli_home, "license", "show", "--json").out
    done = cli(cli_home, "license", "reset-clock", "--yes")
    assert (done.code, done.err) == (0, "")
    assert "Clock mark reset to the system clock" in done.out
    assert '"state": "valid"' in cli(cli_home, "license", "show", "--json").out
    listed = cli(cli_home, "audit", "list", "--action", "license.reset_clock")
    assert listed.code == 0 and f"last seen: {ahead.isoformat()} →" in listed.out


# ------------------------------------------------------------------ 6. refused logins tell nothing


class CountingHasher(PasswordHasher):
    """The tests' cheap Argon2id, counting verifications."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        self.verified += 1
        return super().verify(hash, password)


async def test_unknown_locked_and_wrong_password_get_the_same_reply_at_the_same_cost(
    console: ConsoleServices, clock: Clock
) -> None:
    await with_accounts(console)
    users = console.users
    hasher = CountingHasher()
    users._hasher = hasher
    replies: list[str] = []

    async def refused(name: str, password: str) -> None:
        before = hasher.verified
        with pytest.raises(UserError) as err:
            await users.login(name, password)
        assert hasher.verified == before + 1, name  # one Argon2 verification whatever the case
        replies.append(str(err.value))

    await refused("nobody", OPS_PW)  # unknown
    for _n in range(LOCK_FAILURES):  # wrong passwords; the last one locks the account
        await refused("ops", "wrong-password!")
    await refused("ops", OPS_PW)  # locked: even the right password
    await refused("nobody", OPS_PW)
    assert len(set(replies)) == 1
    assert replies[0] == (
        "Unknown user or wrong password. After 5 failed logins in a row an account is locked for 15 min; "
        "an admin can unlock it."
    )
    # the audit log keeps the real reasons for those who may read it
    clock.now = CONSOLE_NOW + LOCK_WINDOW + dt.timedelta(seconds=1)
    await users.login("admin", ADMIN_PW)
    details = [
        e.detail for e in await console.audit.list_all(AuditFilter.parse(action="user.login", who="ops"))
    ]
    assert sum("locked after 5 failed logins" in d for d in details) == 2
    assert details.count("Unknown user or wrong password.") == LOCK_FAILURES - 1
    await users.logout()
    assert (await users.login("ops", OPS_PW)).user == "ops"  # the lock-out ended with its window


def test_license_errors_name_the_yes_flag() -> None:
    text = str(LicenseError("license.reset_clock_confirm", last_seen="2031-01-01T00:00:00", now="2030-06-01"))
    assert "2031-01-01T00:00:00" in text and "2030-06-01" in text and "--yes" in text
