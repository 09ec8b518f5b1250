"""Hostile traffic against real `telehealth serve` processes.

- a socket flooding 1,000 events/s is throttled and cut off, each time it comes back, and
  the room next door keeps its relay latency meanwhile;
- schemathesis drives the public API from its own openapi.json: no 5xx, one error shape;
- 10,000 guessed join credentials all get the same 404, and the default limit answers 429
  after 10 failures a minute;
- every kind of response carries the security headers.

The flooder runs in its own process (this file, run as a script with --flood) so that its
event loop does not share the measuring process's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import hashlib
import json
import os
import secrets
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from telehealth.client import ConsultSignaling, connect_both, credential_from_join_url
from tests.waiting import hold_until

NS = "/consult"
FLOODER_DEVICE = "flooder-device-0001"
PHYSIO = ("physio@demo.clinic", "demo")
OTHER_PHYSIO = ("marco@demo.clinic", "demo")

# -- a. flood --------------------------------------------------------------------------

FLOOD_RATE = 1_000  # events per second from the flooding socket
SERVER_RATE, SERVER_BURST = 20, 60  # the server's defaults (SOCKET_EVENTS_PER_SECOND / _BURST)
SAMPLE_INTERVAL = 0.06  # one ping-pong every 60 ms: each Y socket stays under 20 events/s
WINDOWS, WINDOW_SAMPLES = 5, 40  # 200 samples per phase; the median of the window p95s
THROTTLE_SECONDS = 2.0  # how long the flood lasts when only the throttle is checked


def _candidate(kind: str, n: int) -> dict[str, Any]:
    return {
        "candidate": {
            "candidate": f"candidate:{n} 1 udp 2122260223 127.0.0.2 {9000 + n % 1000} typ host",
            "sdpMid": kind,
            "sdpMLineIndex": 0,
        }
    }


def _is(kind: str, n: int) -> Any:
    def match(data: Any) -> bool:
        candidate = (data or {}).get("candidate") or {}
        text = str(candidate.get("candidate", ""))
        return candidate.get("sdpMid") == kind and text.startswith(f"candidate:{n} ")

    return match


async def _ping_pong(a: ConsultSignaling, b: ConsultSignaling, n: int) -> float:
    """One `signal` from a to b and one back: the relay's round trip, in seconds."""
    started = time.perf_counter()
    await a.emit("signal", _candidate("ping", n))
    await b.wait_for("signal", _is("ping", n), timeout=10)
    await b.emit("signal", _candidate("pong", n))
    await a.wait_for("signal", _is("pong", n), timeout=10)
    return time.perf_counter() - started


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[94]


async def _window(a: ConsultSignaling, b: ConsultSignaling, first: int) -> list[float]:
    samples = []
    for n in range(first, first + WINDOW_SAMPLES):
        started = time.monotonic()
        samples.append(await _ping_pong(a, b, n))
        await hold_until(started + SAMPLE_INTERVAL)  # the sampling cadence
    return samples


