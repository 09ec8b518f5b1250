"""The French catalog covers every message people read, area by area.

Messages are extracted from the templates and the Python code exactly as `make i18n-extract`
does (babel.cfg, with the lazy keywords), so the pages' script strings (JSON blocks rendered
by templates) are covered too. The catalog sources are merged as telehealth.i18n compiles
them. For each area in CHECKED_AREAS every message must have a French translation with the
same placeholders and markup as the English, and must not be a copy of a long English
sentence; its scripts must not hard-code an English sentence. Every area is checked; a
message with a context (pgettext, NP_) is looked up with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from telehealth.i18n import TRANSLATIONS, _catalog_sources, _merge

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "NP_": ((1, "c"), 2)}

# Where each area's messages live: templates and Python as extracted, and its scripts.
AREAS: dict[str, dict[str, tuple[str, ...]]] = {
    "base": {
        "sources": ("templates/base.html", "templates/_language_switch.html"),
        "scripts": ("static/js/strings.js", "static/js/focus-errors.js"),
    },
    "staff": {
        "sources": (
            "templates/staff/*.html",
            "templates/admin/*.html",
            "telehealth/staff/*.py",
            "telehealth/admin/*.py",
            "telehealth/api/staff.py",
            "telehealth/consult/outcomes.py",
        ),
        "scripts": ("static/js/monitor.js", "static/js/staff/*.js"),
    },
    "public": {
        "sources": (
            "templates/*.html",
            "telehealth/booking/*.py",
            "telehealth/domain/*.py",
            "telehealth/errors.py",
            "telehealth/i18n_format.py",
        ),
        "scripts": (),
    },
    "consult": {
        "sources": (
            "templates/consult/*.html",
            "telehealth/consult/*.py",
            "telehealth/signaling/*.py",
            "telehealth/protocol/*.py",
        ),
        "scripts": ("static/js/consult/*.js",),
    },
    "email": {"sources": ("telehealth/notify/*.py",), "scripts": ()},
}
CHECKED_AREAS = tuple(AREAS)

# English kept as is in French on purpose (a brand, a code): none yet.
SAME_IN_FRENCH: frozenset[str] = frozenset()
# Script literals that read like a sentence but are not shown to people.
SCRIPT_ALLOW: frozenset[str] = frozenset()

PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\w+\}")
MARKUP = re.compile(r"</?[a-zA-Z][^>]*>")


def _in_area(path: str, area: str) -> bool:
    """`*` stays within one folder: templates/*.html is not templates/consult/x.html."""
    return any(
        fnmatch(path, pattern) and path.count("/") == pattern.count("/")
        for pattern in AREAS[area]["sources"]
    )


def _extracted() -> dict[Any, set[str]]:
    """Every message (its id, a tuple for plurals, and its context) of the tree, with the
    files it comes from."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[Any, set[str]] = {}
    for path, _line, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        key = tuple(message) if isinstance(message, list | tuple) else message
        found.setdefault((key, context), set()).add(path.replace("\\", "/"))
    return found


@pytest.fixture(scope="module")
def catalog() -> Any:
    locale_dir = TRANSLATIONS / "fr_CA"
    return _merge(_catalog_sources(locale_dir), "fr_CA")


@pytest.fixture(scope="module")
def extracted() -> dict[Any, set[str]]:
    return _extracted()


def _forms(message_id: Any) -> list[str]:
    return list(message_id) if isinstance(message_id, tuple) else [message_id]


def _translations(catalog: Any, message_id: Any, context: str | None = None) -> list[str]:
    found = catalog.get(message_id, context=context)
    if found is None or not found.string:
        return []
    return list(found.string) if isinstance(found.string, tuple | list) else [found.string]


def _shape(text: str) -> tuple[list[str], list[str]]:
    return sorted(PLACEHOLDER.findall(text)), sorted(MARKUP.findall(text))


def _words(text: str) -> int:
    """Words of the sentence, placeholders left out: '%(devices)s (%(names)s)' has none."""
    return len(re.findall(r"[A-Za-z]+", PLACEHOLDER.sub(" ", text)))


def problems_of(message_id: Any, catalog: Any, context: str | None = None) -> Iterator[str]:
    """What is wrong with one message's French, in words."""
    english = _forms(message_id)
    french = _translations(catalog, message_id, context)
    if not french or not all(form.strip() for form in french):
        yield "has no French translation"
        return
    for index, form in enumerate(french):
        source = english[min(index, len(english) - 1)]
        if _shape(form) != _shape(source):
            yield f"French {form!r} has placeholders or markup {_shape(form)}, not {_shape(source)}"
        if form == source and _words(source) > 3 and source not in SAME_IN_FRENCH:
            yield "French is a copy of the English"


@pytest.mark.parametrize("area", CHECKED_AREAS)
def test_every_message_of_the_area_is_in_french(
    area: str, catalog: Any, extracted: dict[Any, set[str]]
) -> None:
    messages = {
        message_id: paths
        for message_id, paths in extracted.items()
        if any(_in_area(path, area) for path in paths)
    }
    assert messages, f"no message found in the {area} area: is babel.cfg read?"
    wrong = [
        f"{message_id!r} ({', '.join(sorted(paths))}): {problem}"
        for (message_id, context), paths in messages.items()
        for problem in problems_of(message_id, catalog, context)
    ]
    assert not wrong, f"{len(wrong)} messages of {area}:\n" + "\n".join(wrong)


def test_template_messages_are_whitespace_folded(extracted: dict[Any, set[str]]) -> None:
    """The app folds a {% trans %} block's line breaks; extraction must agree, or the
    catalog holds ids no page ever asks for."""
    unfolded = [repr(m) for m, _context in extracted if any("\n" in form for form in _forms(m))]
    assert not unfolded, "messages with line breaks (babel.cfg needs trimmed = true):\n" + (
        "\n".join(unfolded)
    )


# --- scripts ------------------------------------------------------------------------------

LITERAL = re.compile(
    r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`", re.S
)
CODE_LIKE = re.compile(r"^[\[#.:]|\[data-|=>|\w\(|^[\w-]+(\.[\w-]+)+$|^[a-z][\w-]*( [a-z][\w-]*)*$")


def sentences_in_script(source: str) -> list[str]:
    """String literals that read like an English sentence a person would see."""
    found = []
    for match in LITERAL.finditer(source):
        token = match.group(0)
        if token.startswith(("//", "/*")):
            continue
        text = " ".join(re.sub(r"\$\{[^}]*\}", " ", token[1:-1]).split())
        line = source[source.rfind("\n", 0, match.start()) + 1 : match.start()]
        if "console." in line or text in SCRIPT_ALLOW or CODE_LIKE.search(text):
            continue
        two_words = re.search(r"[A-Za-z]{2,}\s+\S*[A-Za-z]{2,}", text)
        if two_words and (re.search(r"[A-Z]", text) or text.endswith((".", "…"))):
            found.append(text)
    return found


def test_the_sentence_finder_sees_sentences_and_not_code() -> None:
    script = """
      // A comment: It is not shown.
      const TEXT = { ended: "Ended the room.", who: `Patient ${name} waiting` };
      const MORE = { hint: 'Reconnecting to the server…', zone: "America/Toronto" };
      document.querySelector('[data-field="name"]');
      el.className = "button-danger button-small";
      console.warn("Page strings are not JSON", error); t("monitor.endRoom", { room });
      throw new Error(`feed answered ${status}`);
    """
    found = sentences_in_script(script)
    assert found == ["Ended the room.", "Patient waiting", "Reconnecting to the server…"]


@pytest.mark.parametrize("area", CHECKED_AREAS)
def test_scripts_take_their_sentences_from_the_page(area: str) -> None:
    scripts = sorted({path for pattern in AREAS[area]["scripts"] for path in ROOT.glob(pattern)})
    found = {
        str(path.relative_to(ROOT)): sentences
        for path in scripts
        if (sentences := sentences_in_script(path.read_text(encoding="utf-8")))
    }
    assert not found, f"English sentences hard-coded in {area}'s scripts: {found}"
