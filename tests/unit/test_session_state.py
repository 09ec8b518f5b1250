"""The live consult's rules, driven by a hand-held clock."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from telehealth.sessions.state import (
    ClockRules,
    LiveConsult,
    Phase,
    Side,
    TransitionError,
    admit,
    cancel,
    check_in,
    due_warnings,
    end,
    is_overdue,
    join_window,
    mark_no_show,
    patient_no_show_due,
    provider_no_show_due,
    running_late,
    time_left,
)

RULES = ClockRules()
START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=20)
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)


def booked() -> LiveConsult:
    return LiveConsult(consult_id=7, phase=Phase.SCHEDULED, starts_at=START, ends_at_booked=END)


def waiting(at: datetime = START) -> LiveConsult:
    return check_in(booked(), at, RULES)


def in_call(at: datetime = START) -> LiveConsult:
    return admit(waiting(at), at, RULES)


def refused(code: str) -> AbstractContextManager[pytest.ExceptionInfo[TransitionError]]:
    return pytest.raises(TransitionError, match=f"^{code}:")


# -- waiting room ---------------------------------------------------------------


def test_lobby_is_shut_eleven_minutes_before_start() -> None:
    with refused("not_open_yet") as info:
        check_in(booked(), START - 11 * MIN, RULES)
    assert info.value.code == "not_open_yet"


def test_lobby_opens_ten_minutes_before_start() -> None:
    at = START - 10 * MIN
    c = check_in(booked(), at, RULES)
    assert c.phase is Phase.WAITING
    assert c.checked_in_at == at


def test_check_in_twice_changes_nothing() -> None:
    first = waiting(START - 5 * MIN)
    assert check_in(first, START, RULES) is first


def test_check_in_during_call_changes_nothing() -> None:
    c = in_call()
    assert check_in(c, START + MIN, RULES) is c


def test_lobby_closes_after_join_window() -> None:
    _, closes = join_window(START, END, RULES)
    assert check_in(booked(), closes, RULES).phase is Phase.WAITING
    with refused("lobby_closed"):
        check_in(booked(), closes + SEC, RULES)


def test_join_window_spans_lobby_opening_to_link_expiry() -> None:
    assert join_window(START, END, RULES) == (START - 10 * MIN, END + 15 * MIN)


# -- admission and the call clock -----------------------------------------------


def test_admit_starts_a_twenty_minute_clock() -> None:
    at = START + 3 * MIN
    c = admit(waiting(), at, RULES)
    assert c.phase is Phase.IN_CALL
    assert c.admitted_at == at
    assert c.call_ends_at == at + 20 * MIN
    assert time_left(c, at + 5 * MIN) == 15 * MIN


def test_time_left_never_negative_and_none_outside_call() -> None:
    c = in_call()
    assert time_left(c, START + 30 * MIN) == timedelta(0)
    assert time_left(waiting(), START) is None


def test_admit_twice_is_refused() -> None:
    with refused("already_admitted"):
        admit(in_call(), START + MIN, RULES)


def test_admit_before_check_in_is_refused() -> None:
    with refused("not_waiting"):
        admit(booked(), START, RULES)


def test_warnings_fire_at_five_and_one_minute_each_once() -> None:
    c = in_call()
    ends = START + 20 * MIN
    sent: set[int] = set()

    def tick(at: datetime) -> list[int]:
        due = due_warnings(c, at, RULES, sent)
        sent.update(due)
        return due

    assert tick(ends - 5 * MIN - SEC) == []
    assert tick(ends - 5 * MIN) == [300]
    assert tick(ends - 4 * MIN) == []
    assert tick(ends - MIN - SEC) == []
    assert tick(ends - MIN) == [60]
    assert tick(ends - 30 * SEC) == []
    assert tick(ends) == []
    assert sent == {300, 60}


def test_late_tick_announces_only_the_nearest_warning() -> None:
    c = in_call()
    assert due_warnings(c, START + 19 * MIN + 30 * SEC, RULES, set()) == [60]


def test_no_warnings_outside_a_call() -> None:
    assert due_warnings(waiting(), START + 19 * MIN, RULES, set()) == []


def test_warnings_work_with_second_sized_rules() -> None:
    quick = ClockRules(length=10 * SEC, warnings=(3 * SEC, SEC), grace=timedelta(0))
    c = admit(waiting(), START, quick)
    assert due_warnings(c, START + 7 * SEC, quick, set()) == [3]
    assert due_warnings(c, START + 9 * SEC, quick, {3}) == [1]


def test_overdue_only_after_grace() -> None:
    c = in_call()
    ends = START + 20 * MIN
    assert not is_overdue(c, ends, RULES)
    assert not is_overdue(c, ends + 4 * SEC, RULES)
    assert is_overdue(c, ends + 5 * SEC, RULES)
    assert not is_overdue(waiting(), ends + MIN, RULES)


# -- ending -----------------------------------------------------------------------


@pytest.mark.parametrize("by", ["patient", "provider", "clock", "admin"])
def test_end_from_call_records_who_ended_it(by: str) -> None:
    at = START + 12 * MIN
    c = end(in_call(), at, by)
    assert c.phase is Phase.ENDED
    assert c.ended_at == at
    assert c.ended_by == by
    assert c.is_terminal


def test_end_from_waiting_room() -> None:
    assert end(waiting(), START, "patient").phase is Phase.ENDED


def test_end_twice_is_refused() -> None:
    with refused("already_ended"):
        end(end(in_call(), START, "clock"), START, "provider")


def test_end_before_check_in_is_refused() -> None:
    with refused("not_waiting"):
        end(booked(), START, "provider")


def test_end_by_stranger_is_a_bug() -> None:
    with pytest.raises(ValueError):
        end(in_call(), START, "somebody")


# -- no-shows ---------------------------------------------------------------------


def test_patient_no_show_due_ten_minutes_after_start() -> None:
    c = booked()
    assert not patient_no_show_due(c, START + 10 * MIN - SEC, RULES)
    assert patient_no_show_due(c, START + 10 * MIN, RULES)
    assert not patient_no_show_due(waiting(), START + 30 * MIN, RULES)


def test_provider_no_show_due_ten_minutes_after_check_in() -> None:
    c = waiting(START + 2 * MIN)
    assert not provider_no_show_due(c, START + 12 * MIN - SEC, RULES)
    assert provider_no_show_due(c, START + 12 * MIN, RULES)
    assert not provider_no_show_due(in_call(), START + 30 * MIN, RULES)


def test_early_check_in_counts_from_booked_start() -> None:
    c = waiting(START - 8 * MIN)
    assert not provider_no_show_due(c, START + 5 * MIN, RULES)
    assert provider_no_show_due(c, START + 10 * MIN, RULES)


def test_running_late_extends_provider_patience() -> None:
    c = running_late(waiting(), 15)
    assert not provider_no_show_due(c, START + 24 * MIN, RULES)
    assert provider_no_show_due(c, START + 25 * MIN, RULES)


def test_mark_patient_no_show() -> None:
    at = START + 10 * MIN
    c = mark_no_show(booked(), Side.PATIENT, at)
    assert c.phase is Phase.NO_SHOW_PATIENT
    assert c.ended_at == at
    assert c.is_terminal


def test_patient_cannot_be_no_show_before_start() -> None:
    with refused("too_early"):
        mark_no_show(booked(), Side.PATIENT, START - MIN)


def test_mark_provider_no_show_needs_a_waiting_patient() -> None:
    assert mark_no_show(waiting(), Side.PROVIDER, START + 10 * MIN).phase is Phase.NO_SHOW_PROVIDER
    with refused("not_waiting"):
        mark_no_show(booked(), Side.PROVIDER, START + 10 * MIN)


def test_no_show_once_admitted_is_refused() -> None:
    with refused("already_admitted"):
        mark_no_show(in_call(), Side.PROVIDER, START + 10 * MIN)


# -- cancel and running late ----------------------------------------------------------


def test_cancel_before_call() -> None:
    assert cancel(booked()).phase is Phase.CANCELLED
    assert cancel(waiting()).phase is Phase.CANCELLED


def test_cancel_refused_during_and_after_call() -> None:
    with refused("already_admitted"):
        cancel(in_call())
    with refused("already_ended"):
        cancel(cancel(booked()))


@pytest.mark.parametrize("minutes", [5, 10, 15])
def test_running_late_accepts_clinic_delays(minutes: int) -> None:
    assert running_late(waiting(), minutes).running_late_minutes == minutes
    assert running_late(booked(), minutes).running_late_minutes == minutes


@pytest.mark.parametrize("minutes", [0, 1, 20, -5])
def test_running_late_rejects_other_delays(minutes: int) -> None:
    with refused("bad_delay"):
        running_late(waiting(), minutes)


def test_running_late_only_before_admission() -> None:
    with refused("already_admitted"):
        running_late(in_call(), 5)
    with refused("already_ended"):
        running_late(cancel(booked()), 5)


@pytest.mark.parametrize(
    "phase",
    [Phase.ENDED, Phase.NO_SHOW_PATIENT, Phase.NO_SHOW_PROVIDER, Phase.CANCELLED],
)
def test_terminal_consults_refuse_every_move(phase: Phase) -> None:
    c = replace(booked(), phase=phase)
    moves = [
        lambda: check_in(c, START, RULES),
        lambda: admit(c, START, RULES),
        lambda: end(c, START, "admin"),
        lambda: mark_no_show(c, Side.PATIENT, START + 10 * MIN),
        lambda: cancel(c),
        lambda: running_late(c, 5),
    ]
    for move in moves:
        with refused("already_ended"):
            move()


def test_transition_error_carries_code_and_message() -> None:
    err = TransitionError("not_waiting", "nobody is here")
    assert (err.code, err.message) == ("not_waiting", "nobody is here")
    assert str(err) == "not_waiting: nobody is here"