class _PatientSocket:
    """One websocket of the flooder, opened by hand (Engine.IO / Socket.IO handshake); its
    reader answers the server's pings all along and counts the acks of the current flood."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.acks: Counter[str] = Counter()
        self.cut = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, url: str, credential: str) -> _PatientSocket:
        ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        ws = await http.ws_connect(ws_url, autoping=False, max_msg_size=0)
        opening = await ws.receive_str()
        assert opening.startswith("0{"), opening
        # Like a browser tab, the flooder keeps one device id across its reconnects.
        auth = {"join_credential": credential, "device": "flooder", "device_id": FLOODER_DEVICE}
        await ws.send_str(f"40{NS},{json.dumps(auth)}")
        while True:
            answer = await ws.receive_str()
            if answer.startswith(f"40{NS},"):
                break
            if answer.startswith(f"44{NS},"):
                await ws.close()
                raise ConnectRefused(answer)
        # A new device of the patient waits; the attacker holding the link takes the call over
        # as the patient's own new device may. One socket's events are handled in order, so
        # every signal after this one is the active device's.
        await ws.send_str(f'42{NS},["switch_device",{{"side":"patient"}}]')
        socket = cls(ws)
        socket.reader = asyncio.create_task(socket.read())
        return socket

    async def read(self) -> None:
        ack_prefix, cut_prefix = f"43{NS},", f"41{NS}"
        async for message in self.ws:
            text = message.data if message.type == aiohttp.WSMsgType.TEXT else ""
            if text == "2":
                await self.ws.send_str("3")  # Engine.IO pong
            elif text.startswith(ack_prefix):
                answer = (json.loads(text[len(ack_prefix) :].lstrip("0123456789")) or [None])[0]
                if isinstance(answer, dict) and answer.get("ok") is True:
                    self.acks["ok"] += 1
                elif isinstance(answer, dict) and isinstance(answer.get("error"), dict):
                    self.acks[str(answer["error"].get("code"))] += 1
                else:
                    self.acks["malformed"] += 1
            elif text.startswith(cut_prefix):
                break  # the server disconnected this socket from /consult
        self.cut.set()

    async def flood(self, event: str, rate: int, commands: _Commands) -> dict[str, Any]:
        """Send at `rate`/s until the server cuts this socket off or the test says stop."""
        self.acks = Counter()
        started, sent = time.monotonic(), 0
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            while not self.cut.is_set() and commands.flooding.is_set():
                due = int((time.monotonic() - started) * rate) - sent
                for _ in range(max(0, due)):
                    sent += 1
                    await self.ws.send_str(f"42{NS},{sent}{event}")
                await hold_until(started + (sent + 1) / rate)  # the flooder's pace
        flooded = time.monotonic() - started
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.cut.wait(), 0.05)  # the last acks in flight
        cut = self.cut.is_set()
        return {"sent": sent, "seconds": round(flooded, 3), "cut": cut, "acks": dict(self.acks)}

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        await self.ws.close()


class _Commands:
    """go / stop / quit lines from the test, read from stdin off the event loop."""

    def __init__(self) -> None:
        self.flooding = asyncio.Event()
        self.quit = False

    async def follow(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.quit:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "go":
                self.flooding.set()
            else:
                self.flooding.clear()
                self.quit = line != "stop"  # "quit", or the end of stdin


class ConnectRefused(RuntimeError):
    """The server said no at connect (for a flooder: it is cooling off)."""


async def flood(url: str, credential: str, rate: int) -> list[dict[str, Any]]:
    """Connect as the patient; on "go" send `signal`s at `rate`/s with acks until cut off,
    then reconnect at once and flood again (a persistent attacker), until "stop"; "quit"
    ends. The flood stays at `rate` for as long as the test wants it.

    Raw Socket.IO frames over a websocket: the flooder's own CPU cost per event stays tiny,
    so on a shared 2-core machine the measurement is of the server, not of the client.
    """
    event = json.dumps(["signal", _candidate("flood", 0)], separators=(",", ":"))
    commands = _Commands()
    cycles: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        socket = await _PatientSocket.open(http, url, credential)
        print("ready", flush=True)
        follower = asyncio.create_task(commands.follow())
        announced = False  # "flooding" said for the current "go"
        while not commands.quit:
            if announced and not commands.flooding.is_set():
                print("stopped", flush=True)  # nothing of ours is in flight any more
                announced = False
            waiter = asyncio.create_task(commands.flooding.wait())
            await asyncio.wait([waiter, follower], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if commands.quit:
                break
            if not announced:
                print("flooding", flush=True)  # sending, or knocking to be let back in
                announced = True
            if socket.cut.is_set():
                await socket.close()
                try:
                    socket = await _PatientSocket.open(http, url, credential)
                except ConnectRefused as refusal:
                    cycles.append(
                        {
                            "refused": "rate_limited" in str(refusal),
                            "cut": False,
                            "acks": {},
                            "sent": 0,
                            "seconds": 0.0,
                        }
                    )
                    await hold_until(time.monotonic() + 0.05)  # the attacker's retry pace
                    continue
            cycles.append(await socket.flood(event, rate, commands))
        await socket.close()
    return cycles


async def _flooder_says(flooder: Any, line: bytes, timeout: float = 10) -> None:
    """Wait for the flooder's next `line` on its output (other lines are skipped)."""

    async def heard() -> None:
        while (await flooder.stdout.readline()).strip() != line:
            pass

    await asyncio.wait_for(heard(), timeout)


async def _command(flooder: Any, line: str) -> None:
    flooder.stdin.write(f"{line}\n".encode())
    await flooder.stdin.drain()


