"""Benchmark: how many concurrent consults one web process carries on one core, with a real
call's traffic, before the p99 of a signal's round trip passes 100 ms; the same for the
bare python-socketio relay on our stack (the ceiling) and a Node.js socket.io relay.

Run from the repo root:

    .venv/bin/python bench/capacity.py [--targets ours,ceiling,node] [--max 3200]
        [--hold 20] [--warmup 5]

For each target it starts the server pinned to one core (--server-core, default 0) and the
load generator, bench/reference/capacity.js, pinned to the other (--load-core, default 1),
then raises the number of live consults step by step (--steps, up to --max). Each step adds
consults to those already in their call: their two sides connect and exchange a set-up
burst of 30 signals (offer, answer, 14 trickled candidates each); then every consult sends
each side's call stats every 2 s, a probe signal every 2 s (the patient sends it, the
physiotherapist echoes it back: the round trip measured), a chat message every 30 s, and
Engine.IO's heartbeats. One admin /monitor socket watches our server. Once the new
consults' set-up bursts are done and --warmup seconds have passed, the step is held for
--hold seconds: the probes' p50 and p99, the errors, the server's CPU (a fraction of its
core) and its RSS. The ramp stops at the first step whose p99 passes --p99-ms (100) or that
has errors; the capacity is the step before it. On a shared machine other jobs also run on
the two cores: how much of each they took is reported, and a step that fails while they
took over a quarter of either is held again (--retries, default 2).

Our server runs as `make run` does (telehealth serve, embedded SQLite and Redis, production
rate limits); its consults are booked and admitted before the step that uses them (the
Redis server is pinned to the load generator's core). The references relay only `signal`:
the stats and chat go to them as `signal`s of the same sizes. Prints ONE JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import signaling_load as bench  # noqa: E402

REFERENCE = bench.REFERENCE
GENERATOR = REFERENCE / "capacity.js"
DEFAULT_STEPS = (25, 50, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200)
TARGETS = ("ours", "ceiling", "node")
ADMIN_EMAIL = "admin@demo.clinic"
# The consults of a long ramp must not end, nor wait for their lobby, meanwhile.
OUR_POLICY = {
    "CALL_LENGTH_SECONDS": "14400",
    "LOBBY_OPENS_SECONDS": "14400",
    "NO_SHOW_SECONDS": "14400",
    "REJOIN_WINDOW_SECONDS": "3600",
}
GENERATOR_BUSY = 0.9  # of its core: above it the generator, not the server, may be the limit


def log(message: str) -> None:
    print(f"[capacity] {message}", file=sys.stderr, flush=True)


# -- cores -------------------------------------------------------------------------------

TASKSET = shutil.which("taskset")
# Without taskset: the same, in Python, before the command replaces it.
PIN_AND_EXEC = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); " + (
    "os.execvp(sys.argv[2], sys.argv[2:])"
)


def on_core(command: list[str], core: int, nice: int = 0) -> list[str]:
    """`command` confined to one core from its start, every thread it makes included, at
    niceness `nice`."""
    if nice:
        command = ["nice", "-n", str(nice), *command]
    if TASKSET:
        return [TASKSET, "-c", str(core), *command]
    return [sys.executable, "-c", PIN_AND_EXEC, str(core), *command]


def move_to_core(pid: int, core: int, nice: int = 0) -> None:
    """Confine a running process, every thread of it, to one core (at niceness `nice`)."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(thread), {core})
            if nice:
                os.setpriority(os.PRIO_PROCESS, int(thread), nice)
        except OSError:
            pass  # a thread that has just ended


AUTOGROUP = Path("/proc/self/autogroup")


@contextmanager
def session_niceness(nice: int) -> Iterator[dict[str, Any]]:
    """With the kernel's autogroups (one per session) a process's niceness only ranks it
    within its session: the session's own niceness is set too for the run, then restored.
    Yields what was done, for the report."""
    done: dict[str, Any] = {"process_nice": nice}
    try:
        old = AUTOGROUP.read_text().split()[-1] if nice else None
    except OSError:
        old = None
    if old is not None:
        try:
            AUTOGROUP.write_text(str(nice))
            done["session_nice"] = nice
        except OSError as error:
            done["session_nice"] = f"unchanged: {error}"
    try:
        yield done
    finally:
        if old is not None:
            try:
                AUTOGROUP.write_text(old)
            except OSError:
                log(f"could not restore this session's niceness ({old})")


