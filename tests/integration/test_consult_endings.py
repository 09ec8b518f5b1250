"""The patient's pages at the edges of a consult, through the Flask test client: one honest
ending per reason, the same ending from the link afterwards, the page before the waiting
room opens, the one after it closed, and rebooking a consult the physiotherapist missed
past the once-a-year rule. Nothing the browser sends can choose the ending."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from telehealth.booking.service import FreeConsultUsed, book_consult
from telehealth.db import utcnow
from telehealth.denied_access import denied_access
from telehealth.domain.booking_rules import BookingRequest
from telehealth.models import AuditEvent, Consult, ConsultStatus
from telehealth.sessions import Side
from tests.consults import instant_consult, patient_client

ANSWERS = {"location": "Vaughan, ON", "in_ontario": "yes", "emergency_phone": "9055550100"}
YEAR = timedelta(days=365)


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False, NO_SHOW_SECONDS=0, REJOIN_WINDOW_SECONDS=60)


def _open(clinic, minutes_from_now=0.0):
    booked = instant_consult(clinic, minutes_from_now=minutes_from_now)
    with clinic.db.sessions() as session:
        row = session.get(Consult, booked.id)
    clinic.consults.open_room(booked.id, row.starts_at, row.ends_at)
    return booked


def _waiting(clinic):
    booked = _open(clinic)
    clinic.consults.check_in(booked.id, "patient:x", "Phone", ANSWERS, utcnow())
    return booked


def _in_call(clinic):
    booked = _waiting(clinic)
    clinic.consults.admit(booked.id, "staff:2", utcnow())
    return booked


def _ending_page(client):
    """Follow /consult to wherever it leads and return the page's text."""
    response = client.get("/consult")
    assert response.status_code == 303, response.status_code
    assert urlsplit(response.headers["Location"]).path == "/consult/ended"
    page = client.get("/consult/ended")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _heading(html):
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert match
    return " ".join(match.group(1).split())


def _csrf(html):
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_a_normal_end_says_what_happens_next(app, demo_clinic):
    booked = _in_call(demo_clinic)
    client = patient_client(app, booked)
    demo_clinic.consults.end(booked.id, "provider", "staff:2", utcnow())
    html = _ending_page(client)
    assert _heading(html) == "Thank you for your consult"
    assert "will email you their recommendation" in html
    assert "to book treatment" in html
    assert 'name="slot"' not in html


def test_the_clocks_end_after_the_patient_dropped_says_so(app, demo_clinic):
    booked = _in_call(demo_clinic)
    client = patient_client(app, booked)
    demo_clinic.consults.end(booked.id, "clock", "system", utcnow(), reason="patient_left")
    html = _ending_page(client)
    assert _heading(html) == "Thank you for your consult"
    assert "your connection dropped" in html


def test_a_physiotherapist_no_show_apologises_and_offers_one_click_rebooking(app, demo_clinic):
    booked = _waiting(demo_clinic)
    client = patient_client(app, booked)
    demo_clinic.consults.mark_no_show(booked.id, Side.PROVIDER, "system", utcnow())
    html = _ending_page(client)
    assert _heading(html) == "We’re sorry: your physiotherapist could not join"
    assert "not your fault" in html
    assert "tel:" in html
    times = re.findall(r'name="slot" value="([^"]+)"', html)
    assert times, "the ending offers free times to book with one click"

    response = client.post("/consult/rebook", data={"csrf_token": _csrf(html), "slot": times[0]})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/book/confirmed"
    confirmed = client.get("/book/confirmed").get_data(as_text=True)
    assert re.search(r"You(&#39;|’|')re booked", confirmed), _heading(confirmed)
    with demo_clinic.db.sessions() as session:
        missed = session.get(Consult, booked.id)
        new = session.scalars(
            select(Consult).where(Consult.patient_id == missed.patient_id, Consult.id != booked.id)
        ).one()
        created = session.scalars(
            select(AuditEvent).where(
                AuditEvent.consult_id == new.id, AuditEvent.action == "booking.created"
            )
        ).one()
    assert new.status == ConsultStatus.BOOKED and new.reason == missed.reason
    assert created.detail["replaces"] == booked.id

    # One make-up consult: the new one counts, so a second click books nothing.
    again = client.post("/consult/rebook", data={"csrf_token": _csrf(html), "slot": times[1]})
    assert again.status_code == 409
    assert "already booked" in again.get_data(as_text=True)


