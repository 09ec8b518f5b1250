"""One clock for everyone: the clinic's zone, always named, and no 'a.m..' in any email."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from telehealth.booking.presenters import clock_time
from telehealth.domain.availability import format_clock, format_local
from telehealth.notify import messages
from telehealth.notify.messages import ConsultNotice

VANCOUVER = ZoneInfo("America/Vancouver")
WINTER = datetime(2026, 12, 3, 19, 20, tzinfo=UTC)  # 2:20 p.m. in Toronto
SUMMER = datetime(2027, 7, 1, 13, 0, tzinfo=UTC)  # 9:00 a.m. in Toronto


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (WINTER, "Thursday, December 3, 2026 at 2:20 p.m. EST"),
        (SUMMER, "Thursday, July 1, 2027 at 9:00 a.m. EDT"),
        (WINTER.astimezone(VANCOUVER), "Thursday, December 3, 2026 at 2:20 p.m. EST"),
    ],
)
def test_format_local_reads_in_clinic_time_with_the_zone(moment, text):
    assert format_local(moment) == text


def test_clock_times_always_carry_the_zone():
    assert format_clock(WINTER) == "2:20 p.m. EST"
    assert clock_time(SUMMER) == "9:00 a.m. EDT"  # the booking page's slot labels
    assert format_clock(SUMMER.astimezone(VANCOUVER)) == "9:00 a.m. EDT"


def test_a_naive_time_is_refused_rather_than_read_in_the_server_zone():
    with pytest.raises(ValueError):
        format_local(datetime(2026, 12, 3, 14, 20))


def _notice(start: datetime) -> ConsultNotice:
    return ConsultNotice(
        consult_id=7,
        patient_name="Ann Lee",
        patient_email="ann@example.com",
        provider_name="Priya Raman",
        start=start,
        end=start + timedelta(minutes=20),
        join_url="https://consult.example.clinic/join/abc",
        manage_url="https://consult.example.clinic/manage/def",
        clinic_name="Vaughan Physiotherapy & Massage",
        clinic_email="consults@demo.clinic",
        clinic_phone="905-555-0100",
        ics_uid="consult-7@consult.example.clinic",
        ics_sequence=0,
        setup_url="https://consult.example.clinic/setup?token=x",
    )


def _every_email(n: ConsultNotice) -> list:
    return [
        messages.booking_confirmation(n),
        messages.reschedule_confirmation(n),
        messages.cancellation_notice(n),
        messages.free_consult_already_used(n),
        messages.recommendation_summary(n, "physiotherapy", "https://book.example/x"),
        messages.recommendation_summary(n, "massage therapy", "mailto:consults@demo.clinic"),
        messages.reminder(n, 24),
        messages.reminder(n, 1),
        messages.consult_links([n, _notice(n.start + timedelta(days=7))]),
    ]


@pytest.mark.parametrize("start", [WINTER, SUMMER])
def test_no_email_has_a_double_period_or_a_time_without_its_zone(start):
    for message in _every_email(_notice(start)):
        for part in ("plain", "html"):
            body = message.get_body(preferencelist=(part,)).get_content()
            text = re.sub(r"https?://\S+", "", body)
            words = f"{message['Subject']}\n{text}"
            assert not re.search(r"[^.]\.\.(?!\.)|\.\s+\.", words), (message["Subject"], words)
            for clock in re.finditer(r"\d{1,2}:\d\d [ap]\.m\.", words):
                following = words[clock.end() : clock.end() + 4]
                after_range = re.match(r" to \d", words[clock.end() : clock.end() + 5])
                assert following.startswith((" EST", " EDT")) or after_range, words
            assert "PST" not in words and "UTC" not in words