def core_busy_seconds(core: int) -> float:
    times = psutil.cpu_times(percpu=True)[core]
    return float(times.user + times.nice + times.system + times.irq + times.softirq)


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return round(bench.rss_bytes(pid) / 2**20, 1)
    except psutil.Error:
        return None


# -- the load generator --------------------------------------------------------------------


@dataclass
class Generator:
    """bench/reference/capacity.js: one process for a target's whole ramp."""

    flags: list[str]
    core: int
    nice: int = 0
    process: subprocess.Popen[str] | None = None
    payload_bytes: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        self.process = subprocess.Popen(
            on_core(["node", str(GENERATOR), *self.flags], self.core, self.nice),
            cwd=REFERENCE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("{"):
            raise RuntimeError(f"capacity.js did not start: {line!r}")
        self.payload_bytes = json.loads(line)["payload_bytes"]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def hold_level(
        self,
        rooms: list[dict[str, Any]],
        warmup: float,
        hold: float,
        pids: dict[str, int | None],
        cores: tuple[int, int],
    ) -> dict[str, Any]:
        """Add `rooms`, hold the level; CPU of every process in `pids` over the held window
        and of the (server, load) cores."""
        assert self.process is not None and self.process.stdin and self.process.stdout
        command = {"add": rooms, "warmup": warmup, "hold": hold}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        marks: dict[str, dict[str, float]] = {}
        # Connecting is the slow part on a busy server: a generous, bounded wait.
        limit = warmup + hold + 300 + len(rooms) / 2
        watchdog = threading.Timer(limit, self.process.kill)
        watchdog.start()
        try:
            for line in self.process.stdout:
                line = line.strip()
                if line in ("#measuring", "#measured"):
                    marks[line] = self._reading(pids, cores)
                elif line.startswith("{"):
                    return self._level_result(json.loads(line), marks, pids)
        finally:
            watchdog.cancel()
        raise RuntimeError(f"capacity.js ended without a result (exit {self.process.poll()})")

    @staticmethod
    def _reading(pids: dict[str, int | None], cores: tuple[int, int]) -> dict[str, float]:
        reading = {name: bench.cpu_seconds(pid) for name, pid in pids.items()}
        reading["machine"] = bench.machine_busy_seconds()
        reading["server_core"] = core_busy_seconds(cores[0])
        reading["load_core"] = core_busy_seconds(cores[1])
        return reading

    @staticmethod
    def _level_result(
        result: dict[str, Any],
        marks: dict[str, dict[str, float]],
        pids: dict[str, int | None],
    ) -> dict[str, Any]:
        before, after = marks["#measuring"], marks["#measured"]
        seconds = max(1e-3, float(result["seconds"]))
        used = {name: after[name] - before[name] for name in before}
        for name in pids:
            result[f"{name}_cpu"] = round(used[name] / seconds, 3)
        own = sum(used[name] for name in pids)
        # Cores' worth of CPU that other jobs on the machine took meanwhile, and how much of
        # the server's core and of the load generator's they took.
        result["other_processes_cpu"] = round(max(0.0, used["machine"] - own) / seconds, 3)
        result["server_core_taken_by_others"] = round(
            max(0.0, used["server_core"] - used["server"]) / seconds, 3
        )
        on_load_core = own - used["server"]  # the generator (and Redis for ours)
        result["load_core_taken_by_others"] = round(
            max(0.0, used["load_core"] - on_load_core) / seconds, 3
        )
        result["loadavg_1m"] = round(os.getloadavg()[0], 2)
        for name, pid in pids.items():
            if name != "generator":
                result[f"{name}_rss_mb"] = rss_mb(pid)
        return result

    def close(self) -> None:
        if self.process is None:
            return
        if self.process.stdin:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            bench.stop(self.process)


# -- the ramp --------------------------------------------------------------------------------


@dataclass
class Settings:
    steps: list[int]
    warmup: float
    hold: float
    p99_ms: float
    server_core: int
    load_core: int
    traffic_flags: list[str]
    retries: int = 2
    quiet_wait: float = 0
    nice: int = 0


def judged(level: dict[str, Any], wanted: int, p99_ms: float) -> str | None:
    """Why this level fails, or None when the server carried it."""
    if level["consults"] < wanted:
        return f"only {level['consults']} of {wanted} consults connected"
    if level["errors"]:
        return f"errors: {level['error_codes']}"
    if level["setup_errors"]:
        return f"errors before the window: {level['setup_error_codes']}"
    if not level["probes"] or level["rtt_p99_ms"] is None:
        return "no probe came back"
    if level["rtt_p99_ms"] > p99_ms:
        return f"p99 {level['rtt_p99_ms']} ms > {p99_ms:g} ms"
    return None


def ramp(
    name: str,
    rooms_up_to: Callable[[int], list[dict[str, Any]]],
    generator: Generator,
    pids: dict[str, int | None],
    settings: Settings,
) -> dict[str, Any]:
    """Raise the consults step by step until a step fails; every step's figures."""
    levels: list[dict[str, Any]] = []
    capacity, stopped = 0, f"reached the last step ({settings.steps[-1]})"
    for wanted in settings.steps:
        log(f"{name}: {wanted} consults")
        started = time.monotonic()
        try:
            rooms = rooms_up_to(wanted)
            preparing = round(time.monotonic() - started, 1)
            level = hold_step(name, wanted, rooms, generator, pids, settings)
        except Exception as error:  # noqa: BLE001 - the steps measured so far still count
            stopped = f"{wanted} consults: {type(error).__name__}: {error}"
            log(f"{name}: {stopped}")
            break
        level["prepare_s"] = preparing
        levels.append(level)
        if not level["ok"]:
            stopped = level["why"]
            break
        capacity = wanted
    best = next((lv for lv in levels if lv["step"] == capacity), None)
    failed = levels[-1] if levels and not levels[-1]["ok"] else None
    return {
        "capacity_consults": capacity,
        "stopped_because": stopped,
        "server_rss_mb_at_capacity": best["server_rss_mb"] if best else None,
        "server_cpu_at_capacity": best["server_cpu"] if best else None,
        "rtt_p99_ms_at_capacity": best["rtt_p99_ms"] if best else None,
        # A failed step where the generator's own core was full says little about the server.
        "limited_by_generator": bool(failed and failed["generator_bound"]),
        "levels": [summary_of(level) for level in levels],
    }


DISTURBED = 0.25  # of either core taken by other jobs: a failed step is held again


def hold_step(
    name: str,
    wanted: int,
    rooms: list[dict[str, Any]],
    generator: Generator,
    pids: dict[str, int | None],
    settings: Settings,
) -> dict[str, Any]:
    """Hold one step; a step that fails while other jobs took over a quarter of either
    core is held again (with the same consults) up to --retries times; the last hold counts."""
    disturbed: list[dict[str, Any]] = []
    watched = {**pids, "generator": generator.pid}
    own = [*watched.values(), os.getpid()]
    while True:
        quiet = bench.wait_for_quiet(own, settings.quiet_wait) if settings.quiet_wait else None
        level = generator.hold_level(
            [] if disturbed else rooms,
            settings.warmup,
            settings.hold,
            watched,
            (settings.server_core, settings.load_core),
        )
        level["step"] = wanted
        why = judged(level, wanted, settings.p99_ms)
        level["ok"], level["why"] = why is None, why
        level["generator_bound"] = level["generator_cpu"] >= GENERATOR_BUSY
        if quiet is not None:
            level["quiet_wait"] = quiet
        log(
            f"{name}: {wanted} consults: p50 {level['rtt_p50_ms']} ms, p99 "
            f"{level['rtt_p99_ms']} ms, errors {level['errors']}, server CPU "
            f"{level['server_cpu']}, generator CPU {level['generator_cpu']}, others on "
            f"the two cores {level['server_core_taken_by_others']} / "
            f"{level['load_core_taken_by_others']}" + (f": {why}" if why else "")
        )
        retry = (
            why is not None
            and level["consults"] >= wanted
            and max(level["server_core_taken_by_others"], level["load_core_taken_by_others"])
            > DISTURBED
            and len(disturbed) < settings.retries
        )
        if not retry:
            if disturbed:  # the step's connects and set-up bursts were in its first hold
                level.update({key: disturbed[0][key] for key in SETUP_KEYS if key in disturbed[0]})
            level["disturbed_holds"] = disturbed
            return level
        log(f"{name}: other jobs took our cores: holding {wanted} consults again")
        disturbed.append(summary_of(level))


SETUP_KEYS = (
    "connect_seconds",
    "connect_failures",
    "setup_seconds",
    "setup_burst_p50_ms",
    "setup_burst_p99_ms",
)
LEVEL_KEYS = (
    "step",
    "ok",
    "why",
    "consults",
    "rtt_p50_ms",
    "rtt_p99_ms",
    "rtt_max_ms",
    "probes",
    "probes_lost",
    "errors",
    "error_codes",
    "server_cpu",
    "server_rss_mb",
    "redis_cpu",
    "redis_rss_mb",
    "generator_cpu",
    "generator_loop_delay_p99_ms",
    "generator_loop_delay_max_ms",
    "generator_bound",
    "server_core_taken_by_others",
    "load_core_taken_by_others",
    "other_processes_cpu",
    "loadavg_1m",
    "events_per_s",
    "sent",
    "received",
    "monitor_updates",
    "ping_interval_ms",
    "seconds",
    "connect_seconds",
    "connect_failures",
    "setup_seconds",
    "setup_burst_p50_ms",
    "setup_burst_p99_ms",
    "setup_errors",
    "setup_error_codes",
    "prepare_s",
    "quiet_wait",
    "disturbed_holds",
)


def summary_of(level: dict[str, Any]) -> dict[str, Any]:
    return {key: level[key] for key in LEVEL_KEYS if key in level}


# -- the targets ------------------------------------------------------------------------------


def measure_ours(settings: Settings, tmp: Path) -> dict[str, Any]:
    """Our server on a fresh instance; consults booked and admitted as the steps need them."""
    instance = tmp / "instance"
    instance.mkdir()
    env = {**bench.instance_env(instance), **OUR_POLICY}
    serve = on_core([bench.TELEHEALTH, "serve"], settings.server_core, settings.nice)
    ours = bench.Ours(instance, env, bench.free_port(), serve)
    generator: Generator | None = None
    result: dict[str, Any] = {}
    try:
        log(f"starting our server on port {ours.port}")
        ours.start()
        assert ours.process is not None
        redis_pid = ours.redis_pid()
        if redis_pid is not None:
            move_to_core(redis_pid, settings.load_core, settings.nice)
        cookie = bench.staff_cookie(ours.url)
        monitor = tmp / "monitor.json"
        monitor.write_text(json.dumps(admin_monitor(ours.url)))
        flags = [*settings.traffic_flags, "--monitor", str(monitor)]
        generator = Generator(flags, settings.load_core, settings.nice)
        generator.start()
        result["server_rss_mb_idle"] = rss_mb(ours.process.pid)
        result["payload_bytes"] = generator.payload_bytes
        pids = {"server": ours.process.pid, "redis": redis_pid}
        result.update(ramp("ours", consults_of(ours, cookie), generator, pids, settings))
    except RuntimeError as error:
        log(f"ours failed: {error}")
        result["failed"] = str(error)
    finally:
        if generator is not None:
            generator.close()
        bench.stop(ours.process)
        result["server_log"] = ours.log_problems()
        try:
            from telehealth.embedded_redis import stop_embedded_redis

            stop_embedded_redis(instance / "redis")
        except Exception as error:  # noqa: BLE001 - report, keep cleaning up
            log(f"could not stop the embedded Redis: {error}")
    return result


def admin_monitor(url: str) -> dict[str, Any]:
    """The demo admin's /monitor socket (the admin logs in with their TOTP code)."""
    import pyotp

    from telehealth.demo import DEMO_ADMIN_TOTP_SECRET, DEMO_PASSWORD

    code = pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).now()
    cookie = bench.staff_cookie(url, ADMIN_EMAIL, DEMO_PASSWORD, code)
    return {"url": f"{url}/monitor", "headers": {"Cookie": cookie}}


