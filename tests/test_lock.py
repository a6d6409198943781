"""The development environment is the lock file: every dependency pinned, hashed, inside pyproject's ranges."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"


def _pins() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of every pinned requirement in the lock."""
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\;]+)", block)
        if match:
            pins[canonicalize_name(match[1])] = (match[2], block.count("--hash=sha256:"))
    return pins


def test_every_declared_dependency_is_pinned_with_hashes_inside_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pins = _pins()
    for line in declared:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {LOCK.name}; run: make upgrade-deps"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} in the lock is outside pyproject's '{requirement.specifier}'; run: make upgrade-deps"
        )
        assert hashes > 0, f"{name} has no hash in the lock"


def test_the_lock_pins_exact_versions_only() -> None:
    pins = _pins()
    assert {"babel", "textual", "hatchling", "pip"} <= set(pins)
    for name, (_version, hashes) in pins.items():
        assert hashes > 0, name
    body = [line for line in LOCK.read_text().splitlines() if line and not line.startswith((" ", "#"))]
    assert all("==" in line for line in body), [line for line in body if "==" not in line]
