"""Sidebar: the list of domains with their number keys; the current one highlighted."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Click

from ectui.i18n import _
from ectui.widgets.literal import Label


class DomainLabel(Label):
    """One domain entry; a click switches to it."""

    def __init__(self, text: str, domain_id: str, *, current: bool) -> None:
        super().__init__(text, classes="-current" if current else "")
        self.domain_id = domain_id

    async def on_click(self, event: Click) -> None:
        event.stop()
        await self.app.run_action(f"switch_mode('{self.domain_id}')")


class Sidebar(Vertical):
    """Domains of the app; keys 1..9 and 0 switch (bound on DomainScreen)."""

    DEFAULT_CSS = """
    Sidebar {
        width: 18;
        height: 1fr;
        padding: 0 0;
        background: $panel;
        border-right: vkey $foreground 20%;
        DomainLabel {
            width: 1fr;
            padding: 0 1;
            &.-current { text-style: bold reverse; }
        }
    }
    """

    def __init__(self, domains: Sequence[tuple[str, str]], current: str, **kwargs: object) -> None:
        """Args: domains: (id, untranslated label) pairs in key order; current: the id shown highlighted."""
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._domains = list(domains)
        self._current = current

    def set_domains(self, domains: Sequence[tuple[str, str]]) -> None:
        """Show another list of domains (the license changed which are enabled)."""
        if list(domains) != self._domains:
            self._domains = list(domains)
            self.refresh(recompose=True)

    def compose(self) -> ComposeResult:
        for number, (domain_id, label) in enumerate(self._domains, start=1):
            key = str(number % 10) if number <= 10 else " "  # beyond ten: `:` (go to) or the palette
            yield DomainLabel(f"{key} {_(label)}", domain_id, current=domain_id == self._current)
