"""Times on staff and admin pages in the page's language, always in the clinic's zone with
the zone shown: 'Thursday, December 3, 2026 at 2:20 p.m. EST' in English, 'jeudi 3 décembre
2026, 14 h 20 HNE' in French (telehealth.i18n_format, shared with the public pages)."""

from __future__ import annotations

from datetime import datetime

from .. import i18n_format


def when(moment: datetime) -> str:
    """The day and time of `moment`, in the clinic's zone."""
    return str(i18n_format.format_local(moment))


def clock(moment: datetime) -> str:
    """The time of day of `moment`, in the clinic's zone."""
    return str(i18n_format.format_clock(moment))
