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

from flask_babel import gettext as _
from flask_babel import ngettext

from ..i18n import HTML_LANG
from ..i18n_format import (
    active_language,
    format_clock,
    format_long_day,
    format_short_day,
)
from .ics import CLINIC_TIMEZONE, InviteMethod, consult_invite

LOBBY_OPENS_MINUTES = 10

# Every email is worded in the active language: callers build it inside
# i18n_format.speaking(<the booking's language>) (booking/notices.py does), so a booking
# made in French gets French emails whichever browser or process triggers them.


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
    # The language the consult was booked in; the email is built speaking it.
    language: str = "en"


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
        subject=_("Your free physiotherapy consult on %(when)s", when=_short_when(n.start)),
        greeting=_greeting(n),
        opening=(
            _(
                "Thanks for booking a free %(minutes)s-minute physiotherapy consult "
                "with %(clinic)s. You're all set, and we look forward to meeting you.",
                minutes=_minutes(n),
                clinic=n.clinic_name,
            ),
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
        subject=_("Your free physiotherapy consult is now %(when)s", when=_short_when(n.start)),
        greeting=_greeting(n),
        opening=(
            _(
                "Your free physiotherapy consult has a new time. The details are below, "
                "and the attached invite updates the one already in your calendar."
            ),
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
        subject=_("Your free consult on %(when)s is cancelled", when=_short_when(n.start)),
        greeting=_greeting(n),
        opening=(
            _(
                "Your free physiotherapy consult on %(when)s has been cancelled.",
                when=_long_when(n.start),
            ),
            _("If you'd like to book another time, we'd be glad to see you."),
        ),
        details=(),
        closing=_contact(n),
        signoff=_signoff(n),
    )
    return _email(n, letter, invite="CANCEL")


def free_consult_already_used(n: ConsultNotice, period_days: int = 365) -> EmailMessage:
    """Sent instead of a booking confirmation when this email had its free consult recently.

    Only the owner of the address learns why nothing was booked; the website answers the
    person who asked exactly as it answers a new booking (see booking/flows.py). The request
    came from someone who may not be the owner, so nothing they typed is repeated here."""
    letter = _Letter(
        subject=_("About your request for a free consult"),
        greeting=_("Hello,"),
        opening=(
            _(
                "We received a request to book a free consult on %(when)s "
                "with %(provider)s, using this email address.",
                when=_long_when(n.start),
                provider=n.provider_name,
            ),
            _already_had(period_days, n.clinic_phone),
            _("If you did not make this request, you can ignore this email."),
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
        _("Thank you for your free consult with %(provider)s.", provider=n.provider_name),
        _("Our recommendation: %(recommendation)s.", recommendation=_recommended(recommendation)),
    ]
    links: list[_Link] = []
    if book_url.startswith("mailto:"):
        # No booking page: the address in words, which works without a mail app.
        opening.append(
            _(
                "To book your treatment, email us at %(email)s or call us at %(phone)s.",
                email=n.clinic_email,
                phone=n.clinic_phone,
            )
        )
    elif book_url:
        links.append(_Link(_("Book your treatment"), book_url, button=True))
    if has_note:
        opening.append(
            _(
                "%(provider)s left you a note; read it on your consult page.",
                provider=n.provider_name,
            )
        )
        links.append(_Link(_("Read the note from your physiotherapist"), n.manage_url))
    subject = _("Your consult recommendation from %(clinic)s", clinic=_one_line(n.clinic_name))
    letter = _Letter(
        subject=subject[:69],
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
    subject_when = (
        _("%(soon)s at %(time)s", soon=soon, time=clock)
        if hours_before >= 24
        else _("%(soon)s (%(time)s)", soon=soon, time=clock)
    )
    letter = _Letter(
        subject=_("Reminder: your free consult is %(when)s", when=subject_when),
        greeting=_greeting(n),
        opening=(
            _(
                "Just a friendly reminder: your free physiotherapy consult is %(soon)s.",
                soon=soon,
            ),
        ),
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
    opening = ngettext(
        "You asked us to send the links to your upcoming free consult again. Here they are.",
        "You asked us to send the links to your upcoming free consults again. Here they are.",
        len(notices),
    )
    links: list[_Link] = []
    for n in notices:
        when = _long_when(n.start)
        links.append(
            _Link(
                _(
                    "Join your consult on %(when)s with %(provider)s",
                    when=when,
                    provider=n.provider_name,
                ),
                n.join_url,
                _works_from(n),
            )
        )
        links.append(_Link(_("Cancel or change your consult on %(when)s", when=when), n.manage_url))
        links.extend(_setup_links(n))
    letter = _Letter(
        subject=_("Your free consult links"),
        greeting=_greeting(first),
        opening=(opening,),
        details=(),
        links=tuple(links),
        closing=(
            _("If you did not ask for this email, you can ignore it: nothing has changed."),
            *_contact(first),
        ),
        signoff=_signoff(first),
    )
    return _email(first, letter, invite=None)


# --- wording shared by every email ---------------------------------------------------


def _greeting(n: ConsultNotice) -> str:
    return _("Hi %(name)s,", name=_one_line(n.patient_name))


def _details(n: ConsultNotice) -> tuple[tuple[str, str], ...]:
    when = _(
        "%(day)s, %(times)s (Ontario time)",
        day=_long_day(n.start),
        times=_time_range(n.start, n.end),
    )
    return (
        (_("When"), when),
        (_("With"), n.provider_name),
        (_("Where"), _("Online, by video. Your link is below.")),
    )


def _works_from(n: ConsultNotice) -> str:
    return ngettext(
        "The link works from %(num)d minute before your start time.",
        "The link works from %(num)d minutes before your start time.",
        n.lobby_opens_minutes,
    )


def _call_links(n: ConsultNotice) -> tuple[_Link, ...]:
    return (
        _Link(_("Join your consult"), n.join_url, _works_from(n)),
        _Link(_("Need to cancel or pick a different time?"), n.manage_url),
    ) + _setup_links(n)


def _setup_links(n: ConsultNotice) -> tuple[_Link, ...]:
    note = _("Any day before your consult: your camera, microphone, speaker and connection.")
    return (_Link(_("Test your setup"), n.setup_url, note),) if n.setup_url else ()


def _checklist(n: ConsultNotice) -> tuple[str, ...]:
    # Ontario-registered physiotherapists may only see patients who are in Ontario.
    return (
        _("Find a quiet, private place, and please be in Ontario for the call."),
        _("Use a phone, tablet or computer with a working camera and microphone."),
        ngettext(
            "Open the join link up to %(num)d minute early to check your camera and sound.",
            "Open the join link up to %(num)d minutes early to check your camera and sound.",
            n.lobby_opens_minutes,
        ),
    )


def _contact(n: ConsultNotice) -> tuple[str, ...]:
    return (_("Questions? Call us at %(phone)s or reply to this email.", phone=n.clinic_phone),)


def _signoff(n: ConsultNotice) -> tuple[str, ...]:
    return (_("Take care,"), n.clinic_name)


def _already_had(period_days: int, clinic_phone: str) -> str:
    if period_days == 365:
        return _(
            "You already had your free consult in the last 12 months, so we did not book "
            "this one. We would be glad to see you for treatment: please call the clinic "
            "at %(phone)s to book a visit.",
            phone=clinic_phone,
        )
    return ngettext(
        "You already had your free consult in the last %(num)d day, so we did not book "
        "this one. We would be glad to see you for treatment: please call the clinic "
        "at %(phone)s to book a visit.",
        "You already had your free consult in the last %(num)d days, so we did not book "
        "this one. We would be glad to see you for treatment: please call the clinic "
        "at %(phone)s to book a visit.",
        period_days,
        phone=clinic_phone,
    )


# What the physiotherapist recommended, as it reads inside a sentence ("Our
# recommendation: physiotherapy."), by the recommendation's code or its English label.
def _recommended(recommendation: str) -> str:
    words = {
        "physiotherapy": _("physiotherapy"),
        "massage_therapy": _("massage therapy"),
        "massage therapy": _("massage therapy"),
        "both": _("physiotherapy and massage therapy"),
        "physiotherapy and massage therapy": _("physiotherapy and massage therapy"),
        "referral": _("referral elsewhere"),
        "referral elsewhere": _("referral elsewhere"),
        "none": _("no treatment needed"),
        "no treatment needed": _("no treatment needed"),
    }
    return words.get(recommendation.strip().lower(), recommendation)


def _how_soon(hours_before: int) -> str:
    if hours_before < 1:
        raise ValueError("a reminder goes out at least 1 hour before the consult")
    if hours_before < 24:
        return ngettext("in %(num)d hour", "in %(num)d hours", hours_before)
    if hours_before < 48:
        return _("tomorrow")
    days = hours_before // 24
    return ngettext("in %(num)d day", "in %(num)d days", days)


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
    _clinic_time(moment)
    return format_clock(moment)


def _short_when(moment: datetime) -> str:
    # Day and month names through Babel: strftime's follow the server's locale.
    _clinic_time(moment)
    return _("%(day)s at %(time)s", day=format_short_day(moment), time=_clock(moment))


def _long_day(moment: datetime) -> str:
    _clinic_time(moment)
    return format_long_day(moment)


def _long_when(moment: datetime) -> str:
    return _("%(day)s, at %(time)s", day=_long_day(moment), time=_clock(moment))


def _time_range(start: datetime, end: datetime) -> str:
    if active_language() == "fr":
        # « de 14 h 20 à 14 h 40 HNE »: the zone once, at the end, when both share it.
        first, last = _clock(start), _clock(end)
        first_zone, last_zone = first.rsplit(" ", 1)[1], last.rsplit(" ", 1)[1]
        if first_zone == last_zone:
            first = first.rsplit(" ", 1)[0]
        return _("from %(start)s to %(end)s", start=first, end=last)
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
        summary=_("Free physiotherapy consult (%(clinic)s)", clinic=n.clinic_name),
        description=_invite_description(n, method),
        location=n.join_url,
        organizer_email=n.clinic_email,
        organizer_name=n.clinic_name,
        attendee_email=n.patient_email,
        attendee_name=n.patient_name,
        method=method,
        alarm_before=timedelta(minutes=n.lobby_opens_minutes),
        alarm_text=ngettext(
            "Your free physiotherapy consult starts in %(num)d minute: the waiting room is open",
            "Your free physiotherapy consult starts in %(num)d minutes: the waiting room is open",
            n.lobby_opens_minutes,
        ),
        language=HTML_LANG.get(active_language(), "en-CA"),
    )


def _invite_description(n: ConsultNotice, method: InviteMethod) -> str:
    if method == "CANCEL":
        return _(
            "This consult has been cancelled. Questions? Call %(phone)s.", phone=n.clinic_phone
        )
    lines = (
        _(
            "Your free %(minutes)s-minute video consult with %(provider)s.",
            minutes=_minutes(n),
            provider=n.provider_name,
        ),
        "",
        _("Join: %(url)s", url=n.join_url),
        _works_from(n),
        "",
        _("Cancel or reschedule: %(url)s", url=n.manage_url),
        _("Questions? Call %(phone)s.", phone=n.clinic_phone),
    )
    return "\n".join(lines)


def _as_text(letter: _Letter) -> str:
    blocks: list[str] = [letter.greeting, *letter.opening]
    if letter.details:
        blocks.append(
            "\n".join(
                _("%(label)s: %(value)s", label=label, value=value)
                for label, value in letter.details
            )
        )
    for link in letter.links:
        blocks.append("\n".join(line for line in (link.heading, link.url, link.note) if line))
    if letter.checklist:
        checklist = (f"- {item}" for item in letter.checklist)
        blocks.append("\n".join([_("Before your consult:"), *checklist]))
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
    fallback = escape(_("If the button does not work, open this address:"))
    return (
        f'<p><a href="{url}" style="{BUTTON_STYLE}">{escape(link.heading)}</a></p>\n'
        f'<p style="font-size:14px;color:#555">{fallback} <a href="{url}">{url}</a></p>'
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
        before = escape(_("Before your consult:"))
        parts.append(f"<p><strong>{before}</strong></p><ul>{items}</ul>")
    parts.extend(f"<p>{escape(paragraph)}</p>" for paragraph in letter.closing)
    if letter.signoff:
        parts.append(f"<p>{'<br>'.join(escape(line) for line in letter.signoff)}</p>")
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="{HTML_LANG.get(active_language(), "en-CA")}">\n'
        '<head><meta charset="utf-8">'
        f"<title>{escape(letter.subject)}</title></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:16px;'
        f'line-height:1.5;color:#222">\n{body}\n</body>\n</html>\n'
    )
