"""PlainCheckbox: a one-line check box drawn as [x] / [ ], readable without colour (NO_COLOR)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class PlainCheckbox(Checkbox):
    """A Checkbox whose state is shown by a character, not only by colour."""

    DEFAULT_CSS = """
    PlainCheckbox {
        height: 1;
        width: auto;
        border: none;
        padding: 0 1 0 0;
        background: transparent;
        &:focus { border: none; text-style: bold reverse; }
        &.-on > .toggle--button { color: $success; }
    }
    """

    @property
    def _button(self) -> Content:
        return Content.assemble(("[x]" if self.value else "[ ]", self.get_visual_style("toggle--label")))
