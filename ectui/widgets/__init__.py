"""Reusable widgets of ectui (each carries its own DEFAULT_CSS)."""

from __future__ import annotations

from ectui.widgets.banner import Banner
from ectui.widgets.checkbox import PlainCheckbox
from ectui.widgets.header import AppHeader
from ectui.widgets.menu_picker import MenuTreePicker
from ectui.widgets.modals import ConfirmModal, HelpModal, ShellModal
from ectui.widgets.path_input import PathInput, PathSuggester, complete_path
from ectui.widgets.sidebar import Sidebar

__all__ = [
    "AppHeader",
    "Banner",
    "ConfirmModal",
    "HelpModal",
    "MenuTreePicker",
    "PlainCheckbox",
    "PathInput",
    "PathSuggester",
    "ShellModal",
    "Sidebar",
    "complete_path",
]
