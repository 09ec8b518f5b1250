"""English and French (Canada): which language a request speaks, and the compiled catalogs.

The language of a request, first match wins:
1. the person's explicit choice (the switch on every page, kept in the `lang` cookie);
2. the language stored with the booking behind the page (join, manage and setup links set
   `g.booking_language`), so a link opened on someone else's browser still speaks the
   patient's language;
3. the browser's Accept-Language;
4. English.

The French catalog lives as gettext sources in telehealth/translations/fr_CA/LC_MESSAGES/:
`messages.po`, plus any `parts/*.po` of one area of the site; `compile_catalogs` merges them
into the `messages.mo` that Flask-Babel reads. `make install` compiles, and the app compiles
again at start whenever a source is newer than the compiled catalog, so a fresh checkout
and an edited catalog both serve French without a separate step.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, g, has_request_context, redirect, request
from flask_babel import Babel, get_locale
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DEFAULT_LANGUAGE = "en"
# Our languages, each with the locale Babel formats in and the tag <html lang> carries.
LOCALES = {"en": "en_CA", "fr": "fr_CA"}
HTML_LANG = {"en": "en-CA", "fr": "fr-CA"}
# Each language's name in itself: the switch offers the other one by its own name.
NATIVE_NAMES = {"en": "English", "fr": "Français"}
LANGUAGE_COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGE_COOKIE",
    "LOCALES",
    "compile_catalogs",
    "current_language",
    "init_app",
    "language_or_default",
]


def language_or_default(value: object) -> str:
    """One of our language codes ('en', 'fr') from anything a person or a row may hold
    ('fr', 'fr-CA', 'fr_CA', 'FR'), else English."""
    if isinstance(value, str):
        code = value.strip().lower().replace("_", "-").split("-", 1)[0]
        if code in LOCALES:
            return code
    return DEFAULT_LANGUAGE


def _chosen_language() -> str | None:
    choice = request.cookies.get(LANGUAGE_COOKIE)
    return language_or_default(choice) if choice else None


def current_language() -> str:
    """The language of this request ('en' or 'fr'); English outside a request."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    cached = g.get("_language")
    if cached:
        return str(cached)
    language = (
        _chosen_language()
        or (language_or_default(g.booking_language) if g.get("booking_language") else None)
        or language_or_default(request.accept_languages.best_match(list(LOCALES)))
    )
    g._language = language
    return language


def _select_locale() -> str:
    return LOCALES[current_language()]


def _catalog_sources(locale_dir: Path) -> list[Path]:
    messages = locale_dir / "LC_MESSAGES"
    return sorted(
        [p for p in [messages / "messages.po"] if p.exists()]
        + list((messages / "parts").glob("*.po"))
    )


def _merge(sources: Iterable[Path], locale: str) -> Any:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    merged = Catalog(locale=locale, domain="messages")
    for index, source in enumerate(sources):
        with source.open("rb") as handle:
            part = read_po(handle, locale=locale)
        if index == 0:
            # The sources' Plural-Forms (two forms for French), not Babel's three from CLDR,
            # else every msgstr[1] is unreachable in the compiled catalog.
            merged.mime_headers = part.mime_headers
        for message in part:
            if message.id and message.string and not message.fuzzy:
                merged[message.id] = message
    return merged


def compile_catalogs(translations: Path = TRANSLATIONS, force: bool = False) -> list[Path]:
    """Compile each language's catalog sources into messages.mo when a source is newer;
    returns the catalogs written. Atomic: a process reading meanwhile sees old or new."""
    from babel.messages.mofile import write_mo

    written: list[Path] = []
    for locale_dir in sorted(p for p in translations.glob("*_*") if p.is_dir()):
        sources = _catalog_sources(locale_dir)
        if not sources:
            continue
        target = locale_dir / "LC_MESSAGES" / "messages.mo"
        newest = max(p.stat().st_mtime for p in sources)
        if not force and target.exists() and target.stat().st_mtime >= newest:
            continue
        catalog = _merge(sources, locale_dir.name)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".mo")
        with os.fdopen(handle, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.replace(temporary, target)
        written.append(target)
    return written


def _compile_if_stale() -> None:
    try:
        for path in compile_catalogs():
            log.info("compiled %s", path)
    except OSError as error:  # a read-only install: the build step compiled them already
        log.warning("could not compile the translations (%s); using those installed", error)


def _switch_back_to() -> str:
    """Where the switch returns. A join link is only ever rendered when it failed, and it
    must fail with one page for every guess, so that page's switch leads home."""
    if request.endpoint == "consult.join":
        return "/"
    return request.full_path.rstrip("?")


def _template_context() -> dict[str, Any]:
    language = current_language()
    other = "fr" if language == "en" else "en"
    return {
        "language_switch_next": _switch_back_to(),
        "html_lang": HTML_LANG[language],
        "language": language,
        "other_language": other,
        "other_language_name": NATIVE_NAMES[other],
        "other_language_tag": HTML_LANG[other],
    }


def init_app(app: Flask) -> None:
    """Flask-Babel with our locale choice; templates get `_`, `ngettext` and the switch."""
    _compile_if_stale()
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LOCALES[DEFAULT_LANGUAGE])
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "America/Toronto")
    Babel(app, locale_selector=_select_locale)
    # A {% trans %} block's message is its text with the template's line breaks folded, so
    # re-indenting a template never changes a message id.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.context_processor(_template_context)
    app.register_blueprint(bp)


def babel_locale() -> Any:
    """The Babel Locale of this request, for formatting dates and numbers."""
    return get_locale()


# --- the switch ---------------------------------------------------------------------------

bp = Blueprint("language", __name__)


def _local_path(value: str | None) -> str:
    """Only a path of this site: an absolute or scheme-relative address goes home instead."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@bp.get("/language/<code>")
def switch(code: str) -> Response:
    """Keep the person's choice of language in a cookie and go back where they were. A GET
    link, so it works without a script or a session; switching a language is harmless."""
    response = redirect(_local_path(request.args.get("next")), code=303)
    if code in LOCALES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=COOKIE_MAX_AGE,
            samesite="Lax",
            secure=request.is_secure,
            httponly=True,
        )
    return response


if __name__ == "__main__":  # `python -m telehealth.i18n`: compile every catalog now
    for compiled in compile_catalogs(force=True):
        print(f"compiled {compiled}")
