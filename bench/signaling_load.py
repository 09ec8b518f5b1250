"""Benchmark: our /consult relay against two reference relays, same machine, same run: the
bare python-socketio relay on our stack (the ceiling) and a Node.js socket.io relay.

Run from the repo root:

    .venv/bin/python bench/signaling_load.py [--rooms 200] [--seconds 10] [--rounds 2]

What it does:
  1. `npm install` in bench/reference if its node_modules is missing.
  2. Starts OUR server as a real process (`telehealth init-db`, `seed-demo`, then
     `telehealth serve` on a free loopback port; temporary INSTANCE_PATH, the embedded SQLite
     and Redis, exactly as `make run`).
  3. Books --rooms instant consults with the demo physiotherapist in-process, logs the
     physiotherapist in over HTTP, checks every patient in and admits every consult over
     Socket.IO (python-socketio), so every consult is `in_call`; then disconnects.
  4. Starts the ceiling relay (bench/reference/ceiling.py: python-socketio, gevent,
     simple-websocket, nothing but relay) and the Node reference relay
     (bench/reference/server.js), each on another free port.
  5. Idle memory: 1000 idle patient sockets (the consults' patients round-robin) on each
     server; reports the server's RSS before and after and the delta per socket.
  6. Load: bench/reference/load.js (socket.io-client, websocket only: the same client for
     every server) ping-pongs one ~1 KB ICE candidate per room for --seconds, alternating
     ours, ceiling, node (--rounds times). The server's CPU time (utime + stime) and, for
     ours, Redis's command counts (INFO commandstats) are read when load.js starts and ends
     its measured window, so connects are not charged to them.
  7. Cross-process signals (--processes N, default 3): two more `telehealth serve` on the
     same Redis and SQL; every room's patient on one process and its physiotherapist on the
     next; the Redis PUBLISHes and deliveries (PUBLISH × subscribers) per relayed signal.
  8. Prints ONE JSON object: each run, per-target medians, the ratios ours/ceiling and
     ours/node (also over the quiet runs only, where other processes used at most a
     quarter of a core), the targets of issue 14 and DESIGN.md's goals, and a summary of
     our server's log problems.

Our server's per-socket rate limit (20 events/s, bursts of 60) is raised for the benchmark
unless --production-limits is given: a room's ping-pong sends far more than a real call, and
the limiter's bookkeeping still runs on every event. Every process started here is stopped
on exit. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The embedded SQLite and Redis of the instance folder, never a configured one.
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)

import psutil  # noqa: E402

REFERENCE = ROOT / "bench" / "reference"
BIN = Path(sys.executable).parent
TELEHEALTH = str(BIN / "telehealth")
SECRET_KEY = "bench-signaling-secret-key-not-for-production"
PHYSIO_EMAIL, PHYSIO_PASSWORD, PHYSIO_PROVIDER_ID = "physio@demo.clinic", "demo", 1
NAMESPACE = "/consult"
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
CLIENT_FLAGS: list[str] = []  # extra load.js flags (--client-no-deflate)
GOALS = {
    "throughput_ours_over_node": ">= 0.5",
    "cpu_per_msg_ours_over_node": "<= 2",
    "rtt_p99_ours_over_node": "<= 2",
    "idle_1000_sockets_total_rss_mb": "< 150",
    "idle_kb_per_socket_ours_over_node": "<= 1.5",
}
# Issue 14's targets: (figure, reference, at least or at most, bound).
TARGETS = [
    ("throughput", "ceiling", ">=", 0.85),
    ("cpu_per_msg", "ceiling", "<=", 1.2),
    ("connect_rate", "ceiling", ">=", 0.6),
    ("idle_kb_per_socket", "ceiling", "<=", 1.1),
    ("throughput", "node", ">=", 0.38),
    ("cpu_per_msg", "node", "<=", 2.8),
    ("rtt_p99", "node", "<=", 2.2),
    ("connect_rate", "node", ">=", 0.5),
    ("idle_kb_per_socket", "node", "<=", 2.5),
]
REFERENCES = ("ceiling", "node")


def log(message: str) -> None:
    print(f"[signaling_load] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a live process (0 if it is gone)."""
    if pid is None:
        return 0.0
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all cores), from /proc/stat."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq)


