"""Edition texts: storage modes, modules and feature menus in the UI language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ectui.i18n import N_, _

if TYPE_CHECKING:
    from ectui.services.issuer import MenuNode


STORAGE_LABELS = {"local": N_("local"), "shared": N_("shared")}
MODULE_LABELS = {
    "platform": N_("Platform"),
    "statistics": N_("Statistics"),
    "users": N_("Users"),
    "workflow": N_("Workflow"),
    "billing": N_("Billing"),
}
"""Names of the five feature modules (translated when shown)."""


def storage_text(modes: Sequence[str]) -> str:
    """'local, shared' in the UI language."""
    return ", ".join(_(STORAGE_LABELS.get(m, m)) for m in modes) or "—"


def modules_text(modules: Sequence[str]) -> str:
    """'Platform, Users' in the UI language."""
    return ", ".join(_(MODULE_LABELS.get(m, m)) for m in modules) or "—"


def features_by_module(features: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Group menu codes ('platform.images') by module, in module order."""
    groups: dict[str, list[str]] = {}
    for code in features:
        module, _sep, menu = code.partition(".")
        groups.setdefault(module, [])
        if menu:
            groups[module].append(menu)
    order = list(MODULE_LABELS)
    return sorted(groups.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))


def features_text(features: Sequence[str], names: Mapping[str, str] | None = None) -> str:
    """Features as lines 'Platform: Images, VMs' (menu names from `names`, codes without it)."""
    names = names or {}
    lines = []
    for module, menus in features_by_module(features):
        title = names.get(module) or _(MODULE_LABELS.get(module, module))
        shown = [names.get(f"{module}.{menu}", menu) for menu in menus]
        lines.append(f"{title}: {', '.join(shown) if shown else _('all menus')}")
    return "\n".join(lines) or "—"


def menu_names(menus: Sequence[MenuNode]) -> dict[str, str]:
    """Menu code → translated name, for every node of the tree."""
    found: dict[str, str] = {}
    stack = list(menus)
    while stack:
        node = stack.pop()
        found[node.code] = _(node.name)
        stack.extend(node.children)
    return found
