"""The session service: the only code that changes a consult's state, in Redis and in SQL.

Each transition is one method. It asks the pure state machine (state.py, through the
store's atomic transitions) whether the move is allowed, writes Redis atomically, writes
the SQL status and the audit row (records.py), and publishes one `ConsultChanged` event.
Signaling turns events into socket messages; booking, the clock, the staff and admin
pages and the namespaces call these methods and never write consult state themselves.

Order and consistency: Redis decides who wins a race (its transitions are atomic across
processes), then SQL follows with a write that never overwrites a terminal status. A
cancellation is the booking's decision, so SQL goes first there. If the process fails
between the two writes, `reconcile` (every clock tick, and at start-up) makes Redis follow
a terminal SQL status, or finishes the SQL write a terminal Redis phase is missing.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis

from ..db import Database
from ..domain.measurements import MeasurementForm
from ..models import ConsultMeasurement
from . import records
from .state import (
    ConsultPolicy,
    LiveConsult,
    Phase,
    Side,
    TransitionError,
    due_warnings,
    is_overdue,
    patient_no_show_due,
    provider_no_show_due,
)
from .store import ClockView, LiveConsultStore, LiveSnapshot

log = logging.getLogger(__name__)

__all__ = ["ConsultChanged", "ConsultService"]


class Unread(enum.Enum):
    """A value the caller has not read (None is an answer: Redis does not know the consult)."""

    UNREAD = "unread"


UNREAD = Unread.UNREAD


@dataclass(frozen=True)
class ConsultChanged:
    """One change of one consult, as signaling, metrics and people need to hear of it.

    `change`: checked_in, admitted, running_late, ended, no_show, cancelled, rescheduled,
    device_joined, device_left, device_switched, warning. `reason` says why in a stable
    word: ended_by_patient, ended_by_provider, ended_by_clock, ended_by_admin, patient_left,
    provider_left, no_show_patient, no_show_provider, cancelled, rescheduled,
    device_switched."""

    consult_id: int
    change: str
    live: LiveConsult | None
    by: str = ""
    reason: str = ""
    side: Side | None = None
    devices: int = 0
    seconds_left: int = 0
    # The consult as read right after the change, where the service read all of it: its
    # listeners tell both sides from this read instead of reading again.
    snapshot: LiveSnapshot | None = None

    def __str__(self) -> str:
        return f"consult {self.consult_id} {self.change}: {self.reason or self.by or '-'}"


Listener = Callable[[ConsultChanged], object]


class ConsultService:
    """Every transition of every live consult of the clinic."""

    def __init__(self, store: LiveConsultStore, db: Database) -> None:
        self.store = store
        self.db = db
        self.listeners: list[Listener] = []

    @property
    def policy(self) -> ConsultPolicy:
        return self.store.rules

    def subscribe(self, listener: Listener) -> None:
        """Hear every change from now on (signaling, metrics)."""
        self.listeners.append(listener)

    def _publish(self, event: ConsultChanged) -> ConsultChanged:
        log.info("%s", event)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - the change stands even if a page is not told
                log.exception("consult %s: a listener of %s failed", event.consult_id, event.change)
        return event

    # -- the waiting room and the call ------------------------------------------------

    def open_room(
        self,
        consult_id: int,
        starts_at: datetime,
        ends_at: datetime,
        info: dict[str, str] | None = None,
    ) -> LiveConsult:
        """The live room of a booked consult (created scheduled the first time), with the
        names and kind the monitor shows (`info`), kept fresh on every connect."""
        notes = {"info": info} if info is not None else None
        return self.store.ensure(consult_id, starts_at, ends_at, notes)

    def check_in(
        self, consult_id: int, actor: str, device: str, answers: dict[str, str], now: datetime
    ) -> LiveConsult:
        """The patient enters the waiting room with where they are and an emergency phone."""
        before = self.store.get(consult_id)
        if before is not None and before.phase is Phase.IN_CALL:
            # The answers the physiotherapist confirmed stay as they were.
            raise TransitionError("already_admitted", "You are already in the call.")
        live = self.store.check_in(consult_id, now)
        self.store.set_note(consult_id, "checklist", answers)
        if before is None or before.phase is Phase.SCHEDULED:
            records.record_check_in(self.db, consult_id, actor, now, device)
        self._publish(ConsultChanged(consult_id, "checked_in", live, by="patient"))
        return live

    def admit(self, consult_id: int, actor: str, now: datetime) -> LiveConsult:
        """The physiotherapist lets the waiting patient in; the call's clock starts."""
        live = self.store.admit(consult_id, now)
        records.record_admit(self.db, consult_id, actor, now)
        self._publish(ConsultChanged(consult_id, "admitted", live, by="provider"))
        return live

    def running_late(self, consult_id: int, actor: str, minutes: int) -> LiveConsult:
        live = self.store.running_late(consult_id, minutes)
        records.record_running_late(self.db, consult_id, actor, minutes)
        self._publish(ConsultChanged(consult_id, "running_late", live, by="provider"))
        return live

    def end(
        self, consult_id: int, by: str, actor: str, now: datetime, reason: str = ""
    ) -> LiveConsult | None:
        """End the waiting room or the call once, whoever asks first (None if it was over)."""
        try:
            live = self.store.end(consult_id, now, by)
        except TransitionError:
            return None
        reason = reason or f"ended_by_{by}"
        records.record_end(self.db, consult_id, actor, str(live.phase), by, now, reason=reason)
        self._publish(ConsultChanged(consult_id, "ended", live, by=by, reason=reason))
        return live

    def mark_no_show(
        self, consult_id: int, side: Side, actor: str, now: datetime, by: str = "clock"
    ) -> LiveConsult:
        """`side` never came. Only once the no-show wait has passed, whoever asks."""
        live = self.store.get(consult_id)
        if live is None:
            raise TransitionError("unknown_consult", f"no live consult {consult_id}")
        if not self._no_show_due(live, side, now):
            waited_until = live.starts_at + self.policy.no_show_after
            raise TransitionError(
                "too_early",
                "Wait until "
                f"{waited_until.isoformat(timespec='minutes')} before marking a no-show.",
            )
        live = self.store.mark_no_show(consult_id, side, now)
        reason = str(live.phase)
        records.record_end(self.db, consult_id, actor, reason, by, now)
        self._publish(ConsultChanged(consult_id, "no_show", live, by=by, reason=reason, side=side))
        return live

    def _no_show_due(self, live: LiveConsult, side: Side, now: datetime) -> bool:
        if side is Side.PROVIDER:
            return provider_no_show_due(live, now, self.policy)
        if live.phase is Phase.SCHEDULED:
            return patient_no_show_due(live, now, self.policy)
        # Checked in and left the waiting room: the same wait from the booked start.
        return live.phase is Phase.WAITING and now >= live.starts_at + self.policy.no_show_after

    # -- the consult's record ------------------------------------------------------------

    def record_measurement(
        self, consult_id: int, staff_id: int, form: MeasurementForm, now: datetime
    ) -> dict[str, Any]:
        """Add a joint angle to the consult's record, once the patient was admitted (in the
        call or after it). No event: the patient's page has nothing to show for it."""
        return records.record_measurement(self.db, consult_id, staff_id, form, now)

    def delete_measurement(
        self, consult_id: int, measurement_id: int, staff_id: int, now: datetime
    ) -> str:
        """Take a measurement out of the consult's record (it can be restored); its summary."""
        return records.mark_measurement_deleted(self.db, consult_id, measurement_id, staff_id, now)

    def measurements(self, consult_id: int) -> list[ConsultMeasurement]:
        """The consult's measurements, oldest first (deleted ones left out)."""
        return records.measurements_of(self.db, consult_id)

    def measurement(self, consult_id: int, measurement_id: int) -> ConsultMeasurement | None:
        """One of the consult's measurements, deleted or not."""
        return records.measurement_of(self.db, consult_id, measurement_id)

    def restore_measurement(self, consult_id: int, measurement_id: int, staff_id: int) -> str:
        """Undo a deletion; the measurement's summary."""
        return records.mark_measurement_deleted(self.db, consult_id, measurement_id, staff_id, None)

    # -- the booking changes ------------------------------------------------------------

    def cancel(self, consult_id: int, actor: str, now: datetime) -> bool:
        """Cancel the consult (SQL first: it frees the slot), then close its live room.
        False when the consult was already over."""
        if not records.record_end(self.db, consult_id, actor, "cancelled", "patient", now):
            return False
        self._close_room_as_cancelled(consult_id, now)
        return True

    def _close_room_as_cancelled(self, consult_id: int, now: datetime) -> None:
        live = None
        try:
            live = self.store.cancel(consult_id)
        except TransitionError as refusal:
            if refusal.code == "already_admitted":
                # Admitted early and cancelled mid-call: the call ends as if hung up.
                live = self.store.end(consult_id, now, "patient")
        except redis.RedisError as error:  # the clock reconciles from SQL
            log.warning("consult %s: live room not closed (%s)", consult_id, type(error).__name__)
            return
        self._publish(ConsultChanged(consult_id, "cancelled", live, reason="cancelled"))

    def reschedule(self, consult_id: int) -> None:
        """The booking moved (SQL holds the new time): the old time's room is forgotten, so
        a fresh one opens for the new time, and open pages are told."""
        before = None
        try:
            before = self.store.get(consult_id)
            self.store.forget(consult_id)
        except redis.RedisError as error:
            log.warning("consult %s: old room kept (%s)", consult_id, type(error).__name__)
            return
        self._publish(ConsultChanged(consult_id, "rescheduled", before, reason="rescheduled"))

    # -- devices ------------------------------------------------------------------------

    def device_joined(
        self,
        consult_id: int,
        side: Side,
        sid: str,
        device: str,
        now: datetime,
        process_id: str,
        max_devices: int = 0,
        device_id: str = "",
    ) -> int:
        """A browser of `side` connected; refused past the cap. Returns the side's devices.
        The side's first device is its active one; later ones wait (see `switch_device`)."""
        devices = self.store.join(
            consult_id, side, sid, device, now, process_id, max_devices, device_id
        )
        reads = self.store.snapshot(consult_id)
        self._publish(
            ConsultChanged(
                consult_id, "device_joined", reads.live, side=side, devices=devices, snapshot=reads
            )
        )
        return devices

    def switch_device(
        self, consult_id: int, side: Side, to_sid: str, by: str, actor: str = ""
    ) -> LiveConsult | None:
        """`side`'s waiting device `to_sid` becomes the one in the call, the active one
        stands by. `by`: provider (switching the patient to their new device) or the side
        itself (its waiting device taking over). Who may ask is the caller's rule."""
        previous = self.store.switch_device(consult_id, side, to_sid)
        live = self.store.get(consult_id)
        records.record_device_switch(
            self.db, consult_id, actor or by, str(side), by, replaced=bool(previous)
        )
        self._publish(
            ConsultChanged(
                consult_id,
                "device_switched",
                live,
                by=by,
                reason="device_switched",
                side=side,
                devices=len(self.store.presence(consult_id)[side]),
            )
        )
        return live

    def device_left(self, consult_id: int, side: Side, sid: str, now: datetime) -> int:
        """A browser of `side` went away; the rejoin window starts when it was the last."""
        devices = self.store.leave(consult_id, side, sid, now)
        reads = self.store.snapshot(consult_id)
        self._publish(
            ConsultChanged(
                consult_id, "device_left", reads.live, side=side, devices=devices, snapshot=reads
            )
        )
        return devices

    # -- the clock and reconciliation -----------------------------------------------------

    def tick(self, now: datetime, pause: Callable[[], object] = lambda: None) -> None:
        """One round of the clinic's clock: make the stores agree, end overdue calls and
        calls a side left for longer than the rejoin window, send due warnings, mark
        no-shows. Three reads (Redis's live rooms, one SQL query, one pipelined read of
        every consult's live state) however many consults. `pause` lets the process's other
        work run between consults: a sweep of hundreds must not hold every socket at once."""
        live_ids = self.store.live_ids()
        rows = records.rows_to_watch(self.db, live_ids, now - timedelta(days=1))
        watched = sorted(set(live_ids) | rows.keys())
        views = self.store.clock_views(watched)
        for consult_id in watched:
            pause()
            view = views[consult_id]
            live = self.reconcile(consult_id, now, rows.get(consult_id), view.live)
            if live is None or live.is_terminal:
                continue
            if live.phase is Phase.IN_CALL:
                self._tick_call(live, view, now)
            elif live.phase is Phase.WAITING and provider_no_show_due(live, now, self.policy):
                self._try_no_show(consult_id, Side.PROVIDER, now)
            elif patient_no_show_due(live, now, self.policy):
                self._try_no_show(consult_id, Side.PATIENT, now)

    def _tick_call(self, live: LiveConsult, view: ClockView, now: datetime) -> None:
        consult_id = live.consult_id
        if is_overdue(live, now, self.policy):
            self.end(consult_id, "clock", "system", now)
            return
        for side in Side:
            if view.side_gone_too_long(side, now, self.store.rules.rejoin_window):
                self.end(consult_id, "clock", "system", now, reason=f"{side}_left")
                return
        for seconds_left in due_warnings(live, now, self.policy, set(view.warned)):
            if self.store.claim_warning(consult_id, seconds_left):
                self._publish(
                    ConsultChanged(consult_id, "warning", live, seconds_left=seconds_left)
                )

    def _try_no_show(self, consult_id: int, side: Side, now: datetime) -> None:
        try:
            self.mark_no_show(consult_id, side, "system", now)
        except TransitionError:
            pass  # another process got there first, or the side turned up

    def reconcile(
        self,
        consult_id: int,
        now: datetime,
        row: records.Row | None = None,
        live: LiveConsult | None | Unread = UNREAD,
    ) -> LiveConsult | None:
        """Make the two stores agree, SQL's terminal status first; the live state after.
        `row` and `live`: the consult's SQL status and times and its live state, when the
        caller already read them."""
        if isinstance(live, Unread):
            live = self.store.get(consult_id)
        row = row or records.booked_row(self.db, consult_id)
        if row is None:
            return live
        status, starts_at, ends_at = row
        sql_phase = records.PHASE_OF_STATUS.get(records.ConsultStatus(status))
        if live is None:
            if sql_phase is None and now >= starts_at + self.policy.no_show_after:
                return self.store.ensure(consult_id, starts_at, ends_at)  # for the no-show
            return None
        if sql_phase is None and live.starts_at != starts_at:
            self.reschedule(consult_id)  # moved while Redis was away
            return None
        if sql_phase == "cancelled":
            if live.phase not in (Phase.CANCELLED, Phase.ENDED):
                self._close_room_as_cancelled(consult_id, now)
            return self.store.get(consult_id)
        if sql_phase is not None and not live.is_terminal:
            return self._follow_sql_end(live, sql_phase, now)
        if sql_phase is None and live.is_terminal and live.phase is not Phase.CANCELLED:
            # Redis ended it but SQL never heard (a crash between the writes): finish it.
            by = live.ended_by or "clock"
            records.record_end(self.db, consult_id, "system", str(live.phase), by, now)
        return live

    def _follow_sql_end(self, live: LiveConsult, sql_phase: str, now: datetime) -> LiveConsult:
        consult_id = live.consult_id
        try:
            if sql_phase == "ended":
                ended = self.store.end(consult_id, now, "clock")
            else:
                side = Side.PATIENT if sql_phase == "no_show_patient" else Side.PROVIDER
                ended = self.store.mark_no_show(consult_id, side, now)
        except TransitionError:
            return self.store.get(consult_id) or live
        self._publish(ConsultChanged(consult_id, "ended", ended, by="clock", reason=sql_phase))
        return ended

    def reconcile_all(self, now: datetime) -> int:
        """At start-up: every live room agrees with SQL. Returns how many were looked at."""
        ids = self.store.live_ids()
        for consult_id in ids:
            self.reconcile(consult_id, now)
        return len(ids)
