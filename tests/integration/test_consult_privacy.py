"""What the live service keeps and tells about the patient, on real Redis.

- the check-in answers (where the patient is, their emergency phone) leave Redis the moment
  the consult ends, however it ends, not 24 hours later;
- with ICE_TRANSPORT_POLICY=relay every ICE payload tells the peers to use TURN only, so the
  patient and the physiotherapist never learn each other's address.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from telehealth.db import utcnow
from telehealth.extensions import socketio
from telehealth.sessions import Side
from tests.consults import CHECK_IN, CHECKLIST, instant_consult, patient_socket, staff_client

NS = "/consult"
TURN = {"TURN_URLS": "turn:turn.clinic.example:3478", "TURN_SECRET": "t" * 40}


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False, **TURN)


def _patient(app, consult):
    return patient_socket(app, consult.join_credential)


def _provider(app, consult):
    client = socketio.test_client(
        app, namespace=NS, flask_test_client=staff_client(app), auth={"consult_id": consult.id}
    )
    assert client.is_connected(NS)
    return client


def _checked_in(app, consult):
    patient = _patient(app, consult)
    assert patient.emit("check_in", CHECK_IN, namespace=NS, callback=True)["ok"]
    return patient


def _everything_redis_holds(redis_url: str) -> str:
    """Every value in Redis (strings, hashes, sets, sorted sets, lists) as one text to search."""
    client = redis.Redis.from_url(redis_url)  # bytes: some values are not text
    read = {
        "string": client.get,
        "hash": client.hgetall,
        "set": client.smembers,
        "zset": lambda key: client.zrange(key, 0, -1),
        "list": lambda key: client.lrange(key, 0, -1),
    }
    return "\n".join(
        repr(read[kind](key))
        for key in client.scan_iter("*")
        if (kind := client.type(key).decode()) in read
    )


def _assert_no_check_in_answers(redis_url: str) -> None:
    held = _everything_redis_holds(redis_url)
    assert "9055550100" not in held, "the emergency phone is still in Redis"
    assert CHECK_IN["location"] not in held, "the patient's location is still in Redis"


def test_check_in_answers_leave_redis_when_the_physiotherapist_ends_the_call(
    app, demo_clinic, clean_redis
):
    consult = instant_consult(demo_clinic)
    _checked_in(app, consult)
    provider = _provider(app, consult)
    assert CHECK_IN["location"] in _everything_redis_holds(clean_redis)  # kept while needed
    assert provider.emit("admit", CHECKLIST, namespace=NS, callback=True)["ok"]
    assert provider.emit("end", {}, namespace=NS, callback=True)["ok"]
    _assert_no_check_in_answers(clean_redis)


def test_check_in_answers_leave_redis_when_the_patient_leaves_the_waiting_room(
    app, demo_clinic, clean_redis
):
    consult = instant_consult(demo_clinic)
    patient = _checked_in(app, consult)
    assert patient.emit("end", {}, namespace=NS, callback=True)["ok"]
    _assert_no_check_in_answers(clean_redis)


def test_check_in_answers_leave_redis_when_the_clock_marks_a_no_show(app, demo_clinic, clean_redis):
    consult = instant_consult(demo_clinic)
    _checked_in(app, consult)
    demo_clinic.live.mark_no_show(consult.id, Side.PROVIDER, utcnow() + timedelta(minutes=11))
    _assert_no_check_in_answers(clean_redis)


def test_relay_only_ice_payloads_say_so_to_both_sides_and_to_the_check(app_factory, demo_clinic):
    app = app_factory(SOCKETIO_MESSAGE_QUEUE=False, ICE_TRANSPORT_POLICY="relay", **TURN)
    consult = instant_consult(app.extensions["clinic"])
    patient = _checked_in(app, consult)
    check = patient.emit("precheck_ice", {}, namespace=NS, callback=True)
    assert check["ok"] and check["iceTransportPolicy"] == "relay"
    provider = _provider(app, consult)
    assert provider.emit("admit", CHECKLIST, namespace=NS, callback=True)["ok"]
    for client in (patient, provider):
        payloads = [e["args"][0] for e in client.get_received(NS) if e["name"] == "ice_servers"]
        assert payloads and all(p["iceTransportPolicy"] == "relay" for p in payloads), payloads


def test_without_the_setting_peers_may_connect_directly(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    patient = _checked_in(app, consult)
    check = patient.emit("precheck_ice", {}, namespace=NS, callback=True)
    assert check["ok"] and check.get("iceTransportPolicy", "all") == "all"
