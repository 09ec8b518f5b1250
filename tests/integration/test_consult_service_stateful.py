"""Random days of one consult, driven through the session service on real Redis and SQL.

After every step: SQL and Redis agree, a terminal status never changes, no no-show is
marked before the wait, and every change that happened was published to the listeners.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import update

from telehealth.models import Consult
from telehealth.sessions import Phase, Side, TransitionError
from tests.consults import instant_consult

ANSWERS = {"location": "Vaughan, ON", "in_ontario": "yes", "emergency_phone": "9055550100"}
WAIT = timedelta(seconds=120)
# Which SQL status each terminal live phase must sit beside.
AGREES = {
    Phase.ENDED: {"completed", "cancelled"},  # cancelled mid-call ends the call
    Phase.NO_SHOW_PATIENT: {"no_show_patient"},
    Phase.NO_SHOW_PROVIDER: {"no_show_provider"},
    Phase.CANCELLED: {"cancelled"},
}


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False, NO_SHOW_SECONDS=120, REJOIN_WINDOW_SECONDS=60)


def test_random_days_keep_both_stores_in_agreement(demo_clinic):
    hours = itertools.count(1)
    service = demo_clinic.consults

    class ConsultDay(RuleBasedStateMachine):
        @initialize()
        def book(self) -> None:
            # Each example gets its own slot: one provider cannot hold one start twice.
            booked = instant_consult(demo_clinic, minutes_from_now=60 * next(hours))
            self.consult_id = booked.id
            self.start = self._row().starts_at
            service.open_room(self.consult_id, self.start, self._row().ends_at)
            self.now = self.start - timedelta(minutes=5)
            self.heard: list[str] = []
            service.subscribe(self._hear)
            self.changes = 0
            self.terminal: str | None = None
            self.sids = itertools.count()
            self.devices: dict[Side, list[str]] = {Side.PATIENT: [], Side.PROVIDER: []}

        def _hear(self, event) -> None:
            if event.consult_id == self.consult_id:
                self.heard.append(event.change)

        def _row(self) -> Consult:
            with demo_clinic.db.sessions() as session:
                row = session.get(Consult, self.consult_id)
                assert row is not None
                return row

        def _try(self, action, *args) -> None:
            try:
                outcome = action(*args)
            except TransitionError:
                return
            if outcome is not None and outcome is not False:
                self.changes += 1

        def teardown(self) -> None:
            service.listeners.remove(self._hear)

        @rule()
        def check_in(self) -> None:
            self._try(service.check_in, self.consult_id, "patient:x", "Phone", ANSWERS, self.now)

        @rule()
        def admit(self) -> None:
            self._try(service.admit, self.consult_id, "staff:2", self.now)

        @rule(by=st.sampled_from(["patient", "provider", "admin"]))
        def end(self, by: str) -> None:
            self._try(service.end, self.consult_id, by, f"{by}:x", self.now)

        @rule(side=st.sampled_from(list(Side)))
        def no_show(self, side: Side) -> None:
            before = self.changes
            self._try(service.mark_no_show, self.consult_id, side, "staff:2", self.now)
            if self.changes > before:
                assert self.now >= self.start + WAIT, "a no-show before the wait"

        @rule()
        def cancel(self) -> None:
            if self._row().status == "booked" and self.now < self.start:
                self._try(service.cancel, self.consult_id, "patient", self.now)

        @rule(minutes=st.integers(1, 30))
        def reschedule(self, minutes: int) -> None:
            row = self._row()
            if row.status != "booked" or self.now >= row.starts_at:
                return
            moved = row.starts_at + timedelta(minutes=minutes, seconds=next(hours))
            with demo_clinic.db.transaction() as session:
                session.execute(
                    update(Consult)
                    .where(Consult.id == self.consult_id)
                    .values(starts_at=moved, ends_at=moved + timedelta(minutes=20))
                )
            service.reschedule(self.consult_id)
            self.changes += 1
            self.start = moved
            service.open_room(self.consult_id, moved, moved + timedelta(minutes=20))
            self.devices = {Side.PATIENT: [], Side.PROVIDER: []}

        @rule(side=st.sampled_from(list(Side)))
        def device_joins(self, side: Side) -> None:
            sid = f"sid-{next(self.sids)}"
            try:
                service.device_joined(self.consult_id, side, sid, "Phone", self.now, "proc")
            except TransitionError:
                return
            self.devices[side].append(sid)
            self.changes += 1

        @rule(side=st.sampled_from(list(Side)))
        def device_leaves(self, side: Side) -> None:
            if self.devices[side]:
                sid = self.devices[side].pop()
                service.device_left(self.consult_id, side, sid, self.now)
                self.changes += 1

        @rule(seconds=st.integers(1, 900))
        def time_passes(self, seconds: int) -> None:
            self.now += timedelta(seconds=seconds)
            before = len(self.heard)
            service.tick(self.now)
            self.changes += len(self.heard) - before  # the clock's own changes

        @invariant()
        def sql_and_redis_agree(self) -> None:
            live = demo_clinic.live.get(self.consult_id)
            status = str(self._row().status)
            if live is None:
                return
            if live.is_terminal:
                assert status in AGREES[live.phase], (live.phase, status)
            else:
                assert status == "booked", (live.phase, status)

        @invariant()
        def a_terminal_status_never_changes(self) -> None:
            status = str(self._row().status)
            if self.terminal is not None:
                assert status == self.terminal
            elif status != "booked":
                self.terminal = status

        @invariant()
        def every_change_was_told(self) -> None:
            assert len(self.heard) == self.changes, (self.heard, self.changes)

    run_state_machine_as_test(
        ConsultDay,
        settings=settings(
            max_examples=50,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
