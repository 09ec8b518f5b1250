"""Benchmark: 200 pre-call echo checks in sequence against one media worker.

Run inside the WebRTC network namespace:

    .venv/bin/python tests/netns.py .venv/bin/python bench/media_soak.py [-n 200]

Reports the worker's RSS after a warm-up and at the end (goal: flat within ±10 %), the
time per check, and, in the same run, the probe's admit → first frame against the same two
aiortc peers exchanging SDP directly in one process (goal ≤ 1.2×). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import call_setup  # noqa: E402

from telehealth.client.precheck import PrecheckBrowser  # noqa: E402

# The first ~40 checks grow the worker as codec contexts and allocator pools fill (seen:
# 133 MB → 184 MB), then it stays flat; the goal is about the steady state that follows.
WARMUP_CHECKS = 40


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_worker(clinic: call_setup.Clinic) -> subprocess.Popen[bytes]:
    log = open(clinic.instance / "media.log", "ab")  # noqa: SIM115 (the process owns it)
    worker = subprocess.Popen(
        [call_setup.TELEHEALTH, "media", "--server", clinic.url],
        env={**clinic.env, "MEDIA_CAPACITY": "4", "LOG_LEVEL": "INFO"},
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "media worker connected" in (clinic.instance / "media.log").read_text(errors="ignore"):
            return worker
        time.sleep(0.1)
    raise RuntimeError("media worker did not connect")


async def one_check(url: str, join_url: str, frames: int = 10) -> float:
    started = time.monotonic()
    browser = PrecheckBrowser(url, join_url)
    try:
        ack = await browser.start()
        if not ack.get("ok"):
            raise RuntimeError(f"precheck refused: {ack}")
        await asyncio.wait_for(browser.answer, 10)
        await browser.wait_frames(frames)
        await browser.sio.emit("precheck_stop", {"check_id": ack["check_id"]}, namespace="/consult")
    finally:
        await browser.close()
    return time.monotonic() - started


async def soak(clinic: call_setup.Clinic, worker_pid: int, checks: int) -> dict[str, Any]:
    join_url = clinic.book_now()["join_url"]  # one patient, many checks, as a retrying patient
    for _ in range(WARMUP_CHECKS):
        await one_check(clinic.url, join_url)
    await asyncio.sleep(1)
    rss_start = rss_kb(worker_pid)
    durations = [await one_check(clinic.url, join_url) for _ in range(checks)]
    await asyncio.sleep(2)  # let closed peers finish tearing down
    rss_end = rss_kb(worker_pid)
    return {
        "checks": checks,
        "warmup_checks": WARMUP_CHECKS,
        "rss_start_kb": rss_start,
        "rss_end_kb": rss_end,
        "rss_change_pct": round(100 * (rss_end - rss_start) / rss_start, 1),
        "goal_change_pct": 10,
        "check_seconds_median": round(statistics.median(durations), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--checks", type=int, default=200)
    parser.add_argument("--calls", type=int, default=6, help="probe vs direct repetitions")
    args = parser.parse_args()
    call_setup.refuse_outside_namespace()
    with call_setup.running_clinic() as clinic:
        worker = start_worker(clinic)
        try:
            report = {
                "benchmark": "media_soak",
                **asyncio.run(soak(clinic, worker.pid, args.checks)),
            }
            probe = asyncio.run(call_setup.measure(clinic, args.calls))
            report["probe_admit_to_first_frame"] = {
                "full_stack_median": probe["full_stack"]["median"],
                "direct_median": probe["direct"]["median"],
                "ratio_median": probe["ratio_median"],
                "goal_ratio": probe["goal_ratio"],
            }
        finally:
            worker.terminate()
            worker.wait(timeout=10)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
