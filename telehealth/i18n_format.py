"""Dates and times as people read them in their language, always in the clinic's zone.

English keeps the spelling of domain/availability.py ("Thursday, December 3, 2026 at
2:20 p.m. EST"); French follows Babel's fr_CA ("jeudi 3 décembre 2026, 14 h 20 HNE").
Without a language, the request's (or a forced one's, for emails) is used, else English.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from flask import has_app_context

from .domain.availability import CLINIC_TZ
from .domain.availability import format_clock as english_clock
from .domain.availability import format_local as english_local
from .i18n import DEFAULT_LANGUAGE, LOCALES, language_or_default

FRENCH_CLOCK = "H 'h' mm zzz"
FRENCH_LOCAL = "EEEE d MMMM y, H 'h' mm zzz"


def active_language() -> str:
    """The language being spoken now: a forced one (an email), the request's, else English."""
    if not has_app_context():
        return DEFAULT_LANGUAGE
    from flask_babel import get_locale

    locale = get_locale()
    return language_or_default(locale.language if locale else None)


@contextmanager
def speaking(language: str | None) -> Iterator[None]:
    """Messages built inside speak `language` (a booking's), whatever the request speaks.
    Outside an app there is no catalog: English."""
    if not has_app_context():
        yield
        return
    from flask_babel import force_locale

    with force_locale(LOCALES[language_or_default(language)]):
        yield


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"times must be timezone-aware, got {moment!r}")
    return moment


def format_local(moment: datetime, language: str | None = None, tz: ZoneInfo = CLINIC_TZ) -> str:
    """Day, date and time of day with the zone: 'Thursday, December 3, 2026 at 2:20 p.m.
    EST' or 'jeudi 3 décembre 2026, 14 h 20 HNE'."""
    if (language or active_language()) == "fr":
        return format_datetime(_aware(moment), FRENCH_LOCAL, tzinfo=tz, locale=LOCALES["fr"])
    return english_local(moment, tz)


def format_clock(moment: datetime, language: str | None = None, tz: ZoneInfo = CLINIC_TZ) -> str:
    """The time of day with its zone: '2:20 p.m. EST' or '14 h 20 HNE'."""
    if (language or active_language()) == "fr":
        return format_datetime(_aware(moment), FRENCH_CLOCK, tzinfo=tz, locale=LOCALES["fr"])
    return english_clock(moment, tz)


def format_day(day: date, language: str | None = None) -> str:
    """A day of the booking calendar: 'Monday, March 15' or 'lundi 15 mars'."""
    if (language or active_language()) == "fr":
        return format_date(day, "EEEE d MMMM", locale=LOCALES["fr"])
    return f"{day:%A}, {day:%B} {day.day}"


def format_long_day(moment: datetime, language: str | None = None) -> str:
    """The clinic's day of a time, with its year: 'Thursday, December 3, 2026' or
    'jeudi 3 décembre 2026'."""
    local = _aware(moment).astimezone(CLINIC_TZ)
    if (language or active_language()) == "fr":
        return format_date(local.date(), "EEEE d MMMM y", locale=LOCALES["fr"])
    return format_date(local.date(), "EEEE, MMMM d, y", locale="en")


def format_short_day(moment: datetime, language: str | None = None) -> str:
    """The clinic's day of a time, short, for subjects: 'Thu, Dec 3' or 'jeu. 3 déc.'."""
    local = _aware(moment).astimezone(CLINIC_TZ)
    if (language or active_language()) == "fr":
        return format_date(local.date(), "EEE d MMM", locale=LOCALES["fr"])
    return format_date(local.date(), "EEE, MMM d", locale="en")


def translated(text: object) -> str:
    """Stored text (a college's name, a demo bio) in the catalog's words when the catalog
    has them, else as stored. Plain text out: the template still escapes it."""
    if not isinstance(text, str) or not text.strip() or not has_app_context():
        return "" if text is None else str(text)
    from flask_babel import gettext

    return str(gettext(text))
