"""Benchmark: eight weeks of free consult slots for ten busy providers.

Run from the repo root: .venv/bin/python bench/slots.py
Prints one JSON object with the median and 95th-percentile time of one full listing.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time as clock
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telehealth.domain.availability import (  # noqa: E402
    CLINIC_TZ,
    ConsultRules,
    Interval,
    WeeklyWindow,
    free_slots,
    local_day_bounds,
)

PROVIDERS = 10
WEEKS = 8
REPEATS = 50
GOAL_MS = 50
SHARE_BOOKED = 0.30
TIME_OFF_DAYS = 2

# Spans the spring-forward change so the DST path is part of what is timed.
FIRST_DAY = date(2027, 3, 1)  # a Monday
LAST_DAY = FIRST_DAY + timedelta(weeks=WEEKS, days=-1)
NOW = datetime.combine(FIRST_DAY - timedelta(days=1), time(20), tzinfo=CLINIC_TZ)
RULES = ConsultRules()
WEEKDAY_HOURS = [WeeklyWindow(weekday, time(9), time(17)) for weekday in range(5)]


@dataclass(frozen=True)
class ProviderCalendar:
    provider_id: int
    hours: list[WeeklyWindow]
    time_off: list[Interval]
    booked: list[Interval]


def busy_provider(provider_id: int, rng: random.Random) -> ProviderCalendar:
    """A provider with a few days away and about 30% of the remaining slots booked."""
    weekdays = [FIRST_DAY + timedelta(days=d) for d in range(WEEKS * 7)]
    away_days = rng.sample([d for d in weekdays if d.weekday() < 5], TIME_OFF_DAYS)
    time_off = [Interval(*local_day_bounds(day)) for day in away_days]
    open_slots = free_slots(
        provider_id, WEEKDAY_HOURS, time_off, [], RULES, FIRST_DAY, LAST_DAY, NOW
    )
    taken = rng.sample(open_slots, round(len(open_slots) * SHARE_BOOKED))
    booked = [Interval(slot.start, slot.end) for slot in taken]
    rng.shuffle(booked)  # the database gives no order; free_slots must not rely on one
    return ProviderCalendar(provider_id, WEEKDAY_HOURS, time_off, booked)


def list_all(calendars: list[ProviderCalendar]) -> int:
    """List every provider's free slots once; the number of slots found."""
    found = 0
    for cal in calendars:
        found += len(
            free_slots(
                cal.provider_id,
                cal.hours,
                cal.time_off,
                cal.booked,
                RULES,
                FIRST_DAY,
                LAST_DAY,
                NOW,
            )
        )
    return found


def main() -> None:
    rng = random.Random(2027)
    calendars = [busy_provider(provider_id, rng) for provider_id in range(1, PROVIDERS + 1)]
    slots = list_all(calendars)  # warm-up
    timings_ms: list[float] = []
    for _ in range(REPEATS):
        started = clock.perf_counter()
        list_all(calendars)
        timings_ms.append((clock.perf_counter() - started) * 1000)
    p95 = statistics.quantiles(timings_ms, n=20, method="inclusive")[18]
    print(
        json.dumps(
            {
                "benchmark": "slots",
                "providers": PROVIDERS,
                "weeks": WEEKS,
                "slots": slots,
                "median_ms": round(statistics.median(timings_ms), 2),
                "p95_ms": round(p95, 2),
                "goal_ms": GOAL_MS,
            }
        )
    )


if __name__ == "__main__":
    main()
