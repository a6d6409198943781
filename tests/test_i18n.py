"""Every UI string has a Simplified Chinese translation and the compiled catalog is current."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from ectui.i18n import _, render, set_language
from ectui.services.errors import MESSAGES, ServiceError, ValidationError

ROOT = Path(__file__).resolve().parent.parent


def _tools():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("ectui_i18n_tools", ROOT / "tools" / "i18n.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def zh():  # type: ignore[no-untyped-def]
    set_language("zh_CN")
    yield
    set_language("en")


def test_every_source_string_is_translated() -> None:
    tools = _tools()
    translated = {m.id for m in tools.merged_catalog() if m.id}
    missing = sorted(tools.source_strings() - translated, key=str)
    assert missing == [], f"{len(missing)} strings lack zh_CN; run: make i18n"


def test_compiled_catalog_is_current() -> None:
    tools = _tools()
    mo = ROOT / "ectui" / "locale" / "zh_CN" / "LC_MESSAGES" / "ectui.mo"
    # The messages and their translations, not the bytes: another Babel writes another header and layout.
    assert tools.mo_messages(mo.read_bytes()) == tools.mo_messages(tools.mo_bytes()), (
        "ectui.mo is stale; run: make i18n"
    )


def test_catalog_comparison_sees_a_changed_translation() -> None:
    tools = _tools()
    compiled = tools.mo_messages(tools.mo_bytes())
    assert compiled, "the compiled catalog holds messages"
    catalog = tools.merged_catalog()
    first = next(m for m in catalog if m.id and isinstance(m.id, str))
    first.string = first.string + "x"
    import io

    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    assert tools.mo_messages(buffer.getvalue()) != compiled


def test_placeholders_survive_translation() -> None:
    tools = _tools()
    import string

    for message in tools.merged_catalog():
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        fields = {f for _t, f, _s, _c in string.Formatter().parse(ids[-1]) if f}
        for text in strings:
            translated = {f for _t, f, _s, _c in string.Formatter().parse(text) if f}
            assert fields == translated, message.id


def test_render_in_chinese(zh: None) -> None:
    assert render(ServiceError("license.tampered")) != MESSAGES["license.tampered"]
    text = render(ValidationError("validation.int", field="Max nodes", value="x"))
    assert "x" in text
    assert "Max nodes" not in text  # the field name is translated too
    assert _("No license") != "No license"


def test_english_is_the_source() -> None:
    set_language("en")
    assert render(ServiceError("license.tampered")) == MESSAGES["license.tampered"]