def consults_of(ours: bench.Ours, cookie: str) -> Callable[[int], list[dict[str, Any]]]:
    """Books and admits the consults a step adds, each starting a second after the last."""
    booked: list[tuple[int, str]] = []
    next_start = datetime.now(UTC).replace(microsecond=0)

    def up_to(wanted: int) -> list[dict[str, Any]]:
        nonlocal next_start
        first = max(datetime.now(UTC).replace(microsecond=0), next_start)
        more = bench.book_consults(ours.instance, wanted - len(booked), first)
        next_start = first + timedelta(seconds=len(more))
        asyncio.run(bench.admit_all(ours.url, more, cookie))
        booked.extend(more)
        return bench.rooms_for_ours(ours.url, more, cookie)

    return up_to


def measure_reference(name: str, settings: Settings) -> dict[str, Any]:
    """A reference relay: every message goes as a `signal`."""
    relay = bench.ceiling_relay() if name == "ceiling" else bench.node_relay()
    relay.command = on_core(relay.command, settings.server_core, settings.nice)
    generator: Generator | None = None
    result: dict[str, Any] = {}
    try:
        log(f"starting the {name} reference on port {relay.port}")
        relay.start()
        assert relay.process is not None
        flags = [*settings.traffic_flags, "--relay-only"]
        generator = Generator(flags, settings.load_core, settings.nice)
        generator.start()
        result["server_rss_mb_idle"] = rss_mb(relay.process.pid)
        given = 0

        def rooms_up_to(wanted: int) -> list[dict[str, Any]]:
            nonlocal given
            rooms = bench.rooms_for_node(relay.url, wanted)[given:]
            given = wanted
            return rooms

        pids: dict[str, int | None] = {"server": relay.process.pid}
        result.update(ramp(name, rooms_up_to, generator, pids, settings))
    except RuntimeError as error:
        log(f"{name} failed: {error}")
        result["failed"] = str(error)
    finally:
        if generator is not None:
            generator.close()
        bench.stop(relay.process)
    return result


