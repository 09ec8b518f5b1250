"""The signal relay's routes: kept in the web process's memory, so relaying asks Redis nothing,
and kept fresh by the route the store publishes from inside every write that changes one.

On real Redis and SQL, through Flask-SocketIO's test client (one web process). Changes made
on another web process are in tests/e2e/test_routes_across_processes.py."""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import timedelta

import pytest
import redis

from telehealth.db import utcnow
from telehealth.extensions import socketio
from telehealth.sessions import Phase, Side
from telehealth.sessions.routes import Route
from telehealth.signaling.routing import RelayRoutes
from tests.consults import (
    CHECK_IN,
    CHECKLIST,
    instant_consult,
    monitor_settled,
    patient_client,
    staff_client,
)

NS = "/consult"
CANDIDATE = {"candidate": {"candidate": "candidate:1 1 udp 2122260223 10.0.0.1 54321 typ host"}}


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False, REJOIN_WINDOW_SECONDS=60)


@pytest.fixture
def consult(demo_clinic):
    return instant_consult(demo_clinic)


def _connect(app, http_client, **auth):
    return socketio.test_client(app, namespace=NS, flask_test_client=http_client, auth=auth)


def _ask(client, event, payload=None):
    return client.emit(event, {} if payload is None else payload, namespace=NS, callback=True)


def _signals(client):
    return [e["args"][0] for e in client.get_received(NS) if e["name"] == "signal"]


@pytest.fixture
def in_call(app, consult):
    patient_http = patient_client(app, consult)
    phone = _connect(app, patient_http, device="Phone", device_id=secrets.token_urlsafe(16))
    desk = _connect(app, staff_client(app), consult_id=consult.id, device="Desk")
    assert _ask(phone, "check_in", CHECK_IN)["ok"]
    assert _ask(desk, "admit", CHECKLIST)["ok"]
    return {"http": patient_http, "phone": phone, "desk": desk}