def run_flood(
    server: Any, measure: bool
) -> tuple[list[list[float]], list[list[float]], list[dict[str, Any]]]:
    """A patient of room X floods while room Y holds a call. With `measure`, Y's relay round
    trips in alternating windows (a baseline, then one under the flood, and so on); without,
    a short flood only. Returns those windows and what the flooder saw, socket by socket."""
    url = server.url
    room_y = server.book_now(provider=PHYSIO[0])
    room_x = server.book_now(provider=OTHER_PHYSIO[0])
    x_credential = credential_from_join_url(room_x["join_url"])

    async def scenario() -> tuple[list[list[float]], list[list[float]], list[dict[str, Any]]]:
        async with contextlib.AsyncExitStack() as stack:
            y_patient, y_provider = await connect_both(
                stack, url, credential_from_join_url(room_y["join_url"]), *PHYSIO, room_y["id"]
            )
            await y_patient.check_in()
            await y_provider.admit()
            x_patient = await ConsultSignaling.connect_as_patient(url, x_credential)
            x_provider = await ConsultSignaling.connect_as_provider(
                url, *OTHER_PHYSIO, room_x["id"]
            )
            await x_patient.check_in()
            await x_provider.admit()
            await x_patient.close()
            await x_provider.close()

            flooder = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.e2e.test_hostile",  # from the checkout's root: it imports tests.waiting
                "--flood",
                url,
                str(FLOOD_RATE),
                cwd=Path(__file__).resolve().parents[2],
                env={**os.environ, "FLOOD_CREDENTIAL": x_credential},
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert flooder.stdin is not None and flooder.stdout is not None
            baseline: list[list[float]] = []
            flooded: list[list[float]] = []
            try:
                ready = await asyncio.wait_for(flooder.stdout.readline(), 30)
                assert ready.strip() == b"ready", ready
                await _window(y_patient, y_provider, 0)  # warm up both sockets and the relay
                # Each baseline window comes just before its flood window, so that the
                # machine's other load weighs on both alike.
                for w in range(WINDOWS if measure else 0):
                    baseline.append(await _window(y_patient, y_provider, 1_000 * (w + 1)))
                    await _command(flooder, "go")
                    await _flooder_says(flooder, b"flooding")
                    flooded.append(await _window(y_patient, y_provider, 1_000 * (w + 1) + 500))
                    await _command(flooder, "stop")
                    await _flooder_says(flooder, b"stopped")
                    # The server has answered everything before Y's next round trip.
                    await _ping_pong(y_patient, y_provider, 1_000 * (w + 1) + 999)
                if not measure:
                    await _command(flooder, "go")
                    await _flooder_says(flooder, b"flooding")
                    await hold_until(time.monotonic() + THROTTLE_SECONDS)  # the flood's length
                    await _command(flooder, "stop")
                await _command(flooder, "quit")
                out, _ = await asyncio.wait_for(flooder.communicate(), 30)
            finally:
                if flooder.returncode is None:
                    flooder.kill()
                    await flooder.wait()
            assert flooder.returncode == 0, out
            cycles = json.loads(out.decode().strip().splitlines()[-1])
            # Y still relays both ways after the flood.
            await _ping_pong(y_patient, y_provider, 99_999)
            await _ping_pong(y_provider, y_patient, 99_998)
            return baseline, flooded, cycles

    return asyncio.run(asyncio.wait_for(scenario(), 180))


def assert_throttled_and_cut_off(cycles: list[dict[str, Any]]) -> None:
    """Every flooding socket got rate_limited acks, then the server disconnected it; coming
    straight back is refused (the side cools off) or cut off again."""
    cut = [c for c in cycles if c["cut"]]
    refused = [c for c in cycles if c.get("refused")]
    print(f"\nflood: {len(cycles)} attempt(s), {len(cut)} cut off, {len(refused)} refused")
    print(f"flood: first {cycles[0]}; {sum(c['sent'] for c in cycles)} events sent in all")
    assert cycles[0]["cut"], f"the flooding socket was never disconnected: {cycles[0]}"
    assert len(cut) + len(refused) >= 5, "the flooder was let back in to flood again"
    assert all(c.get("refused") or c["cut"] or c["acks"] for c in cycles), cycles
    for cycle in (c for c in cycles if "refused" not in c):
        ok, limited = cycle["acks"].get("ok", 0), cycle["acks"].get("rate_limited", 0)
        if cycle["cut"]:
            assert limited > 0 and cycle["seconds"] < 2.0, cycle
        # No more than the burst and the refill got through, and only the two answers.
        assert ok <= SERVER_BURST + SERVER_RATE * cycle["seconds"] + 2, cycle
        assert set(cycle["acks"]) <= {"ok", "rate_limited"}, cycle