# -- the report -------------------------------------------------------------------------------


def ratio(ours: float | None, other: float | None) -> float | None:
    return round(ours / other, 3) if ours is not None and other else None


def summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        name: {
            "consults_per_core": result.get("capacity_consults"),
            "server_rss_mb": result.get("server_rss_mb_at_capacity"),
            "server_cpu": result.get("server_cpu_at_capacity"),
            "limited_by_generator": result.get("limited_by_generator"),
        }
        for name, result in results.items()
        if "capacity_consults" in result
    }
    if "ours" in out:
        for reference in ("ceiling", "node"):
            if reference in out:
                out[f"ours_over_{reference}"] = ratio(
                    out["ours"]["consults_per_core"], out[reference]["consults_per_core"]
                )
    return out


def settings_report(args: argparse.Namespace, steps: list[int]) -> dict[str, Any]:
    return {
        "steps": steps,
        "warmup_s": args.warmup,
        "hold_s": args.hold,
        "p99_limit_ms": args.p99_ms,
        "retries_when_disturbed": args.retries,
        "quiet_wait_s": args.quiet_wait,
        "server_core": args.server_core,
        "load_core": args.load_core,
        "pinned_with": "taskset" if TASKSET else "sched_setaffinity",
        "traffic_per_consult": {
            "setup_burst": "30 signals once both sides are in: the physiotherapist's offer, "
            "the patient's answer, 14 trickled ICE candidates from each side",
            "stats": f"each side every {args.stats_every:g} s",
            "probe": f"every {args.probe_every:g} s: the patient's signal, echoed back by "
            "the physiotherapist as a signal; its round trip is the p50/p99",
            "chat": f"one message every {args.chat_every:g} s, the sides taking turns",
            "heartbeats": "Engine.IO's ping at each server's interval (ping_interval_ms "
            "in each level: ours 5 s, the references 10 s)",
            "acknowledged": "every event, as the browser sends its signals",
        },
        "ours": "telehealth serve (one process: Flask-SocketIO, gevent, simple-websocket, "
        "RedisManager on the embedded Redis, SQLite), production rate limits; one admin "
        "/monitor socket gets a `room` update for every `stats`; Redis on the load core",
        "references": "bench/reference/ceiling.py (python-socketio on our stack, nothing but "
        "relay) and bench/reference/server.js (socket.io 4.8): they relay only `signal`, so "
        "stats and chat go to them as `signal`s with the same payloads (the same number of "
        "messages of the same sizes), relayed to the other side; no monitor",
        "capacity": "the largest step whose probe p99 <= the limit with no error (every "
        "consult connected, nothing refused, no probe lost, no disconnect)",
    }


