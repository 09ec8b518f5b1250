"""Abuse through a valid consult socket, in process: lying call stats and device hoarding.

The packets go through python-socketio's real encoder and decoder (NaN, Infinity and 1e999
are what Python's JSON reads from a raw frame), so a payload here is what an attacker's raw
websocket would deliver. The refusal codes of connects over real websockets are checked in
tests/e2e/test_socket_abuse.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from telehealth.db import utcnow
from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from telehealth.denied_access import denied_access
from telehealth.extensions import socketio
from telehealth.models import AuditEvent
from telehealth.sessions import Side, TransitionError
from tests.consults import CHECK_IN, CHECKLIST, instant_consult, patient_client, staff_client
from tests.waiting import wait_until

NS = "/consult"
MONITOR = "/monitor"


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False)


def admin_client(app: Any) -> Any:
    client = app.test_client()
    totp = pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).now()
    response = client.post(
        "/api/v1/staff/session",
        json={"email": "admin@demo.clinic", "password": "demo", "totp": totp},
    )
    assert response.status_code == 200, response.get_json()
    return client


def in_call(app: Any, clinic: Any) -> tuple[Any, Any, Any]:
    consult = instant_consult(clinic)
    patient = socketio.test_client(
        app, namespace=NS, flask_test_client=patient_client(app, consult), auth={"device": "p"}
    )
    provider = socketio.test_client(
        app, namespace=NS, flask_test_client=staff_client(app), auth={"consult_id": consult.id}
    )
    assert patient.emit("check_in", CHECK_IN, namespace=NS, callback=True)["ok"]
    assert provider.emit("admit", CHECKLIST, namespace=NS, callback=True)["ok"]
    return consult, patient, provider


def health_seen(monitor: Any) -> list[dict[str, Any]]:
    """Every call-health entry (per side: {"side", values...}) the admin's monitor socket
    was sent since the last look."""
    seen = []
    for event in monitor.get_received(MONITOR):
        if event["name"] not in ("rooms", "rooms_update"):
            continue
        for room in event["args"][0].get("rooms") or []:
            # A side that reported nothing shows only {"quality": "unknown"}.
            seen += [
                {"side": side, **h}
                for side, h in room.get("health", {}).items()
                if set(h) - {"quality"}
            ]
    return seen


def health_until(monitor: Any, wanted: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Call-health entries the monitor is sent until one `wanted` accepts is among them."""
    seen: list[dict[str, Any]] = []

    def shown() -> bool:
        seen.extend(health_seen(monitor))
        return any(wanted(h) for h in seen)

    wait_until(shown, timeout, "the monitor showed the report", every=0.01)
    return seen


def is_sane(health: dict[str, Any]) -> bool:
    limits = {"rtt_ms": 60_000, "jitter_ms": 60_000, "loss_pct": 100, "bitrate_kbps": 1_000_000}
    for key, top in limits.items():
        if key in health and not 0 <= float(health[key]) <= top:  # NaN fails both comparisons
            return False
    return health.get("route", "unknown") in ("direct", "relayed", "unknown") and all(
        len(str(value)) <= 40 for value in health.values()
    )


LIES = [
    ({"rtt_ms": 1e308, "route": "direct"}, "rtt_ms"),
    ({"rtt_ms": float("nan")}, "rtt_ms"),
    ({"jitter_ms": float("inf")}, "jitter_ms"),
    ({"loss_pct": -3, "route": "relayed"}, "loss_pct"),
    ({"loss_pct": 101}, "loss_pct"),
    ({"bitrate_kbps": 10**90}, "bitrate_kbps"),  # the decoder refuses > 100 digits
    ({"bitrate_kbps": "x" * 10_000}, "bitrate_kbps"),
    ({"rtt_ms": 60_001}, "rtt_ms"),
    ({"rtt_ms": True}, "rtt_ms"),
    ({"route": "x" * 10_000}, "route"),
    ({"route": "relayed<script>"}, "route"),
]