def others_busy(own_pids: list[int | None], interval: float = 2.0) -> float:
    """Cores' worth of CPU that processes other than ours used over `interval` seconds."""
    machine, own = machine_busy_seconds(), sum(cpu_seconds(p) for p in own_pids)
    time.sleep(interval)
    used = (machine_busy_seconds() - machine) - (sum(cpu_seconds(p) for p in own_pids) - own)
    return max(0.0, used / interval)


def wait_for_quiet(own_pids: list[int | None], limit_s: float) -> dict[str, float]:
    """Wait up to `limit_s` until other processes use less than a fifth of a core."""
    started = time.monotonic()
    busy = others_busy(own_pids)
    while busy > 0.2 and time.monotonic() - started < limit_s:
        time.sleep(3)
        busy = others_busy(own_pids)
    return {"waited_s": round(time.monotonic() - started, 1), "other_cores_busy": round(busy, 2)}


def rss_bytes(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def stop(process: subprocess.Popen[Any] | None, timeout: float = 5) -> None:
    """SIGTERM, then SIGKILL: only the process we started, by its pid."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def median(values: list[float]) -> float | None:
    clean = [v for v in values if v is not None]
    return round(statistics.median(clean), 3) if clean else None


def ratio(ours: float | None, node: float | None) -> float | None:
    return round(ours / node, 3) if ours is not None and node else None


# -- the two servers ---------------------------------------------------------------------


def ensure_node_modules() -> None:
    if (REFERENCE / "node_modules" / "socket.io").is_dir() and (
        REFERENCE / "node_modules" / "socket.io-client"
    ).is_dir():
        return
    log("npm install in bench/reference")
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund"],
        cwd=REFERENCE,
        check=True,
        stdout=sys.stderr,
        timeout=600,
    )


def wait_until_ready(url: str, process: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready within {timeout} s")


def instance_env(instance: Path) -> dict[str, str]:
    """The environment of our server on a temporary instance: its embedded SQLite and Redis,
    the demo clinic, the benchmark's secret key."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": SECRET_KEY,
            "DEMO_MODE": "1",
            "LOG_LEVEL": "INFO",
        }
    )
    return env