def _commands(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT, without the measuring itself."""
    stats = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if not name.startswith(("cmdstat_config", "cmdstat_info"))
    }


class _CommandsOf:
    """Counts the Redis commands this app's clients send (pipelines count each command).
    Works on a shared Redis too, where the server's own statistics also count the clients
    of earlier tests' apps still ticking in this process."""

    def __init__(self, monkeypatch, *clients: redis.Redis) -> None:
        self.pools = {id(c.connection_pool) for c in clients}
        self.calls: list[str] = []
        plain, piped = redis.Redis.execute_command, redis.client.Pipeline.execute
        counter = self

        def execute_command(client, *args, **options):
            if id(client.connection_pool) in counter.pools:
                counter.calls.append(str(args[0]).lower())
            return plain(client, *args, **options)

        def execute(pipe, *args, **options):
            if id(pipe.connection_pool) in counter.pools:
                counter.calls.extend(str(c[0][0]).lower() for c in pipe.command_stack)
            return piped(pipe, *args, **options)

        monkeypatch.setattr(redis.Redis, "execute_command", execute_command)
        monkeypatch.setattr(redis.client.Pipeline, "execute", execute)


def test_relaying_a_hundred_signals_sends_no_redis_command(app, in_call, clinic, monkeypatch):
    phone, desk = in_call["phone"], in_call["desk"]
    assert _ask(phone, "signal", CANDIDATE)["ok"]  # the routes are held from here on
    _signals(desk)
    monitor_settled(app)  # the monitor's batched update of the joins above goes first
    private_server = not os.environ.get("REDIS_URL")
    if private_server:  # nobody else talks to this server: its own statistics are the proof
        clinic.redis.config_resetstat()
    sent = _CommandsOf(monkeypatch, clinic.redis, clinic.live.redis)

    for _ in range(50):
        assert _ask(phone, "signal", CANDIDATE)["ok"]
        assert _ask(desk, "signal", CANDIDATE)["ok"]

    assert sent.calls == []
    if private_server:
        assert _commands(clinic.redis) == {}
    assert len(_signals(desk)) == 50 and len(_signals(phone)) == 50


def test_the_process_that_switches_a_device_routes_the_next_signal_by_it(app, in_call):
    """Read-your-writes: the switch's route is held before its acknowledgement returns."""
    phone, desk = in_call["phone"], in_call["desk"]
    assert _ask(phone, "signal", CANDIDATE)["ok"]
    laptop = _connect(app, in_call["http"], device="Laptop", device_id=secrets.token_urlsafe(16))
    assert _ask(laptop, "signal", CANDIDATE)["error"]["code"] == "standby"

    assert _ask(laptop, "switch_device")["ok"]
    assert _ask(laptop, "signal", CANDIDATE)["ok"]
    assert _ask(phone, "signal", CANDIDATE)["error"]["code"] == "standby"
    _signals(laptop), _signals(phone)
    assert _ask(desk, "signal", CANDIDATE)["ok"]
    assert len(_signals(laptop)) == 1 and _signals(phone) == []

    assert _ask(desk, "end")["ok"]
    assert _ask(laptop, "signal", CANDIDATE)["error"]["code"] == "wrong_phase"


def test_every_change_of_a_route_is_published_in_order_with_its_version(demo_clinic, consult):
    store, consults = demo_clinic.live, demo_clinic.consults
    listener = demo_clinic.redis.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(store.route_channel)
    now = utcnow()
    consults.open_room(consult.id, now, now + timedelta(minutes=20))
    consults.device_joined(consult.id, Side.PATIENT, "sid-phone", "Phone", now, "p1")
    consults.device_joined(consult.id, Side.PATIENT, "sid-laptop", "Laptop", now, "p1")
    consults.device_joined(consult.id, Side.PROVIDER, "sid-desk", "Desk", now, "p1")
    consults.check_in(consult.id, "patient:1", "Phone", {"location": "Toronto"}, now)
    consults.admit(consult.id, "staff:1", now)
    consults.switch_device(consult.id, Side.PATIENT, "sid-laptop", by="patient")
    consults.device_left(consult.id, Side.PROVIDER, "sid-desk", now)
    consults.end(consult.id, "patient", "patient:1", now)

    heard = []
    deadline = time.monotonic() + 5
    while len(heard) < 7 and time.monotonic() < deadline:
        message = listener.get_message(timeout=0.5)
        if message is not None:
            heard.append(Route.decode(message["data"]))
    listener.close()
    assert [(r.version, r.phase, r.patient, r.provider) for r in heard] == [
        (1, Phase.SCHEDULED, "sid-phone", ""),  # the laptop waits: no route change
        (2, Phase.SCHEDULED, "sid-phone", "sid-desk"),
        (3, Phase.WAITING, "sid-phone", "sid-desk"),
        (4, Phase.IN_CALL, "sid-phone", "sid-desk"),
        (5, Phase.IN_CALL, "sid-laptop", "sid-desk"),
        (6, Phase.IN_CALL, "sid-laptop", ""),
        (7, Phase.ENDED, "sid-laptop", ""),
    ]
    assert store.route(consult.id) == heard[-1]


def test_a_route_never_moves_backwards_and_leaves_with_the_last_local_socket(demo_clinic, consult):
    store = demo_clinic.live
    routes = RelayRoutes(store, shared=True)
    now = utcnow()
    demo_clinic.consults.open_room(consult.id, now, now + timedelta(minutes=20))
    demo_clinic.consults.device_joined(consult.id, Side.PATIENT, "sid-phone", "Phone", now, "p")

    # Not hearing the route channel yet: every lookup reads Redis, nothing is held.
    routes.serve(consult.id)
    assert routes.active(consult.id, Side.PATIENT) == "sid-phone" and len(routes) == 0

    routes.heard(True)
    assert routes.route(consult.id).version == 1 and len(routes) == 1
    newer = Route(consult.id, 2, Phase.WAITING, "sid-phone", "sid-desk")
    routes.apply(newer)
    routes.apply(Route(consult.id, 1, Phase.SCHEDULED, "sid-old", ""))  # late, ignored
    assert routes.route(consult.id) == newer

    routes.heard(False)  # the channel was lost: what was held may be stale
    assert len(routes) == 0
    routes.heard(True)
    routes.route(consult.id)
    routes.apply(Route(consult.id, 0, None, forgotten=True))  # rescheduled: the room is gone
    assert len(routes) == 0

    routes.route(consult.id)
    routes.serve(consult.id)
    routes.release(consult.id)
    assert len(routes) == 1, "one socket of the consult is still here"
    routes.release(consult.id)
    assert len(routes) == 0
    routes.apply(Route(consult.id, 9, Phase.IN_CALL, "a", "b"))
    assert len(routes) == 0, "a consult not served here is not held"


def test_a_route_message_is_read_strictly():
    assert Route.decode(b"not json") is None
    assert Route.decode(json.dumps({"id": "x", "v": 1})) is None
    assert Route.decode(json.dumps({"id": 3, "v": 2, "phase": "bogus"})) is None
    route = Route(3, 2, Phase.IN_CALL, "a", "")
    assert Route.decode(route.encode()) == route


def test_devices_of_dead_web_processes_are_found_for_every_consult_at_once(demo_clinic):
    store, consults, now = demo_clinic.live, demo_clinic.consults, utcnow()
    ids = [901, 902]  # live rooms only: the sweep reads Redis alone
    for consult_id in ids:
        consults.open_room(consult_id, now, now + timedelta(minutes=20))
    store.process_alive("alive", 60)
    consults.device_joined(ids[0], Side.PATIENT, "sid-1", "Phone", now, "alive")
    consults.device_joined(ids[0], Side.PROVIDER, "sid-2", "Desk", now, "gone")
    consults.device_joined(ids[1], Side.PATIENT, "sid-3", "Phone", now, "gone")

    assert store.devices_of_dead_processes(ids) == {
        ids[0]: [(Side.PROVIDER, "sid-2")],
        ids[1]: [(Side.PATIENT, "sid-3")],
    }
    assert store.devices_of_dead_processes([]) == {}


def test_call_health_reports_read_no_session_row_from_sql(app, in_call, clinic):
    """A socket's events run on the session copy saved at its connect: twenty call-health
    reports from both sides cost no SQL query at all (before, each read the browser's
    session row again and threw it away)."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(clinic.db.engine, "before_cursor_execute", count)
    try:
        for _ in range(10):
            for side in (in_call["phone"], in_call["desk"]):
                assert _ask(side, "stats", {"rtt_ms": 40, "route": "direct"})["ok"]
    finally:
        event.remove(clinic.db.engine, "before_cursor_execute", count)
    assert statements == []
    # The session still says who each side is: the physiotherapist's page may still admit,
    # end and chat, the patient's may not act for the physiotherapist.
    assert _ask(in_call["phone"], "running_late", {"minutes": 5})["error"]["code"] == "unauthorized"
    assert _ask(in_call["desk"], "chat", {"text": "Can you see me?"})["ok"]
