"""LiveConsultStore against a real Redis, including races between would-be processes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar, cast

import pytest
import redis

from telehealth.sessions.state import ClockRules, LiveConsult, Phase, Side, TransitionError
from telehealth.sessions.store import LiveConsultStore

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
RULES = ClockRules()
NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
START = NOW
END = NOW + timedelta(minutes=20)
DAY = 86400

T = TypeVar("T")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    c.flushdb()
    yield c
    c.close()


@pytest.fixture
def store(client: redis.Redis) -> LiveConsultStore:
    return LiveConsultStore(client, RULES)


def another_process(rules: ClockRules = RULES) -> LiveConsultStore:
    """A store with its own connection pool, as a second web process would have."""
    return LiveConsultStore.from_url(REDIS_URL, rules)


def race(n: int, attempt: Callable[[LiveConsultStore], T]) -> list[T | TransitionError]:
    """Run `attempt` in n threads, each with its own store, released at the same instant."""
    stores = [another_process() for _ in range(n)]
    gate = threading.Barrier(n)
    results: list[T | TransitionError] = []
    lock = threading.Lock()

    def run(s: LiveConsultStore) -> None:
        gate.wait()
        try:
            outcome: T | TransitionError = attempt(s)
        except TransitionError as err:
            outcome = err
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for s in stores:
        s.redis.close()
    assert len(results) == n
    return results


def admit_now(s: LiveConsultStore, consult_id: int) -> LiveConsult:
    return s.admit(consult_id, NOW)


def end_on_clock(s: LiveConsultStore, consult_id: int) -> LiveConsult:
    return s.end(consult_id, NOW + timedelta(minutes=20), "clock")


def ttl(client: redis.Redis, key: str) -> int:
    return cast(int, client.ttl(key))


def waiting_consult(store: LiveConsultStore, consult_id: int) -> LiveConsult:
    store.ensure(consult_id, START, END)
    return store.check_in(consult_id, NOW)


# -- round trips ----------------------------------------------------------------------


def test_needs_decoded_responses() -> None:
    with pytest.raises(ValueError):
        LiveConsultStore(redis.Redis.from_url(REDIS_URL), RULES)


def test_ensure_creates_once(store: LiveConsultStore) -> None:
    created = store.ensure(1, START, END)
    assert created.phase is Phase.SCHEDULED
    assert store.get(1) == created
    store.check_in(1, NOW)
    # A second ensure must not reset the waiting room.
    assert store.ensure(1, START + timedelta(hours=1), END).phase is Phase.WAITING
    assert store.live_ids() == [1]


def test_unknown_consult(store: LiveConsultStore) -> None:
    assert store.get(404) is None
    with pytest.raises(TransitionError) as info:
        store.check_in(404, NOW)
    assert info.value.code == "unknown_consult"


def test_transitions_round_trip(store: LiveConsultStore) -> None:
    store.ensure(2, START, END)
    late = store.running_late(2, 10)
    assert store.get(2) == late
    waiting = store.check_in(2, NOW - timedelta(minutes=3))
    assert store.get(2) == waiting
    assert store.waiting_ids() == [2]
    admitted = store.admit(2, NOW + timedelta(minutes=1))
    assert store.get(2) == admitted
    assert admitted.call_ends_at == NOW + timedelta(minutes=21)
    assert admitted.running_late_minutes == 10
    assert store.waiting_ids() == []
    ended = store.end(2, NOW + timedelta(minutes=9), "provider")
    assert store.get(2) == ended
    assert (ended.phase, ended.ended_by) == (Phase.ENDED, "provider")
    assert store.live_ids() == []
    assert store.overdue_calls(NOW + timedelta(hours=1)) == []


def test_rules_refusals_come_through(store: LiveConsultStore) -> None:
    store.ensure(3, START, END)
    with pytest.raises(TransitionError) as info:
        store.check_in(3, NOW - timedelta(minutes=11))
    assert info.value.code == "not_open_yet"
    with pytest.raises(TransitionError) as info:
        store.admit(3, NOW)
    assert info.value.code == "not_waiting"
    assert store.get(3) == LiveConsult(3, Phase.SCHEDULED, START, END)


def test_no_shows_and_cancel(store: LiveConsultStore) -> None:
    store.ensure(4, START, END)
    assert store.mark_no_show(4, Side.PATIENT, NOW + timedelta(minutes=10)).phase is (
        Phase.NO_SHOW_PATIENT
    )
    waiting_consult(store, 5)
    assert store.mark_no_show(5, Side.PROVIDER, NOW + timedelta(minutes=10)).phase is (
        Phase.NO_SHOW_PROVIDER
    )
    waiting_consult(store, 6)
    assert store.cancel(6).phase is Phase.CANCELLED
    assert store.live_ids() == []
    assert store.waiting_ids() == []


# -- races --------------------------------------------------------------------------


def test_concurrent_admits_have_exactly_one_winner() -> None:
    store = another_process()
    store.redis.flushdb()
    for consult_id in range(1, 51):
        waiting_consult(store, consult_id)
        results = race(2, partial(admit_now, consult_id=consult_id))
        winners = [r for r in results if isinstance(r, LiveConsult)]
        losers = [r for r in results if isinstance(r, TransitionError)]
        assert len(winners) == 1, results
        assert [e.code for e in losers] == ["already_admitted"]
        assert store.get(consult_id) == winners[0]
    store.redis.close()


def test_concurrent_ends_have_exactly_one_winner(store: LiveConsultStore) -> None:
    for consult_id in range(1, 21):
        waiting_consult(store, consult_id)
        store.admit(consult_id, NOW)
        results = race(2, partial(end_on_clock, consult_id=consult_id))
        winners = [r for r in results if isinstance(r, LiveConsult)]
        losers = [r for r in results if isinstance(r, TransitionError)]
        assert len(winners) == 1, results
        assert [e.code for e in losers] == ["already_ended"]


def test_concurrent_check_ins_all_see_the_waiting_room(store: LiveConsultStore) -> None:
    store.ensure(9, START, END)
    results = race(4, lambda s: s.check_in(9, NOW))
    assert all(isinstance(r, LiveConsult) and r.phase is Phase.WAITING for r in results)
    assert len({r.checked_in_at for r in results if isinstance(r, LiveConsult)}) == 1


def test_claim_warning_once_across_eight_threads(store: LiveConsultStore) -> None:
    waiting_consult(store, 10)
    store.admit(10, NOW)
    results = race(8, lambda s: s.claim_warning(10, 300))
    assert sorted(results, key=bool) == [False] * 7 + [True]
    assert store.claim_warning(10, 60) is True
    assert store.claim_warning(10, 60) is False
    assert store.clock_views([10])[10].warned == {300, 60}


def test_claim_warning_for_unknown_consult(store: LiveConsultStore) -> None:
    assert store.claim_warning(999, 300) is False


def test_clock_views_give_each_consults_state_departures_and_warnings(
    store: LiveConsultStore,
) -> None:
    for consult_id in (30, 31):
        waiting_consult(store, consult_id)
    store.admit(30, NOW)
    store.claim_warning(30, 60)
    store.join(30, Side.PROVIDER, "sid-desk", "desktop", NOW)
    store.leave(30, Side.PROVIDER, "sid-desk", NOW + timedelta(minutes=1))
    views = store.clock_views([30, 31, 32])
    assert views[30].gone_since == {Side.PATIENT: None, Side.PROVIDER: NOW + timedelta(minutes=1)}
    assert views[30].live is not None and views[30].live.phase is Phase.IN_CALL
    assert views[30].warned == {60}
    assert views[31].live is not None and views[31].live.phase is Phase.WAITING
    assert views[32].live is None and views[32].gone_since == dict.fromkeys(Side)


# -- clock ------------------------------------------------------------------------


def test_overdue_calls_lists_a_call_whose_clock_ran_out(client: redis.Redis) -> None:
    quick = ClockRules(length=timedelta(seconds=1), grace=timedelta(0))
    store = LiveConsultStore(client, quick)
    waiting_consult(store, 11)
    waiting_consult(store, 12)
    store.admit(11, NOW)
    store.admit(12, NOW + timedelta(minutes=1))
    assert store.overdue_calls(NOW) == []
    assert store.overdue_calls(NOW + timedelta(seconds=1)) == [11]
    store.end(11, NOW + timedelta(seconds=1), "clock")
    assert store.overdue_calls(NOW + timedelta(seconds=1)) == []


def test_overdue_waits_for_grace(store: LiveConsultStore) -> None:
    waiting_consult(store, 13)
    store.admit(13, NOW)
    call_end = NOW + (END - START)  # the booked slot's length
    assert store.overdue_calls(call_end + timedelta(seconds=4)) == []
    assert store.overdue_calls(call_end + timedelta(seconds=5)) == [13]


# -- presence -----------------------------------------------------------------------


def test_presence_counts_devices_and_marks_gone(store: LiveConsultStore) -> None:
    waiting_consult(store, 20)
    assert store.join(20, Side.PATIENT, "sid-phone", "phone", NOW) == 1
    assert store.join(20, Side.PATIENT, "sid-laptop", "laptop", NOW + timedelta(seconds=1)) == 2
    assert store.join(20, Side.PROVIDER, "sid-desk", "desktop", NOW) == 1
    seen = store.presence(20)
    assert [d["sid"] for d in seen[Side.PATIENT]] == ["sid-phone", "sid-laptop"]
    assert seen[Side.PATIENT][0] == {
        "sid": "sid-phone",
        "since": NOW.isoformat(),
        "device": "phone",
    }
    assert len(seen[Side.PROVIDER]) == 1

    assert store.leave(20, Side.PATIENT, "sid-phone", NOW + timedelta(minutes=1)) == 1
    assert store.gone_since(20, Side.PATIENT) is None
    left_at = NOW + timedelta(minutes=2)
    assert store.leave(20, Side.PATIENT, "sid-laptop", left_at) == 0
    assert store.gone_since(20, Side.PATIENT) == left_at
    # A stray leave for a socket already gone must not restart the rejoin clock.
    assert store.leave(20, Side.PATIENT, "sid-laptop", left_at + timedelta(minutes=1)) == 0
    assert store.gone_since(20, Side.PATIENT) == left_at
    assert store.gone_since(20, Side.PROVIDER) is None

    rejoin_by, window = left_at + RULES.rejoin_window, RULES.rejoin_window
    view = store.clock_views([20])[20]
    assert view.gone_since == {Side.PATIENT: left_at, Side.PROVIDER: None}
    assert not view.side_gone_too_long(Side.PATIENT, rejoin_by, window)
    assert view.side_gone_too_long(Side.PATIENT, rejoin_by + timedelta(seconds=1), window)
    assert not view.side_gone_too_long(Side.PROVIDER, left_at + timedelta(hours=1), window)

    assert store.join(20, Side.PATIENT, "sid-phone-2", "phone", left_at + timedelta(minutes=1)) == 1
    assert store.gone_since(20, Side.PATIENT) is None


def test_join_refused_for_unknown_or_finished_consult(store: LiveConsultStore) -> None:
    with pytest.raises(TransitionError) as info:
        store.join(30, Side.PATIENT, "sid", "phone", NOW)
    assert info.value.code == "unknown_consult"
    waiting_consult(store, 30)
    store.end(30, NOW, "patient")
    with pytest.raises(TransitionError) as info:
        store.join(30, Side.PATIENT, "sid", "phone", NOW)
    assert info.value.code == "already_ended"


# -- expiry -------------------------------------------------------------------------


def test_terminal_consult_keys_expire_within_a_day(
    store: LiveConsultStore, client: redis.Redis
) -> None:
    waiting_consult(store, 40)
    store.admit(40, NOW)
    store.join(40, Side.PATIENT, "p1", "phone", NOW)
    store.join(40, Side.PROVIDER, "d1", "desktop", NOW)
    store.leave(40, Side.PROVIDER, "d1", NOW)
    store.claim_warning(40, 300)
    assert ttl(client, "th:consult:40") == -1

    store.end(40, NOW + timedelta(minutes=20), "clock")
    # A device dropping after the end must not outlive the consult either.
    store.leave(40, Side.PATIENT, "p1", NOW + timedelta(minutes=21))

    keys = sorted(client.scan_iter("th:consult:40*"))
    assert keys == [
        "th:consult:40",
        "th:consult:40:active:patient",
        "th:consult:40:active:provider",
        "th:consult:40:gone:patient",
        "th:consult:40:gone:provider",
        "th:consult:40:route",
        "th:consult:40:warned",
    ]
    for key in keys:
        assert 0 < ttl(client, key) <= DAY, key
    assert client.zscore("th:clock:ending", "40") is None
    assert client.zscore("th:lobby", "40") is None
    assert not client.sismember("th:live", "40")


@pytest.mark.parametrize("finish", ["cancel", "no_show"])
def test_other_terminal_phases_expire_too(
    store: LiveConsultStore, client: redis.Redis, finish: str
) -> None:
    waiting_consult(store, 41)
    store.join(41, Side.PATIENT, "p1", "phone", NOW)
    if finish == "cancel":
        store.cancel(41)
    else:
        store.mark_no_show(41, Side.PROVIDER, NOW + timedelta(minutes=10))
    for key in ["th:consult:41", "th:consult:41:presence:patient"]:
        assert 0 < ttl(client, key) <= DAY, key
    assert client.zscore("th:lobby", "41") is None


def test_key_prefix_keeps_stores_apart(client: redis.Redis) -> None:
    a = LiveConsultStore(client, RULES, key_prefix="a")
    b = LiveConsultStore(client, RULES, key_prefix="b")
    a.ensure(1, START, END)
    assert b.get(1) is None
    assert client.exists("a:consult:1") == 1
