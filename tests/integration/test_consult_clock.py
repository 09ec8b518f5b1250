"""The consult clock, no-shows and the outcome, with a shortened clock and real Redis/SQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from telehealth.db import utcnow
from telehealth.extensions import socketio
from telehealth.models import AuditEvent, Consult, ConsultOutcome
from telehealth.sessions.clock import ConsultClock
from tests.consults import CHECK_IN, CHECKLIST, instant_consult, patient_client, staff_client
from tests.smtp import smtp_server


@pytest.fixture
def inbox():
    with smtp_server() as (box, url):
        yield box, url


@pytest.fixture
def app(app_factory, inbox):
    return app_factory(
        SOCKETIO_MESSAGE_QUEUE=False,
        CALL_LENGTH_SECONDS=60,
        CALL_WARNING_SECONDS="30,10",
        CALL_GRACE_SECONDS=1,
        NO_SHOW_SECONDS=120,
        SMTP_URL=inbox[1],
    )


@pytest.fixture
def clock(app, demo_clinic):
    return ConsultClock(demo_clinic.consults, 0.1, socketio.sleep)


def _connect(app, http_client, auth=None):
    return socketio.test_client(
        app, namespace="/consult", flask_test_client=http_client, auth=auth or {}
    )


def _names(client):
    return [(e["name"], e["args"][0]) for e in client.get_received("/consult")]


def _in_call(app, clinic):
    consult = instant_consult(clinic)
    patient = _connect(app, patient_client(app, consult))
    staff_http = staff_client(app)
    provider = _connect(app, staff_http, {"consult_id": consult.id})
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    provider.emit("admit", CHECKLIST, namespace="/consult", callback=True)
    patient.get_received("/consult")
    provider.get_received("/consult")
    return consult, patient, provider, staff_http


def test_clock_warns_then_ends_the_call_once(app, demo_clinic, clock):
    consult, patient, provider, _ = _in_call(app, demo_clinic)
    admitted = demo_clinic.live.get(consult.id).admitted_at

    clock.tick(admitted + timedelta(seconds=20))
    assert _names(patient) == []
    clock.tick(admitted + timedelta(seconds=31))
    clock.tick(admitted + timedelta(seconds=32))
    assert _names(patient) == [("warning", {"seconds_left": 30})]
    clock.tick(admitted + timedelta(seconds=51))
    assert ("warning", {"seconds_left": 10}) in _names(provider)
    clock.tick(admitted + timedelta(seconds=60.5))  # inside the grace
    assert demo_clinic.live.get(consult.id).phase == "in_call"

    clock.tick(admitted + timedelta(seconds=61.5))
    clock.tick(admitted + timedelta(seconds=62))
    ended = [args for name, args in _names(patient) if name == "ended"]
    assert len(ended) == 1 and ended[0]["by"] == "clock"
    with demo_clinic.db.sessions() as session:
        row = session.get(Consult, consult.id)
    assert row.status == "completed" and row.ended_by == "clock"


def test_two_clocks_end_a_call_exactly_once(app, demo_clinic, clock):
    consult, patient, _, _ = _in_call(app, demo_clinic)
    other_clock = ConsultClock(demo_clinic.consults, 0.1, socketio.sleep)
    later = demo_clinic.live.get(consult.id).admitted_at + timedelta(seconds=70)
    clock.tick(later)
    other_clock.tick(later)
    assert [n for n, _ in _names(patient)].count("ended") == 1
    with demo_clinic.db.sessions() as session:
        ends = session.scalars(
            select(AuditEvent).where(
                AuditEvent.consult_id == consult.id, AuditEvent.action == "consult.ended"
            )
        ).all()
    assert len(ends) == 1


def test_patient_who_never_arrives_is_a_no_show(app, demo_clinic, clock):
    consult = instant_consult(demo_clinic)
    clock.tick(utcnow() + timedelta(seconds=60))
    with demo_clinic.db.sessions() as session:
        assert session.get(Consult, consult.id).status == "booked"
    clock.tick(utcnow() + timedelta(seconds=125))
    with demo_clinic.db.sessions() as session:
        assert session.get(Consult, consult.id).status == "no_show_patient"


def test_provider_who_never_admits_is_a_no_show_and_the_patient_is_told(app, demo_clinic, clock):
    consult = instant_consult(demo_clinic)
    patient = _connect(app, patient_client(app, consult))
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    patient.get_received("/consult")
    clock.tick(utcnow() + timedelta(seconds=125))
    ended = [args for name, args in _names(patient) if name == "ended"]
    assert ended and ended[0]["phase"] == "no_show_provider"
    assert "could not join" in ended[0]["reason"]
    with demo_clinic.db.sessions() as session:
        assert session.get(Consult, consult.id).status == "no_show_provider"


def test_physiotherapist_cannot_mark_a_no_show_before_the_wait(app, demo_clinic):
    consult = instant_consult(demo_clinic, minutes_from_now=-1)  # the wait here is 2 minutes
    client = staff_client(app)
    page = client.get("/staff").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(f"/staff/consults/{consult.id}/no-show", data={"csrf_token": token})
    assert response.status_code == 409
    assert "The patient has 2 minutes to arrive" in response.get_data(as_text=True)
    with demo_clinic.db.sessions() as session:
        assert session.get(Consult, consult.id).status == "booked"


def test_physiotherapist_marks_a_no_show_from_the_dashboard(app, demo_clinic):
    consult = instant_consult(demo_clinic, minutes_from_now=-3)
    client = staff_client(app)
    page = client.get("/staff").get_data(as_text=True)
    assert "Mark no-show" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(f"/staff/consults/{consult.id}/no-show", data={"csrf_token": token})
    assert response.status_code == 303
    with demo_clinic.db.sessions() as session:
        assert session.get(Consult, consult.id).status == "no_show_patient"


def test_outcome_is_saved_and_the_patient_emailed_once(app, demo_clinic, inbox):
    consult, patient, provider, staff_http = _in_call(app, demo_clinic)
    provider.emit("end", {}, namespace="/consult", callback=True)
    page = staff_http.get(f"/staff/consults/{consult.id}/outcome").get_data(as_text=True)
    assert "Recommended service" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {
        "csrf_token": token,
        "recommendation": "both",
        "private_notes": "L knee, ITB tight",
        "message_to_patient": "Ice after runs.",
    }
    for _ in range(2):  # a correction does not email again
        response = staff_http.post(f"/staff/consults/{consult.id}/outcome", data=form)
        assert response.status_code == 303
    with demo_clinic.db.sessions() as session:
        outcome = session.scalars(select(ConsultOutcome)).one()
    assert outcome.recommendation == "both" and outcome.emailed_at is not None
    box, _ = inbox
    summaries = [m for m in box.messages if "recommendation" in m["Subject"]]
    assert len(summaries) == 1
    text = summaries[0].get_body(preferencelist=("plain",)).get_content()
    assert "physiotherapy and massage therapy" in text
    assert "ITB" not in text  # private notes never leave the clinic
    # The note waits behind the manage link: an unverified address gets no free text.
    assert "Ice after runs." not in text
    manage_path = re.search(r"https?://[^/\s]+(/manage/[\w-]+)", text).group(1)
    patient_browser = app.test_client()
    page = patient_browser.get(manage_path, follow_redirects=True).get_data(as_text=True)
    assert "Ice after runs." in page and "ITB" not in page


def test_outcome_form_refuses_a_missing_recommendation(app, demo_clinic):
    consult, _, provider, staff_http = _in_call(app, demo_clinic)
    provider.emit("end", {}, namespace="/consult", callback=True)
    page = staff_http.get(f"/staff/consults/{consult.id}/outcome").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = staff_http.post(f"/staff/consults/{consult.id}/outcome", data={"csrf_token": token})
    assert response.status_code == 422
    assert "Choose what you recommend" in response.get_data(as_text=True)
