"""Consult emails delivered through a real SMTP server (aiosmtpd) and the outbox folder."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import logging
import re
import socket
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from icalendar import Calendar, Event

from telehealth.notify import messages
from telehealth.notify.mailer import (
    MailDeliveryError,
    OutboxMailer,
    SmtpMailer,
    mailer_from_config,
)
from telehealth.notify.messages import ConsultNotice

TORONTO = ZoneInfo("America/Toronto")
# The Monday after DST starts (2027-03-14): 13:00 UTC is 9:00 EDT, not 8:00 EST.
SPRING_START = datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
# Mid-winter: 15:30 UTC is 10:30 EST.
WINTER_START = datetime(2027, 1, 12, 15, 30, tzinfo=UTC)
JOIN_URL = "https://consults.example.ca/join/j0in-t0ken?a=1&b=2"
MANAGE_URL = "https://consults.example.ca/manage/m4nage-t0ken"
PATIENT_EMAIL = "alex.tremblay@example.com"
PATIENT_NAME = "Alex <b>Tremblay</b> & Co"
# What the patient typed as their reason for the visit: it must never reach an email.
REASON = "Sharp pain in my left knee since the marathon"


class Inbox:
    """An aiosmtpd handler that keeps every delivered envelope."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.refuse_recipients = False

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse_recipients:
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [_parse(envelope.content) for envelope in self.envelopes]


class Logins:
    """An aiosmtpd authenticator that accepts one user and remembers who logged in."""

    def __init__(self, user: str, password: str) -> None:
        self.expected = LoginPassword(user.encode(), password.encode())
        self.seen: list[LoginPassword] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        self.seen.append(auth_data)
        return AuthResult(success=auth_data == self.expected)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _notice(start: datetime = SPRING_START, sequence: int = 0, **changes: Any) -> ConsultNotice:
    notice = ConsultNotice(
        consult_id=12,
        patient_name=PATIENT_NAME,
        patient_email=PATIENT_EMAIL,
        provider_name="Priya Shah, PT",
        start=start,
        end=start + timedelta(minutes=20),
        join_url=JOIN_URL,
        manage_url=MANAGE_URL,
        clinic_name="Vaughan Physio & Rehab",
        clinic_email="hello@vaughanphysio.example.ca",
        clinic_phone="905-555-0142",
        ics_uid="consult-12@consults.example.ca",
        ics_sequence=sequence,
    )
    return dataclasses.replace(notice, **changes)


