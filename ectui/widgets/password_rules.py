"""PasswordRules: the complexity rules of a password, each marked met or not as the operator types."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content

from ectui.i18n import _
from ectui.widgets.literal import Static


class PasswordRules(Static):
    """One line of rules such as '✓ 8-64 characters  ✗ an upper-case letter'; readable without colour."""

    DEFAULT_CSS = """
    PasswordRules {
        height: auto;
        width: 1fr;
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__("", id=id, classes=classes, markup=False)
        self.checks: list[tuple[str, str, bool]] = []
        """The last (code, untranslated label, met) triples shown."""

    def show(self, checks: Sequence[tuple[str, str, bool]]) -> None:
        """Show each rule with ✓ (met) or ✗ (not yet), in the theme's success and error colours."""
        self.checks = list(checks)
        parts: list[Content] = []
        for _code, label, ok in self.checks:
            mark = Content.styled("✓" if ok else "✗", "$text-success" if ok else "$text-error")
            parts.append(Content.assemble(mark, " ", _(label)))
        self.update(Content("  ").join(parts))

    @property
    def all_met(self) -> bool:
        """Whether every rule shown is met."""
        return bool(self.checks) and all(ok for _code, _label, ok in self.checks)
