"""Checks for the admin forms: plain functions returning clean values or field errors."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..domain.availability import CLINIC_TZ
from ..domain.text_rules import NOT_ALLOWED, is_clean_text
from ..models import Profession

WEEKDAYS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)


class FormErrors(Exception):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("form errors")
        self.fields = fields


def not_allowed() -> str:
    """domain.text_rules.NOT_ALLOWED in the page's language."""
    return _("Remove control or text-direction characters.")


# Fields where a line break is part of the text (a bio has paragraphs).
MULTILINE_FIELDS = frozenset({"bio"})


def _text(form: Any, key: str, limit: int, required: bool = True) -> tuple[str, str | None]:
    value = str(form.get(key, "")).strip()
    if not is_clean_text(value, key in MULTILINE_FIELDS):
        return value, NOT_ALLOWED
    if required and not value:
        return value, _("Required.")
    if len(value) > limit:
        return value, _("At most %(count)d characters.", count=limit)
    return value, None


def parse_provider(form: Any) -> dict[str, Any]:
    """Name, email, profession, designations, registration number, bio and active flag."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key, limit, required in (
        ("name", 120, True),
        ("email", 254, True),
        ("registration_number", 32, True),
        ("bio", 2000, False),
    ):
        values[key], error = _text(form, key, limit, required)
        if error:
            errors[key] = not_allowed() if error == NOT_ALLOWED else error
    values["email"] = values["email"].lower()
    if values["email"] and not re.match(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", values["email"]):
        errors["email"] = _("Enter an email address.")
    try:
        values["profession"] = Profession(form.get("profession", ""))
    except ValueError:
        errors["profession"] = _("Choose physiotherapist or massage therapist.")
    values["designations"] = [
        d.strip() for d in str(form.get("designations", "")).split(",") if d.strip()
    ][:10]
    if not is_clean_text(str(form.get("designations", ""))):
        errors["designations"] = not_allowed()
    values["active"] = form.get("active") == "yes"
    values["languages"] = consult_languages(form)
    if errors:
        raise FormErrors(errors)
    return values


def consult_languages(form: Any) -> list[str]:
    """The ticked consult languages, in a fixed order; none ticked means English."""
    ticked = form.getlist("languages") if hasattr(form, "getlist") else form.get("languages", [])
    return [code for code in ("en", "fr") if code in ticked] or ["en"]


def _clock(value: str) -> time | None:
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        return None


def parse_weekly_hours(form: Any) -> list[tuple[int, time, time]]:
    """Up to one window per weekday, `start_N`/`end_N` fields in local time; blank = closed."""
    hours: list[tuple[int, time, time]] = []
    errors: dict[str, str] = {}
    for day in range(7):
        start, end = str(form.get(f"start_{day}", "")), str(form.get(f"end_{day}", ""))
        if not start and not end:
            continue
        opens, closes = _clock(start), _clock(end)
        if opens is None or closes is None or closes <= opens:
            errors[f"day_{day}"] = _(
                "%(day)s: give a start and a later end, or leave both blank.", day=WEEKDAYS[day]
            )
            continue
        hours.append((day, opens, closes))
    if errors:
        raise FormErrors(errors)
    return hours


def parse_time_off(form: Any) -> tuple[datetime, datetime, str]:
    """A time-off interval entered in Toronto local time."""
    try:
        starts = datetime.fromisoformat(str(form.get("starts", ""))).replace(tzinfo=CLINIC_TZ)
        ends = datetime.fromisoformat(str(form.get("ends", ""))).replace(tzinfo=CLINIC_TZ)
    except ValueError as error:
        raise FormErrors({"starts": _("Give a start and an end date and time.")}) from error
    if ends <= starts:
        raise FormErrors({"ends": _("The end must be after the start.")})
    note, problem = _text(form, "note", 200, False)
    if problem == NOT_ALLOWED:
        raise FormErrors({"note": not_allowed()})
    return starts, ends, note[:200]


SETTING_LIMITS = {
    "length_minutes": (10, 60),
    "buffer_minutes": (0, 60),
    "minimum_notice_minutes": (0, 7 * 24 * 60),
    "horizon_days": (1, 365),
    "lobby_opens_minutes": (0, 60),
}


def parse_settings(form: Any) -> dict[str, int]:
    errors: dict[str, str] = {}
    values: dict[str, int] = {}
    for key, (low, high) in SETTING_LIMITS.items():
        raw = str(form.get(key, "")).strip()
        if not raw.isdigit() or not low <= int(raw) <= high:
            errors[key] = _("A whole number from %(low)d to %(high)d.", low=low, high=high)
        else:
            values[key] = int(raw)
    if errors:
        raise FormErrors(errors)
    return values
