"""Calendar invites (RFC 5545 / iTIP) for a consult, in the clinic's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

CLINIC_TIMEZONE = ZoneInfo("America/Toronto")
PRODID = "-//Telehealth Physiotherapy//Free Consult Booking//EN"
# The alarm rings when the waiting room opens (the clinic's lobby setting).
ALARM_BEFORE = timedelta(minutes=10)

InviteMethod = Literal["REQUEST", "CANCEL"]


def consult_invite(
    *,
    uid: str,
    sequence: int,
    start: datetime,
    end: datetime,
    summary: str,
    description: str,
    location: str,
    organizer_email: str,
    organizer_name: str,
    attendee_email: str,
    attendee_name: str,
    method: InviteMethod = "REQUEST",
    now: datetime | None = None,
    alarm_before: timedelta = ALARM_BEFORE,
    alarm_text: str = "",
    language: str = "",
) -> bytes:
    """One consult as an iCalendar invite (REQUEST) or withdrawal (CANCEL); `summary`,
    `description` and `alarm_text` come worded in the patient's `language` (a tag such as
    'fr-CA', carried as the text's LANGUAGE parameter)."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        raise ValueError("a consult must end after it starts")
    if sequence < 0:
        raise ValueError("SEQUENCE cannot be negative")

    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", _utc(now or datetime.now(UTC)))
    # Clinic-local times with a TZID, so calendars show the consult in Ontario time
    # even for a patient whose device is set elsewhere.
    event.add("dtstart", start.astimezone(CLINIC_TIMEZONE))
    event.add("dtend", end.astimezone(CLINIC_TIMEZONE))
    text_parameters = {"LANGUAGE": language} if language else {}
    event.add("summary", summary, parameters=text_parameters)
    event.add("description", description, parameters=text_parameters)
    event.add("location", location)
    event.add("url", location)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("organizer", _calendar_address(organizer_email, organizer_name))
    event.add(
        "attendee",
        _calendar_address(attendee_email, attendee_name, ROLE="REQ-PARTICIPANT", RSVP="FALSE"),
    )
    if method == "REQUEST":
        event.add_component(_heads_up_alarm(alarm_before, alarm_text))

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    calendar.add_component(event)
    # Only the consult's own years: a full 1970-2038 VTIMEZONE bloats every email.
    first_year = start.astimezone(CLINIC_TIMEZONE).year
    last_year = end.astimezone(CLINIC_TIMEZONE).year
    calendar.add_missing_timezones(
        first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1)
    )
    return calendar.to_ical()


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _utc(moment: datetime) -> datetime:
    # A naive "now" is taken as UTC; DTSTAMP must always be written in UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _calendar_address(email: str, name: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    address.params["CN"] = vText(" ".join(name.split()))
    for key, value in params.items():
        address.params[key] = value
    return address


def _heads_up_alarm(before: timedelta, text: str = "") -> Alarm:
    minutes = round(before.total_seconds() / 60)
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add(
        "description",
        text
        or f"Your free physiotherapy consult starts in {minutes} minutes: the waiting room is open",
    )
    alarm.add("trigger", -before)
    return alarm
