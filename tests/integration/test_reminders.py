"""Reminders reach the patient once each, even with several workers racing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from telehealth.booking.reminders import send_due_reminders
from telehealth.booking.service import book_consult
from telehealth.demo import seed_demo
from telehealth.domain.booking_rules import BookingRequest
from telehealth.models import Consult
from tests.smtp import smtp_server


@pytest.fixture
def inbox_and_workers(app_factory):
    with smtp_server() as (inbox, smtp_url):
        workers = [app_factory(SMTP_URL=smtp_url) for _ in range(2)]
        yield inbox, [w.extensions["clinic"] for w in workers]


def _consult_tomorrow(clinic, start: datetime) -> int:
    with clinic.db.transaction() as session:
        seed_demo(session)
    request = BookingRequest(1, start, "Ann Lee", "ann@example.com", "9055550123", "Back pain")
    booked = book_consult(
        clinic.db,
        request,
        rules=clinic.consult_rules(),
        now=start,
        secret_key="s",
        consent_version="v1",
        free_period=timedelta(0),
        enforce_calendar=False,
    )
    with clinic.db.transaction() as session:  # booked well before the reminder windows
        session.execute(update(Consult).values(created_at=start - timedelta(days=3)))
    return booked.consult.id


def _race(workers, now: datetime) -> int:
    with ThreadPoolExecutor(len(workers) * 2) as pool:
        sent = pool.map(lambda c: send_due_reminders(c, "http://clinic.test", now), workers * 2)
    return sum(sent)


def test_each_reminder_is_sent_exactly_once_with_two_workers_racing(inbox_and_workers):
    inbox, workers = inbox_and_workers
    start = datetime(2027, 3, 16, 13, 0, tzinfo=UTC)
    _consult_tomorrow(workers[0], start)

    assert _race(workers, start - timedelta(hours=23)) == 1
    assert _race(workers, start - timedelta(hours=22)) == 0
    assert _race(workers, start - timedelta(minutes=50)) == 1
    assert _race(workers, start - timedelta(minutes=40)) == 0

    subjects = [m["Subject"] for m in inbox.messages]
    assert len(subjects) == 2, subjects
    assert all(m["To"].addresses[0].addr_spec == "ann@example.com" for m in inbox.messages)
    bodies = [m.get_body(preferencelist=("plain",)).get_content() for m in inbox.messages]
    assert all("http://clinic.test/join/" in body for body in bodies)


def test_reminder_is_retried_when_mail_is_down(app_factory):
    worker = app_factory(SMTP_URL="smtp://127.0.0.1:9")  # nothing listens there
    clinic = worker.extensions["clinic"]
    start = datetime(2027, 3, 16, 13, 0, tzinfo=UTC)
    consult_id = _consult_tomorrow(clinic, start)

    assert send_due_reminders(clinic, "http://clinic.test", start - timedelta(hours=23)) == 0
    with clinic.db.sessions() as session:
        assert session.get(Consult, consult_id).reminder_24h_at is None
