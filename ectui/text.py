"""Foreign text made safe to show: the one place that turns control characters into visible escapes.

Names, descriptions and error texts from clouds, FTP servers, files, operators and the audit log may hold
terminal escape sequences (ESC, OSC, CSI), line breaks that would forge a new table row, or bidirectional
overrides that reorder what a reader sees. `visible()` writes each such character as a backslash escape
(`\\x1b`, `\\n`, `\\u202e`) so it is shown, never obeyed. Markup (`[bold]`, `[@click=…]`) is the UI's
concern: its widgets never interpret foreign text as markup (ectui.widgets.literal).

No imports beyond the standard library: the CLI, the services and the UI all use it.
"""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional marks, embeddings, overrides and isolates: they reorder the characters around them."""


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _hostile(char: str) -> bool:
    """A character the terminal would obey or that changes how the line around it reads."""
    return char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp")


def visible(text: object, *, newlines: bool = False) -> str:
    """`text` as a string whose control characters are written as visible escapes.

    With `newlines=True` a plain line break is kept (for multi-line text such as a console log or a
    detail view); everything else that is not printable text is escaped either way.
    """
    value = text if isinstance(text, str) else str(text)
    if value.isprintable():  # the common case: nothing to do
        return value
    return "".join(
        _escape(char) if _hostile(char) and not (newlines and char == "\n") else char for char in value
    )


def one_line(text: object, limit: int | None = None) -> str:
    """`visible(text)` on one line, cut to `limit` characters with an ellipsis when longer."""
    value = visible(text)
    if limit is not None and len(value) > limit:
        return value[: max(limit - 1, 0)] + "…"
    return value


def json_safe(encoded: str) -> str:
    """JSON text with every character a terminal would obey written as a \\uXXXX escape.

    Meant for the output of `json.dumps(..., ensure_ascii=False)`: such characters can only stand inside
    JSON strings there, where the escape denotes the same character, so the value is unchanged.
    """
    if encoded.isprintable():
        return encoded
    return "".join(f"\\u{ord(c):04x}" if _hostile(c) and c not in "\n" else c for c in encoded)
