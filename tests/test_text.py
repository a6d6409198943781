"""Foreign text is shown literally: the one function that escapes it, and the rule that the UI uses it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from ectui.text import json_safe, one_line, visible
from tests.hostile.names import BIDI, C1_CSI, CLEAR_SCREEN, NAMES, NEWLINE, OSC_TITLE, RAW_CONTROLS

ROOT = Path(__file__).resolve().parent.parent
UI = [*sorted((ROOT / "ectui" / "screens").glob("*.py")), *sorted((ROOT / "ectui" / "widgets").glob("*.py")),
      ROOT / "ectui" / "app.py"]  # fmt: skip
LITERAL = ROOT / "ectui" / "widgets" / "literal.py"
MARKUP_WIDGETS = {"Static", "Label", "DataTable", "Select", "Option", "Input"}


@pytest.mark.parametrize("name", NAMES)
def test_visible_never_lets_a_control_character_through(name: str) -> None:
    shown = visible(name)
    assert shown.isprintable() or all(c not in shown for c in RAW_CONTROLS)
    assert "\n" not in shown and "\x1b" not in shown


def test_visible_escapes_are_readable() -> None:
    assert visible(OSC_TITLE) == "\\x1b]0;pwned\\x07t"
    assert visible(CLEAR_SCREEN) == "\\x1b[2Jwipe"
    assert visible(NEWLINE) == "two\\nlines"
    assert visible(NEWLINE, newlines=True) == NEWLINE
    assert visible(BIDI) == "evil\\u202etxt.exe"
    assert visible(C1_CSI) == "c1\\x9b2J"
    assert visible("名字 [/] ok") == "名字 [/] ok"  # printable text, brackets and CJK untouched
    assert one_line("a" * 100, 10) == "a" * 9 + "…"


def test_json_safe_keeps_the_exact_value() -> None:
    data = {"names": list(NAMES)}
    text = json_safe(json.dumps(data, ensure_ascii=False))
    assert all(c not in text for c in RAW_CONTROLS)
    assert json.loads(text) == data


def test_screens_and_widgets_take_text_widgets_from_the_literal_module() -> None:
    """Textual reads a str as markup; only ectui.widgets.literal may import the widgets that do."""
    offenders = []
    for path in UI:
        if path == LITERAL:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("textual.widgets"):
                offenders += [f"{path.name}: {a.name}" for a in node.names if a.name in MARKUP_WIDGETS]
            literal_off = (
                isinstance(node, ast.keyword)
                and isinstance(node.value, ast.Constant)
                and node.value.value is False
            )
            if isinstance(node, ast.keyword) and node.arg == "markup" and not literal_off:
                offenders.append(f"{path.name}:{node.lineno}: markup=")
    assert offenders == []
