"""Times on staff and admin pages in the page's language, always in the clinic's zone with
the zone shown: 'Thursday, December 3, 2026 at 2:20 p.m. EST' in English, 'jeudi 3 décembre
2026, 14 h 20 HNE' in French. English keeps the wording of domain.availability, which the
patients' emails and pages share."""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_datetime

from ..domain.availability import CLINIC_TZ, format_clock, format_local
from ..i18n import LOCALES, current_language

# Babel patterns of Canadian French: "14 h 20", the zone as HNE / HAE.
FRENCH_WHEN = "EEEE d MMMM y, H 'h' mm zzz"
FRENCH_CLOCK = "H 'h' mm zzz"


def when(moment: datetime) -> str:
    """The day and time of `moment`, in the clinic's zone."""
    if current_language() == "en":
        return format_local(moment)
    return _french(moment, FRENCH_WHEN)


def clock(moment: datetime) -> str:
    """The time of day of `moment`, in the clinic's zone."""
    if current_language() == "en":
        return format_clock(moment)
    return _french(moment, FRENCH_CLOCK)


def _french(moment: datetime, pattern: str) -> str:
    return str(format_datetime(moment, pattern, tzinfo=CLINIC_TZ, locale=LOCALES["fr"]))
