"""Free consult slots from a provider's weekly hours, time off and bookings, framework-free.

Weekly hours are wall-clock times in the clinic's zone; everything else is an absolute
instant. Each local day's hours are turned into UTC instants first and slots are then laid
out in absolute time, so a window that spans a DST change still gives consults that are
really `length + buffer` apart.

Wall-clock times that do not exist or happen twice are read with ``fold=0``:

* spring forward (2:00 EST -> 3:00 EDT): a time in the skipped hour, e.g. 2:30, uses the
  offset in force before the change, so it becomes the real instant 3:30 EDT. A window
  0:00-4:00 on that day is therefore only three real hours long.
* fall back (2:00 EDT -> 1:00 EST): a repeated time, e.g. 1:30, is its first occurrence
  (1:30 EDT). A window 0:00-4:00 on that day is five real hours long.

A window never crosses midnight; one whose end is not after its start is ignored.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "CLINIC_TZ",
    "ConsultRules",
    "Interval",
    "Slot",
    "WeeklyWindow",
    "first_available",
    "format_clock",
    "format_local",
    "free_slots",
    "is_bookable",
    "local_day_bounds",
]

CLINIC_TZ = ZoneInfo("America/Toronto")

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class WeeklyWindow:
    """Recurring consult hours on one weekday, in local wall-clock time."""

    weekday: int  # 0 = Monday
    starts: time
    ends: time


@dataclass(frozen=True)
class Interval:
    """A stretch of absolute time, [start, end); aware datetimes in any zone."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class ConsultRules:
    """How long a consult is and how close to, or far from, now it may be booked."""

    length: timedelta = timedelta(minutes=20)
    buffer: timedelta = timedelta(minutes=10)  # kept free after (and before) each consult
    minimum_notice: timedelta = timedelta(hours=2)
    horizon: timedelta = timedelta(days=56)


@dataclass(frozen=True, order=True)
class Slot:
    """One bookable consult with one provider; start and end are aware UTC datetimes."""

    start: datetime
    end: datetime
    provider_id: int


# --- public API -------------------------------------------------------------------------


def free_slots(
    provider_id: int,
    hours: Sequence[WeeklyWindow],
    time_off: Sequence[Interval],
    booked: Sequence[Interval],
    rules: ConsultRules,
    first_day: date,
    last_day: date,
    now: datetime,
    tz: ZoneInfo = CLINIC_TZ,
) -> list[Slot]:
    """The provider's free consult slots on local days first_day..last_day, sorted, in UTC."""
    _check_rules(rules)
    now_utc = _as_utc(now, "now")
    earliest = now_utc + rules.minimum_notice
    latest = now_utc + rules.horizon
    busy = _BusyTimes.of(time_off, booked, rules.buffer)
    length = rules.length
    slots: list[Slot] = []
    for opens, closes in _opening_hours(hours, first_day, last_day, tz):
        starts = _slot_starts(opens, closes, rules, earliest, latest)
        slots.extend(
            Slot(start, start + length, provider_id) for start in busy.free_starts(starts, length)
        )
    return slots


def is_bookable(
    slot_start: datetime,
    provider_id: int,
    hours: Sequence[WeeklyWindow],
    time_off: Sequence[Interval],
    booked: Sequence[Interval],
    rules: ConsultRules,
    now: datetime,
    tz: ZoneInfo = CLINIC_TZ,
) -> bool:
    """True when slot_start is exactly the start of one of the provider's free slots."""
    start = _as_utc(slot_start, "slot_start")
    # Windows never cross midnight, so the slot's own local day is the only one to lay out.
    day = start.astimezone(tz).date()
    slots = free_slots(provider_id, hours, time_off, booked, rules, day, day, now, tz)
    return any(slot.start == start for slot in slots)


def local_day_bounds(day: date, tz: ZoneInfo = CLINIC_TZ) -> tuple[datetime, datetime]:
    """UTC start and end, [start, end), of a local calendar day; 23 or 25 hours on DST days."""
    return _wall_clock_instant(day, time.min, tz), _wall_clock_instant(day + ONE_DAY, time.min, tz)


def first_available(slots: Iterable[Slot]) -> Slot | None:
    """The earliest slot, or None when there is none."""
    return min(slots, default=None)


def format_local(dt: datetime, tz: ZoneInfo = CLINIC_TZ) -> str:
    """A time as patients read it, e.g. 'Tuesday, March 16, 2027 at 9:00 a.m. EDT'."""
    local = _as_utc(dt, "dt").astimezone(tz)
    return f"{local:%A}, {local:%B} {local.day}, {local.year} at {format_clock(local, tz)}"


