"""Translations: gettext catalogs in ectui/locale, English source strings, Simplified Chinese."""

from __future__ import annotations

import gettext
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAINS = ("ectui",)
SUPPORTED = ("en", "zh_CN")

_current: gettext.NullTranslations = gettext.NullTranslations()
_lang = "en"


def set_language(lang: str) -> None:
    """Switch the process-wide UI language ('en' or 'zh_CN')."""
    global _current, _lang
    from ectui.config import normalize_lang

    _lang = normalize_lang(lang)
    _hook_argparse()
    if _lang == "en":
        _current = gettext.NullTranslations()
        return
    _current = gettext.translation(DOMAINS[0], localedir=LOCALE_DIR, languages=[_lang], fallback=True)


def _hook_argparse() -> None:
    """Let argparse's own texts ("usage:", "options", its errors) follow the UI language.

    argparse looks up its module globals `_` and `ngettext` (gettext's) each time it formats a text, so
    pointing them at ours translates them from the ectui catalog; English stays the source.
    """
    import argparse

    argparse._ = _  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


def language() -> str:
    """The current UI language code."""
    return _lang


def _(message: str) -> str:
    """Translate a UI string into the current language."""
    return _current.gettext(message)


def N_(message: str) -> str:  # noqa: N802 - gettext convention
    """Mark a string for translation without translating it now (translated at render time)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a string with a count."""
    return _current.ngettext(singular, plural, n)


@runtime_checkable
class Message(Protocol):
    """A domain error as rendering sees it (ectui.services.errors.ServiceError): an English template
    marked for translation, and the values of its fields ('field' holds a label, translated too)."""

    @property
    def template(self) -> str: ...

    @property
    def params(self) -> dict[str, Any]: ...


def render(err: BaseException) -> str:
    """Turn a domain error (key + params) into one line of text in the UI language."""
    if isinstance(err, Message):
        template = err.template
        params = {k: (_(v) if k == "field" and isinstance(v, str) else v) for k, v in err.params.items()}
        try:
            return _(template).format(**params)
        except (KeyError, IndexError, ValueError):
            return _(template)
    return _("Unexpected error: {kind}").format(kind=type(err).__name__)
