"""Feature menus (issuer): the read-only tree of the five modules and their menus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ectui.i18n import _
from ectui.screens._base import IssuerDomainScreen
from ectui.widgets.literal import Label

if TYPE_CHECKING:
    from ectui.services.issuer import MenuNode


class MenusScreen(IssuerDomainScreen):
    """The menus an edition can enable, grouped by feature module."""

    DOMAIN = "menus"
    CSS_PATH = "menus.tcss"
    BINDINGS = [Binding("r", "refresh", _("Refresh"), id="menus.refresh", show=False)]

    def compose_content(self) -> ComposeResult:
        yield Label(_("Feature menus"), classes="section-title")
        tree: Tree[str] = Tree(_("Modules"), id="menus-tree")
        tree.show_root = False
        yield tree

    def on_mount(self) -> None:
        self.query_one("#menus-tree", Tree).focus()
        self.refresh_menus()

    def action_refresh(self) -> None:
        """Reload the tree."""
        self.refresh_menus()

    @work(exclusive=True, group="menus-refresh", exit_on_error=False)
    async def refresh_menus(self) -> None:
        """Load the menu tree."""
        self.show_menus(await self.services.issuer.menu_tree())

    def show_menus(self, menus: Sequence[MenuNode]) -> None:
        """Fill the tree: each node shows its name and its code."""
        tree: Tree[str] = self.query_one("#menus-tree", Tree)
        tree.clear()

        def add(parent: TreeNode[str], node: MenuNode) -> None:
            label = Text.assemble(_(node.name), ("  " + node.code, "dim"))
            if node.children:
                branch = parent.add(label, data=node.code, expand=True)
                for child in node.children:
                    add(branch, child)
            else:
                parent.add_leaf(label, data=node.code)

        for menu in menus:
            add(tree.root, menu)
        tree.root.expand()