def assert_latency_kept(baseline: list[list[float]], flooded: list[list[float]]) -> None:
    """Y's relay round-trip p95 at most doubles under the flood. Each flood window is judged
    against the baseline window just before it, and the median of those ratios counts: on a
    CI machine other suites load the cores in bursts, and neighbouring windows share them."""
    base_p95s, flood_p95s = [p95(w) for w in baseline], [p95(w) for w in flooded]
    base, during = statistics.median(base_p95s), statistics.median(flood_p95s)
    ratio = statistics.median(f / b for b, f in zip(base_p95s, flood_p95s, strict=True))
    every_base, every_flood = sum(baseline, []), sum(flooded, [])

    def ms(values: list[float]) -> str:
        return ", ".join(f"{v * 1000:.1f}" for v in values)

    print(f"Y relay round trip p95 per window (ms): baseline [{ms(base_p95s)}]")
    print(f"Y relay round trip p95 per window (ms): flood    [{ms(flood_p95s)}]")
    print(
        f"Y p95 (median of windows): baseline {base * 1000:.1f} ms, flood {during * 1000:.1f} ms"
        f" ({during / base:.2f}x; window by window {ratio:.2f}x); all {len(every_base)}/"
        f"{len(every_flood)} samples: p95 "
        f"{p95(every_base) * 1000:.1f} / {p95(every_flood) * 1000:.1f} ms, median "
        f"{statistics.median(every_base) * 1000:.1f} / {statistics.median(every_flood) * 1000:.1f}"
    )
    assert ratio <= 2, (
        f"Y's p95 grew {ratio:.2f}x window by window ({ms(base_p95s)} → {ms(flood_p95s)} ms)"
    )


@pytest.mark.slow
def test_a_flooding_socket_is_throttled_then_cut_off_each_time_it_comes_back(live_server):
    _, _, cycles = run_flood(live_server, measure=False)
    assert_throttled_and_cut_off(cycles)


@pytest.mark.slow
@pytest.mark.quiet
def test_the_room_next_door_keeps_its_relay_latency_within_2x_during_a_flood(live_server):
    baseline, flooded, cycles = run_flood(live_server, measure=True)
    assert_throttled_and_cut_off(cycles)
    assert_latency_kept(baseline, flooded)


# -- b. schemathesis -----------------------------------------------------------------

EXAMPLES_PER_STRATEGY = 100


