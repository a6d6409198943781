"""The shape of the code: module size, no import cycles, screens independent, no borrowed private names.

These hold the layout the architecture document describes (docs/architecture.md); each failure names the
module and the rule it breaks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent / "ectui"
MAX_LINES = 800


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts)


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("ectui", include_external_packages=False)


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        _name(p): n for p in _modules() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by flow): {long}"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), imports in functions and TYPE_CHECKING included."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(root: str) -> None:  # iterative, so deep graphs need no recursion limit
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return groups


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert not _cycles(graph), f"modules that import each other (directly or round a loop): {_cycles(graph)}"


def test_the_cycle_finder_sees_a_cycle() -> None:
    g = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c"):
        g.add_module(name)
    g.add_import(importer="p.a", imported="p.b")
    g.add_import(importer="p.b", imported="p.a")
    g.add_import(importer="p.c", imported="p.a")
    assert _cycles(g) == [["p.a", "p.b"]]


def test_screens_do_not_import_each_other(graph: grimp.ImportGraph) -> None:
    screens = {m for m in graph.modules if m.startswith("ectui.screens.") and m != "ectui.screens._base"}
    borrowed = sorted(
        (m, other)
        for m in screens
        for other in graph.find_modules_directly_imported_by(m)
        if other in screens and _screen_of(other) != _screen_of(m)
    )
    assert not borrowed, (
        f"screens importing other screens (move the shared piece to ectui/widgets): {borrowed}"
    )


def _screen_of(module: str) -> str:
    """The screen a module belongs to: ectui.screens.vms.create → ectui.screens.vms."""
    return ".".join(module.split(".")[:3])


def test_services_use_no_private_names_of_other_services() -> None:
    offences = []
    for path in _modules():
        name = _name(path)
        if not name.startswith("ectui.services."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ectui.services.")
            ):
                continue
            if _package_of(node.module) == _package_of(name):
                continue  # a service's own modules share its private names
            offences += [
                f"{name} imports {node.module}.{a.name}" for a in node.names if a.name.startswith("_")
            ]
    assert not offences, "private names borrowed across services: " + "; ".join(offences)


def _package_of(module: str) -> str:
    """The service a module belongs to: ectui.services.vms.create → ectui.services.vms."""
    return ".".join(module.split(".")[:3])
