"""The audit log as an admin reads it: names and sentences, the raw record one click away."""

from __future__ import annotations

import html
import re
import time

import pyotp
import pytest

from telehealth.db import utcnow
from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from telehealth.models import Consult
from tests.consults import instant_consult

CHECK_IN_ANSWERS = {"location": "Vaughan, ON", "emergency_phone": "905-555-0100"}


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False)


def admin_client(app):
    client = app.test_client()
    code = pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).at(time.time())
    response = client.post(
        "/api/v1/staff/session",
        json={"email": "admin@demo.clinic", "password": "demo", "totp": code},
    )
    assert response.status_code == 200, response.get_json()
    return client


def _text(page: str) -> str:
    """What a person reads: tags gone, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _ended_by_physio(clinic, consult_id):
    """A whole call: checked in from the join link, admitted and ended by the physiotherapist."""
    now = utcnow()
    with clinic.db.sessions() as session:
        row = session.get(Consult, consult_id)
    clinic.consults.open_room(consult_id, row.starts_at, row.ends_at)
    clinic.consults.check_in(consult_id, f"patient:{consult_id}", "Phone", CHECK_IN_ANSWERS, now)
    clinic.consults.admit(consult_id, "staff:2", now)
    assert clinic.consults.end(consult_id, "provider", "staff:2", now, reason="patient_left")


def test_audit_page_names_people_and_reads_details_in_words(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    _ended_by_physio(demo_clinic, consult.id)
    page = admin_client(app).get(f"/admin/audit?consult={consult.id}").get_data(as_text=True)
    text = _text(page)

    assert "Priya Raman (physiotherapist)" in text
    assert "Patient: Ann Lee" in text
    assert "Ended by the physiotherapist" in text and "Reason: patient left" in text
    assert "Booked a consult" in text and "Checked in to the waiting room" in text
    assert re.search(r"Consult time: \w+day, \w+ \d+, \d{4} at \d+:\d\d [ap]\.m\. E[SD]T", text)
    visible = _text(re.sub(r"<details.*?</details>", "", page, flags=re.S))
    assert "staff:2" not in visible and "{'" not in visible and "provider_id" not in visible


def test_the_raw_record_stays_available_to_admins(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    _ended_by_physio(demo_clinic, consult.id)
    page = admin_client(app).get(f"/admin/audit?consult={consult.id}").get_data(as_text=True)
    raw = re.findall(r"<details class=\"audit-raw\">(.*?)</details>", page, flags=re.S)
    assert raw and any("staff:2" in r and "patient_left" in html.unescape(r) for r in raw)


def test_system_and_anonymous_rows_read_as_such(app, demo_clinic):
    client = admin_client(app)
    client_b = app.test_client()
    client_b.post("/api/v1/staff/session", json={"email": "nobody@x.test", "password": "nope"})
    text = _text(client.get("/admin/audit?actor=anonymous").get_data(as_text=True))
    assert "Anonymous" in text and "Login failed" in text


def test_audit_filters_by_consult_and_by_patients(app, demo_clinic):
    first, second = instant_consult(demo_clinic), instant_consult(demo_clinic, minutes_from_now=40)
    client = admin_client(app)
    page = client.get(f"/admin/audit?consult={first.id}").get_data(as_text=True)
    assert f"Every entry of consult {first.id}" in page
    assert f"Every entry of consult {second.id}" not in page
    page = client.get("/admin/audit?actor=patient").get_data(as_text=True)
    rows = _text(page.split("<tbody", 1)[1])
    assert "Patient: Ann Lee" in rows and "(admin)" not in rows
