"""Capacity bars drawn with characters (readable without colour)."""

from __future__ import annotations

BAR_WIDTH = 10


def capacity_bar(used: int, total: int, *, width: int = BAR_WIDTH) -> str:
    """'██████░░░░  60%': readable without colour (NO_COLOR) and over any SSH terminal."""
    if total <= 0:
        return "─" * width + "   —"
    ratio = min(max(used / total, 0.0), 1.0)
    filled = round(ratio * width)
    return "█" * filled + "░" * (width - filled) + f" {round(ratio * 100):3d}%"