def parse_steps(text: str, limit: int) -> list[int]:
    steps = sorted({int(part) for part in text.split(",") if part.strip()})
    return [step for step in steps if 0 < step <= limit] or [limit]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--steps", default=",".join(map(str, DEFAULT_STEPS)))
    parser.add_argument("--max", type=int, default=3200, help="the most consults tried")
    parser.add_argument("--hold", type=float, default=20, help="seconds measured per step")
    parser.add_argument("--warmup", type=float, default=5, help="seconds before each window")
    parser.add_argument("--p99-ms", type=float, default=100)
    parser.add_argument("--stats-every", type=float, default=2)
    parser.add_argument("--probe-every", type=float, default=2)
    parser.add_argument("--chat-every", type=float, default=30)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of the servers, the load generator and Redis (and of this session, "
        "where the kernel groups tasks by session); negative on a shared machine needs root",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="hold a failed step again when other jobs took over a quarter of either core "
        "meanwhile, up to this many times",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        help="before each hold wait up to this many seconds for other processes to leave "
        "the machine idle (under 0.2 cores)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not args.targets or any(t not in TARGETS for t in args.targets):
        parser.error(f"--targets: some of {','.join(TARGETS)}")
    if not 1 <= args.max <= 5000 or not 1 <= args.hold <= 120 or not 0 <= args.warmup <= 60:
        parser.error("keep it bounded: --max 1-5000, --hold 1-120 s, --warmup 0-60 s")
    if not 0 <= args.retries <= 5 or not 0 <= args.quiet_wait <= 600:
        parser.error("--retries 0-5, --quiet-wait 0-600 s")
    if not -20 <= args.nice <= 19:
        parser.error("--nice: -20 to 19")
    cores = os.sched_getaffinity(0)
    if args.server_core == args.load_core or not {args.server_core, args.load_core} <= cores:
        parser.error(f"--server-core and --load-core: two different cores of {sorted(cores)}")
    args.steps = parse_steps(args.steps, args.max)
    return args


def settings_of(args: argparse.Namespace) -> Settings:
    every = {"stats": args.stats_every, "probe": args.probe_every, "chat": args.chat_every}
    return Settings(
        steps=args.steps,
        warmup=args.warmup,
        hold=args.hold,
        p99_ms=args.p99_ms,
        server_core=args.server_core,
        load_core=args.load_core,
        traffic_flags=[part for kind, s in every.items() for part in (f"--{kind}-every", str(s))],
        retries=args.retries,
        quiet_wait=args.quiet_wait,
        nice=args.nice,
    )


def measure(targets: list[str], settings: Settings, keep: bool) -> dict[str, dict[str, Any]]:
    """Each target's ramp, one after the other, in a temporary folder (removed afterwards
    unless `keep`)."""
    tmp = Path(tempfile.mkdtemp(prefix="capacity-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        for name in targets:
            started = time.monotonic()
            if name == "ours":
                results[name] = measure_ours(settings, tmp)
            else:
                results[name] = measure_reference(name, settings)
            results[name]["duration_s"] = round(time.monotonic() - started, 1)
            results[name]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def main() -> None:
    args = arguments()
    settings = settings_of(args)
    # A stop (SIGTERM) unwinds like an interrupt: every process started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # This driver (booking, admitting) keeps off the server's core too.
    os.sched_setaffinity(0, {args.load_core})
    bench.ensure_node_modules()
    report: dict[str, Any] = {
        "benchmark": "capacity",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": bench.machine_facts(),
        "source": bench.source_state(),
        "settings": settings_report(args, args.steps),
    }
    with session_niceness(args.nice) as priority:
        report["settings"]["priority"] = priority
        results = measure(args.targets, settings, args.keep)
    report["targets"] = results
    report["summary"] = summary(results)
    report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
