"""The /consult namespace through Flask-SocketIO's test client, on real Redis and SQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from telehealth.extensions import socketio
from telehealth.models import AuditEvent, Consult
from tests.consults import CHECK_IN, CHECKLIST, instant_consult, patient_client, staff_client


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False)


def _events(client, name):
    return [e["args"][0] for e in client.get_received("/consult") if e["name"] == name]


def _connect(app, http_client, auth=None):
    return socketio.test_client(
        app, namespace="/consult", flask_test_client=http_client, auth=auth or {}
    )


@pytest.fixture
def consult(demo_clinic):
    return instant_consult(demo_clinic)


@pytest.fixture
def patient(app, consult):
    return _connect(app, patient_client(app, consult), {"device": "Test phone"})


@pytest.fixture
def provider(app, consult):
    return _connect(app, staff_client(app), {"consult_id": consult.id, "device": "Desk"})


def test_unauthenticated_connect_is_refused(app, demo_clinic):
    client = _connect(app, app.test_client())
    assert not client.is_connected("/consult")


def test_guessed_join_credential_is_refused(app, demo_clinic):
    client = _connect(app, app.test_client(), {"join_credential": "A" * 43})
    assert not client.is_connected("/consult")


def test_patient_sees_state_on_connect(patient, consult):
    assert patient.is_connected("/consult")
    state = _events(patient, "state")[-1]
    assert state["phase"] == "scheduled" and state["you"] == "patient"
    assert state["provider_name"] == "Priya Raman"
    assert "checklist" not in state and "patient_name" not in state


def test_check_in_outside_ontario_is_refused(patient):
    ack = patient.emit(
        "check_in", {**CHECK_IN, "in_ontario": False}, namespace="/consult", callback=True
    )
    assert ack["ok"] is False and ack["error"]["code"] == "not_in_ontario"


def test_check_in_with_bad_answers_gets_field_errors(patient):
    ack = patient.emit(
        "check_in",
        {"location": "", "in_ontario": True, "emergency_phone": "1"},
        namespace="/consult",
        callback=True,
    )
    assert ack["ok"] is False
    assert set(ack["fields"]) == {"location", "emergency_phone", "consent"}


def test_admit_moves_the_patient_into_the_call(patient, provider, clinic, consult):
    assert patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)["ok"]
    provider_state = _events(provider, "state")[-1]
    assert provider_state["phase"] == "waiting"
    assert provider_state["checklist"]["location"] == "Vaughan, ON"
    assert provider_state["patient_name"] == "Ann L."

    ack = provider.emit("admit", CHECKLIST, namespace="/consult", callback=True)
    assert ack["ok"] is True
    received = patient.get_received("/consult")
    states = [e["args"][0] for e in received if e["name"] == "state"]
    ice = [e["args"][0] for e in received if e["name"] == "ice_servers"]
    assert states[-1]["phase"] == "in_call" and states[-1]["call_ends_at"]
    assert ice == [{"iceServers": [], "ttl": 3600}]
    with clinic.db.sessions() as session:
        row = session.get(Consult, consult.id)
        actions = list(
            session.scalars(select(AuditEvent.action).where(AuditEvent.consult_id == consult.id))
        )
    assert row.checked_in_at is not None and row.admitted_at is not None
    assert "consult.checked_in" in actions and "consult.admitted" in actions


def test_admit_needs_the_whole_checklist(patient, provider):
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    ack = provider.emit("admit", {"identity_confirmed": True}, namespace="/consult", callback=True)
    assert ack["ok"] is False and "location_confirmed" in ack["fields"]


def test_patient_cannot_admit_themselves(patient, clinic, consult):
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    ack = patient.emit("admit", CHECKLIST, namespace="/consult", callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "unauthorized"
    assert clinic.live.get(consult.id).phase == "waiting"


def test_signals_are_refused_before_admission(patient, provider):
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    ack = provider.emit(
        "signal",
        {"description": {"type": "offer", "sdp": "v=0"}},
        namespace="/consult",
        callback=True,
    )
    assert ack["error"]["code"] == "wrong_phase"
    assert _events(patient, "signal") == []


def test_signals_and_chat_reach_only_the_other_side_of_the_same_consult(
    app, patient, provider, demo_clinic
):
    other = instant_consult(demo_clinic, minutes_from_now=1)
    intruder = _connect(app, patient_client(app, other))
    intruder.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    provider.emit("admit", CHECKLIST, namespace="/consult", callback=True)
    intruder.get_received("/consult")

    offer = {"description": {"type": "offer", "sdp": "v=0\r\n"}}
    assert provider.emit("signal", offer, namespace="/consult", callback=True)["ok"]
    assert _events(patient, "signal") == [offer]
    assert _events(provider, "signal") == []

    assert intruder.emit("chat", {"text": "hello?"}, namespace="/consult", callback=True)["ok"]
    intruder.emit("signal", offer, namespace="/consult", callback=True)
    assert _events(patient, "chat") == [] and _events(provider, "signal") == []

    patient.emit("chat", {"text": "Hi, my knee hurts"}, namespace="/consult", callback=True)
    assert [c["text"] for c in _events(provider, "chat")] == ["Hi, my knee hurts"]


def test_malformed_signal_is_refused_not_relayed(patient, provider):
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    provider.emit("admit", CHECKLIST, namespace="/consult", callback=True)
    patient.get_received("/consult")
    for bad in (
        {"description": {"type": "evil", "sdp": "x"}},
        {"candidate": 5},
        [1, 2],
        "x",
        {"description": {"type": "offer", "sdp": "x" * 70_000}},
    ):
        ack = provider.emit("signal", bad, namespace="/consult", callback=True)
        assert ack["ok"] is False and ack["error"]["code"] == "invalid"
    assert _events(patient, "signal") == []


def test_a_flooding_socket_is_throttled_then_cut_off(app_factory, demo_clinic):
    app = app_factory(
        SOCKETIO_MESSAGE_QUEUE=False, SOCKET_EVENTS_PER_SECOND=1, SOCKET_EVENT_BURST=5
    )
    consult = instant_consult(app.extensions["clinic"])
    client = _connect(app, patient_client(app, consult))
    acks = [
        client.emit("chat", {"text": "x"}, namespace="/consult", callback=True) for _ in range(8)
    ]
    assert any(a and a.get("error", {}).get("code") == "rate_limited" for a in acks)
    for _ in range(10):
        if not client.is_connected("/consult"):
            break
        client.emit("chat", {"text": "x"}, namespace="/consult")
    assert not client.is_connected("/consult")


def test_physiotherapist_cannot_open_another_providers_consult(app, demo_clinic):
    theirs = instant_consult(demo_clinic, provider_id=2)
    client = _connect(app, staff_client(app), {"consult_id": theirs.id})
    assert not client.is_connected("/consult")


def test_end_tells_both_sides_where_to_go(patient, provider, clinic, consult):
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    provider.emit("admit", CHECKLIST, namespace="/consult", callback=True)
    assert patient.emit("end", {}, namespace="/consult", callback=True)["ok"]
    assert _events(patient, "ended")[-1]["next_url"] == "/consult/ended"
    assert _events(provider, "ended")[-1]["next_url"].endswith(f"/{consult.id}/outcome")
    assert (
        provider.emit("end", {}, namespace="/consult", callback=True)["error"]["code"]
        == "already_ended"
    )
    with clinic.db.sessions() as session:
        row = session.get(Consult, consult.id)
    assert row.status == "completed" and row.ended_by == "patient"


def test_running_late_reaches_the_waiting_patient_at_once(patient, provider):
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    patient.get_received("/consult")
    ack = provider.emit("running_late", {"minutes": 10}, namespace="/consult", callback=True)
    assert ack["ok"]
    assert _events(patient, "state")[-1]["running_late_minutes"] == 10
    bad = provider.emit("running_late", {"minutes": 7}, namespace="/consult", callback=True)
    assert bad["ok"] is False and bad["error"]["code"] == "invalid"
    assert (
        patient.emit("running_late", {"minutes": 5}, namespace="/consult", callback=True)["error"][
            "code"
        ]
        == "unauthorized"
    )
