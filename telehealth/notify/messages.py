"""The emails a patient gets about a free consult: plain text, HTML and a calendar invite.

Nothing clinical goes in here: a ConsultNotice has no reason-for-visit field on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from html import escape

from .ics import CLINIC_TIMEZONE, InviteMethod, consult_invite

LOBBY_OPENS_MINUTES = 10

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class ConsultNotice:
    """Everything an email about one consult may show, and nothing clinical."""

    consult_id: int
    patient_name: str
    patient_email: str
    provider_name: str
    start: datetime  # aware UTC
    end: datetime
    join_url: str
    manage_url: str
    clinic_name: str
    clinic_email: str
    clinic_phone: str
    ics_uid: str  # stable per consult, e.g. "consult-12@<host>"
    ics_sequence: int
    # When the waiting room opens, from the consult policy: emails and the alarm say so.
    lobby_opens_minutes: int = LOBBY_OPENS_MINUTES
    # "Test your setup" with the connection check (consult/setup.py); empty: no such link.
    setup_url: str = ""


@dataclass(frozen=True)
class _Link:
    heading: str
    url: str
    note: str = ""
    button: bool = False  # the one thing to do next: drawn as a button in HTML


@dataclass(frozen=True)
class _Letter:
    """One email's wording, rendered once as text and once as HTML so they never drift."""

    # At most 69 characters: Python's header folder moves a 70-78 character subject
    # onto a continuation line, which some mail apps show with a leading space.
    subject: str
    greeting: str
    opening: tuple[str, ...]
    details: tuple[tuple[str, str], ...]
    links: tuple[_Link, ...] = ()
    checklist: tuple[str, ...] = ()
    closing: tuple[str, ...] = ()
    signoff: tuple[str, ...] = ()


def booking_confirmation(n: ConsultNotice) -> EmailMessage:
    """The "you're booked" email, with a calendar invite."""
    letter = _Letter(
        subject=f"Your free physiotherapy consult on {_short_when(n.start)}",
        greeting=_greeting(n),
        opening=(
            f"Thanks for booking a free {_minutes(n)}-minute physiotherapy consult "
            f"with {n.clinic_name}. You're all set, and we look forward to meeting you.",
        ),
        details=_details(n),
        links=_call_links(n),
        checklist=_checklist(n),
        closing=_contact(n),
        signoff=_signoff(n),
    )
    return _email(n, letter, invite="REQUEST")


def reschedule_confirmation(n: ConsultNotice) -> EmailMessage:
    """The "your consult has moved" email; n.ics_sequence must already be bumped."""
    letter = _Letter(
        subject=f"Your free physiotherapy consult is now {_short_when(n.start)}",
        greeting=_greeting(n),
        opening=(
            "Your free physiotherapy consult has a new time. The details are below, "
            "and the attached invite updates the one already in your calendar.",
        ),
        details=_details(n),
        links=_call_links(n),
        checklist=_checklist(n),
        closing=_contact(n),
        signoff=_signoff(n),
    )
    return _email(n, letter, invite="REQUEST")


def cancellation_notice(n: ConsultNotice) -> EmailMessage:
    """The "your consult is cancelled" email, with an invite that removes it from calendars."""
    # No join or manage link: neither is any use once the consult is cancelled.
    letter = _Letter(
        subject=f"Your free consult on {_short_when(n.start)} is cancelled",
        greeting=_greeting(n),
        opening=(
            f"Your free physiotherapy consult on {_long_when(n.start)} has been cancelled.",
            "If you'd like to book another time, we'd be glad to see you.",
        ),
        details=(),
        closing=_contact(n),
        signoff=_signoff(n),
    )
    return _email(n, letter, invite="CANCEL")


