"""`ectui login | logout | user | audit` through the real entry point: gating, first admin, sessions, roles, audit."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest

from tests.kit.cli import ectui

ADMIN_PW = "admin-pass-1234"
OPS_PW = "ops-pass-12345"


def run(home: Path, *args: object, stdin: str | None = None) -> tuple[int, str, str]:
    """Run `python -m ectui` on `home` (with standard input when given)."""
    if stdin is None:
        done = ectui(home, *args)
    else:
        import os
        import subprocess
        import sys

        from tests.kit.cli import ROOT

        environ = {k: v for k, v in os.environ.items() if not k.startswith(("ECTUI_", "OS_"))}
        environ.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en"})
        done = subprocess.run(
            [sys.executable, "-m", "ectui", *map(str, args)],
            cwd=ROOT, env=environ, input=stdin, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two licensed consoles: 'users' (platform + users module) and 'plain' (platform only)."""
    root = tmp_path_factory.mktemp("users-cli")
    issuer = root / "issuer"
    homes: dict[str, Path] = {}
    for edition, features in (("Users", "platform,users"), ("Plain", "platform")):
        code, _out, err = run(issuer, "issuer", "edition", "add", "--name", edition, "--max-clusters", "2",
                              "--max-nodes", "10", "--storage", "local", "--features", features)  # fmt: skip
        assert code == 0, err
        code, out, err = run(issuer, "issuer", "license", "add", "--customer", edition, "--edition", edition,
                             "--valid-from", "2020-01-01", "--valid-to", "2099-12-31", "--json")  # fmt: skip
        assert code == 0, err
        license_id = json.loads(out)["id"]
        out_dir = root / f"out-{edition}"
        code, _out, err = run(issuer, "issuer", "license", "export", license_id, "--out", out_dir / "a.ec",
                              "--properties", out_dir / "c.properties")  # fmt: skip
        assert code == 0, err
        home = root / edition.lower()
        code, _out, err = run(
            home, "license", "import", out_dir / "a.ec", "--properties", out_dir / "c.properties"
        )
        assert code == 0, err
        homes[edition.lower()] = home
    return homes


def test_commands_refuse_without_the_users_module(homes: dict[str, Path]) -> None:
    plain = homes["plain"]
    for args, feature in (
        (("user", "list"), "users.accounts"),
        (("audit", "list", "--json"), "users.audit"),
    ):
        code, out, err = run(plain, *args)
        assert code == 1
        assert f"The '{feature}' feature is not in this license's edition (Plain)." in err
        assert out == ""
    code, _out, err = run(plain, "login", "--user", "admin", "--password-stdin", stdin=ADMIN_PW + "\n")
    assert code == 1 and "'users.accounts' feature" in err
    # without the module, changes go on as the OS operator
    code, _out, err = run(
        plain, "project", "add", "--name", "web", "--vcpus", "4", "--ram", "8", "--vms", "2"
    )
    assert code == 0, err


def test_first_admin_login_session_roles_audit_and_logout(homes: dict[str, Path], tmp_path: Path) -> None:
    home = homes["users"]
    code, out, err = run(home, "user", "add", "--name", "admin", "--role", "admin", "--password-stdin",
                         stdin=ADMIN_PW + "\n")  # fmt: skip
    assert code == 0, err
    assert "Account admin (admin) created." in out
    # accounts are in use now: nobody logged in changes nothing, reads of accounts are refused
    code, _out, err = run(home, "project", "add", "--name", "web", "--vcpus", "4", "--ram", "8", "--vms", "2")
    assert code == 1 and "Log in first" in err
    # a wrong password, then the right one
    code, _out, err = run(home, "login", "--user", "admin", "--password-stdin", stdin="wrong-password\n")
    assert code == 1 and "Unknown user or wrong password." in err
    code, out, err = run(
        home, "login", "--user", "admin", "--password-stdin", "--json", stdin=ADMIN_PW + "\n"
    )
    assert code == 0, err
    session = Path(json.loads(out)["session_file"])
    assert json.loads(out)["user"] == "admin"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert ADMIN_PW not in session.read_text()
    code, out, err = run(home, "user", "add", "--name", "ops", "--role", "operator", "--password-stdin",
                         stdin=OPS_PW + "\n")  # fmt: skip
    assert code == 0, err
    code, out, err = run(home, "user", "list", "--json")
    assert code == 0, err
    assert [(u["name"], u["role"], u["enabled"], u["locked"]) for u in json.loads(out)] == [
        ("admin", "admin", True, False),
        ("ops", "operator", True, False),
    ]
    code, _out, err = run(home, "project", "add", "--name", "web", "--vcpus", "4", "--ram", "8", "--vms", "2")
    assert code == 0, err
    # the operator: changes yes, accounts no
    code, _out, err = run(home, "login", "--user", "ops", "--password-stdin", stdin=OPS_PW + "\n")
    assert code == 0, err
    code, _out, err = run(home, "user", "add", "--name", "eve", "--role", "auditor", "--password-stdin",
                          stdin=OPS_PW + "\n")  # fmt: skip
    assert code == 1 and "ops (operator) may not manage accounts" in err
    code, _out, err = run(home, "login", "--user", "admin", "--password-stdin", stdin=ADMIN_PW + "\n")
    assert code == 0, err
    # the audit log
    code, out, err = run(home, "audit", "list", "--json")
    assert code == 0, err
    entries = [(e["who"], e["action"], e["target"], e["result"]) for e in reversed(json.loads(out))]
    assert ("admin", "project.add", "web", "ok") in entries
    assert [e for e in entries if e[1] == "project.add"][0][3] == "refused"
    assert ("ops", "user.add", "eve", "refused") in entries
    assert ("admin", "user.add", "ops", "ok") in entries
    code, out, err = run(home, "audit", "list", "--since", "2999-01-01", "--json")
    assert code == 0 and json.loads(out) == []
    code, _out, err = run(home, "audit", "list", "--since", "soon")
    assert code == 2 and "Since must be a date like 2026-12-31, got 'soon'." in err
    target = tmp_path / "audit.csv"
    code, out, err = run(home, "audit", "list", "--action", "project", "--csv", target)
    assert code == 0, err
    assert f"CSV written to {target}" in out
    with target.open(newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["id", "at", "who", "role", "action", "target", "result", "detail"]
    assert [(r[2], r[4], r[6]) for r in table[1:]] == [
        (table[1][2], "project.add", "refused"),
        ("admin", "project.add", "ok"),
    ]
    # logout removes the session file; the next command is nobody again
    code, out, err = run(home, "logout")
    assert code == 0 and "Logged out admin." in out
    assert not session.exists()
    code, _out, err = run(home, "audit", "list")
    assert code == 1 and "Log in first" in err
