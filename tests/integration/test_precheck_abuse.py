"""Attacks on the pre-call check with a patient's join credential, on real Redis.

The attacker holds one join link and scripts the socket: a hundred large offers at once,
check after check, and TURN credentials on repeat. A media worker takes part through the
/media namespace with the service token, as `telehealth media` does, so the broker's whole
path (Redis records, worker requests, answers, done) is exercised.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from telehealth.extensions import socketio
from tests.consults import CHECK_IN, CHECKLIST, instant_consult, patient_socket, staff_client

NS, MEDIA = "/consult", "/media"
CHECKS_PER_HOUR = 10
TURN = {"TURN_URLS": "turn:turn.clinic.example:3478", "TURN_SECRET": "t" * 40}
# The bytes the pre-call check may keep in Redis for one consult, whatever the patient sends:
# one running check, its counters and no SDP once the worker has answered.
REDIS_BYTES_PER_CONSULT = 32 * 1024


@pytest.fixture
def app(app_factory):
    """No message queue, and a socket rate limit that lets the whole barrage reach the broker."""
    return app_factory(
        SOCKETIO_MESSAGE_QUEUE=False,
        SOCKET_EVENTS_PER_SECOND=1_000_000,
        SOCKET_EVENT_BURST=1_000_000,
        **TURN,
    )


@pytest.fixture
def consult(demo_clinic):
    return instant_consult(demo_clinic)


@pytest.fixture
def attacker(app, consult):
    """A raw socket authenticated with nothing but the patient's join credential."""
    return patient_socket(app, consult.join_credential)


@pytest.fixture
def worker(app):
    """A media worker on /media, holding the service token."""
    client = socketio.test_client(
        app, namespace=MEDIA, auth={"service_token": app.config["MEDIA_SERVICE_TOKEN"]}
    )
    assert client.is_connected(MEDIA)
    return client


def _offer(size: int) -> dict[str, Any]:
    head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    return {
        "description": {
            "type": "offer",
            "sdp": head + "a=x:" + "y" * (size - len(head) - 6) + "\r\n",
        }
    }


def _requests(worker) -> list[dict[str, Any]]:
    return [e["args"][0] for e in worker.get_received(MEDIA) if e["name"] == "precheck_request"]


def _precheck_keys(redis_url: str) -> dict[str, tuple[int, int]]:
    """Every pre-call check key in Redis: its memory use in bytes and its TTL in seconds."""
    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.scan_iter("th:precheck*")]
    return {k.decode(): (int(client.memory_usage(k) or 0), int(client.ttl(k))) for k in keys}


def _code(ack: Any) -> str | None:
    return ack.get("error", {}).get("code") if isinstance(ack, dict) else None


def test_a_60kb_offer_is_refused_before_it_is_stored(attacker, worker, clean_redis):
    ack = attacker.emit("precheck_offer", _offer(60_000), namespace=NS, callback=True)
    assert ack["ok"] is False and _code(ack) == "invalid"
    assert "description.sdp" in ack["fields"]
    assert _precheck_keys(clean_redis) == {}
    assert _requests(worker) == []


def test_a_hundred_large_offers_run_one_check_and_keep_redis_bounded(attacker, worker, clean_redis):
    acks = [
        attacker.emit("precheck_offer", _offer(size), namespace=NS, callback=True)
        for size in [60_000, 19_000] * 50
    ]
    accepted = [a for a in acks if a.get("ok")]
    assert len(accepted) == 1, [_code(a) for a in acks]
    codes = {_code(a) for a in acks if not a.get("ok")}
    assert codes == {"invalid", "check_running"}, codes
    running = next(a for a in acks if _code(a) == "check_running")
    assert "already running" in running["error"]["message"]
    requests = _requests(worker)
    assert len(requests) == 1  # one worker slot for this consult, not a hundred

    keys = _precheck_keys(clean_redis)
    assert sum(size for size, _ in keys.values()) < REDIS_BYTES_PER_CONSULT, keys
    assert all(0 < ttl <= 3600 for _, ttl in keys.values()), keys

    # Once the worker has answered, Redis no longer keeps the patient's SDP at all.
    worker.emit(
        "precheck_answer",
        {"check_id": requests[0]["check_id"], "description": {"type": "answer", "sdp": "v=0\r\n"}},
        namespace=MEDIA,
        callback=True,
    )
    keys = _precheck_keys(clean_redis)
    assert sum(size for size, _ in keys.values()) < 4 * 1024, keys


