"""Cancelling or moving a booking ends its live room; the clock never overwrites the SQL.

The attack (or accident): a patient checks in early, then cancels or moves the consult from
the manage link, in another tab. Before the fix the room stayed open in Redis, the clock
later marked the physiotherapist a no-show on the cancelled row, and when someone else had
booked the freed slot meanwhile, the tick died on the unique index (IntegrityError).
Real Redis and SQL, the real manage pages, the real clock.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from telehealth.db import utcnow
from telehealth.extensions import socketio
from telehealth.models import AuditEvent, Consult
from telehealth.sessions.clock import ConsultClock
from telehealth.sessions.records import record_end
from tests.consults import CHECK_IN, book_at, instant_consult, patient_client
from tests.helpers import free_slots

NO_SHOW_SECONDS = 120


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False, NO_SHOW_SECONDS=NO_SHOW_SECONDS)


@pytest.fixture
def clock(app, demo_clinic):
    return ConsultClock(demo_clinic.consults, 0.1, socketio.sleep)


def _waiting_patient(app, clinic):
    """A consult in 5 minutes whose patient has already checked in (the lobby is open)."""
    consult = instant_consult(clinic, minutes_from_now=5)
    patient = socketio.test_client(
        app, namespace="/consult", flask_test_client=patient_client(app, consult), auth={}
    )
    ack = patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    assert ack["ok"], ack
    assert clinic.live.get(consult.id).phase == "waiting"
    patient.get_received("/consult")
    return consult, patient


def _manage_page(app, consult):
    """The patient's manage page in another tab: the link from the email, then the page."""
    browser = app.test_client()
    assert browser.get(f"/manage/{consult.manage_credential}").status_code == 303
    page = browser.get("/manage").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return browser, token


def _ended_messages(patient):
    return [e["args"][0] for e in patient.get_received("/consult") if e["name"] == "ended"]


def _rebook_same_slot(clinic, consult_id):
    """Someone else takes the freed slot, so a rewrite of the cancelled row would collide."""
    with clinic.db.sessions() as session:
        old = session.get(Consult, consult_id)
        provider_id, start = old.provider_id, old.starts_at
    return book_at(clinic, provider_id, start, name="Bo Chen")


def _past_provider_no_show(consult_id, clinic):
    with clinic.db.sessions() as session:
        start = session.get(Consult, consult_id).starts_at
    return max(start, utcnow()) + timedelta(seconds=NO_SHOW_SECONDS + 5)


def _status(clinic, consult_id):
    with clinic.db.sessions() as session:
        return session.get(Consult, consult_id).status


def test_cancel_from_the_manage_page_ends_the_waiting_room(app, demo_clinic, clock):
    consult, patient = _waiting_patient(app, demo_clinic)
    browser, token = _manage_page(app, consult)

    response = browser.post("/manage/cancel", data={"csrf_token": token, "confirm": "yes"})

    assert response.status_code == 303
    assert demo_clinic.live.get(consult.id).phase == "cancelled"
    ended = _ended_messages(patient)
    assert ended and ended[0]["phase"] == "cancelled"
    assert "cancelled" in ended[0]["reason"]

    _rebook_same_slot(demo_clinic, consult.id)
    clock.tick(_past_provider_no_show(consult.id, demo_clinic))  # raised IntegrityError before

    assert _status(demo_clinic, consult.id) == "cancelled"
    with demo_clinic.db.sessions() as session:
        actions = list(
            session.scalars(select(AuditEvent.action).where(AuditEvent.consult_id == consult.id))
        )
    assert "consult.no_show_provider" not in actions


def test_reschedule_from_the_manage_page_removes_the_old_times_room(app, demo_clinic, clock):
    consult, patient = _waiting_patient(app, demo_clinic)
    browser, token = _manage_page(app, consult)
    new_slot = free_slots(app.test_client(), provider_id=1)[3]

    response = browser.post(
        "/manage/reschedule",
        data={"csrf_token": token, "slot": f"1|{new_slot['start']}"},
    )

    assert response.status_code == 303
    assert demo_clinic.live.get(consult.id) is None
    assert consult.id not in demo_clinic.live.waiting_ids()
    ended = _ended_messages(patient)
    assert ended and ended[0]["phase"] == "rescheduled"

    clock.tick(utcnow() + timedelta(minutes=5, seconds=NO_SHOW_SECONDS + 5))
    assert _status(demo_clinic, consult.id) == "booked"  # not no_show_provider
    assert demo_clinic.live.get(consult.id) is None


def test_clock_closes_a_room_whose_booking_was_cancelled_while_redis_was_away(
    app, demo_clinic, clock
):
    consult, patient = _waiting_patient(app, demo_clinic)
    # The SQL half of the cancel went through, then the process died before Redis heard.
    record_end(demo_clinic.db, consult.id, "patient", "cancelled", "patient", utcnow())
    _rebook_same_slot(demo_clinic, consult.id)

    clock.tick(_past_provider_no_show(consult.id, demo_clinic))

    assert _status(demo_clinic, consult.id) == "cancelled"
    assert demo_clinic.live.get(consult.id).phase == "cancelled"
    ended = _ended_messages(patient)
    assert ended and ended[0]["phase"] == "cancelled"