def _parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _html(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def _everything(message: EmailMessage) -> str:
    """Every header and decoded part, so a leak anywhere in the message is caught."""
    chunks = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if not part.is_multipart():
            content = part.get_content()
            chunks.append(content.decode() if isinstance(content, bytes) else str(content))
    return "\n".join(chunks)


def _invite_part(message: EmailMessage) -> EmailMessage:
    parts = [
        part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"
    ]
    assert len(parts) == 1
    return parts[0]


def _calendar(message: EmailMessage) -> Calendar:
    part = _invite_part(message)
    assert part.get_filename() == "invite.ics"
    content = part.get_content()
    return Calendar.from_ical(content if isinstance(content, bytes) else content.encode())


def _event(calendar: Calendar) -> Event:
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return events[0]


def _assert_clinic_time(event: Event, calendar: Calendar, name: str, instant: datetime) -> None:
    prop = event[name]
    assert prop.params["TZID"] == "America/Toronto"
    moment = prop.dt
    assert moment.tzinfo is not None and str(moment.tzinfo) == "America/Toronto"
    assert moment == instant
    assert moment.replace(tzinfo=None) == instant.astimezone(TORONTO).replace(tzinfo=None)
    # The invite's own VTIMEZONE, not just the reader's tz database, must place the
    # local wall time at the right instant.
    (vtimezone,) = [tz for tz in calendar.walk("VTIMEZONE") if tz["TZID"] == "America/Toronto"]
    assert moment.replace(tzinfo=vtimezone.to_tz()) == instant


def _send(port: int, message: EmailMessage) -> None:
    SmtpMailer(f"smtp://127.0.0.1:{port}").send(message)


@pytest.mark.parametrize(
    ("start", "subject_when", "local_start", "offset_hours"),
    [
        (SPRING_START, "Mon, Mar 15 at 9:00 a.m. EDT", datetime(2027, 3, 15, 9, 0), -4),
        (WINTER_START, "Tue, Jan 12 at 10:30 a.m. EST", datetime(2027, 1, 12, 10, 30), -5),
    ],
)
def test_booking_confirmation_arrives_over_smtp_with_a_clinic_time_invite(
    inbox: tuple[Inbox, int],
    start: datetime,
    subject_when: str,
    local_start: datetime,
    offset_hours: int,
) -> None:
    handler, port = inbox
    notice = _notice(start)

    _send(port, messages.booking_confirmation(notice))

    (envelope,) = handler.envelopes
    assert envelope.mail_from == notice.clinic_email
    assert envelope.rcpt_tos == [PATIENT_EMAIL]
    received = _parse(envelope.content)
    assert received["Subject"] == f"Your free physiotherapy consult on {subject_when}"
    assert received["From"].addresses[0].addr_spec == notice.clinic_email
    assert received["From"].addresses[0].display_name == notice.clinic_name
    assert received["To"].addresses[0].addr_spec == PATIENT_EMAIL

    text = _text(received)
    assert JOIN_URL in text
    assert MANAGE_URL in text
    assert notice.clinic_phone in text
    assert subject_when.split(" at ")[1].split()[-1] in text  # EDT / EST spelled out
    assert "10 minutes before" in text
    assert "Ontario" in text
    html = _html(received)
    assert "Alex &lt;b&gt;Tremblay&lt;/b&gt; &amp; Co" in html
    assert "<b>Tremblay</b>" not in html
    assert 'href="https://consults.example.ca/join/j0in-t0ken?a=1&amp;b=2"' in html
    assert REASON not in _everything(received)
    assert "knee" not in _everything(received).lower()

    part = _invite_part(received)
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "REQUEST"
    calendar = _calendar(received)
    assert calendar["METHOD"] == "REQUEST"
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"]
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["America/Toronto"]
    event = _event(calendar)
    _assert_clinic_time(event, calendar, "DTSTART", notice.start)
    _assert_clinic_time(event, calendar, "DTEND", notice.end)
    assert event["DTSTART"].dt.replace(tzinfo=None) == local_start
    assert event["DTSTART"].dt.utcoffset() == timedelta(hours=offset_hours)
    assert str(event["UID"]) == notice.ics_uid
    assert int(event["SEQUENCE"]) == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["LOCATION"]) == JOIN_URL
    assert str(event["URL"]) == JOIN_URL
    assert event["DTSTAMP"].dt.tzinfo is not None
    assert str(event["ORGANIZER"]) == f"mailto:{notice.clinic_email}"
    assert event["ORGANIZER"].params["CN"] == notice.clinic_name
    assert str(event["ATTENDEE"]) == f"mailto:{PATIENT_EMAIL}"
    assert event["ATTENDEE"].params["CN"] == PATIENT_NAME
    assert event["ATTENDEE"].params["ROLE"] == "REQ-PARTICIPANT"
    assert event["ATTENDEE"].params["RSVP"] == "FALSE"
    (alarm,) = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert alarm["TRIGGER"].dt == timedelta(minutes=-10)  # when the waiting room opens


