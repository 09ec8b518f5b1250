"""Two web processes on one Redis: a change made on one process (admit, a device switch,
the end) is honoured by the very next signal relayed on the other, although relaying asks
Redis nothing (each process keeps the routes of its consults in memory).

The patient's phone is on process A; the physiotherapist's desk and the patient's tablet
are on process B. Each step waits only for what the person would see first (the new state,
`device_switched`, `ended`) and then sends a signal at once."""

from __future__ import annotations

import base64
import json
import secrets
import socket
import urllib.request
from typing import Any

import redis
import socketio

from tests.smtp import free_port
from tests.waiting import wait_until

NS = "/consult"
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
CANDIDATE = {"candidate": {"candidate": "candidate:1 1 udp 2122260223 10.0.0.1 54321 typ host"}}
SEEN_WITHIN = 10.0
RELAYED = 40


def route_reads(store: redis.Redis) -> int:
    """HGET and MULTI calls so far: what reading a route costs (the clock's sweeps use
    neither), so relaying with a route from memory leaves them unchanged."""
    stats = store.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("hget", "multi"))


def staff_cookie(url: str) -> str:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        f"{url}/api/v1/staff/session",
        data=json.dumps({"email": "physio@demo.clinic", "password": "demo"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        cookies = response.headers.get_all("Set-Cookie") or []
    return "; ".join(c.split(";", 1)[0] for c in cookies)


class Device:
    """One browser's /consult socket: what it heard, and its questions to the server."""

    def __init__(self, url: str, auth: dict[str, Any], cookie: str = "") -> None:
        self.heard: list[tuple[str, Any]] = []
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self._hear, namespace=NS)
        self.sio.connect(
            url,
            namespaces=[NS],
            transports=["websocket"],
            auth=auth,
            headers={"Cookie": cookie} if cookie else {},
            wait_timeout=10,
        )

    def _hear(self, event: str, data: Any = None) -> None:
        self.heard.append((event, data))

    def ask(self, event: str, payload: Any = None) -> Any:
        return self.sio.call(
            event, payload if payload is not None else {}, namespace=NS, timeout=10
        )

    def count(self, event: str) -> int:
        return sum(1 for name, _ in self.heard if name == event)

    def wait_for(self, event: str, times: int = 1, **fields: Any) -> None:
        def seen() -> bool:
            matching = [
                data
                for name, data in self.heard
                if name == event and all((data or {}).get(k) == v for k, v in fields.items())
            ]
            return len(matching) >= times

        wait_until(seen, SEEN_WITHIN, f"{event} {fields or ''} (×{times})")

    def close(self) -> None:
        self.sio.disconnect()


def test_admit_switches_and_end_on_one_process_route_signals_on_the_other(
    live_server_factory,
):
    server = live_server_factory(REJOIN_WINDOW_SECONDS="60")
    url_a, url_b = server.url, f"http://127.0.0.1:{free_port()}"
    server.start_web(int(url_b.rsplit(":", 1)[1]))
    booked = server.book_now()
    credential = booked["join_url"].rsplit("/", 1)[1]
    cookie = staff_cookie(url_b)

    def patient(url: str, name: str) -> Device:
        auth = {
            "join_credential": credential,
            "device": name,
            "device_id": secrets.token_urlsafe(16),
        }
        return Device(url, auth)

    phone = patient(url_a, "Phone")
    desk = Device(url_b, {"consult_id": booked["id"], "device": "Desk"}, cookie)
    devices = [phone, desk]
    try:
        assert phone.ask("check_in", CHECK_IN)["ok"]
        # Admitted on B; the phone on A signals as soon as it sees the call.
        assert desk.ask("admit", CHECKLIST)["ok"]
        phone.wait_for("state", phase="in_call")
        assert phone.ask("signal", CANDIDATE)["ok"]
        desk.wait_for("signal")

        # From here on both processes route from memory: no Redis read per signal.
        store = redis.Redis.from_url(server.redis_url)
        reads = route_reads(store)
        for _ in range(RELAYED):
            assert phone.ask("signal", CANDIDATE)["ok"]
            assert desk.ask("signal", CANDIDATE)["ok"]
        desk.wait_for("signal", times=1 + RELAYED)
        assert route_reads(store) - reads < 5, "signals were routed by reading Redis"

        # Switched on B to the tablet (also on B): the phone on A is refused at once.
        tablet = patient(url_b, "Tablet")
        devices.append(tablet)
        desk.wait_for("state", patient_device_waiting=True)
        assert desk.ask("switch_device", {"side": "patient"})["ok"]
        phone.wait_for("device_switched")
        assert phone.ask("signal", CANDIDATE)["error"]["code"] == "standby"
        assert tablet.ask("signal", CANDIDATE)["ok"]
        desk.wait_for("signal", times=2 + RELAYED)

        # Taken back on A by the phone: the desk's next signal, relayed on B, reaches it.
        assert phone.ask("switch_device")["ok"]
        desk.wait_for("device_switched", times=2)
        tablet_signals = tablet.count("signal")
        assert desk.ask("signal", CANDIDATE)["ok"]
        phone.wait_for("signal")
        assert tablet.count("signal") == tablet_signals, "the signal went to the old device"

        # Ended on B: the phone's next signal, on A, is refused.
        assert desk.ask("end")["ok"]
        phone.wait_for("ended")
        assert phone.ask("signal", CANDIDATE)["error"]["code"] == "wrong_phase"
    finally:
        for device in devices:
            device.close()


def test_the_server_declines_permessage_deflate_on_a_raw_upgrade(live_server):
    """Signaling messages are small; an accepted compression would cost ≈ 100 KB per idle
    socket and let a compressed message be inflated before it is counted."""
    port = int(live_server.url.rsplit(":", 1)[1])
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = raw.recv(4096)
            assert chunk, f"the server hung up: {head!r}"
            head += chunk
    status, *headers = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    assert status.split()[1] == "101", status
    names = {line.split(":", 1)[0].strip().lower() for line in headers}
    assert "sec-websocket-extensions" not in names, headers