def free_consult_already_used(n: ConsultNotice, period: str = "12 months") -> EmailMessage:
    """Sent instead of a booking confirmation when this email had its free consult recently.

    Only the owner of the address learns why nothing was booked; the website answers the
    person who asked exactly as it answers a new booking (see booking/flows.py). The request
    came from someone who may not be the owner, so nothing they typed is repeated here."""
    letter = _Letter(
        subject="About your request for a free consult",
        greeting="Hello,",
        opening=(
            f"We received a request to book a free consult on {_long_when(n.start)} "
            f"with {n.provider_name}, using this email address.",
            f"You already had your free consult in the last {period}, so we did not book "
            "this one. We would be glad to see you for treatment: please call the clinic "
            f"at {n.clinic_phone} to book a visit.",
            "If you did not make this request, you can ignore this email.",
        ),
        details=(),
        closing=_contact(n),
        signoff=_signoff(n),
    )
    return _email(n, letter, invite=None)


def recommendation_summary(
    n: ConsultNotice, recommendation: str, book_url: str, has_note: bool = False
) -> EmailMessage:
    """After the consult: what the physiotherapist recommends and how to book it. The
    physiotherapist's own note is never in the email (the address was never verified):
    it waits behind the patient's manage link."""
    opening = [
        f"Thank you for your free consult with {n.provider_name}.",
        f"Our recommendation: {recommendation}.",
    ]
    links: list[_Link] = []
    if book_url.startswith("mailto:"):
        # No booking page: the address in words, which works without a mail app.
        opening.append(
            f"To book your treatment, email us at {n.clinic_email} or call us at {n.clinic_phone}."
        )
    elif book_url:
        links.append(_Link("Book your treatment", book_url, button=True))
    if has_note:
        opening.append(f"{n.provider_name} left you a note; read it on your consult page.")
        links.append(_Link("Read the note from your physiotherapist", n.manage_url))
    letter = _Letter(
        subject=f"Your consult recommendation from {_one_line(n.clinic_name)}"[:69],
        greeting=_greeting(n),
        opening=tuple(opening),
        details=(),
        links=tuple(links),
        closing=_contact(n),
        signoff=_signoff(n),
    )
    return _email(n, letter, invite=None)


def reminder(n: ConsultNotice, hours_before: int) -> EmailMessage:
    """A heads-up sent hours_before the consult, with the join link (no invite)."""
    soon = _how_soon(hours_before)
    clock = _clock(n.start)
    subject_when = f"{soon} at {clock}" if hours_before >= 24 else f"{soon} ({clock})"
    letter = _Letter(
        subject=f"Reminder: your free consult is {subject_when}",
        greeting=_greeting(n),
        opening=(f"Just a friendly reminder: your free physiotherapy consult is {soon}.",),
        details=_details(n),
        links=_call_links(n),
        checklist=_checklist(n),
        closing=_contact(n),
        signoff=_signoff(n),
    )
    return _email(n, letter, invite=None)


def consult_links(notices: Sequence[ConsultNotice]) -> EmailMessage:
    """The links of every upcoming consult booked with one email address, sent again
    because someone asked on the site ("Resend my links"). No invite: the calendar
    already has one, and nothing changed."""
    first = notices[0]
    opening = (
        "You asked us to send the links to your upcoming free consult again. Here they are."
        if len(notices) == 1
        else "You asked us to send the links to your upcoming free consults again. Here they are."
    )
    links: list[_Link] = []
    for n in notices:
        when = _long_when(n.start)
        links.append(
            _Link(
                f"Join your consult on {when} with {n.provider_name}",
                n.join_url,
                f"The link works from {n.lobby_opens_minutes} minutes before your start time.",
            )
        )
        links.append(_Link(f"Cancel or change your consult on {when}", n.manage_url))
        links.extend(_setup_links(n))
    letter = _Letter(
        subject="Your free consult links",
        greeting=_greeting(first),
        opening=(opening,),
        details=(),
        links=tuple(links),
        closing=(
            "If you did not ask for this email, you can ignore it: nothing has changed.",
            *_contact(first),
        ),
        signoff=_signoff(first),
    )
    return _email(first, letter, invite=None)


# --- wording shared by every email ---------------------------------------------------


def _greeting(n: ConsultNotice) -> str:
    return f"Hi {_one_line(n.patient_name)},"


def _details(n: ConsultNotice) -> tuple[tuple[str, str], ...]:
    return (
        ("When", f"{_long_day(n.start)}, {_time_range(n.start, n.end)} (Ontario time)"),
        ("With", n.provider_name),
        ("Where", "Online, by video. Your link is below."),
    )


