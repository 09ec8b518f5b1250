"""Abuse of the unauthenticated entry points against a real `telehealth serve` behind a proxy.

An attacker with no credential opens raw websockets (Engine.IO / Socket.IO handshake by hand)
with a forged join credential, and guesses join links over HTTP. Each refusal used to write
its own row to the append-only audit table (≈ 430 rows/s, never deletable). Now refused
connects are throttled per client address before any SQL, and the audit gets one row per
address per window with a count. The server runs with PROXY_HOPS=1, as behind nginx, so the
client address comes from X-Forwarded-For.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import redis
import websocket
from sqlalchemy import create_engine, text

from tests.waiting import wait_until

NS = "/consult"
ATTACKER = "198.51.100.7"
PATIENT = "203.0.113.9"
GUESSER = "192.0.2.44"
ATTEMPTS = 500
REFUSALS_PER_MINUTE = 20  # the default CONNECT_REFUSALS_PER_MINUTE
AUDIT_WINDOW_SECONDS = 2  # shrunk from a minute so the aggregated rows appear quickly


def raw_connect(url: str, auth: dict[str, Any], address: str) -> tuple[str, Any]:
    """One websocket, the Socket.IO connect packet by hand; ("connected" | "refused", data)."""
    ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(ws_url, header=[f"X-Forwarded-For: {address}"], timeout=10)
    try:
        opening = ws.recv()
        assert isinstance(opening, str) and opening.startswith("0{"), opening
        ws.send(f"40{NS},{json.dumps(auth)}")
        while True:
            answer = ws.recv()
            if answer == "2":
                ws.send("3")  # Engine.IO pong
            elif isinstance(answer, str) and answer.startswith(f"40{NS},"):
                return "connected", json.loads(answer[len(f"40{NS},") :])
            elif isinstance(answer, str) and answer.startswith(f"44{NS},"):
                refusal = json.loads(answer[len(f"44{NS},") :])
                return "refused", refusal.get("data", refusal)  # the server's {code, message}
    finally:
        ws.close()


class OpenSocket:
    """A raw websocket joined to /consult and kept open: a thread answers the server's pings."""

    def __init__(self, url: str, auth: dict[str, Any], address: str) -> None:
        ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(
            ws_url, header=[f"X-Forwarded-For: {address}"], timeout=10
        )
        self.ws.recv()  # Engine.IO open
        self.ws.send(f"40{NS},{json.dumps(auth)}")
        self.outcome, self.data = "", None
        while not self.outcome:
            answer = self.ws.recv()
            if isinstance(answer, str) and answer.startswith(f"40{NS},"):
                self.outcome = "connected"
            elif isinstance(answer, str) and answer.startswith(f"44{NS},"):
                refusal = json.loads(answer[len(f"44{NS},") :])
                self.outcome, self.data = "refused", refusal.get("data", refusal)
        self.reader = threading.Thread(target=self._pong, daemon=True)
        self.reader.start()

    def _pong(self) -> None:
        try:
            while True:
                if self.ws.recv() == "2":
                    self.ws.send("3")
        except (websocket.WebSocketException, OSError):
            return

    def close(self) -> None:
        """Leave /consult as a browser tab does, then drop the connection."""
        try:
            self.ws.send(f"41{NS},")
        except (websocket.WebSocketException, OSError):
            pass
        self.ws.abort()  # wakes the reader thread at once (a close handshake would wait on it)
        self.reader.join(timeout=5)
        self.ws.shutdown()


def denied_rows(server: Any) -> list[tuple[str, dict[str, Any]]]:
    """(actor, detail) of every access.denied row, read straight from the clinic's database."""
    rows = sql_rows(
        server, "SELECT actor, detail FROM audit_events WHERE action = 'access.denied' ORDER BY id"
    )
    # PostgreSQL hands JSON columns back parsed, SQLite as text.
    return [(actor, d if isinstance(d, dict) else json.loads(d or "{}")) for actor, d in rows]


def sql_rows(server: Any, query: str) -> list[Any]:
    """Rows read straight from the clinic's database (SQLite or PostgreSQL)."""
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as db:
            return list(db.execute(text(query)).fetchall())
    finally:
        engine.dispose()


def counted(rows: list[tuple[str, dict[str, Any]]]) -> int:
    """Attempts the rows stand for (a row without a count stands for one)."""
    return sum(int(detail.get("count", 1)) for _, detail in rows)


def wait_for_rows(server: Any, attempts: int, timeout: float = 20) -> list[Any]:
    """Poll until the audit accounts for every attempt (rows land when their window is over)."""
    rows = denied_rows(server)

    def accounted() -> bool:
        nonlocal rows
        rows = denied_rows(server)
        return counted(rows) >= attempts

    with contextlib.suppress(TimeoutError):  # the caller's assertions say what is missing
        wait_until(accounted, timeout, "audit rows for every attempt", 0.2)
    return rows


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assert_no_raw_address(server: Any, *addresses: str) -> None:
    """The audit table never keeps the client address; Redis only in counters that expire
    with their minute (the HTTP rate limiter's own keys)."""
    dump = "\n".join(str(row) for row in sql_rows(server, "SELECT * FROM audit_events"))
    store = redis.Redis.from_url(server.redis_url)
    for address in addresses:
        assert address not in dump, f"{address} is stored in the audit table"
        for key in store.keys(f"*{address}*"):
            assert 0 < store.ttl(key) <= 60, f"{address} is kept in Redis key {key!r}"