def test_lying_call_stats_are_refused_and_never_reach_the_monitor(app, demo_clinic):
    monitor = socketio.test_client(app, namespace=MONITOR, flask_test_client=admin_client(app))
    assert monitor.is_connected(MONITOR)
    _, patient, provider = in_call(app, demo_clinic)
    monitor.get_received(MONITOR)

    answers = {}
    for payload, field in LIES:
        ack = patient.emit("stats", payload, namespace=NS, callback=True)
        answers[field, str(payload)[:40]] = (ack["ok"], ack["error"]["code"], ack.get("fields"))
        assert ack["ok"] is False and ack["error"]["code"] == "invalid", (payload, ack)
        assert field in ack["fields"], (payload, ack)
    # The physiotherapist's honest report goes out after the lies: once the monitor shows
    # it, anything the lies had written would have shown too (each update reads the room).
    honest = {"rtt_ms": 42.5, "jitter_ms": 3.1, "loss_pct": 0.4, "bitrate_kbps": 1200}
    assert provider.emit("stats", {**honest, "route": "relayed"}, namespace=NS, callback=True)["ok"]
    seen = health_until(monitor, lambda h: h["side"] == "provider")
    assert [h for h in seen if h["side"] == "patient"] == [], "a refused report reached it"
    assert all(is_sane(h) for h in seen), seen
    assert seen[-1]["rtt_ms"] == "42.5" and seen[-1]["route"] == "relayed", seen[-1]


def test_the_monitor_shows_only_sane_values_whatever_redis_holds(app, demo_clinic):
    """Defence in depth: a stats note written by an older server is cleaned on the way out."""
    consult, _, _ = in_call(app, demo_clinic)
    demo_clinic.live.set_note(
        consult.id,
        "stats:patient",
        {"rtt_ms": "1e308", "loss_pct": "nan", "bitrate_kbps": "-4", "route": "x" * 500},
    )
    monitor = socketio.test_client(app, namespace=MONITOR, flask_test_client=admin_client(app))
    seen = health_until(monitor, lambda h: h["side"] == "patient")
    assert all(is_sane(h) for h in seen), seen


def test_a_device_cap_holds_under_concurrent_joins(demo_clinic):
    """Twenty sockets of one link racing on the shared store: exactly the cap get in."""
    consult = instant_consult(demo_clinic)
    live, now = demo_clinic.live, utcnow()
    booked = live.ensure(consult.id, now, now)
    assert booked is not None
    accepted, refused = [], []
    start = threading.Barrier(20)

    def join(n: int) -> None:
        start.wait()
        try:
            live.join(consult.id, Side.PATIENT, f"sid{n}", "phone", now, max_devices=3)
            accepted.append(n)
        except TransitionError as error:
            refused.append(error.code)

    threads = [threading.Thread(target=join, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(accepted) == 3 and refused == ["too_many_devices"] * 17, (accepted, refused)
    # A device already counted may come back (a reconnect with the same id is not a new one).
    assert live.join(consult.id, Side.PATIENT, f"sid{accepted[0]}", "phone", now, max_devices=3)
    live.leave(consult.id, Side.PATIENT, f"sid{accepted[0]}", now)
    assert live.join(consult.id, Side.PATIENT, "newcomer", "phone", now, max_devices=3) == 3
    # Each side has its own cap.
    assert live.join(consult.id, Side.PROVIDER, "desk", "desk", now, max_devices=3) == 1


def _denied_rows(clinic: Any) -> list[dict[str, Any]]:
    with clinic.db.sessions() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied"))
        return [{"actor": row.actor, **row.detail} for row in rows]


def test_a_patient_hammering_staff_events_writes_one_audit_row_per_window(app, demo_clinic):
    """Each refused event used to be its own undeletable row: 20 a second from one link."""
    consult, patient, _ = in_call(app, demo_clinic)
    for _ in range(25):  # within the socket's burst of 60 events
        for event in ("admit", "running_late"):
            ack = patient.emit(event, CHECKLIST, namespace=NS, callback=True)
            assert ack["error"]["code"] == "unauthorized", ack
    window = app.config["DENIED_AUDIT_WINDOW_SECONDS"]
    denied_access(demo_clinic).write_due(now=time.time() + window)
    rows = _denied_rows(demo_clinic)
    assert len(rows) == 1, f"{len(rows)} audit rows for 50 refused events"
    assert rows[0]["actor"] == f"patient:{consult.id}" and rows[0]["count"] == 50, rows
    assert rows[0]["targets"] == {"event:admit": 25, "event:running_late": 25}, rows


def test_two_sweeping_processes_write_each_window_once(demo_clinic):
    tally = denied_access(demo_clinic)
    start = time.time()
    for n in range(30):
        tally.note(f"client{n % 3}", "anonymous", "join", now=start)
    written: list[int] = []
    sweepers = [
        threading.Thread(target=lambda: written.append(tally.write_due(now=start + 3600)))
        for _ in range(4)
    ]
    for sweeper in sweepers:
        sweeper.start()
    for sweeper in sweepers:
        sweeper.join(timeout=10)
    rows = _denied_rows(demo_clinic)
    assert sum(written) == 3 and len(rows) == 3, (written, rows)
    assert sorted(row["count"] for row in rows) == [10, 10, 10], rows
    assert tally.write_due(now=start + 7200) == 0