@dataclass
class Ours:
    instance: Path
    env: dict[str, str]
    port: int
    serve_command: list[str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [TELEHEALTH, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"telehealth {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def start(self) -> None:
        self.cli("init-db")
        self.cli("seed-demo")
        self.log_path = self.instance / "serve.log"
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [*self.serve_command, "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until_ready(self.url, self.process)

    def redis_pid(self) -> int | None:
        try:
            return int((self.instance / "redis" / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def log_problems(self) -> dict[str, Any]:
        """Tracebacks, errors and warnings the server logged during the benchmark."""
        if self.log_path is None or not self.log_path.exists():
            return {}
        text = self.log_path.read_text(errors="replace")
        lines = text.splitlines()
        flagged = [
            line
            for line in lines
            if re.search(r"\b(ERROR|WARNING|CRITICAL)\b|Traceback|Exception|Error:", line)
        ]
        tracebacks = text.count("Traceback (most recent call last)")
        # Summarise repeated messages (timestamps differ) rather than listing thousands.
        kinds: dict[str, int] = {}
        for line in flagged:
            key = re.sub(r"^\S+ \S+ ", "", line)[:200]
            key = re.sub(r"\d+", "N", key)
            kinds[key] = kinds.get(key, 0) + 1
        return {
            "log_lines": len(lines),
            "tracebacks": tracebacks,
            "flagged_lines": len(flagged),
            "flagged_kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:15]),
            "first_traceback": _first_traceback(lines),
        }


def _first_traceback(lines: list[str]) -> list[str] | None:
    for index, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            block = [lines[index - 1]] if index else []
            for follow in lines[index : index + 60]:
                block.append(follow)
                if follow and not follow.startswith((" ", "Traceback")):
                    break
            return block
    return None


@dataclass
class ReferenceRelay:
    """A reference relay (Node's, or the ceiling on our stack) that prints `ready`."""

    name: str
    command: list[str]
    port: int
    process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            cwd=REFERENCE,
            env={**os.environ, "PORT": str(self.port), "HOST": "127.0.0.1"},
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the {self.name} reference did not start: {line!r}")
        wait_until_ready(self.url, self.process)


def node_relay() -> ReferenceRelay:
    return ReferenceRelay("node", ["node", str(REFERENCE / "server.js")], free_port())


def ceiling_relay() -> ReferenceRelay:
    return ReferenceRelay("ceiling", [sys.executable, str(REFERENCE / "ceiling.py")], free_port())


# -- preparing our consults ---------------------------------------------------------------


def book_consults(
    instance: Path, rooms: int, first_start: datetime | None = None
) -> list[tuple[int, str]]:
    """N instant consults with the demo physiotherapist, a second apart from `first_start`
    (default: now): (consult id, join credential)."""
    from telehealth import create_app
    from telehealth.booking.service import book_consult
    from telehealth.config import Config
    from telehealth.db import utcnow
    from telehealth.domain.booking_rules import BookingRequest

    app = create_app(
        Config(
            INSTANCE_PATH=instance,
            DATABASE_URL=f"sqlite:///{instance / 'telehealth.sqlite3'}",
            SECRET_KEY=SECRET_KEY,
        )
    )
    clinic = app.extensions["clinic"]
    try:
        rules = clinic.consult_rules()
        base = first_start or utcnow().replace(microsecond=0)
        stamp = time.monotonic_ns()
        booked = []
        for index in range(rooms):
            request = BookingRequest(
                PHYSIO_PROVIDER_ID,
                base + timedelta(seconds=index),
                "Bench Patient",
                f"bench{stamp}-{index}@example.com",
                "9055550123",
                "Signaling benchmark",
            )
            result = book_consult(
                clinic.db,
                request,
                rules=rules,
                now=utcnow(),
                secret_key=SECRET_KEY,
                consent_version="bench",
                free_period=timedelta(0),
                actor="bench",
                enforce_calendar=False,
            )
            booked.append((result.consult.id, result.credentials.join))
        return booked
    finally:
        clinic.close()


def staff_cookie(
    base_url: str, email: str = PHYSIO_EMAIL, password: str = PHYSIO_PASSWORD, totp: str = ""
) -> str:
    """Log a staff member in once (the physiotherapist unless told; an admin also sends
    their `totp` code); the Cookie header value for their sockets."""
    login = {"email": email, "password": password, **({"totp": totp} if totp else {})}
    request = urllib.request.Request(  # noqa: S310 - loopback only
        f"{base_url}/api/v1/staff/session",
        data=json.dumps(login).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        cookies = response.headers.get_all("Set-Cookie") or []
    pairs = [c.split(";", 1)[0].strip() for c in cookies if "=" in c.split(";", 1)[0]]
    if not pairs:
        raise RuntimeError("the staff login set no cookie")
    return "; ".join(pairs)


def device_of(side: str, consult_id: int) -> str:
    """One device id per consult and side, as a browser tab keeps one (docs/protocol.md): each
    round's sockets are that device reconnecting, so it keeps its place in the call rather
    than waiting for the rejoin window of the one before."""
    return f"bench-{side}-{consult_id:08d}"


async def _admit_one(url: str, consult_id: int, credential: str, cookie: str) -> None:
    import socketio

    patient = socketio.AsyncClient(reconnection=False)
    provider = socketio.AsyncClient(reconnection=False)
    try:
        await patient.connect(
            url,
            namespaces=[NAMESPACE],
            transports=["websocket"],
            auth={
                "join_credential": credential,
                "device": "bench setup",
                "device_id": device_of("patient", consult_id),
            },
            wait_timeout=20,
        )
        answer = await patient.call("check_in", CHECK_IN, namespace=NAMESPACE, timeout=20)
        if not isinstance(answer, dict) or not answer.get("ok"):
            raise RuntimeError(f"consult {consult_id}: check_in refused: {answer}")
        await provider.connect(
            url,
            namespaces=[NAMESPACE],
            transports=["websocket"],
            headers={"Cookie": cookie},
            auth={
                "consult_id": consult_id,
                "device": "bench setup",
                "device_id": device_of("provider", consult_id),
            },
            wait_timeout=20,
        )
        answer = await provider.call("admit", CHECKLIST, namespace=NAMESPACE, timeout=20)
        if not isinstance(answer, dict) or not answer.get("ok"):
            raise RuntimeError(f"consult {consult_id}: admit refused: {answer}")
    finally:
        for client in (patient, provider):
            if client.connected:
                await client.disconnect()


async def admit_all(url: str, booked: list[tuple[int, str]], cookie: str) -> None:
    gate = asyncio.Semaphore(10)

    async def one(consult_id: int, credential: str) -> None:
        async with gate:
            await _admit_one(url, consult_id, credential, cookie)

    await asyncio.gather(*(one(c, j) for c, j in booked))


def rooms_for_ours(
    url: str, booked: list[tuple[int, str]], cookie: str, provider_urls: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every room's two sides; with `provider_urls`, the i-th room's physiotherapist connects
    to provider_urls[i % len] (another process than the patient's)."""
    return [
        {
            "patient": {
                "url": f"{url}{NAMESPACE}",
                "auth": {
                    "join_credential": credential,
                    "device": "bench patient",
                    "device_id": device_of("patient", consult_id),
                },
                "headers": {},
            },
            "provider": {
                "url": f"{(provider_urls[index % len(provider_urls)] if provider_urls else url)}"
                f"{NAMESPACE}",
                "auth": {
                    "consult_id": consult_id,
                    "device": "bench provider",
                    "device_id": device_of("provider", consult_id),
                },
                "headers": {"Cookie": cookie},
            },
        }
        for index, (consult_id, credential) in enumerate(booked)
    ]


def rooms_for_node(url: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            side: {"url": f"{url}{NAMESPACE}", "auth": {"room": f"r{i}", "side": side}}
            for side in ("patient", "provider")
        }
        for i in range(count)
    ]


# -- measuring ----------------------------------------------------------------------------


# What routing a signal in Redis took (the phase and active devices read with HGET, a route
# read in MULTI, the queue's PUBLISH); the consult clock's reads (GET, HGETALL, SMEMBERS,
# EXISTS) go on whatever the signals do.
RELAY_COMMANDS = ("hget", "multi", "exec", "publish", "evalsha", "eval")


def redis_commands(client: Any) -> dict[str, int]:
    """Calls per command since the Redis server started (INFO commandstats)."""
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in client.info("commandstats").items()
    }


def commands_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Commands run between two readings, less the reading itself (one INFO)."""
    spent = {name: calls - before.get(name, 0) for name, calls in after.items()}
    spent["info"] = spent.get("info", 0) - 1
    return {name: calls for name, calls in sorted(spent.items()) if calls > 0}


PY_SPY = shutil.which("py-spy")


class Sampler:
    """py-spy recording one server process into collapsed stacks, one phase at a time."""

    def __init__(self, pid: int, prefix: Path | None) -> None:
        self.pid, self.prefix = pid, prefix
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, phase: str) -> None:
        self.stop()
        if self.prefix is None or PY_SPY is None:
            return
        self.process = subprocess.Popen(
            [
                PY_SPY,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                f"{self.prefix}-{phase}.txt",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # py-spy attaches before the phase starts

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


def run_load(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """`load_run`, or {"failed": why} when load.js gave no usable result: one disturbed
    run (a 2-core machine shared with other jobs) must not cost the others."""
    try:
        return load_run(*args, **kwargs)
    except RuntimeError as error:
        log(f"run failed: {error}")
        return {"failed": str(error)}


def load_run(
    rooms_file: Path,
    server_pid: int,
    seconds: float,
    warmup: float,
    extra_pids: dict[str, int | None],
    redis_client: Any = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One load.js run; CPU of the server (and extras) over its measured window only, and
    with `redis_client` the Redis commands run meanwhile. With `profile`, py-spy samples the
    server while the sockets connect (`<profile>-connect.txt`) and over the measured window
    (`<profile>-relay.txt`), as collapsed stacks."""
    sampler = Sampler(server_pid, profile)
    sampler.start("connect")
    process = subprocess.Popen(
        [
            "node",
            str(REFERENCE / "load.js"),
            str(rooms_file),
            "--seconds",
            str(seconds),
            "--warmup",
            str(warmup),
            "--markers",
            *CLIENT_FLAGS,
        ],
        cwd=REFERENCE,
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
    )
    assert process.stdout is not None
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    commands: dict[str, dict[str, int]] = {}
    pids = {"server": server_pid, "client": process.pid, **extra_pids}
    load_before = os.getloadavg()[0]
    result: dict[str, Any] | None = None
    other_lines: list[str] = []
    # A run that stops printing (sockets that never connect) is cut off at its deadline.
    watchdog = threading.Timer(seconds + warmup + 300, process.kill)
    watchdog.start()
    try:
        deadline = time.monotonic() + seconds + warmup + 300
        for line in process.stdout:
            line = line.strip()
            if line == "#measuring":
                sampler.start("relay")
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                before["machine"] = machine_busy_seconds()
                if redis_client is not None:
                    commands["before"] = redis_commands(redis_client)
            elif line == "#measured":
                after = {name: cpu_seconds(pid) for name, pid in pids.items()}
                after["machine"] = machine_busy_seconds()
                if redis_client is not None:
                    commands["after"] = redis_commands(redis_client)
                sampler.stop()
            elif line.startswith("{"):
                result = json.loads(line)
            else:
                other_lines.append(line[:200])
            if time.monotonic() > deadline:
                raise RuntimeError("load.js did not finish in time")
        process.wait(timeout=30)
    finally:
        watchdog.cancel()
        stop(process)
        sampler.stop()
    if result is None or not before or not after:
        raise RuntimeError(
            f"load.js gave no result (exit {process.returncode}, markers "
            f"{bool(before)}/{bool(after)}, result {result is not None}, "
            f"other output {other_lines[-5:]})"
        )
    relayed = max(1, int(result["relayed_msgs"]))
    for name in pids:
        used = after[name] - before[name]
        result[f"{name}_cpu_s"] = round(used, 3)
        result[f"{name}_cpu_us_per_msg"] = round(used / relayed * 1e6, 2)
    # CPU the rest of the machine used meanwhile (other jobs skew a 2-core comparison).
    others = (after["machine"] - before["machine"]) - sum(
        after[name] - before[name] for name in pids
    )
    result["other_processes_cpu_s"] = round(max(0.0, others), 2)
    result["loadavg_1m_before"] = round(load_before, 2)
    if commands:
        spent = commands_between(commands["before"], commands["after"])
        result["redis_commands"] = spent
        result["redis_commands_per_msg"] = round(sum(spent.values()) / relayed, 4)
        relay = sum(spent.get(name, 0) for name in RELAY_COMMANDS)
        result["redis_relay_commands_per_msg"] = round(relay / relayed, 4)
    return result


def idle_memory(rooms_file: Path, server_pid: int, sockets: int) -> dict[str, Any]:
    """Hold `sockets` idle patient sockets; the server's RSS before and with them."""
    time.sleep(1)
    rss_before = rss_bytes(server_pid)
    process = subprocess.Popen(
        [
            "node",
            str(REFERENCE / "load.js"),
            str(rooms_file),
            "--idle",
            str(sockets),
            *CLIENT_FLAGS,
        ],
        cwd=REFERENCE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        line = process.stdout.readline()
        if not line.startswith("{"):
            raise RuntimeError(f"load.js --idle gave no result: {line!r}")
        result: dict[str, Any] = json.loads(line)
        time.sleep(3)  # let the server settle (state broadcasts, allocator)
        rss_after = rss_bytes(server_pid)
        process.stdin.close()
        process.wait(timeout=30)
    finally:
        stop(process)
    connected = max(1, int(result["connected"]))
    result.update(
        {
            "server_rss_before_mb": round(rss_before / 2**20, 1),
            "server_rss_with_sockets_mb": round(rss_after / 2**20, 1),
            "kb_per_socket": round((rss_after - rss_before) / connected / 1024, 1),
        }
    )
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = (
        "msgs_per_s",
        "server_cpu_us_per_msg",
        "rtt_p50_ms",
        "rtt_p99_ms",
        "connect_per_s",
        "client_cpu_us_per_msg",
        "redis_cpu_us_per_msg",
        "redis_commands_per_msg",
        "redis_relay_commands_per_msg",
    )
    summary: dict[str, Any] = {
        key: median([r[key] for r in runs]) for key in keys if all(key in r for r in runs)
    }
    summary["errors"] = sum(int(r["errors"]) for r in runs)
    return summary


QUIET_CORES = 0.25  # other processes' average use during a run that still counts as quiet


def is_quiet(run: dict[str, Any]) -> bool:
    return float(run["other_processes_cpu_s"]) <= QUIET_CORES * float(run["seconds"])


FIGURES = {
    "throughput": "msgs_per_s",
    "cpu_per_msg": "server_cpu_us_per_msg",
    "rtt_p99": "rtt_p99_ms",
    "connect_rate": "connect_per_s",
}


def ratios_of(medians: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """ours / each reference, for every figure of the load runs."""
    o = medians["ours"]
    return {
        f"{figure}_ours_over_{reference}": ratio(o.get(key), medians[reference].get(key))
        for reference in REFERENCES
        for figure, key in FIGURES.items()
    }


def targets_met(ratios: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 14's targets, each with its measured ratio."""
    out = {}
    for figure, reference, sense, bound in TARGETS:
        name = f"{figure}_ours_over_{reference}"
        value = ratios.get(name)
        met = value is not None and (value >= bound if sense == ">=" else value <= bound)
        out[name] = {"target": f"{sense} {bound}", "measured": value, "met": met}
    return out


def source_state() -> dict[str, Any]:
    """The commit measured and whether the server's code differed from it (others edit it)."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    changed = git("status", "--porcelain", "--", "telehealth").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD"), "telehealth_changes": changed}


def machine_facts() -> dict[str, Any]:
    """What a reader needs to compare two runs: cores, versions, and how busy it was."""
    return {
        "cpus": os.cpu_count(),
        "node": subprocess.run(
            ["node", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "python": sys.version.split()[0],
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--idle-sockets", type=int, default=1000)
    parser.add_argument(
        "--processes",
        type=int,
        default=3,
        help="web processes for the cross-process run (1: skip it)",
    )
    parser.add_argument(
        "--production-limits",
        action="store_true",
        help="keep our per-socket rate limit (20 events/s, bursts of 60)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance folder")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="with py-spy on PATH: sample our server in its first run into PROFILE-connect.txt "
        "and PROFILE-relay.txt (collapsed stacks)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        help="before each measurement wait up to this many seconds for other processes "
        "to leave the CPU idle (under 0.2 cores)",
    )
    parser.add_argument(
        "--client-no-deflate",
        action="store_true",
        help="experiments only: the load generator does not offer permessage-deflate (browsers do)",
    )
    parser.add_argument(
        "--serve-command",
        default=f"{TELEHEALTH} serve",
        help="experiments only: the command line that serves our app "
        "(--host and --port are appended); default: telehealth serve",
    )
    args = parser.parse_args()
    if not 1 <= args.rooms <= 2000 or not 0 < args.seconds <= 120 or not 1 <= args.rounds <= 10:
        parser.error("keep it bounded: 1-2000 rooms, up to 120 s, 1-10 rounds")
    if not 0 <= args.idle_sockets <= 10_000:
        parser.error("--idle-sockets: 0 to 10000")

    if args.client_no_deflate:
        CLIENT_FLAGS.append("--no-deflate")
    ensure_node_modules()
    tmp = Path(tempfile.mkdtemp(prefix="signaling-load-"))
    instance = tmp / "instance"
    instance.mkdir()
    env = instance_env(instance)
    if not args.production_limits:
        env.update({"SOCKET_EVENTS_PER_SECOND": "100000", "SOCKET_EVENT_BURST": "100000"})
    # Between phases a consult's sockets are away for minutes on a busy machine: its call
    # must not end meanwhile ("did not come back in time").
    env["REJOIN_WINDOW_SECONDS"] = "3600"
    # The idle sockets open each patient's link on several devices at once.
    env["MAX_DEVICES_PER_SIDE"] = str(args.idle_sockets // args.rooms + 2)
    ours = Ours(instance, env, free_port(), shlex.split(args.serve_command))
    references = {"ceiling": ceiling_relay(), "node": node_relay()}
    report: dict[str, Any] = {
        "benchmark": "signaling_load",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "source": source_state(),
        "settings": {
            "rooms": args.rooms,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "payload": "signal {candidate: ~950-char ICE candidate}, acknowledged",
            "ours": "telehealth serve (Flask-SocketIO, gevent, simple-websocket, "
            "RedisManager on the embedded Redis, SQLite)",
            "ceiling": "bench/reference/ceiling.py (python-socketio, gevent, simple-websocket, "
            "nothing but relay)",
            "node": "bench/reference/server.js (socket.io 4.8)",
            "our_server_command": args.serve_command,
            "client_offers_permessage_deflate": not args.client_no_deflate,
            "our_rate_limit": "production (20/s, burst 60)"
            if args.production_limits
            else "raised for the benchmark",
        },
    }
    extra_ours: list[Ours] = []
    try:
        log(f"starting our server on port {ours.port} (instance {instance})")
        ours.start()
        assert ours.process is not None
        log(f"booking {args.rooms} consults")
        booked = book_consults(instance, args.rooms)
        cookie = staff_cookie(ours.url)
        log("checking in and admitting every consult")
        started = time.monotonic()
        asyncio.run(admit_all(ours.url, booked, cookie))
        report["setup_s"] = round(time.monotonic() - started, 2)
        for name, relay in references.items():
            log(f"starting the {name} reference on port {relay.port}")
            relay.start()

        rooms_files = {name: tmp / f"rooms-{name}.json" for name in ("ours", *references)}
        rooms_files["ours"].write_text(json.dumps(rooms_for_ours(ours.url, booked, cookie)))
        for name, relay in references.items():
            rooms_files[name].write_text(json.dumps(rooms_for_node(relay.url, args.rooms)))
        pids = {"ours": ours.process.pid}
        pids.update({name: relay.process.pid for name, relay in references.items()})  # type: ignore[union-attr]
        redis_client = our_redis(instance)

        own = [*pids.values(), ours.redis_pid()]

        def quiet() -> dict[str, float] | None:
            return wait_for_quiet(own, args.quiet_wait) if args.quiet_wait > 0 else None

        if args.idle_sockets:
            log(f"idle memory: {args.idle_sockets} sockets on each server")
            report["idle_memory_quiet"] = quiet()
            memory: dict[str, Any] = {
                name: idle_memory(rooms_files[name], pid, args.idle_sockets)
                for name, pid in pids.items()
            }
            for reference in references:
                memory[f"kb_per_socket_ours_over_{reference}"] = ratio(
                    memory["ours"]["kb_per_socket"], memory[reference]["kb_per_socket"]
                )
            report["idle_memory"] = memory

        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in pids}
        failures: list[dict[str, Any]] = []
        for round_index in range(args.rounds):
            for name, pid in pids.items():
                log(f"round {round_index + 1}/{args.rounds}: {name}")
                waited = quiet()
                if name == "ours":
                    result = run_load(
                        rooms_files[name],
                        pid,
                        args.seconds,
                        args.warmup,
                        {"redis": ours.redis_pid()},
                        redis_client,
                        args.profile if round_index == 0 else None,
                    )
                else:
                    result = run_load(rooms_files[name], pid, args.seconds, args.warmup, {})
                if "failed" in result:
                    failures.append({"target": name, "round": round_index + 1, **result})
                    continue
                result["round"] = round_index + 1
                if waited is not None:
                    result["quiet_wait"] = waited
                runs[name].append(result)
                time.sleep(1)
        report["runs"] = runs
        report["failed_runs"] = failures
        medians = {name: summarise(results) for name, results in runs.items()}
        report["median"] = medians
        report["ratios"] = with_idle_ratios(ratios_of(medians), report)
        # The same over the runs that other processes left (almost) alone, if each target
        # has at least one: on a shared 2-core machine these are the numbers to trust.
        calm = {name: [r for r in results if is_quiet(r)] for name, results in runs.items()}
        if all(calm.values()):
            quiet_medians = {name: summarise(results) for name, results in calm.items()}
            report["median_quiet_runs"] = {
                **quiet_medians,
                "runs": {name: len(results) for name, results in calm.items()},
            }
            report["ratios_quiet_runs"] = with_idle_ratios(ratios_of(quiet_medians), report)
        ratios = report.get("ratios_quiet_runs") or report["ratios"]
        report["judged_on"] = (
            "quiet runs" if "ratios_quiet_runs" in report else "all runs (none was quiet)"
        )
        report["targets"] = targets_met(ratios)
        report["redis_commands_per_relayed_signal"] = {
            "all": medians["ours"].get("redis_commands_per_msg"),
            "routing_a_signal": medians["ours"].get("redis_relay_commands_per_msg"),
        }
        report["goals"] = GOALS
        report["goals_met"] = design_goals_met(ratios, report)

        if args.processes > 1:
            log(f"cross-process signals: {args.processes} web processes")
            try:
                report["cross_process"] = cross_process(
                    args, ours, extra_ours, booked, cookie, tmp, redis_client
                )
            except RuntimeError as error:  # the runs above stand on their own
                report["cross_process"] = {"failed": str(error)}
    finally:
        for relay in references.values():
            stop(relay.process)
        for each in extra_ours:
            stop(each.process)
        stop(ours.process)
        report["server_log"] = ours.log_problems()
        try:
            from telehealth.embedded_redis import stop_embedded_redis

            stop_embedded_redis(instance / "redis")
        except Exception as error:  # noqa: BLE001 - report, keep cleaning up
            log(f"could not stop the embedded Redis: {error}")
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report))


def our_redis(instance: Path) -> Any:
    """A client of our server's embedded Redis (already running: this only finds it)."""
    import redis

    from telehealth.embedded_redis import ensure_embedded_redis

    return redis.Redis.from_url(ensure_embedded_redis(instance / "redis"))


def with_idle_ratios(ratios: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    memory = report.get("idle_memory") or {}
    for reference in REFERENCES:
        ratios[f"idle_kb_per_socket_ours_over_{reference}"] = memory.get(
            f"kb_per_socket_ours_over_{reference}"
        )
    return ratios


def design_goals_met(ratios: dict[str, Any], report: dict[str, Any]) -> dict[str, bool]:
    met = {
        "throughput": (ratios["throughput_ours_over_node"] or 0) >= 0.5,
        "cpu_per_msg": (ratios["cpu_per_msg_ours_over_node"] or 99) <= 2,
        "rtt_p99": (ratios["rtt_p99_ours_over_node"] or 99) <= 2,
    }
    if "idle_memory" in report:
        memory = report["idle_memory"]
        if memory["ours"]["connected"] >= 1000:
            met["idle_1000_under_150mb"] = memory["ours"]["server_rss_with_sockets_mb"] < 150
        met["idle_kb_per_socket"] = (memory["kb_per_socket_ours_over_node"] or 99) <= 1.5
    return met


def cross_process(
    args: Any,
    ours: Ours,
    extra: list[Ours],
    booked: list[tuple[int, str]],
    cookie: str,
    tmp: Path,
    redis_client: Any,
) -> dict[str, Any]:
    """Every room's two sides on two different web processes of the same clinic: what the
    Socket.IO message queue costs Redis per relayed signal."""
    for _ in range(args.processes - 1):
        other = Ours(ours.instance, ours.env, free_port(), ours.serve_command)
        other.log_path = ours.instance / f"serve-{other.port}.log"
        with open(other.log_path, "ab") as out:
            other.process = subprocess.Popen(
                [*other.serve_command, "--host", "127.0.0.1", "--port", str(other.port)],
                env=other.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        extra.append(other)
        wait_until_ready(other.url, other.process)
    rooms_file = tmp / "rooms-cross.json"
    rooms_file.write_text(
        json.dumps(rooms_for_ours(ours.url, booked, cookie, [o.url for o in extra]))
    )
    assert ours.process is not None
    result = run_load(
        rooms_file,
        ours.process.pid,
        args.seconds,
        args.warmup,
        {f"web{i + 2}": o.process.pid if o.process else None for i, o in enumerate(extra)},
        redis_client,
    )
    if "failed" in result:
        raise RuntimeError(result["failed"])
    # Each process subscribes once its first socket connected: counted after the run.
    channel = b"telehealth-socketio"
    subscribers = int(dict(redis_client.pubsub_numsub(channel))[channel])
    relayed = max(1, int(result["relayed_msgs"]))
    publishes = int(result.get("redis_commands", {}).get("publish", 0))
    web_cpu = result["server_cpu_s"] + sum(result[f"web{i + 2}_cpu_s"] for i in range(len(extra)))
    return {
        "web_processes": args.processes,
        "queue_subscribers": subscribers,
        "msgs_per_s": result["msgs_per_s"],
        "rtt_p99_ms": result["rtt_p99_ms"],
        "errors": result["errors"],
        "web_cpu_us_per_msg": round(web_cpu / relayed * 1e6, 2),
        "redis_cpu_us_per_msg": result.get("redis_cpu_us_per_msg"),
        "redis_publishes_per_msg": round(publishes / relayed, 3),
        "redis_deliveries_per_msg": round(publishes * subscribers / relayed, 3),
        "redis_commands_per_msg": result.get("redis_commands_per_msg"),
        "run": result,
    }


if __name__ == "__main__":
    main()
