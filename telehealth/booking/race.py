"""Many people trying to book one slot at once: used by the test and the benchmark."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RaceResult:
    attempts: int
    statuses: Counter[int]
    seconds: float

    @property
    def successes(self) -> int:
        return self.statuses.get(201, 0)

    @property
    def conflicts(self) -> int:
        return self.statuses.get(409, 0)


def race_for_slot(app: Any, slot: dict[str, Any], attempts: int, workers: int = 64) -> RaceResult:
    """Fire `attempts` bookings of one slot from `workers` threads released together."""
    gate = threading.Barrier(min(workers, attempts))

    def attempt(number: int) -> int:
        # Each attempt is a different person on their own connection: one address may hold
        # only a few upcoming consults (booking/abuse.py), and this measures the race.
        address = f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        payload = {
            "provider_id": slot["provider_id"],
            "start": slot["start"],
            "patient": {
                "name": f"Racer {number}",
                "email": f"racer{number}@example.com",
                "phone": "905-555-0199",
            },
            "reason": "Back pain",
            "consent": True,
        }
        if number < gate.parties:
            gate.wait(timeout=30)
        return int(client.post("/api/v1/bookings", json=payload).status_code)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        statuses = Counter(pool.map(attempt, range(attempts)))
    return RaceResult(attempts, statuses, time.perf_counter() - started)