def _call_links(n: ConsultNotice) -> tuple[_Link, ...]:
    return (
        _Link(
            "Join your consult",
            n.join_url,
            f"The link works from {n.lobby_opens_minutes} minutes before your start time.",
        ),
        _Link("Need to cancel or pick a different time?", n.manage_url),
    ) + _setup_links(n)


def _setup_links(n: ConsultNotice) -> tuple[_Link, ...]:
    note = "Any day before your consult: your camera, microphone, speaker and connection."
    return (_Link("Test your setup", n.setup_url, note),) if n.setup_url else ()


def _checklist(n: ConsultNotice) -> tuple[str, ...]:
    # Ontario-registered physiotherapists may only see patients who are in Ontario.
    return (
        "Find a quiet, private place, and please be in Ontario for the call.",
        "Use a phone, tablet or computer with a working camera and microphone.",
        f"Open the join link up to {n.lobby_opens_minutes} minutes early to check your "
        "camera and sound.",
    )


def _contact(n: ConsultNotice) -> tuple[str, ...]:
    return (f"Questions? Call us at {n.clinic_phone} or reply to this email.",)


def _signoff(n: ConsultNotice) -> tuple[str, ...]:
    return ("Take care,", n.clinic_name)


def _how_soon(hours_before: int) -> str:
    if hours_before < 1:
        raise ValueError("a reminder goes out at least 1 hour before the consult")
    if hours_before == 1:
        return "in 1 hour"
    if hours_before < 24:
        return f"in {hours_before} hours"
    if hours_before < 48:
        return "tomorrow"
    return f"in {hours_before // 24} days"


