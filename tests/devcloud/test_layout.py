"""The dev cloud's modules: no import cycle among them, shared pieces import no service, none over 800 lines."""

from __future__ import annotations

import itertools
from pathlib import Path

import grimp

import ectui.devcloud

SHARED = ("api", "base", "core", "defaults", "errors", "faults", "store")
SERVICES = ("ftp", "glance", "keystone", "neutron", "nova", "placement", "seed", "server")


def test_no_import_cycles_and_shared_modules_import_no_service() -> None:
    graph = grimp.build_graph("ectui")
    modules = sorted(m for m in graph.modules if m.startswith("ectui.devcloud."))
    cycles = [
        (a, b)
        for a, b in itertools.combinations(modules, 2)
        if graph.find_shortest_chain(a, b) and graph.find_shortest_chain(b, a)
    ]
    assert cycles == []
    reaching = [
        (shared, service)
        for shared in SHARED
        for service in SERVICES
        if graph.find_shortest_chain(f"ectui.devcloud.{shared}", f"ectui.devcloud.{service}")
    ]
    assert reaching == []


def test_no_module_over_800_lines() -> None:
    root = Path(ectui.devcloud.__file__).parent
    long = {
        str(p.relative_to(root)): n
        for p in root.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 800
    }
    assert long == {}
