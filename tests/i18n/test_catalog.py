"""The English catalog is complete, compiled and keeps every placeholder of the source strings.

Vietnamese is the source language (it needs no catalog); English must translate every string the
extraction in ``make translations`` finds. These tests re-run that extraction with Babel's API and
hold the committed ``messages.po`` and ``messages.mo`` to it. They do not import the application.

To fix a failure, refresh the catalog (see the ``translations`` target in the Makefile)::

    .venv/bin/pybabel extract -F babel.cfg -k _l -o caseapp/translations/messages.pot .
    .venv/bin/pybabel update -i caseapp/translations/messages.pot -d caseapp/translations \
        -l en --no-fuzzy-matching
    # translate the new or changed entries in caseapp/translations/en/LC_MESSAGES/messages.po
    .venv/bin/pybabel compile -d caseapp/translations
"""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

try:
    from babel.messages.frontend import parse_mapping_cfg
except ImportError:  # Babel < 2.15 only has the older name (deprecated since)
    from babel.messages.frontend import parse_mapping as parse_mapping_cfg

ROOT = Path(__file__).resolve().parents[2]
BABEL_CFG = ROOT / "babel.cfg"
LC_MESSAGES = ROOT / "caseapp" / "translations" / "en" / "LC_MESSAGES"
PO_FILE = LC_MESSAGES / "messages.po"
MO_FILE = LC_MESSAGES / "messages.mo"

# pybabel's default keywords plus the aliases the code uses (`_l` is what the Makefile adds).
KEYWORDS: dict[str, Any] = {
    **DEFAULT_KEYWORDS,
    "_": None,
    "_l": None,
    "gettext": None,
    "lazy_gettext": None,
    "ngettext": (1, 2),
}

# A printf-style conversion, named or not; "%%" is matched too so that it can be told apart.
CONVERSION = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"
    r"(?P<type>[diouxXeEfFgGcrsa%])"
)


def _forms(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """A msgid or msgstr as a tuple of its forms (one, or several for plural messages)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _label(message: Message) -> str:
    where = ", ".join(f"{path}:{line}" for path, line in message.locations[:2]) or "?"
    context = f" [context {message.context!r}]" if message.context else ""
    return f"{where}: {_forms(message.id)[0]!r}{context}"


def _placeholders(text: str) -> set[str]:
    """The conversions in a string, e.g. {"%(name)s", "%(n)d"}; "%%" is not one."""
    return {m.group(0) for m in CONVERSION.finditer(text) if m.group("type") != "%"}


def _stray_percents(text: str) -> int:
    """Percent signs that start no valid conversion: `text % values` would fail on them."""
    return CONVERSION.sub("", text).count("%")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """Extract as `pybabel extract -F babel.cfg` does, into a fresh template in a temp dir."""
    with BABEL_CFG.open(encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj, str(BABEL_CFG))
    catalog = Catalog(fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    template = tmp_path_factory.mktemp("i18n") / "messages.pot"
    with template.open("wb") as fileobj:
        write_po(fileobj, catalog)
    with template.open("rb") as fileobj:
        return read_po(fileobj)


@pytest.fixture(scope="module")
def committed() -> Catalog:
    assert PO_FILE.is_file(), f"{PO_FILE.relative_to(ROOT)} is missing: run `make translations`"
    with PO_FILE.open("rb") as fileobj:
        return read_po(fileobj, locale="en")


def test_extraction_covers_code_and_templates_only(extracted: Catalog) -> None:
    """babel.cfg finds strings in caseapp/ and templates/, and nothing from .venv or tests."""
    paths = {path.replace("\\", "/") for message in extracted for path, _ in message.locations}
    assert any(p.startswith("caseapp/") and p.endswith(".py") for p in paths), sorted(paths)
    assert any(p.startswith("templates/") and p.endswith(".html") for p in paths), sorted(paths)
    strays = sorted(p for p in paths if not p.startswith(("caseapp/", "templates/")))
    assert not strays, f"babel.cfg extracts from outside caseapp/ and templates/: {strays}"


def test_every_extracted_message_has_an_english_translation(
    extracted: Catalog, committed: Catalog
) -> None:
    assert not committed.fuzzy, "the catalog header is marked fuzzy: pybabel compile skips it"
    missing: list[str] = []
    for message in extracted:
        if not message.id:
            continue  # the header
        entry = committed.get(message.id, message.context)
        if entry is None:
            missing.append(f"{_label(message)} (not in messages.po)")
            continue
        wanted = committed.num_plurals if message.pluralizable else 1
        strings = _forms(entry.string)
        if entry.fuzzy:
            missing.append(f"{_label(message)} (fuzzy)")
        elif len(strings) != wanted or not all(s.strip() for s in strings):
            missing.append(f"{_label(message)} (empty msgstr)")
    assert not missing, (
        f"{len(missing)} source string(s) lack an English translation in "
        f"{PO_FILE.relative_to(ROOT)}:\n  " + "\n  ".join(missing)
    )


def _mo_pairs(data: bytes) -> set[tuple[Any, str]]:
    """The (msgid, msgstr) pairs of a compiled catalog, without its header entry."""
    translations = gettext.GNUTranslations(io.BytesIO(data))
    # GNUTranslations keeps every entry in `_catalog`: msgid -> msgstr, (msgid, n) -> plural form
    # n, and "context\x04msgid" for messages with a context.
    return {(key, value) for key, value in translations._catalog.items() if key != ""}


def test_compiled_catalog_is_up_to_date(committed: Catalog) -> None:
    assert MO_FILE.is_file(), (
        f"{MO_FILE.relative_to(ROOT)} is missing: run `pybabel compile -d caseapp/translations`"
    )
    buffer = io.BytesIO()
    write_mo(buffer, committed, use_fuzzy=False)
    expected = _mo_pairs(buffer.getvalue())
    actual = _mo_pairs(MO_FILE.read_bytes())
    assert expected, "the compiled .po has no translations at all"
    mismatch = [f"only in the .po: {pair!r}" for pair in sorted(expected - actual, key=repr)]
    mismatch += [f"only in the .mo: {pair!r}" for pair in sorted(actual - expected, key=repr)]
    assert not mismatch, (
        "messages.mo does not match messages.po; run `pybabel compile -d caseapp/translations`:\n  "
        + "\n  ".join(mismatch[:40])
    )


def test_translations_keep_the_placeholders(committed: Catalog) -> None:
    wrong: list[str] = []
    for message in committed:
        if not message.id or not message.string:
            continue
        ids = _forms(message.id)
        strings = [s for s in _forms(message.string) if s]
        source = set().union(*(_placeholders(s) for s in ids))
        for string in strings:
            found = _placeholders(string)
            # A plural form may leave out the count ("One case file"), never add a new name.
            ok = found <= source if message.pluralizable else found == source
            if not ok:
                wrong.append(f"{_label(message)}: {sorted(source)} became {sorted(found)}")
            if _stray_percents(string) > max(_stray_percents(s) for s in ids):
                wrong.append(f"{_label(message)}: stray '%' in {string!r} (write '%%')")
        if message.pluralizable and strings:
            found_all = set().union(*(_placeholders(s) for s in strings))
            if found_all != source:
                wrong.append(
                    f"{_label(message)}: forms use {sorted(found_all)}, not {sorted(source)}"
                )
    assert not wrong, "placeholders differ between msgid and msgstr:\n  " + "\n  ".join(wrong)