def test_a_physiotherapist_who_left_for_good_is_their_no_show_too(app, demo_clinic):
    booked = _in_call(demo_clinic)
    client = patient_client(app, booked)
    demo_clinic.consults.end(booked.id, "clock", "system", utcnow(), reason="provider_left")
    html = _ending_page(client)
    assert "We’re sorry" in _heading(html)
    assert "ended early" in html
    assert "Book a new free consult" in html


def test_the_clinic_ending_the_room_says_the_clinic_ended_it(app, demo_clinic):
    booked = _in_call(demo_clinic)
    client = patient_client(app, booked)
    demo_clinic.consults.end(booked.id, "admin", "staff:1", utcnow())
    html = _ending_page(client)
    assert _heading(html) == "The clinic ended your consult"
    assert "recommendation" not in html


def test_a_cancelled_consult_says_it_was_cancelled(app, demo_clinic):
    booked = _open(demo_clinic, minutes_from_now=5)
    client = patient_client(app, booked)
    demo_clinic.consults.cancel(booked.id, "patient", utcnow())
    html = _ending_page(client)
    assert _heading(html) == "Your consult was cancelled"
    assert "book another free consult" in html


def test_a_patient_marked_no_show_is_told_kindly(app, demo_clinic):
    booked = _open(demo_clinic, minutes_from_now=-1)
    client = patient_client(app, booked)
    demo_clinic.consults.mark_no_show(booked.id, Side.PATIENT, "system", utcnow())
    html = _ending_page(client)
    assert _heading(html) == "We missed you"
    assert 'href="/book"' in html and "tel:" in html
    assert 'name="slot"' not in html  # rebooking the normal way


def test_the_link_after_the_end_shows_the_ending_again_not_the_check_in(app, demo_clinic):
    booked = _in_call(demo_clinic)
    demo_clinic.consults.end(booked.id, "patient", "patient:x", utcnow())
    fresh = app.test_client()
    response = fresh.get(f"/join/{booked.join_credential}")
    assert response.status_code == 303  # the credential still leaves the address bar
    html = _ending_page(fresh)
    assert _heading(html) == "Thank you for your consult"
    assert "Join waiting room" not in html


def test_a_forged_reason_in_the_address_changes_nothing(app, demo_clinic):
    booked = _in_call(demo_clinic)
    client = patient_client(app, booked)
    demo_clinic.consults.end(booked.id, "patient", "patient:x", utcnow())
    for forged in ("reason=provider_left", "kind=provider_absent&by=admin", "phase=cancelled"):
        html = client.get(f"/consult/ended?{forged}").get_data(as_text=True)
        assert _heading(html) == "Thank you for your consult"
        assert 'name="slot"' not in html
    # Nor may a normal ending's session book a free make-up consult.
    with client.session_transaction() as session:
        token = session.get("csrf_token")
    assert client.get("/consult/rebook").status_code == 404
    refused = client.post("/consult/rebook", data={"csrf_token": token or "", "slot": "1|x"})
    assert refused.status_code in (400, 404)


def test_rebooking_needs_this_consults_session(app, demo_clinic):
    booked = _waiting(demo_clinic)
    holder = patient_client(app, booked)
    demo_clinic.consults.mark_no_show(booked.id, Side.PROVIDER, "system", utcnow())
    html = _ending_page(holder)
    slot = re.findall(r'name="slot" value="([^"]+)"', html)[0]
    stranger = app.test_client()
    assert stranger.get("/consult/ended").status_code == 404
    assert stranger.get("/consult/rebook").status_code == 404
    stranger.get("/")  # a session of its own, with its own CSRF token
    page = stranger.get("/book").get_data(as_text=True)
    response = stranger.post("/consult/rebook", data={"csrf_token": _csrf(page), "slot": slot})
    assert response.status_code == 404
    # The holder's form without its CSRF token is refused as well.
    assert holder.post("/consult/rebook", data={"slot": slot}).status_code == 400