def format_clock(dt: datetime, tz: ZoneInfo = CLINIC_TZ) -> str:
    """The time of day with its zone, e.g. '9:00 a.m. EDT' (never a bare 'a.m.', so a
    sentence that ends with a time never ends in 'a.m..')."""
    local = _as_utc(dt, "dt").astimezone(tz)
    hour = local.hour % 12 or 12
    half = "a.m." if local.hour < 12 else "p.m."
    return f"{hour}:{local.minute:02d} {half} {local.tzname() or tz.key}"


# --- opening hours ----------------------------------------------------------------------


def _opening_hours(
    hours: Sequence[WeeklyWindow], first_day: date, last_day: date, tz: ZoneInfo
) -> Iterator[tuple[datetime, datetime]]:
    """Each day's windows as UTC (opens, closes), in time order and never overlapping."""
    by_weekday = _hours_by_weekday(hours)
    day = first_day
    while day <= last_day:
        for starts, ends in by_weekday.get(day.weekday(), ()):
            yield _wall_clock_instant(day, starts, tz), _wall_clock_instant(day, ends, tz)
        day += ONE_DAY


def _hours_by_weekday(hours: Sequence[WeeklyWindow]) -> dict[int, list[tuple[time, time]]]:
    # Overlapping windows are joined so a provider is never offered two overlapping slots.
    by_weekday: dict[int, list[tuple[time, time]]] = {}
    for window in sorted(hours, key=lambda w: (w.weekday, _wall(w.starts), _wall(w.ends))):
        starts, ends = _wall(window.starts), _wall(window.ends)
        if ends <= starts:
            continue
        day = by_weekday.setdefault(window.weekday, [])
        if day and starts <= day[-1][1]:
            day[-1] = (day[-1][0], max(day[-1][1], ends))
        else:
            day.append((starts, ends))
    return by_weekday


def _wall(moment: time) -> time:
    # A stray tzinfo or fold on a weekly time must not change how the day reads it.
    return moment.replace(tzinfo=None, fold=0)


def _wall_clock_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    # `wall` is naive with fold=0 (see module docstring), so the UTC conversion always
    # lands on a real instant.
    return datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)


def _slot_starts(
    opens: datetime, closes: datetime, rules: ConsultRules, earliest: datetime, latest: datetime
) -> list[datetime]:
    """Starts on the window's grid that fit before closing and lie in [earliest, latest]."""
    step = rules.length + rules.buffer
    start = opens
    if earliest > opens:
        # Jump straight to the first grid point at or after `earliest`; the grid stays
        # anchored at opening time so slots read the same whenever a patient looks.
        start = opens + step * -((opens - earliest) // step)
    last_start = min(closes - rules.length, latest)
    starts: list[datetime] = []
    while start <= last_start:
        starts.append(start)
        start += step
    return starts


# --- busy times -------------------------------------------------------------------------


class _BusyTimes:
    """Time off and buffered bookings merged into sorted, disjoint spans for bisecting."""

    def __init__(self, spans: list[tuple[datetime, datetime]]) -> None:
        self._starts = [start for start, _ in spans]
        self._ends = [end for _, end in spans]

    @classmethod
    def of(
        cls, time_off: Sequence[Interval], booked: Sequence[Interval], buffer: timedelta
    ) -> _BusyTimes:
        spans = [_utc_span(interval) for interval in time_off]
        spans += [_utc_span(interval, buffer) for interval in booked]
        return cls(_merged(spans))

    def free_starts(self, starts: Sequence[datetime], length: timedelta) -> Iterator[datetime]:
        """The ascending starts whose consult, [start, start + length), meets no busy span."""
        if not starts:
            return
        busy_starts, busy_ends = self._starts, self._ends
        # Only the first span ending after a start can overlap its consult; bisect once,
        # then walk forward since both the starts and the spans are in time order.
        i = bisect_right(busy_ends, starts[0])
        count = len(busy_ends)
        for start in starts:
            while i < count and busy_ends[i] <= start:
                i += 1
            if i == count or busy_starts[i] >= start + length:
                yield start


def _utc_span(interval: Interval, padding: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
    start = _as_utc(interval.start, "interval start") - padding
    end = _as_utc(interval.end, "interval end") + padding
    return start, end


def _merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(span for span in spans if span[1] > span[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# --- checks -----------------------------------------------------------------------------


def _as_utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is UTC:
        return moment  # what the database hands back; skip the conversion
    # A naive time would silently be read in the server's zone; refuse it instead.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


def _check_rules(rules: ConsultRules) -> None:
    if rules.length <= timedelta(0):
        raise ValueError("a consult must last some time")
    if rules.buffer < timedelta(0):
        raise ValueError("the buffer between consults cannot be negative")
