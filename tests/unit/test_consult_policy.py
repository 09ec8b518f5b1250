"""One consult policy: the admin's settings, the operators' overrides, the defaults once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telehealth.sessions import LiveConsult, Phase, admit, check_in
from telehealth.sessions.policy import consult_policy

START = datetime(2027, 3, 4, 14, 0, tzinfo=UTC)


def _booked(minutes: int) -> LiveConsult:
    return LiveConsult(1, Phase.SCHEDULED, START, START + timedelta(minutes=minutes))


def test_the_call_lasts_as_long_as_the_booked_slot():
    policy = consult_policy(None, {})
    for minutes in (20, 30):
        waiting = check_in(_booked(minutes), START, policy)
        in_call = admit(waiting, START + timedelta(minutes=3), policy)
        assert in_call.call_ends_at == START + timedelta(minutes=3 + minutes)


def test_the_admins_lobby_opening_is_the_one_used():
    policy = consult_policy(15, {})
    assert policy.lobby_opens == timedelta(minutes=15)
    assert check_in(_booked(20), START - timedelta(minutes=14), policy).phase is Phase.WAITING


def test_an_override_wins_only_when_it_is_set():
    policy = consult_policy(
        15,
        {"CALL_LENGTH_SECONDS": "60", "NO_SHOW_SECONDS": None, "CALL_WARNING_SECONDS": "30,10"},
    )
    assert policy.length == timedelta(seconds=60)
    assert policy.no_show_after == timedelta(minutes=10)  # the default, written once
    assert policy.warnings == (timedelta(seconds=30), timedelta(seconds=10))
    assert policy.lobby_opens == timedelta(minutes=15)
    assert consult_policy(15, {"LOBBY_OPENS_SECONDS": "120"}).lobby_opens == timedelta(minutes=2)
