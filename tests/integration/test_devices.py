"""One device per side in the call; another device with the same link waits.

Through the /consult namespace (Flask-SocketIO's test client) and the session service, on
real Redis and SQL. Each test plays what a second device, or someone holding the link,
would send."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select

from telehealth.db import utcnow
from telehealth.extensions import socketio
from telehealth.models import AuditEvent
from telehealth.sessions import Side
from tests.consults import CHECK_IN, CHECKLIST, instant_consult, patient_client, staff_client

NS = "/consult"
OFFER = {"description": {"type": "offer", "sdp": "v=0\r\n"}}


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False, REJOIN_WINDOW_SECONDS=60)


@pytest.fixture
def consult(demo_clinic):
    return instant_consult(demo_clinic)


@pytest.fixture
def heard(demo_clinic):
    """Every event the session service publishes."""
    events = []
    demo_clinic.consults.subscribe(events.append)
    return events


def device_id() -> str:
    return secrets.token_urlsafe(16)


def _connect(app, http_client, **auth):
    return socketio.test_client(app, namespace=NS, flask_test_client=http_client, auth=auth)


def _events(client, name):
    return [e["args"][0] for e in client.get_received(NS) if e["name"] == name]


def _received(client):
    """name -> payloads of everything this socket got since the last look."""
    out: dict[str, list] = {}
    for event in client.get_received(NS):
        out.setdefault(event["name"], []).append(event["args"][0])
    return out


def _ask(client, event, payload=None):
    return client.emit(event, {} if payload is None else payload, namespace=NS, callback=True)


@pytest.fixture
def in_call(app, consult):
    """The patient's phone in the call with the physiotherapist's desk."""
    patient_http = patient_client(app, consult)
    phone_id = device_id()
    phone = _connect(app, patient_http, device="Phone", device_id=phone_id)
    desk = _connect(app, staff_client(app), consult_id=consult.id, device="Desk")
    assert _ask(phone, "check_in", CHECK_IN)["ok"]
    assert _ask(desk, "admit", CHECKLIST)["ok"]
    phone.get_received(NS)
    desk.get_received(NS)
    return {"http": patient_http, "phone": phone, "phone_id": phone_id, "desk": desk}


def _laptop(app, in_call):
    """The same join link opened on a second device."""
    return _connect(app, in_call["http"], device="Laptop", device_id=device_id())


def _audit(clinic, consult_id, action):
    with clinic.db.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.consult_id == consult_id, AuditEvent.action == action
                )
            )
        )


def test_a_second_device_waits_and_the_physiotherapist_sees_it(app, in_call):
    laptop = _laptop(app, in_call)
    assert laptop.is_connected(NS)
    got = _received(laptop)
    assert got["state"][-1]["this_device"] == "standby"
    assert got["state"][-1]["phase"] == "in_call"
    assert "ice_servers" not in got, "a waiting device gets no TURN credentials"

    assert _events(in_call["phone"], "state")[-1]["this_device"] == "active"
    desk_state = _events(in_call["desk"], "state")[-1]
    assert desk_state["patient_device_waiting"] is True
    assert [d["active"] for d in desk_state["presence"]["patient"]] == [True, False]


def test_signals_are_not_relayed_to_or_from_a_waiting_device(app, in_call):
    laptop = _laptop(app, in_call)
    laptop.get_received(NS)

    assert _ask(in_call["desk"], "signal", OFFER)["ok"]
    assert _events(in_call["phone"], "signal") == [OFFER]
    assert _events(laptop, "signal") == [], "the newer device must not take over the call"

    answer = {"description": {"type": "answer", "sdp": "v=0\r\n"}}
    ack = _ask(laptop, "signal", answer)
    assert ack["ok"] is False and ack["error"]["code"] == "standby"
    assert _events(in_call["desk"], "signal") == []
    for event in ("media_state", "stats", "end"):
        assert _ask(laptop, event, {})["error"]["code"] == "standby", event


def test_the_physiotherapist_switches_the_patient_to_the_new_device(
    app, in_call, consult, clinic, heard
):
    laptop = _laptop(app, in_call)
    laptop.get_received(NS)
    in_call["phone"].get_received(NS)

    assert _ask(in_call["desk"], "switch_device", {"side": "patient"}) == {"ok": True}

    got = _received(laptop)
    assert got["state"][-1]["this_device"] == "active"
    assert got["device_switched"] == [{"side": "patient", "by": "provider"}]
    assert got["ice_servers"], "the device now in the call gets its ICE servers"
    assert _events(in_call["phone"], "state")[-1]["this_device"] == "standby"
    assert _events(in_call["desk"], "state")[-1]["patient_device_waiting"] is True

    assert _ask(in_call["desk"], "signal", OFFER)["ok"]
    assert _events(laptop, "signal") == [OFFER]
    assert _events(in_call["phone"], "signal") == []

    [row] = _audit(clinic, consult.id, "consult.device_switched")
    assert row.actor.startswith("staff:")
    assert row.detail == {"side": "patient", "by": "provider", "replaced": True}
    switched = [e for e in heard if e.change == "device_switched"]
    assert [(e.consult_id, e.side, e.by) for e in switched] == [
        (consult.id, Side.PATIENT, "provider")
    ]


def test_the_patients_new_device_takes_over_when_the_patient_confirms(
    app, in_call, consult, clinic, heard
):
    laptop = _laptop(app, in_call)
    laptop.get_received(NS)

    assert _ask(laptop, "switch_device") == {"ok": True}

    assert _events(laptop, "state")[-1]["this_device"] == "active"
    assert _events(in_call["phone"], "state")[-1]["this_device"] == "standby"
    assert _ask(in_call["desk"], "signal", OFFER)["ok"]
    assert _events(laptop, "signal") == [OFFER]
    # The phone that lost its place cannot keep talking into the call.
    ack = _ask(in_call["phone"], "signal", OFFER)
    assert ack["error"]["code"] == "standby"

    [row] = _audit(clinic, consult.id, "consult.device_switched")
    assert row.actor == f"patient:{consult.id}" and row.detail["by"] == "patient"
    assert [e.change for e in heard].count("device_switched") == 1


def test_a_waiting_device_of_the_patient_cannot_switch_the_physiotherapists_side(
    app, in_call, consult, clinic
):
    laptop = _laptop(app, in_call)
    ack = _ask(laptop, "switch_device", {"side": "provider"})
    assert ack["ok"] is False and ack["error"]["code"] == "unauthorized"
    # Nor can the patient's device in the call.
    ack = _ask(in_call["phone"], "switch_device", {"side": "provider"})
    assert ack["ok"] is False and ack["error"]["code"] == "unauthorized"

    assert _ask(in_call["phone"], "signal", OFFER)["ok"]
    assert _events(in_call["desk"], "signal") == [OFFER], "the desk is still in the call"
    assert _audit(clinic, consult.id, "consult.device_switched") == []


def test_switches_that_make_no_sense_are_refused_with_their_reason(app, in_call, consult):
    desk, phone = in_call["desk"], in_call["phone"]
    ack = _ask(desk, "switch_device", {"side": "patient"})
    assert ack["error"]["code"] == "no_waiting_device"
    assert _ask(phone, "switch_device")["error"]["code"] == "already_active"
    assert _ask(desk, "switch_device", {"side": "provider"})["error"]["code"] == "already_active"
    ack = _ask(desk, "switch_device", {"side": "admin"})
    assert ack["error"]["code"] == "invalid" and "side" in ack["fields"]

    # The physiotherapist's second tab waits too, and cannot move the patient from there.
    _laptop(app, in_call)
    second_tab = _connect(app, staff_client(app), consult_id=consult.id, device="Tablet")
    assert _events(second_tab, "state")[-1]["this_device"] == "standby"
    ack = _ask(second_tab, "switch_device", {"side": "patient"})
    assert ack["error"]["code"] == "standby"


def test_a_waiting_device_cannot_check_in(app, consult):
    patient_http = patient_client(app, consult)
    phone = _connect(app, patient_http, device="Phone", device_id=device_id())
    laptop = _connect(app, patient_http, device="Laptop", device_id=device_id())
    ack = _ask(laptop, "check_in", CHECK_IN)
    assert ack["ok"] is False and ack["error"]["code"] == "standby"
    assert _ask(phone, "check_in", CHECK_IN)["ok"]


def test_the_device_in_the_call_keeps_its_place_while_it_reconnects(app, in_call, consult):
    """A dropped phone comes back (new socket, same device id) to its place in the call; a
    device that turns up while it is away waits instead of taking the call."""
    in_call["phone"].disconnect(namespace=NS)
    stranger = _connect(app, in_call["http"], device="Other", device_id=device_id())
    assert _events(stranger, "state")[-1]["this_device"] == "standby"
    assert _ask(in_call["desk"], "signal", OFFER)["ok"]
    assert _events(stranger, "signal") == []

    phone = _connect(app, in_call["http"], device="Phone", device_id=in_call["phone_id"])
    got = _received(phone)
    assert got["state"][-1]["this_device"] == "active"
    assert got["ice_servers"]
    assert _ask(in_call["desk"], "signal", OFFER)["ok"]
    assert _events(phone, "signal") == [OFFER]
    assert _events(stranger, "signal") == []


def test_after_the_rejoin_window_a_new_device_takes_the_empty_place(demo_clinic, consult):
    service, live = demo_clinic.consults, demo_clinic.live
    row_start = utcnow()
    service.open_room(consult.id, row_start, row_start + timedelta(minutes=20))
    now = utcnow()
    service.device_joined(consult.id, Side.PATIENT, "sid-phone", "Phone", now, "p", 3, "a" * 16)
    service.device_left(consult.id, Side.PATIENT, "sid-phone", now + timedelta(seconds=1))
    inside = now + timedelta(seconds=30)
    service.device_joined(
        consult.id, Side.PATIENT, "sid-laptop", "Laptop", inside, "p", 3, "b" * 16
    )
    assert live.active_sid(consult.id, Side.PATIENT) is None, "the phone keeps its place"
    after = now + timedelta(seconds=62)
    service.device_joined(consult.id, Side.PATIENT, "sid-tablet", "Tablet", after, "p", 3, "c" * 16)
    assert live.active_sid(consult.id, Side.PATIENT) == "sid-tablet"
    assert live.waiting_devices(consult.id, Side.PATIENT) == ["sid-laptop"]