def test_five_hundred_forged_socket_connects_write_a_handful_of_audit_rows(live_server_factory):
    server = live_server_factory(PROXY_HOPS="1", DENIED_AUDIT_WINDOW_SECONDS="2")
    booked = server.book_now()
    pid = server.processes[0].pid
    cpu_before, started = cpu_seconds(pid), time.monotonic()

    answers: Counter[str] = Counter()
    for _ in range(ATTEMPTS):
        forged = {"join_credential": secrets.token_urlsafe(32), "device": "attacker"}
        outcome, data = raw_connect(server.url, forged, ATTACKER)
        assert outcome == "refused", data
        assert set(data) == {"code", "message"} and data["message"], data
        answers[data["code"]] += 1
    elapsed, cpu = time.monotonic() - started, cpu_seconds(pid) - cpu_before

    # A legitimate patient at another address is let in during the attack.
    credential = booked["join_url"].rsplit("/", 1)[1]
    outcome, data = raw_connect(server.url, {"join_credential": credential}, PATIENT)
    rows = wait_for_rows(server, ATTEMPTS)
    print(
        f"\n{ATTEMPTS} forged connects in {elapsed:.2f} s, server CPU {cpu:.2f} s "
        f"({1000 * cpu / ATTEMPTS:.2f} ms each): {dict(answers)}; {len(rows)} audit row(s): "
        f"{[(actor, d.get('count'), d.get('targets')) for actor, d in rows[:5]]}"
    )
    assert outcome == "connected", data
    # A fixed window: a minute boundary during the attack allows a second allowance at most.
    assert REFUSALS_PER_MINUTE <= answers["unauthorized"] <= 2 * REFUSALS_PER_MINUTE, answers
    assert answers["rate_limited"] == ATTEMPTS - answers["unauthorized"], answers
    windows = elapsed / AUDIT_WINDOW_SECONDS + 2  # one row per address per window
    assert 1 <= len(rows) <= min(windows, 10), f"{len(rows)} audit rows for one address"
    assert counted(rows) == ATTEMPTS, rows
    assert len({d.get("client") for _, d in rows}) == 1, rows  # one pseudonymous address
    assert_no_raw_address(server, ATTACKER, PATIENT)


def _get_status(url: str, address: str) -> int:
    request = urllib.request.Request(url, headers={"X-Forwarded-For": address})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_guessed_join_links_over_http_are_audited_as_one_row_per_address_and_minute(
    live_server_factory,
):
    server = live_server_factory(
        PROXY_HOPS="1", DENIED_AUDIT_WINDOW_SECONDS="2", JOIN_RATE_LIMIT="100000 per minute"
    )
    guesses, started = 200, time.monotonic()
    statuses = Counter(
        _get_status(f"{server.url}/join/{secrets.token_urlsafe(32)}", GUESSER)
        for _ in range(guesses)
    )
    assert statuses == Counter({404: guesses}), statuses
    elapsed = time.monotonic() - started
    rows = wait_for_rows(server, guesses)
    print(f"\n{guesses} guessed join links: {len(rows)} audit row(s)")
    windows = elapsed / AUDIT_WINDOW_SECONDS + 2
    assert 1 <= len(rows) <= min(windows, 10), f"{len(rows)} audit rows for {guesses} guesses"
    assert counted(rows) == guesses, rows
    assert all(d.get("targets", {}).keys() == {"join"} for _, d in rows), rows
    assert_no_raw_address(server, GUESSER)


def test_one_join_link_opens_at_most_three_devices_until_one_closes(live_server_factory):
    server = live_server_factory(PROXY_HOPS="1")
    credential = server.book_now()["join_url"].rsplit("/", 1)[1]
    auth = {"join_credential": credential, "device": "phone"}
    devices = [OpenSocket(server.url, auth, PATIENT) for _ in range(3)]
    extra = OpenSocket(server.url, auth, PATIENT)
    try:
        assert [d.outcome for d in devices] == ["connected"] * 3, [d.data for d in devices]
        assert extra.outcome == "refused", extra.data
        assert extra.data["code"] == "too_many_devices", extra.data
        assert "3 devices" in extra.data["message"], extra.data
        devices.pop().close()
        # The server lets go of the closed device as soon as it sees the close: poll for it.
        newcomers: list[OpenSocket] = []

        def fourth_device_connects() -> bool:
            if newcomers and newcomers[-1].outcome != "connected":
                newcomers.pop().close()
            if not newcomers:
                newcomers.append(OpenSocket(server.url, auth, PATIENT))
            return newcomers[-1].outcome == "connected"

        wait_until(fourth_device_connects, 10, "a device in place of the closed one")
        devices.append(newcomers[-1])
    finally:
        for socket in [*devices, extra]:
            socket.close()
