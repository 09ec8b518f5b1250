"""Benchmark: admit → first remote video frame, two aiortc peers, full stack vs. direct.

Run from the repo root, inside the WebRTC network namespace (loopback only, plus 127.0.0.2
for ICE host candidates; aioice skips 127.0.0.1):

    .venv/bin/python tests/netns.py .venv/bin/python bench/call_setup.py [-n 10]

It starts its own `telehealth serve` (temporary instance folder, `init-db`, `seed-demo`, one
`book --now` per call, embedded SQLite and Redis); server start-up and booking are not timed.
Two measurements, alternated, N times each (after one untimed warm-up of each):

- full stack: `admit` sent by the physiotherapist's socket → first decoded remote video frame
  on the patient's peer; both peers take their ICE servers from the `ice_servers` event and
  exchange SDP through the server (`telehealth.client.run_call`).
- direct: the same two `CallPeer`s exchanging SDP through an in-process pipe; offer created →
  first decoded remote video frame on the answering (patient) peer.

Prints one JSON object: median and p90 of each (seconds), and full_stack / direct (goal ≤ 1.2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telehealth.client import CallPeer, Role, direct_pair, run_call  # noqa: E402
from telehealth.embedded_redis import stop_embedded_redis  # noqa: E402

TELEHEALTH = str(Path(sys.executable).parent / "telehealth")
STAFF_EMAIL = "physio@demo.clinic"
STAFF_PASSWORD = "demo"  # noqa: S105 (the demo clinic's published login)
ICE_ADDRESS = "127.0.0.2"
GOAL_RATIO = 1.2
STEP_TIMEOUT = 15.0


def refuse_outside_namespace() -> None:
    """aioice needs a non-127.0.0.1 loopback address: only the netns wrapper adds one."""
    try:
        shown = subprocess.run(
            ["ip", "-o", "-4", "addr", "show", "dev", "lo"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        sys.exit(
            f"call_setup: cannot list the addresses of lo ({error}); run it as\n"
            "  .venv/bin/python tests/netns.py .venv/bin/python bench/call_setup.py"
        )
    if f" {ICE_ADDRESS}/" not in shown:
        sys.exit(
            f"call_setup: {ICE_ADDRESS} is not an address on lo, so the two peers would "
            "have no ICE candidate (aioice skips 127.0.0.1).\nRun it inside the test "
            "network namespace:\n"
            "  .venv/bin/python tests/netns.py .venv/bin/python bench/call_setup.py"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Clinic:
    """A `telehealth serve` process on a fresh demo instance, as the e2e fixture starts it."""

    def __init__(self, instance: Path) -> None:
        self.instance = instance
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.env.update(
            {
                "INSTANCE_PATH": str(instance),
                "SECRET_KEY": "bench-secret-key-not-for-production-use",
                "DEMO_MODE": "1",
                "LOG_LEVEL": "WARNING",
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "LOGIN_RATE_LIMIT": "1000 per minute",  # one staff login per timed call
            }
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.bookings = 0

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [TELEHEALTH, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"telehealth {args[0]} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def start(self) -> None:
        self.cli("init-db")
        self.cli("seed-demo")
        log = open(self.instance / "serve.log", "ab")  # noqa: SIM115 (the process owns it)
        self.process = subprocess.Popen(
            [TELEHEALTH, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not become ready: {self.log()}")

    def book_now(self) -> dict[str, Any]:
        """A consult starting now (retried once a second: `--now` starts on a whole second)."""
        for _ in range(5):
            self.bookings += 1
            try:
                out = self.cli(
                    "book",
                    "--provider",
                    STAFF_EMAIL,
                    "--now",
                    "--patient-name",
                    "Bench Patient",
                    "--patient-email",
                    f"bench{self.bookings}-{time.monotonic_ns()}@example.com",
                )
            except RuntimeError:
                time.sleep(1.1)
                continue
            return dict(json.loads(out.strip().splitlines()[-1]))
        raise RuntimeError("could not book an instant consult")

    def log(self) -> str:
        path = self.instance / "serve.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        stop_embedded_redis(self.instance / "redis")


@contextlib.contextmanager
def running_clinic() -> Iterator[Clinic]:
    folder = Path(tempfile.mkdtemp(prefix="telehealth-bench-"))
    clinic = Clinic(folder)
    try:
        clinic.start()
        yield clinic
    finally:
        clinic.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def full_stack(clinic: Clinic) -> float:
    """`admit` sent → the patient's first decoded remote video frame, through the server."""
    booked = await asyncio.to_thread(clinic.book_now)  # not timed
    result = await run_call(
        clinic.url,
        booked["join_url"],
        STAFF_EMAIL,
        STAFF_PASSWORD,
        int(booked["id"]),
        hold_seconds=0.0,
        step_timeout=STEP_TIMEOUT,
    )
    return float(result["admit_to_first_frame_patient"])


async def direct() -> float:
    """The same two peers, SDP through an in-process pipe: offer → first remote video frame."""
    provider_channel, patient_channel = direct_pair()
    provider, patient = CallPeer(Role.PROVIDER), CallPeer(Role.PATIENT)
    async with provider.running(provider_channel), patient.running(patient_channel):
        await patient.wait_for_frames(video=1, timeout=STEP_TIMEOUT)
    if provider.offer_started_at is None or patient.received.first_video_at is None:
        raise RuntimeError("the direct call recorded no offer or no frame")
    return patient.received.first_video_at - provider.offer_started_at


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(samples), 4),
        "p90": round(statistics.quantiles(samples, n=10, method="inclusive")[-1], 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
        "samples": [round(s, 4) for s in samples],
    }


async def measure(clinic: Clinic, repetitions: int) -> dict[str, Any]:
    await full_stack(clinic)  # warm-up: codecs, imports, the server's first consult
    await direct()
    stack_samples: list[float] = []
    direct_samples: list[float] = []
    for round_number in range(repetitions):
        order = ("stack", "direct") if round_number % 2 == 0 else ("direct", "stack")
        for kind in order:
            if kind == "stack":
                stack_samples.append(await full_stack(clinic))
            else:
                direct_samples.append(await direct())
            await asyncio.sleep(0.2)  # let the closed peers' sockets go before the next call
    stack, baseline = summary(stack_samples), summary(direct_samples)
    ratio = stack["median"] / baseline["median"]
    return {
        "benchmark": "call_setup",
        "what": "admit → first decoded remote video frame (patient side), seconds",
        "repetitions": repetitions,
        "warmup_runs_excluded": 1,
        "full_stack": stack,
        "direct": baseline,
        "ratio_median": round(ratio, 3),
        "ratio_p90": round(stack["p90"] / baseline["p90"], 3),
        "goal_ratio": GOAL_RATIO,
        "meets_goal": ratio <= GOAL_RATIO,
        "server": "telehealth serve (one process, embedded SQLite and Redis message queue)",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--repetitions", type=int, default=10)
    args = parser.parse_args()
    refuse_outside_namespace()
    with running_clinic() as clinic:
        try:
            report = asyncio.run(measure(clinic, args.repetitions))
        except Exception:
            print(clinic.log(), file=sys.stderr)
            raise
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