def _minutes(n: ConsultNotice) -> int:
    return int((n.end - n.start).total_seconds() // 60)


# --- clinic-local times, spelled the Canadian way ("9:00 a.m. EDT") --------------------


def _clinic_time(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("consult times must be timezone-aware")
    return moment.astimezone(CLINIC_TIMEZONE)


def _clock_parts(moment: datetime) -> tuple[str, str, str]:
    local = _clinic_time(moment)
    hour = local.hour % 12 or 12
    half = "a.m." if local.hour < 12 else "p.m."
    return f"{hour}:{local.minute:02d}", half, local.tzname() or ""


def _clock(moment: datetime) -> str:
    return " ".join(_clock_parts(moment))


def _short_when(moment: datetime) -> str:
    # Spelled out by hand: strftime names follow the server's locale.
    local = _clinic_time(moment)
    day = f"{_WEEKDAYS[local.weekday()][:3]}, {_MONTHS[local.month - 1][:3]} {local.day}"
    return f"{day} at {_clock(moment)}"


def _long_day(moment: datetime) -> str:
    local = _clinic_time(moment)
    return f"{_WEEKDAYS[local.weekday()]}, {_MONTHS[local.month - 1]} {local.day}, {local.year}"


def _long_when(moment: datetime) -> str:
    return f"{_long_day(moment)}, at {_clock(moment)}"


def _time_range(start: datetime, end: datetime) -> str:
    # "9:00 to 9:20 a.m. EDT" reads better than repeating the shared a.m. and zone.
    first_time, first_half, first_zone = _clock_parts(start)
    last_time, last_half, last_zone = _clock_parts(end)
    if first_zone != last_zone:
        return f"{_clock(start)} to {_clock(end)}"
    if first_half != last_half:
        return f"{first_time} {first_half} to {last_time} {last_half} {last_zone}"
    return f"{first_time} to {last_time} {last_half} {last_zone}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- assembling the MIME message -----------------------------------------------------


def _email(n: ConsultNotice, letter: _Letter, invite: InviteMethod | None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = letter.subject
    message["From"] = Address(display_name=_one_line(n.clinic_name), addr_spec=n.clinic_email)
    message["To"] = Address(display_name=_one_line(n.patient_name), addr_spec=n.patient_email)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=n.clinic_email.rpartition("@")[2] or None)
    # Tells vacation responders not to answer a machine (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_as_text(letter))
    message.add_alternative(_as_html(letter), subtype="html")
    if invite is not None:
        # Attached as bytes (base64) so the CRLF line ends RFC 5545 asks for survive.
        message.add_attachment(
            _invite(n, invite),
            maintype="text",
            subtype="calendar",
            params={"method": invite, "charset": "utf-8"},
            filename="invite.ics",
        )
    return message


def _invite(n: ConsultNotice, method: InviteMethod) -> bytes:
    return consult_invite(
        uid=n.ics_uid,
        sequence=n.ics_sequence,
        start=n.start,
        end=n.end,
        summary=f"Free physiotherapy consult ({n.clinic_name})",
        description=_invite_description(n, method),
        location=n.join_url,
        organizer_email=n.clinic_email,
        organizer_name=n.clinic_name,
        attendee_email=n.patient_email,
        attendee_name=n.patient_name,
        method=method,
        alarm_before=timedelta(minutes=n.lobby_opens_minutes),
    )


def _invite_description(n: ConsultNotice, method: InviteMethod) -> str:
    if method == "CANCEL":
        return f"This consult has been cancelled. Questions? Call {n.clinic_phone}."
    return (
        f"Your free {_minutes(n)}-minute video consult with {n.provider_name}.\n\n"
        f"Join: {n.join_url}\n"
        f"The link works from {n.lobby_opens_minutes} minutes before your start time.\n\n"
        f"Cancel or reschedule: {n.manage_url}\n"
        f"Questions? Call {n.clinic_phone}."
    )


def _as_text(letter: _Letter) -> str:
    blocks: list[str] = [letter.greeting, *letter.opening]
    if letter.details:
        blocks.append("\n".join(f"{label}: {value}" for label, value in letter.details))
    for link in letter.links:
        blocks.append("\n".join(line for line in (link.heading, link.url, link.note) if line))
    if letter.checklist:
        checklist = (f"- {item}" for item in letter.checklist)
        blocks.append("\n".join(["Before your consult:", *checklist]))
    blocks.extend(letter.closing)
    if letter.signoff:
        blocks.append("\n".join(letter.signoff))
    return "\n\n".join(blocks) + "\n"


BUTTON_STYLE = (
    "display:inline-block;background:#0b6e69;color:#ffffff;padding:12px 22px;"
    "border-radius:6px;text-decoration:none;font-weight:bold"
)


def _html_button(link: _Link) -> str:
    url = escape(link.url)
    return (
        f'<p><a href="{url}" style="{BUTTON_STYLE}">{escape(link.heading)}</a></p>\n'
        '<p style="font-size:14px;color:#555">If the button does not work, open this '
        f'address: <a href="{url}">{url}</a></p>'
    )


def _as_html(letter: _Letter) -> str:
    parts: list[str] = [f"<p>{escape(letter.greeting)}</p>"]
    parts.extend(f"<p>{escape(paragraph)}</p>" for paragraph in letter.opening)
    if letter.details:
        rows = "".join(
            f'<tr><th align="left" style="padding:2px 12px 2px 0">{escape(label)}</th>'
            f"<td>{escape(value)}</td></tr>"
            for label, value in letter.details
        )
        parts.append(f'<table role="presentation">{rows}</table>')
    for link in letter.links:
        if link.button:
            parts.append(_html_button(link))
            continue
        note = f"<br>{escape(link.note)}" if link.note else ""
        parts.append(
            f"<p><strong>{escape(link.heading)}</strong><br>"
            f'<a href="{escape(link.url)}">{escape(link.url)}</a>{note}</p>'
        )
    if letter.checklist:
        items = "".join(f"<li>{escape(item)}</li>" for item in letter.checklist)
        parts.append(f"<p><strong>Before your consult:</strong></p><ul>{items}</ul>")
    parts.extend(f"<p>{escape(paragraph)}</p>" for paragraph in letter.closing)
    if letter.signoff:
        parts.append(f"<p>{'<br>'.join(escape(line) for line in letter.signoff)}</p>")
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en-CA">\n<head><meta charset="utf-8">'
        f"<title>{escape(letter.subject)}</title></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:16px;'
        f'line-height:1.5;color:#222">\n{body}\n</body>\n</html>\n'
    )
