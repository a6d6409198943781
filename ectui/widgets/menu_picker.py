"""MenuTreePicker: a tree of feature menus with check boxes; space toggles a node and its children."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ectui.i18n import _

if TYPE_CHECKING:
    from ectui.services.issuer import MenuNode

CHECKED, UNCHECKED, PARTIAL = "[x] ", "[ ] ", "[-] "


class MenuTreePicker(Tree[str]):
    """Feature modules and their menus; the data of each node is its menu code."""

    DEFAULT_CSS = """
    MenuTreePicker {
        height: 1fr;
        min-height: 5;
        border: round $foreground 30%;
        &:focus { border: round $accent; }
    }
    """

    BINDINGS = [
        Binding("space", "toggle_check", _("Toggle"), id="menu_picker.toggle"),
        Binding("a", "check_all", _("All"), show=False, id="menu_picker.all"),
    ]

    class Changed(Message):
        """The set of checked menus changed."""

        def __init__(self, picker: MenuTreePicker, codes: tuple[str, ...]) -> None:
            super().__init__()
            self.picker = picker
            self.codes = codes

        @property
        def control(self) -> MenuTreePicker:
            return self.picker

    def __init__(
        self, menus: Sequence[MenuNode] = (), *, checked: Iterable[str] = (), **kwargs: object
    ) -> None:
        super().__init__(_("Feature menus"), **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self._checked: set[str] = set()
        self._initial = set(checked)
        self._menus = list(menus)

    def on_mount(self) -> None:
        self.set_menus(self._menus, checked=self._initial)

    def set_menus(self, menus: Sequence[MenuNode], *, checked: Iterable[str] = ()) -> None:
        """Replace the tree with these module roots; `checked` may hold menu or module codes."""
        self.clear()
        wanted = set(checked)
        self._checked = set()

        def add(parent: TreeNode[str], node: MenuNode) -> None:
            label = Text(_(node.name))
            if node.children:
                branch = parent.add(label, data=node.code, expand=True)
                for child in node.children:
                    add(branch, child)
                if node.code in wanted:
                    self._set_subtree(branch, True)
            else:
                parent.add_leaf(label, data=node.code)
                if node.code in wanted:
                    self._checked.add(node.code)

        for menu in menus:
            add(self.root, menu)
        self.root.expand()
        self.refresh()

    # ---------------------------------------------------------------- state

    def _leaves(self, node: TreeNode[str]) -> list[TreeNode[str]]:
        if not node.children:
            return [node]
        leaves: list[TreeNode[str]] = []
        for child in node.children:
            leaves.extend(self._leaves(child))
        return leaves

    def _set_subtree(self, node: TreeNode[str], value: bool) -> None:
        for leaf in self._leaves(node):
            if leaf.data is not None:
                if value:
                    self._checked.add(leaf.data)
                else:
                    self._checked.discard(leaf.data)

    def state_of(self, node: TreeNode[str]) -> str:
        """CHECKED, UNCHECKED or PARTIAL for a node (from its leaves)."""
        leaves = [leaf.data for leaf in self._leaves(node) if leaf.data is not None]
        chosen = sum(1 for code in leaves if code in self._checked)
        if leaves and chosen == len(leaves):
            return CHECKED
        return PARTIAL if chosen else UNCHECKED

    @property
    def selected(self) -> tuple[str, ...]:
        """The checked menu codes (leaves), sorted."""
        return tuple(sorted(self._checked))

    def toggle(self, node: TreeNode[str]) -> None:
        """Toggle a node: a leaf flips; a branch checks all its menus unless all are checked."""
        self._set_subtree(node, self.state_of(node) != CHECKED)
        self._updates += 1
        self.refresh()
        self.post_message(self.Changed(self, self.selected))

    def action_toggle_check(self) -> None:
        """Toggle the node under the cursor."""
        node = self.cursor_node
        if node is not None and node is not self.root:
            self.toggle(node)

    def action_check_all(self) -> None:
        """Check every menu, or clear all when all are checked."""
        self.toggle(self.root)

    def render_label(self, node: TreeNode[str], base_style: Style, style: Style) -> Text:
        label = super().render_label(node, base_style, style)
        if node is self.root:
            return label
        return Text.assemble((self.state_of(node), base_style), label)
