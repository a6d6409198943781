"""Translation tooling: check and compile the zh_CN catalog parts into ectui.mo.

Usage:
  python tools/i18n.py compile   merge ectui/locale/zh_CN/LC_MESSAGES/parts/*.po into ectui.mo
  python tools/i18n.py missing   list source strings (_() and N_() literals in ectui/) with no zh_CN translation
"""

from __future__ import annotations

import datetime
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LC = ROOT / "ectui" / "locale" / "zh_CN" / "LC_MESSAGES"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def merged_catalog() -> Catalog:
    """All parts merged into one catalog (a later part wins on a duplicate msgid)."""
    fixed = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)  # a stable header keeps ectui.mo reproducible
    merged = Catalog(
        locale="zh_CN",
        domain="ectui",
        charset="utf-8",
        creation_date=fixed,
        revision_date=fixed,
        project="ectui",
    )
    for part in sorted((LC / "parts").glob("*.po")):
        with part.open("rb") as fh:
            catalog = read_po(fh, locale="zh_CN")
        for message in catalog:
            if message.id and message.string:
                merged.add(message.id, message.string)
    return merged


def source_strings() -> set[str | tuple[str, str]]:
    """Every literal passed to _(), N_() or ngettext() under ectui/ (plural forms as a tuple)."""
    found: set[str | tuple[str, str]] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "ectui"), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        if isinstance(message, str) and message:
            found.add(message)
        elif isinstance(message, tuple) and all(message):
            found.add((message[0], message[1]))
    return found


def mo_bytes() -> bytes:
    """The compiled .mo of the merged catalog."""
    buffer = io.BytesIO()
    write_mo(buffer, merged_catalog(), use_fuzzy=False)
    return buffer.getvalue()


def mo_messages(data: bytes) -> dict[object, object]:
    """The translations a compiled .mo holds (msgid -> msgstr, plurals as tuples), without its header.

    What matters for the console is the messages and their translations; the header and the byte layout are
    whatever the Babel version that compiled it writes.
    """
    import gettext

    translations = gettext.GNUTranslations(io.BytesIO(data))
    catalog: dict[object, object] = {}
    for key, value in translations._catalog.items():  # type: ignore[attr-defined]
        if key == "":
            continue
        if isinstance(key, tuple):  # (msgid, n) of a plural form
            catalog.setdefault(key[0], {})[key[1]] = value  # type: ignore[index]
        else:
            catalog[key] = value
    return catalog


def main(argv: list[str]) -> int:
    """Run a subcommand."""
    command = argv[1] if len(argv) > 1 else "compile"
    if command == "compile":
        (LC / "ectui.mo").write_bytes(mo_bytes())
        return 0
    if command == "missing":
        translated = {m.id for m in merged_catalog() if m.id}
        missing = sorted(source_strings() - translated, key=str)
        for msgid in missing:
            if isinstance(msgid, tuple):
                print(f'msgid {msgid[0]!r}\nmsgid_plural {msgid[1]!r}\nmsgstr[0] ""\n')
                continue
            escaped = msgid.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            print(f'msgid "{escaped}"\nmsgstr ""\n')
        return 1 if missing else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
