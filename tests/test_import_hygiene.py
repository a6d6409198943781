"""The core never pulls in the UI: importing services and the CLI leaves Textual unloaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))))
"""


@pytest.mark.parametrize(
    "module",
    [
        "ectui.services",
        "ectui.services.issuer",
        "ectui.services.license",
        "ectui.services.clusters",
        "ectui.services.demo",
        "ectui.cli",
        "ectui.db.session",
        "ectui.config",
    ],
)
def test_core_module_does_not_import_textual(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_version_imports_almost_nothing() -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['ectui', '--version']\n"
        "from ectui.cli import main\n"
        "rc = main(['--version'])\n"
        "heavy = [m for m in ('sqlalchemy', 'cryptography', 'textual', 'alembic') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