def test_a_stopped_check_holds_its_place_until_the_worker_lets_go(attacker, worker):
    first = attacker.emit("precheck_offer", _offer(2_000), namespace=NS, callback=True)
    attacker.emit("precheck_stop", {"check_id": first["check_id"]}, namespace=NS, callback=True)
    again = attacker.emit("precheck_offer", _offer(2_000), namespace=NS, callback=True)
    assert _code(again) == "check_running"  # the worker may still be closing the first one
    worker.emit("precheck_done", {"check_id": first["check_id"]}, namespace=MEDIA, callback=True)
    assert attacker.emit("precheck_offer", _offer(2_000), namespace=NS, callback=True)["ok"]


def test_the_checks_beyond_the_hourly_budget_are_refused_with_a_clear_code(attacker, worker):
    acks = []
    for _ in range(CHECKS_PER_HOUR + 5):
        ack = attacker.emit("precheck_offer", _offer(2_000), namespace=NS, callback=True)
        acks.append(ack)
        if ack.get("ok"):
            worker.emit(
                "precheck_done", {"check_id": ack["check_id"]}, namespace=MEDIA, callback=True
            )
    assert sum(1 for a in acks if a.get("ok")) == CHECKS_PER_HOUR
    refused = acks[CHECKS_PER_HOUR:]
    assert {_code(a) for a in refused} == {"precheck_budget"}
    assert "checked your connection" in refused[0]["error"]["message"]
    assert len(_requests(worker)) == CHECKS_PER_HOUR


def _turn_credentials(ack: Any) -> int:
    servers = ack.get("iceServers", []) if isinstance(ack, dict) else []
    return sum(1 for s in servers if "credential" in s)


def test_fifty_precheck_ice_calls_yield_at_most_the_budget_of_turn_credentials(attacker):
    acks = [attacker.emit("precheck_ice", {}, namespace=NS, callback=True) for _ in range(50)]
    assert sum(_turn_credentials(a) for a in acks) == CHECKS_PER_HOUR
    assert {_code(a) for a in acks[CHECKS_PER_HOUR:]} == {"precheck_budget"}


def test_a_second_join_link_socket_shares_the_consults_budget(app, attacker, consult):
    for _ in range(CHECKS_PER_HOUR):
        assert _turn_credentials(attacker.emit("precheck_ice", {}, namespace=NS, callback=True))
    second = socketio.test_client(
        app,
        namespace=NS,
        flask_test_client=app.test_client(),
        auth={"join_credential": consult.join_credential},
    )
    assert _code(second.emit("precheck_ice", {}, namespace=NS, callback=True)) == "precheck_budget"


def test_no_precheck_turn_credentials_once_the_call_started_or_ended(app, attacker, consult):
    provider = socketio.test_client(
        app, namespace=NS, flask_test_client=staff_client(app), auth={"consult_id": consult.id}
    )
    assert _code(provider.emit("precheck_ice", {}, namespace=NS, callback=True)) == "unauthorized"
    assert attacker.emit("check_in", CHECK_IN, namespace=NS, callback=True)["ok"]
    assert provider.emit("admit", CHECKLIST, namespace=NS, callback=True)["ok"]
    assert _code(attacker.emit("precheck_ice", {}, namespace=NS, callback=True)) == "wrong_phase"
    assert (
        _code(attacker.emit("precheck_offer", _offer(2_000), namespace=NS, callback=True))
        == "wrong_phase"
    )
    assert provider.emit("end", {}, namespace=NS, callback=True)["ok"]
    if attacker.is_connected(NS):
        ack = attacker.emit("precheck_ice", {}, namespace=NS, callback=True)
        assert _turn_credentials(ack) == 0


def test_call_turn_credentials_stop_at_the_consults_budget_on_repeated_reconnects(
    app, attacker, consult
):
    provider = socketio.test_client(
        app, namespace=NS, flask_test_client=staff_client(app), auth={"consult_id": consult.id}
    )
    assert attacker.emit("check_in", CHECK_IN, namespace=NS, callback=True)["ok"]
    assert provider.emit("admit", CHECKLIST, namespace=NS, callback=True)["ok"]
    issued = 0
    deadline = time.monotonic() + 30
    for _ in range(60):  # reconnect, reconnect, reconnect: each connect in call gets ice_servers
        assert time.monotonic() < deadline
        client = socketio.test_client(
            app,
            namespace=NS,
            flask_test_client=app.test_client(),
            auth={"join_credential": consult.join_credential},
        )
        issued += sum(
            _turn_credentials(e["args"][0])
            for e in client.get_received(NS)
            if e["name"] == "ice_servers"
        )
        client.disconnect(namespace=NS)
    assert issued <= app.config["TURN_CREDENTIALS_PER_CONSULT_HOUR"]
