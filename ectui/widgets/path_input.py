"""PathInput: an Input that completes file-system paths (right or tab accepts the suggestion)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from textual.binding import Binding
from textual.suggester import Suggester

from ectui.widgets.literal import Input


def complete_path(value: str, *, directories_only: bool = False) -> str | None:
    """The first existing path that starts with `value` (directories end with '/'), or None."""
    if not value:
        return None
    expanded = os.path.expanduser(value)
    if value.endswith(os.sep):
        folder, prefix = expanded, ""
    else:
        folder, prefix = os.path.split(expanded)
    try:
        entries = sorted(os.scandir(folder or "."), key=lambda e: e.name)
    except OSError:
        return None
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if directories_only and not is_dir:
            continue
        if name == prefix and not is_dir:
            continue
        completed = value[: len(value) - len(prefix)] + name
        if is_dir:
            completed += os.sep
        if completed != value:
            return completed
    return None


class PathSuggester(Suggester):
    """Suggests completions of file-system paths (listing runs in a thread: network mounts may be slow)."""

    def __init__(self, *, directories_only: bool = False) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.directories_only = directories_only

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(complete_path, value, directories_only=self.directories_only)


class PathInput(Input):
    """Input for a file or directory path with completion; tab accepts a suggestion, else moves focus."""

    BINDINGS = [Binding("tab", "accept_or_next", show=False, id="path_input.complete")]

    def __init__(self, value: str = "", *, directories_only: bool = False, **kwargs: object) -> None:
        super().__init__(value, suggester=PathSuggester(directories_only=directories_only), **kwargs)  # type: ignore[arg-type]

    @property
    def suggestion(self) -> str:
        """The completion currently offered ('' when none)."""
        return self._suggestion

    def action_accept_or_next(self) -> None:
        """Accept the suggestion if there is one, otherwise focus the next widget."""
        if self._suggestion and self._suggestion != self.value:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()

    @property
    def path(self) -> Path | None:
        """The entered path, with ~ expanded; None when empty."""
        text = self.value.strip()
        return Path(text).expanduser() if text else None