def _request(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Status and raw body of a JSON request, whatever the status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _future_booking(base: str, email: str) -> tuple[dict[str, Any], str]:
    """A real booking through the API and its manage credential."""
    status, raw = _request("GET", f"{base}/slots?to=" + _days_ahead(30))
    slots = json.loads(raw)["slots"]
    assert status == 200 and slots, raw
    slot = slots[len(slots) // 2 + len(email) % 7]
    booking = _booking_body(slot["provider_id"], slot["start"], email)
    status, raw = _request("POST", f"{base}/bookings", booking)
    assert status == 201, raw
    booked = json.loads(raw)
    return booked, urlsplit(booked["manage_url"]).path.rsplit("/", 1)[-1]


def _booking_body(provider_id: Any, start: Any, email: str = "edge@example.com") -> dict[str, Any]:
    return {
        "provider_id": provider_id,
        "start": start,
        "patient": {"name": "Fuzz Tester", "email": email, "phone": "9055550123"},
        "reason": "Checking the API",
        "consent": True,
    }


def _days_ahead(days: int) -> str:
    return (datetime.date.today() + datetime.timedelta(days=days)).isoformat()


def error_shape_problem(content: bytes) -> str | None:
    """Why an error answer is not {"error": {"code", "message", "fields"}}, or None."""
    try:
        body = json.loads(content or b"")
    except ValueError:
        return f"not JSON: {content[:200]!r}"
    if not isinstance(body, dict) or set(body) != {"error"}:
        return f"not an error object: {body!r:.300}"
    error = body["error"]
    if not isinstance(error, dict) or set(error) != {"code", "message", "fields"}:
        return f"error keys: {error!r:.300}"
    if not (isinstance(error["code"], str) and isinstance(error["message"], str)):
        return f"code/message not strings: {error!r:.300}"
    fields = error["fields"]
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
    ):
        return f"fields not a string map: {error!r:.300}"
    return None


def _exercise(
    strategy: Any, label: str, base: str, seen: Counter[tuple[str, int]], problems: list[str]
) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable

    @settings(
        max_examples=EXAMPLES_PER_STRATEGY,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a finding is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case: Any) -> None:
        response = case.call(base_url=base, timeout=10)
        seen[(label, response.status_code)] += 1
        problem = None
        if response.status_code >= 500:
            problem = f"status {response.status_code}"
        elif response.status_code >= 400:
            problem = error_shape_problem(response.content)
        if problem:
            problems.append(f"{label}: {problem}\n  {case.as_curl_command()}")

    try:
        exercise()
    except Unsatisfiable:  # nothing to make invalid (GET /providers has no inputs)
        print(f"  {label}: no cases of this kind")


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_one_error_shape(live_server_factory):
    import schemathesis

    server = live_server_factory(BOOKING_RATE_LIMIT="100000 per minute")
    base = f"{server.url}/api/v1"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    # Real bookings, so the manage endpoints also see a valid credential: one to cancel,
    # one to read and move.
    to_cancel = _future_booking(base, "cancel@example.com")
    to_keep = _future_booking(base, "keep@example.com")
    problems: list[str] = []
    seen: Counter[tuple[str, int]] = Counter()
    started = time.monotonic()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6, [op.label for op in operations]
    for operation in operations:
        strategies = [
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
        ]
        if "{booking_id}" in operation.path:
            booked, manage = to_cancel if operation.method.upper() == "DELETE" else to_keep
            strategies.append(
                operation.as_strategy(
                    path_parameters={"booking_id": booked["id"]},
                    headers={"Authorization": f"Bearer {manage}"},
                )
            )
        for strategy in strategies:
            _exercise(strategy, operation.label, base, seen, problems)

    elapsed = time.monotonic() - started
    print(f"\nschemathesis: {sum(seen.values())} requests in {elapsed:.1f} s")
    for (label, status), count in sorted(seen.items()):
        print(f"  {label:32} {status}: {count}")
    assert not problems, "\n".join(problems[:20])


def test_boundary_values_get_a_4xx_error_not_a_500(live_server_factory):
    server = live_server_factory(BOOKING_RATE_LIMIT="100000 per minute")
    base = f"{server.url}/api/v1"
    booked, manage = _future_booking(base, "edge@example.com")
    cases = [
        ("GET", "/slots?from=9999-12-31", None, {}),
        ("GET", "/slots?from=9999-12-28&to=9999-12-31", None, {}),
        ("POST", "/bookings", _booking_body(1, "9999-12-31T23:59:59-05:00"), {}),
        ("POST", "/bookings", _booking_body(1, "0001-01-01T00:00:00+05:00"), {}),
        ("POST", "/bookings", _booking_body(2**64, "2030-03-15T13:00:00+00:00"), {}),
        (
            "PATCH",
            f"/bookings/{booked['id']}",
            {"start": "9999-12-31T23:59:59-05:00"},
            {"Authorization": f"Bearer {manage}"},
        ),
    ]
    answers = []
    for method, path, body, headers in cases:
        status, content = _request(method, base + path, body, headers)
        problem = error_shape_problem(content) if status >= 400 else None
        answers.append((method, path, status, problem))
    print("\n" + "\n".join(f"  {m} {p} -> {s} {x or ''}" for m, p, s, x in answers))
    assert all(400 <= s < 500 and not x for _, _, s, x in answers), answers


# -- c. guessed join credentials -------------------------------------------------------

GUESSES = 10_000
CONCURRENCY = 20


async def _guess(url: str, count: int) -> tuple[Counter[int], set[str]]:
    statuses: Counter[int] = Counter()
    bodies: set[str] = set()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for _ in range(count):
        queue.put_nowait(secrets.token_urlsafe(32))
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as http:

        async def worker() -> None:
            while not queue.empty():
                credential = queue.get_nowait()
                async with http.get(f"{url}/join/{credential}", allow_redirects=False) as answer:
                    body = await answer.read()
                statuses[answer.status] += 1
                bodies.add(hashlib.sha256(body).hexdigest())

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses, bodies


@pytest.mark.slow
def test_ten_thousand_guessed_join_credentials_all_get_the_same_404(live_server_factory):
    server = live_server_factory(JOIN_RATE_LIMIT="100000 per minute")
    started = time.monotonic()
    statuses, bodies = asyncio.run(_guess(server.url, GUESSES))
    elapsed = time.monotonic() - started
    print(f"\n{GUESSES} guesses in {elapsed:.1f} s ({GUESSES / elapsed:.0f}/s): {dict(statuses)}")
    assert statuses == Counter({404: GUESSES})
    assert len(bodies) == 1, f"{len(bodies)} different 404 bodies"
    # The same page as for a link that is not even shaped like a credential.
    status, _, body = _get(f"{server.url}/join/not-a-credential")
    assert status == 404 and {hashlib.sha256(body).hexdigest()} == bodies


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Any:
    """The response (status, headers, body) without following redirects or raising."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        response = opener.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        return response.status, response.headers, response.read()


@pytest.mark.slow
def test_the_default_join_limit_answers_429_after_ten_failures(live_server_factory):
    server = live_server_factory()
    booked = server.book_now()
    guesses = [_get(f"{server.url}/join/{secrets.token_urlsafe(32)}")[0] for _ in range(5)]
    # Successful joins are not counted against the limit.
    joins = [_get(booked["join_url"])[0] for _ in range(3)]
    guesses += [_get(f"{server.url}/join/{secrets.token_urlsafe(32)}")[0] for _ in range(5)]
    assert joins == [303] * 3
    assert guesses == [404] * 10
    status, headers, body = _get(f"{server.url}/join/{secrets.token_urlsafe(32)}")
    assert status == 429, status
    assert b"Please slow down" in body
    assert security_header_problems(headers) == []
    assert _get(f"{server.url}/join/{secrets.token_urlsafe(32)}")[0] == 429


# -- d. security headers -----------------------------------------------------------------


def _csp(value: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def security_header_problems(headers: Any) -> list[str]:
    """Which of the required security headers a response lacks."""
    csp = _csp(headers.get("Content-Security-Policy", ""))
    script_src = csp.get("script-src", csp.get("default-src"))
    hsts = headers.get("Strict-Transport-Security", "")
    checks = {
        "CSP": bool(csp),
        "script-src without 'unsafe-inline'": script_src is not None
        and "'unsafe-inline'" not in script_src,
        "frame-ancestors 'none'": csp.get("frame-ancestors") == ["'none'"],
        "HSTS": "max-age=" in hsts and not hsts.startswith("max-age=0"),
        "nosniff": headers.get("X-Content-Type-Options") == "nosniff",
        "no-referrer": headers.get("Referrer-Policy") == "no-referrer",
    }
    return [name for name, ok in checks.items() if not ok]


def test_every_kind_of_response_carries_the_security_headers(live_server):
    url = live_server.url
    booked = live_server.book_now()
    join = _get(booked["join_url"])
    cookie = "; ".join(
        c.split(";", 1)[0] for c in join[1].get_all("Set-Cookie") or []
    )  # the patient's session, for the consult page
    responses = {
        "home page": _get(f"{url}/"),
        "consult page": _get(f"{url}/consult", {"Cookie": cookie}),
        "API": _get(f"{url}/api/v1/providers"),
        "API error": _get(f"{url}/api/v1/bookings/1"),
        "openapi.json": _get(f"{url}/api/v1/openapi.json"),
        "404 page": _get(f"{url}/no-such-page"),
        "API 404": _get(f"{url}/api/v1/no-such-thing"),
        "405": _get(f"{url}/healthz", method="POST"),
        "healthz": _get(f"{url}/healthz"),
        "static file": _get(f"{url}/static/css/site.css"),
        "join redirect": join,
        "bad join link": _get(f"{url}/join/{secrets.token_urlsafe(32)}"),
    }
    expected = {
        "home page": 200,
        "consult page": 200,
        "API": 200,
        "API error": 401,
        "openapi.json": 200,
        "404 page": 404,
        "API 404": 404,
        "405": 405,
        "healthz": 200,
        "static file": 200,
        "join redirect": 303,
        "bad join link": 404,
    }
    missing = []
    for kind, (status, headers, _) in responses.items():
        assert status == expected[kind], (kind, status)
        missing += [f"{kind} ({status}): {name}" for name in security_header_problems(headers)]
    assert not missing, "\n".join(missing)


# -- the flooder, run as a script --------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Flood /consult as a patient (test helper).")
    parser.add_argument("--flood", nargs=2, metavar=("URL", "RATE"))
    args = parser.parse_args(argv)
    url, rate = args.flood
    credential = os.environ["FLOOD_CREDENTIAL"]  # may start with "-", which argv would misread
    cycles = asyncio.run(flood(url, credential, int(rate)))
    print(json.dumps(cycles), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
