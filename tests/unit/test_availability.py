"""Free consult slots: weekly hours in Toronto time, bookings, time off, notice, horizon, DST."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telehealth.domain.availability import (
    CLINIC_TZ,
    ConsultRules,
    Interval,
    Slot,
    WeeklyWindow,
    first_available,
    format_local,
    free_slots,
    is_bookable,
    local_day_bounds,
)

PROVIDER = 7
RULES = ConsultRules()
STEP = RULES.length + RULES.buffer

TUESDAY = date(2027, 3, 16)
SPRING_FORWARD = date(2027, 3, 14)  # Sunday: 2:00 EST -> 3:00 EDT
FALL_BACK = date(2027, 11, 7)  # Sunday: 2:00 EDT -> 1:00 EST


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=CLINIC_TZ)


def week_before(day: date) -> datetime:
    """A `now` well clear of both the minimum notice and the horizon."""
    return datetime.combine(day - timedelta(days=7), time(12), tzinfo=UTC)


def every_day(starts: time, ends: time) -> list[WeeklyWindow]:
    return [WeeklyWindow(weekday, starts, ends) for weekday in range(7)]


def morning() -> list[WeeklyWindow]:
    return every_day(time(9), time(12))


def slots_on(
    day: date,
    hours: Sequence[WeeklyWindow] | None = None,
    time_off: Sequence[Interval] = (),
    booked: Sequence[Interval] = (),
    rules: ConsultRules = RULES,
    now: datetime | None = None,
    last_day: date | None = None,
) -> list[Slot]:
    return free_slots(
        PROVIDER,
        morning() if hours is None else hours,
        time_off,
        booked,
        rules,
        day,
        last_day or day,
        now or week_before(day),
    )


def local_times(slots: Sequence[Slot]) -> list[str]:
    return [f"{s.start.astimezone(CLINIC_TZ):%H:%M}" for s in slots]


def assert_evenly_spaced(slots: Sequence[Slot]) -> None:
    for earlier, later in zip(slots, slots[1:], strict=False):
        assert later.start - earlier.start == STEP
        assert earlier.end <= later.start


# --- weekly hours -----------------------------------------------------------------------


def test_slots_follow_weekly_hours_in_toronto_time() -> None:
    hours = [WeeklyWindow(TUESDAY.weekday(), time(9), time(12))]

    slots = slots_on(TUESDAY, hours)

    assert local_times(slots) == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    assert slots[0].start == datetime(2027, 3, 16, 13, 0, tzinfo=UTC)
    assert all(s.start.tzinfo is UTC and s.end.tzinfo is UTC for s in slots)
    assert all(s.end - s.start == RULES.length and s.provider_id == PROVIDER for s in slots)


def test_last_slot_may_end_exactly_at_closing_but_not_after() -> None:
    assert local_times(slots_on(TUESDAY, every_day(time(9), time(9, 50)))) == ["09:00", "09:30"]
    assert local_times(slots_on(TUESDAY, every_day(time(9), time(9, 49)))) == ["09:00"]


def test_days_without_hours_have_no_slots() -> None:
    monday_only = [WeeklyWindow(0, time(9), time(17))]

    assert slots_on(TUESDAY, monday_only) == []


def test_slots_cover_every_day_in_range_sorted_even_when_hours_are_out_of_order() -> None:
    hours = [
        WeeklyWindow(TUESDAY.weekday(), time(14), time(15)),
        WeeklyWindow((TUESDAY.weekday() + 1) % 7, time(9), time(10)),
        WeeklyWindow(TUESDAY.weekday(), time(9), time(10)),
    ]

    slots = slots_on(TUESDAY, hours, last_day=TUESDAY + timedelta(days=1))

    assert [s.start for s in slots] == sorted(s.start for s in slots)
    assert len(slots) == 6
    assert {s.start.astimezone(CLINIC_TZ).date() for s in slots} == {
        TUESDAY,
        TUESDAY + timedelta(days=1),
    }


def test_overlapping_windows_never_give_overlapping_slots() -> None:
    hours = [
        WeeklyWindow(TUESDAY.weekday(), time(9), time(11)),
        WeeklyWindow(TUESDAY.weekday(), time(10, 15), time(12)),
    ]

    slots = slots_on(TUESDAY, hours)

    assert local_times(slots) == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    assert_evenly_spaced(slots)


def test_window_that_ends_before_it_starts_is_ignored() -> None:
    assert slots_on(TUESDAY, every_day(time(17), time(9))) == []


# --- bookings and time off --------------------------------------------------------------


def test_booked_consult_and_its_buffer_remove_slots() -> None:
    on_grid = Interval(local(TUESDAY, 10), local(TUESDAY, 10, 20))
    off_grid = Interval(local(TUESDAY, 10, 5), local(TUESDAY, 10, 25))

    assert local_times(slots_on(TUESDAY, booked=[on_grid])) == [
        "09:00",
        "09:30",
        "10:30",
        "11:00",
        "11:30",
    ]
    # 10:05-10:25 plus ten minutes either side reaches 10:35, so 10:30 is gone too.
    assert local_times(slots_on(TUESDAY, booked=[off_grid])) == ["09:00", "09:30", "11:00", "11:30"]


def test_buffer_before_a_booking_removes_the_slot_that_would_run_into_it() -> None:
    early_start = Interval(local(TUESDAY, 9, 55), local(TUESDAY, 10, 15))

    assert "09:30" not in local_times(slots_on(TUESDAY, booked=[early_start]))


def test_bookings_are_compared_as_instants_whatever_their_zone() -> None:
    in_utc = Interval(
        datetime(2027, 3, 16, 14, 0, tzinfo=UTC), datetime(2027, 3, 16, 14, 20, tzinfo=UTC)
    )

    assert "10:00" not in local_times(slots_on(TUESDAY, booked=[in_utc]))


def test_bookings_on_other_days_do_not_matter() -> None:
    elsewhere = Interval(
        local(TUESDAY, 10) - timedelta(days=1), local(TUESDAY, 10, 20) - timedelta(days=1)
    )

    assert len(slots_on(TUESDAY, booked=[elsewhere])) == 6


def test_time_off_removes_slots() -> None:
    late_start = Interval(local(TUESDAY, 10), local(TUESDAY, 11))
    whole_day = Interval(*local_day_bounds(TUESDAY))
    ten_past = Interval(local(TUESDAY, 8), local(TUESDAY, 9, 10))

    assert local_times(slots_on(TUESDAY, time_off=[late_start])) == [
        "09:00",
        "09:30",
        "11:00",
        "11:30",
    ]
    assert slots_on(TUESDAY, time_off=[whole_day]) == []
    assert local_times(slots_on(TUESDAY, time_off=[ten_past]))[0] == "09:30"


def test_time_off_has_no_buffer() -> None:
    ends_at_ten = Interval(local(TUESDAY, 9), local(TUESDAY, 10))

    assert local_times(slots_on(TUESDAY, time_off=[ends_at_ten]))[0] == "10:00"


# --- notice and horizon -----------------------------------------------------------------


def test_minimum_notice_hides_slots_too_soon() -> None:
    now = local(TUESDAY, 8)

    slots = slots_on(TUESDAY, now=now)

    # Exactly two hours' notice is enough.
    assert local_times(slots) == ["10:00", "10:30", "11:00", "11:30"]


def test_minimum_notice_keeps_the_grid_anchored_at_opening() -> None:
    slots = slots_on(TUESDAY, now=local(TUESDAY, 7, 45))

    assert local_times(slots)[0] == "10:00"


def test_horizon_hides_far_slots() -> None:
    rules = ConsultRules(minimum_notice=timedelta(0), horizon=timedelta(days=1))
    now = local(TUESDAY, 9, 30)
    tomorrow = TUESDAY + timedelta(days=1)

    slots = slots_on(TUESDAY, rules=rules, now=now, last_day=tomorrow + timedelta(days=1))

    assert max(s.start for s in slots) == local(tomorrow, 9, 30)


def test_default_horizon_is_eight_weeks() -> None:
    now = local(date(2027, 5, 3), 9)
    eight_weeks_on = date(2027, 5, 3) + timedelta(days=56)

    slots = slots_on(date(2027, 5, 3), now=now, last_day=eight_weeks_on)

    assert slots[-1].start == local(eight_weeks_on, 9)


def test_no_slots_when_range_is_empty() -> None:
    assert slots_on(TUESDAY, last_day=TUESDAY - timedelta(days=1)) == []


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


minutes_into_day = st.integers(min_value=8 * 60, max_value=13 * 60)
stretches = st.lists(st.tuples(minutes_into_day, st.integers(1, 90)), max_size=8)


@settings(max_examples=200, deadline=None)
@given(booked_at=stretches, away_at=stretches, now_minute=st.integers(0, 12 * 60))
def test_slots_match_a_plain_check_of_every_grid_time(
    booked_at: list[tuple[int, int]], away_at: list[tuple[int, int]], now_minute: int
) -> None:
    def spans(pairs: list[tuple[int, int]]) -> list[Interval]:
        midnight = local(TUESDAY, 0)
        return [
            Interval(midnight + timedelta(minutes=m), midnight + timedelta(minutes=m + n))
            for m, n in pairs
        ]

    booked, away = spans(booked_at), spans(away_at)
    now = local(TUESDAY, 0) + timedelta(minutes=now_minute)
    grid = [local(TUESDAY, 9) + STEP * k for k in range(6)]
    expected = [
        start
        for start in grid
        if start >= now + RULES.minimum_notice
        and not any(overlaps(start, start + RULES.length, t.start, t.end) for t in away)
        and not any(
            overlaps(start, start + RULES.length, b.start - RULES.buffer, b.end + RULES.buffer)
            for b in booked
        )
    ]

    slots = slots_on(TUESDAY, time_off=away, booked=booked, now=now)

    assert [s.start for s in slots] == expected
    assert all(bookable(start, away, booked, now) == (start in expected) for start in grid)


# --- daylight saving time ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "offset"),
    [
        (SPRING_FORWARD - timedelta(days=1), "-05:00"),
        (SPRING_FORWARD, "-04:00"),
        (SPRING_FORWARD + timedelta(days=1), "-04:00"),
        (FALL_BACK - timedelta(days=1), "-04:00"),
        (FALL_BACK, "-05:00"),
        (FALL_BACK + timedelta(days=1), "-05:00"),
    ],
)
def test_morning_hours_start_at_nine_local_around_dst_changes(day: date, offset: str) -> None:
    slots = slots_on(day)

    first = slots[0].start.astimezone(CLINIC_TZ)
    assert first.isoformat() == f"{day.isoformat()}T09:00:00{offset}"
    assert local_times(slots) == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]


def test_night_window_on_spring_forward_day_has_three_real_hours() -> None:
    slots = slots_on(SPRING_FORWARD, every_day(time(0), time(4)))

    assert slots[0].start == datetime(2027, 3, 14, 5, 0, tzinfo=UTC)
    assert slots[-1].end <= datetime(2027, 3, 14, 8, 0, tzinfo=UTC)
    assert len(slots) == 6  # three real hours at one consult per 30 minutes
    assert local_times(slots) == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30"]
    assert_evenly_spaced(slots)


def test_night_window_on_fall_back_day_has_five_real_hours() -> None:
    slots = slots_on(FALL_BACK, every_day(time(0), time(4)))

    assert slots[0].start == datetime(2027, 11, 7, 4, 0, tzinfo=UTC)
    assert slots[-1].end <= datetime(2027, 11, 7, 9, 0, tzinfo=UTC)
    assert len(slots) == 10  # five real hours at one consult per 30 minutes
    # 1:00 and 1:30 happen twice, first in EDT then in EST.
    assert local_times(slots) == [
        "00:00",
        "00:30",
        "01:00",
        "01:30",
        "01:00",
        "01:30",
        "02:00",
        "02:30",
        "03:00",
        "03:30",
    ]
    assert_evenly_spaced(slots)


def test_window_opening_in_the_skipped_hour_opens_at_the_real_instant_after_it() -> None:
    slots = slots_on(SPRING_FORWARD, every_day(time(2, 30), time(4)))

    # 2:30 does not exist that night; read with fold=0 it is the instant 3:30 EDT.
    assert [s.start.astimezone(CLINIC_TZ).isoformat() for s in slots] == [
        "2027-03-14T03:30:00-04:00"
    ]


def test_local_day_bounds_are_23_and_25_hours_on_dst_days() -> None:
    spring_start, spring_end = local_day_bounds(SPRING_FORWARD)
    fall_start, fall_end = local_day_bounds(FALL_BACK)

    assert spring_start == datetime(2027, 3, 14, 5, 0, tzinfo=UTC)
    assert spring_end - spring_start == timedelta(hours=23)
    assert fall_start == datetime(2027, 11, 7, 4, 0, tzinfo=UTC)
    assert fall_end - fall_start == timedelta(hours=25)
    assert local_day_bounds(TUESDAY)[1] - local_day_bounds(TUESDAY)[0] == timedelta(hours=24)


# --- booking validation -----------------------------------------------------------------


def bookable(
    start: datetime,
    time_off: Sequence[Interval] = (),
    booked: Sequence[Interval] = (),
    now: datetime | None = None,
) -> bool:
    when = now or week_before(start.astimezone(CLINIC_TZ).date())
    return is_bookable(start, PROVIDER, morning(), time_off, booked, RULES, when)


def test_listed_slot_is_bookable() -> None:
    slots = slots_on(TUESDAY)

    assert all(bookable(slot.start) for slot in slots)
    assert bookable(local(TUESDAY, 10, 30))


def test_off_grid_time_is_not_bookable() -> None:
    assert not bookable(local(TUESDAY, 9, 10))
    assert not bookable(local(TUESDAY, 10, 0) + timedelta(seconds=1))
    assert not bookable(local(TUESDAY, 12))


def test_time_during_time_off_is_not_bookable() -> None:
    away = Interval(local(TUESDAY, 10), local(TUESDAY, 11))

    assert not bookable(local(TUESDAY, 10, 30), time_off=[away])
    assert bookable(local(TUESDAY, 11), time_off=[away])


def test_taken_time_is_not_bookable() -> None:
    taken = Interval(local(TUESDAY, 10), local(TUESDAY, 10, 20))

    assert not bookable(local(TUESDAY, 10), booked=[taken])
    assert bookable(local(TUESDAY, 10, 30), booked=[taken])


def test_time_too_soon_is_not_bookable() -> None:
    assert not bookable(local(TUESDAY, 9, 30), now=local(TUESDAY, 8))


def test_bookable_time_may_arrive_in_any_zone() -> None:
    assert bookable(datetime(2027, 3, 16, 14, 30, tzinfo=UTC))


def test_bookable_on_both_sides_of_fall_back_repeated_hour() -> None:
    night = every_day(time(0), time(4))
    first_one_am = datetime(2027, 11, 7, 5, 0, tzinfo=UTC)  # 1:00 EDT
    second_one_am = datetime(2027, 11, 7, 6, 0, tzinfo=UTC)  # 1:00 EST

    for start in (first_one_am, second_one_am):
        assert is_bookable(start, PROVIDER, night, [], [], RULES, week_before(FALL_BACK))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        slots_on(TUESDAY, now=datetime(2027, 3, 16, 8))
    with pytest.raises(ValueError, match="timezone-aware"):
        bookable(datetime(2027, 3, 16, 10))


def test_consult_without_length_is_refused() -> None:
    with pytest.raises(ValueError):
        slots_on(TUESDAY, rules=ConsultRules(length=timedelta(0)))


# --- helpers for pages ------------------------------------------------------------------


def test_first_available_is_the_earliest_slot() -> None:
    slots = slots_on(TUESDAY)

    assert first_available(reversed(slots)) == slots[0]
    assert first_available([]) is None


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (local(TUESDAY, 9), "Tuesday, March 16, 2027 at 9:00 a.m. EDT"),
        (local(date(2027, 1, 12), 14, 5), "Tuesday, January 12, 2027 at 2:05 p.m. EST"),
        (local(date(2027, 7, 13), 12, 30), "Tuesday, July 13, 2027 at 12:30 p.m. EDT"),
        (datetime(2027, 11, 7, 5, 0, tzinfo=UTC), "Sunday, November 7, 2027 at 1:00 a.m. EDT"),
        (datetime(2027, 11, 7, 6, 0, tzinfo=UTC), "Sunday, November 7, 2027 at 1:00 a.m. EST"),
        (datetime(2027, 1, 12, 5, 0, tzinfo=UTC), "Tuesday, January 12, 2027 at 12:00 a.m. EST"),
    ],
)
def test_format_local_reads_in_toronto_time_with_the_zone_abbreviation(
    moment: datetime, text: str
) -> None:
    assert format_local(moment) == text
