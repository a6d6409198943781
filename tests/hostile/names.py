"""Names that real clouds, FTP servers, files and operators can hold, and that must be shown literally.

Reused by service, CLI and Pilot tests: each is a name a careless console would interpret (markup that
crashes, clicks or styles; escape sequences the terminal obeys; a line break that forges a row).
"""

from __future__ import annotations

MARKUP_CLOSE = "[/]anon"
"""Closing tag with nothing open: Rich raises MarkupError."""
MARKUP_CLICK = "[@click=app.quit]x[/]"
"""An action link: clicking it would quit the console."""
MARKUP_STYLE = "[bold red]red"
"""A style: the cell would turn bold red."""
OSC_TITLE = "\x1b]0;pwned\x07t"
"""An OSC sequence that sets the terminal title."""
CLEAR_SCREEN = "\x1b[2Jwipe"
"""A CSI sequence that clears the screen."""
NEWLINE = "two\nlines"
"""A line break: would forge an extra row in a CLI table."""
BIDI = "evil\u202etxt.exe"
"""A right-to-left override that reorders what a reader sees."""
C1_CSI = "c1\x9b2J"
"""An 8-bit CSI (C1 control)."""

NAMES = (MARKUP_CLOSE, MARKUP_CLICK, MARKUP_STYLE, OSC_TITLE, CLEAR_SCREEN, NEWLINE, BIDI, C1_CSI)
"""All of them, for seeding a dev cloud (`POST /_admin/seed/names`)."""

RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")
"""Characters that must never reach a terminal from foreign text."""


def shown(name: str) -> str:
    """How a name appears on screen and in CLI tables (ectui.text.visible)."""
    from ectui.text import visible

    return visible(name)
