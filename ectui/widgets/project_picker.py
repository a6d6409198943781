"""Choose the current project."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList

from ectui.i18n import _
from ectui.widgets import ShellModal
from ectui.widgets.literal import Label, Option, Static

if TYPE_CHECKING:
    from ectui.services.projects import ProjectInfo


class PickProjectModal(ShellModal["str | None"]):
    """Choose the current project (type to jump, enter to choose)."""

    def __init__(self, projects: Sequence[ProjectInfo], current: str | None) -> None:
        super().__init__()
        self.projects = list(projects)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="pick-project-box"):
            yield Label(_("Switch project"), classes="modal-title")
            if not self.projects:
                yield Static(_("No projects yet: create one on the Projects screen (n)."))
            options = [
                Option(("● " if p.name == self.current else "  ") + p.name + (f"  ({p.cluster})" if p.cluster else ""), id=p.name)
                for p in self.projects
            ]  # fmt: skip
            yield OptionList(*options, id="pick-project-list")
            yield Label(_("Enter: choose · Esc: cancel"), classes="modal-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        names = [p.name for p in self.projects]
        if self.current in names:
            options.highlighted = names.index(self.current)

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