def test_the_link_before_the_lobby_opens_shows_when_and_a_setup_test(app, demo_clinic):
    booked = instant_consult(demo_clinic, minutes_from_now=90)
    client = app.test_client()
    response = client.get(f"/join/{booked.join_credential}")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/consult"
    page = client.get("/consult")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert _heading(html) == "Your consult has not started yet"
    assert re.search(r"at \d+:\d\d [ap]\.m\. E[SD]T", html), "the time, with its zone"
    assert 'role="timer"' in html
    assert 'href="/setup"' in html
    assert "Join waiting room" not in html


def test_the_link_after_its_window_says_the_time_has_passed(app, demo_clinic):
    booked = instant_consult(demo_clinic, minutes_from_now=-120)
    client = patient_client(app, booked)
    page = client.get("/consult")
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert _heading(html) == "The time for this consult has passed"
    assert 'href="/book"' in html


def test_a_guessed_link_still_gets_the_neutral_not_active_page(app, demo_clinic):
    guessed = app.test_client().get("/join/" + "A" * 43)
    assert guessed.status_code == 404
    assert "Link not active" in guessed.get_data(as_text=True)
    denied_access(demo_clinic).write_due(now=time.time() + 3600)
    with demo_clinic.db.sessions() as session:
        denied = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "access.denied")
        ).all()
    assert [row.detail["targets"] for row in denied] == [{"join": 1}]


def _request(email, start, provider_id=1):
    return BookingRequest(provider_id, start, "Ann Lee", email, "9055550123", "Knee pain")


def _book(clinic, email, start, provider_id=1):
    return book_consult(
        clinic.db,
        _request(email, start, provider_id),
        rules=clinic.consult_rules(),
        now=utcnow(),
        secret_key=clinic.config["SECRET_KEY"],
        consent_version="test",
        free_period=YEAR,
        enforce_calendar=False,
    )


def test_a_consult_the_physiotherapist_missed_does_not_use_up_the_free_consult(demo_clinic):
    now = utcnow().replace(microsecond=0)
    missed = _book(demo_clinic, "pat@example.com", now)
    demo_clinic.consults.open_room(
        missed.consult.id, missed.consult.starts_at, missed.consult.ends_at
    )
    demo_clinic.consults.check_in(missed.consult.id, "patient:x", "Phone", ANSWERS, now)
    demo_clinic.consults.mark_no_show(missed.consult.id, Side.PROVIDER, "system", utcnow())
    again = _book(demo_clinic, "pat@example.com", now + timedelta(days=2))
    assert again.consult.status == ConsultStatus.BOOKED
    with pytest.raises(FreeConsultUsed):  # the new one counts
        _book(demo_clinic, "pat@example.com", now + timedelta(days=3))


def test_a_consult_the_patient_had_still_uses_up_the_free_consult(demo_clinic):
    now = utcnow().replace(microsecond=0)
    had = _book(demo_clinic, "had@example.com", now)
    consults = demo_clinic.consults
    consults.open_room(had.consult.id, had.consult.starts_at, had.consult.ends_at)
    consults.check_in(had.consult.id, "patient:x", "Phone", ANSWERS, now)
    consults.admit(had.consult.id, "staff:2", now)
    consults.end(had.consult.id, "clock", "system", utcnow(), reason="patient_left")
    with pytest.raises(FreeConsultUsed):
        _book(demo_clinic, "had@example.com", now + timedelta(days=2))


def test_a_physiotherapist_who_left_mid_call_does_not_use_it_up_either(demo_clinic):
    now = utcnow().replace(microsecond=0)
    cut = _book(demo_clinic, "cut@example.com", now)
    consults = demo_clinic.consults
    consults.open_room(cut.consult.id, cut.consult.starts_at, cut.consult.ends_at)
    consults.check_in(cut.consult.id, "patient:x", "Phone", ANSWERS, now)
    consults.admit(cut.consult.id, "staff:2", now)
    consults.end(cut.consult.id, "clock", "system", utcnow(), reason="provider_left")
    assert _book(demo_clinic, "cut@example.com", now + timedelta(days=2)).consult.id