def test_reschedule_keeps_the_uid_and_bumps_the_sequence(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    booked = _notice(WINTER_START, sequence=0)
    moved = _notice(SPRING_START, sequence=1)

    _send(port, messages.booking_confirmation(booked))
    _send(port, messages.reschedule_confirmation(moved))

    first, second = handler.messages()
    assert second["Subject"] == (
        "Your free physiotherapy consult is now Mon, Mar 15 at 9:00 a.m. EDT"
    )
    assert JOIN_URL in _text(second)
    assert _invite_part(second).get_param("method") == "REQUEST"
    before, after = _event(_calendar(first)), _event(_calendar(second))
    assert str(after["UID"]) == str(before["UID"]) == booked.ics_uid
    assert int(after["SEQUENCE"]) == 1 > int(before["SEQUENCE"])
    calendar = _calendar(second)
    assert calendar["METHOD"] == "REQUEST"
    _assert_clinic_time(after, calendar, "DTSTART", SPRING_START)
    _assert_clinic_time(after, calendar, "DTEND", SPRING_START + timedelta(minutes=20))
    assert str(after["STATUS"]) == "CONFIRMED"


def test_cancellation_withdraws_the_same_invite(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    notice = _notice(SPRING_START, sequence=2)

    _send(port, messages.cancellation_notice(notice))

    (received,) = handler.messages()
    assert received["Subject"] == "Your free consult on Mon, Mar 15 at 9:00 a.m. EDT is cancelled"
    text = _text(received)
    assert "cancelled" in text
    assert "9:00 a.m. EDT" in text
    assert notice.clinic_phone in text
    assert "t0ken" not in text
    assert "t0ken" not in _html(received)
    assert _invite_part(received).get_param("method") == "CANCEL"
    calendar = _calendar(received)
    assert calendar["METHOD"] == "CANCEL"
    event = _event(calendar)
    assert str(event["UID"]) == notice.ics_uid
    assert int(event["SEQUENCE"]) == 2
    assert str(event["STATUS"]) == "CANCELLED"
    assert event.walk("VALARM") == []
    _assert_clinic_time(event, calendar, "DTSTART", SPRING_START)


@pytest.mark.parametrize(
    ("hours_before", "subject"),
    [
        (24, "Reminder: your free consult is tomorrow at 10:30 a.m. EST"),
        (1, "Reminder: your free consult is in 1 hour (10:30 a.m. EST)"),
    ],
)
def test_reminder_is_text_and_html_with_the_join_link(
    inbox: tuple[Inbox, int], hours_before: int, subject: str
) -> None:
    handler, port = inbox

    _send(port, messages.reminder(_notice(WINTER_START), hours_before))

    (received,) = handler.messages()
    assert received["Subject"] == subject
    assert JOIN_URL in _text(received)
    assert "j0in-t0ken" in _html(received)
    assert list(received.iter_attachments()) == []


@pytest.mark.parametrize(
    "build",
    [
        messages.booking_confirmation,
        messages.reschedule_confirmation,
        messages.cancellation_notice,
        lambda notice: messages.reminder(notice, 23),
    ],
)
def test_the_longest_subjects_stay_on_one_header_line(build: Any) -> None:
    # Wed, Sep 29 at 10:30 a.m. EDT is as long as a consult time gets.
    message = build(_notice(datetime(2027, 9, 29, 14, 30, tzinfo=UTC)))

    raw = message.as_bytes()

    assert f"Subject: {message['Subject']}\n".encode() in raw
    assert len(message["Subject"]) <= 69


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_url_credentials_are_used_and_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    handler = Inbox()
    logins = Logins("clinic@example.ca", "p:ss/w@rd")
    port = _free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=logins,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        mailer = SmtpMailer(f"smtp://clinic%40example.ca:p%3Ass%2Fw%40rd@127.0.0.1:{port}")
        with caplog.at_level(logging.DEBUG, logger="telehealth.notify"):
            mailer.send(messages.booking_confirmation(_notice()))
    finally:
        controller.stop()

    assert len(handler.envelopes) == 1
    assert logins.seen[-1] == logins.expected
    assert "p:ss" not in repr(mailer)
    for forbidden in ("p:ss", PATIENT_EMAIL, "Tremblay", "t0ken"):
        assert forbidden not in caplog.text


def test_a_refused_recipient_error_does_not_carry_the_patient_address(
    inbox: tuple[Inbox, int],
) -> None:
    handler, port = inbox
    handler.refuse_recipients = True

    with pytest.raises(MailDeliveryError) as refused:
        _send(port, messages.booking_confirmation(_notice()))

    assert PATIENT_EMAIL not in str(refused.value)
    # Suppressed so a caller's log.exception does not print smtplib's original error.
    assert refused.value.__suppress_context__
    assert refused.value.__cause__ is None


def test_smtp_url_forms_pick_security_and_default_ports() -> None:
    plain = SmtpMailer("smtp://mail.example.ca")
    assert (plain.security, plain.port) == ("none", 25)
    implicit = SmtpMailer("smtps://u:p@mail.example.ca")
    assert (implicit.security, implicit.port) == ("tls", 465)
    starttls = SmtpMailer("smtp+starttls://u:secret@mail.example.ca")
    assert (starttls.security, starttls.port, starttls.host) == ("starttls", 587, "mail.example.ca")
    assert SmtpMailer("smtps://mail.example.ca:2465").port == 2465
    with pytest.raises(ValueError) as bad:
        SmtpMailer("http://u:secret@mail.example.ca")
    assert "secret" not in str(bad.value)


def test_mailer_from_config_prefers_smtp_and_falls_back_to_the_outbox(tmp_path: Path) -> None:
    assert isinstance(mailer_from_config("smtp://127.0.0.1:2525", tmp_path), SmtpMailer)
    fallback = mailer_from_config("", tmp_path / "outbox")
    assert isinstance(fallback, OutboxMailer)
    assert fallback.folder == tmp_path / "outbox"


def test_outbox_writes_a_parseable_eml_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = tmp_path / "outbox"
    notice = _notice(WINTER_START)
    message = messages.booking_confirmation(notice)

    with caplog.at_level(logging.INFO, logger="telehealth.notify"):
        OutboxMailer(outbox).send(message)
        OutboxMailer(outbox).send(messages.reminder(notice, 24))

    files = list(outbox.iterdir())
    assert len(files) == 2
    assert all(re.fullmatch(r"\d{8}T\d{12}Z-[0-9a-f]{8}\.eml", path.name) for path in files)
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files)
    by_subject = {_parse(path.read_bytes())["Subject"]: path for path in files}
    booking_file = by_subject[message["Subject"]]
    written = _parse(booking_file.read_bytes())
    assert written["Subject"] == "Your free physiotherapy consult on Tue, Jan 12 at 10:30 a.m. EST"
    assert written["To"].addresses[0].addr_spec == PATIENT_EMAIL
    assert JOIN_URL in _text(written)
    calendar = _calendar(written)
    event = _event(calendar)
    _assert_clinic_time(event, calendar, "DTSTART", WINTER_START)
    assert str(event["UID"]) == notice.ics_uid

    assert f"email written to {booking_file}" in caplog.text
    for forbidden in (PATIENT_EMAIL, "Tremblay", "t0ken"):
        assert forbidden not in caplog.text
