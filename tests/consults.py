"""Test helpers for live consults: an instant booking and logged-in clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telehealth.booking.service import book_consult
from telehealth.db import utcnow
from telehealth.domain.booking_rules import BookingRequest
from tests.helpers import unique_email


@dataclass
class InstantConsult:
    id: int
    join_credential: str
    manage_credential: str


def book_at(clinic: Any, provider_id: int, start: Any, name: str = "Ann Lee") -> Any:
    """A booking at `start` as staff make one by phone: no calendar, no once-a-year rule."""
    request = BookingRequest(provider_id, start, name, unique_email(), "9055550123", "Knee pain")
    return book_consult(
        clinic.db,
        request,
        rules=clinic.consult_rules(),
        now=utcnow(),
        secret_key=clinic.config["SECRET_KEY"],
        consent_version="test",
        free_period=timedelta(0),
        enforce_calendar=False,
    )


def instant_consult(
    clinic: Any, provider_id: int = 1, minutes_from_now: float = 0
) -> InstantConsult:
    """A consult with the demo physiotherapist starting now (as `telehealth book --now`)."""
    start = (utcnow() + timedelta(minutes=minutes_from_now)).replace(microsecond=0)
    booked = book_at(clinic, provider_id, start)
    return InstantConsult(booked.consult.id, booked.credentials.join, booked.credentials.manage)


def patient_client(app: Any, consult: InstantConsult) -> Any:
    """A browser-like client holding the patient's session cookie."""
    client = app.test_client()
    response = client.get(f"/join/{consult.join_credential}")
    assert response.status_code == 303, response.status_code
    return client


def staff_client(app: Any, email: str = "physio@demo.clinic", password: str = "demo") -> Any:
    client = app.test_client()
    response = client.post("/api/v1/staff/session", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return client


def patient_socket(app: Any, join_credential: str) -> Any:
    """A raw Socket.IO client authenticated with nothing but the patient's join credential."""
    from telehealth.extensions import socketio

    client = socketio.test_client(
        app,
        namespace="/consult",
        flask_test_client=app.test_client(),
        auth={"join_credential": join_credential},
    )
    assert client.is_connected("/consult")
    return client


CHECK_IN = {
    "location": "Vaughan, ON",
    "in_ontario": True,
    "emergency_phone": "905-555-0100",
    "consent": True,
}
CHECKLIST = {
    "identity_confirmed": True,
    "location_confirmed": True,
    "emergency_contact_confirmed": True,
}


def monitor_settled(app: Any, timeout: float = 5.0) -> None:
    """Wait until the admin monitor's batched update has nothing marked or going out."""
    from tests.waiting import wait_until

    updates = app.extensions["room_updates"]
    wait_until(lambda: updates.idle, timeout, "the monitor's update went out", every=0.01)
