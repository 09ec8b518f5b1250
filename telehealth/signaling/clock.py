"""The consult clock: warnings at 5 and 1 minute left, and the end at 20:00.

Every web process runs one; Redis decides which process acts on each tick, so the
warnings and the end happen exactly once however many processes are alive.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import redis
from flask_socketio import SocketIO
from sqlalchemy import select

from ..clinic import Clinic
from ..db import utcnow
from ..models import Consult, ConsultStatus
from ..sessions import (
    LiveConsult,
    LiveRooms,
    RoomClosedBecause,
    Side,
    due_warnings,
    patient_no_show_due,
    provider_no_show_due,
)
from ..sessions.service import forget_live_room
from .rooms import NAMESPACE, close_as_no_show, finish_consult, room_of, tell_room_closed

log = logging.getLogger(__name__)


class ConsultClock:
    """Ticks the live consults of the whole clinic."""

    def __init__(self, socketio: SocketIO, clinic: Clinic, tick_seconds: float) -> None:
        self.socketio = socketio
        self.clinic = clinic
        self.tick_seconds = tick_seconds
        self.stopped = threading.Event()
        self._next_no_show_sweep = datetime.min.replace(tzinfo=utcnow().tzinfo)
        self._next_sweep = self._next_no_show_sweep
        self.sweeps: list[Callable[[], object]] = []
        self.outage_handlers: list[Callable[[], object]] = []
        self.rooms = LiveRooms(clinic.live, [lambda e: tell_room_closed(socketio, clinic, e)])

    NO_SHOW_SWEEP = timedelta(seconds=2)

    def tick(self, now: datetime) -> None:
        """End overdue calls and send due warnings, each once across all processes."""
        for consult_id in self.clinic.live.overdue_calls(now):
            if self._still_booked(consult_id, now):
                finish_consult(self.socketio, self.clinic, consult_id, "clock", "system", now)
        self._send_warnings(now)
        if now >= self._next_no_show_sweep:
            self._next_no_show_sweep = now + self.NO_SHOW_SWEEP
            self._close_no_shows(now)
            for sweep in self.sweeps:  # this process's own sockets, e.g. disabled staff
                sweep()

    def _close_no_shows(self, now: datetime) -> None:
        """Patients who never checked in, physiotherapists who never admitted."""
        live, rules = self.clinic.live, self.clinic.live.rules
        for consult_id, starts_at, ends_at in self._unattended(now):
            booked = live.ensure(consult_id, starts_at, ends_at)
            if booked.starts_at != starts_at:  # moved while Redis was away: start afresh
                forget_live_room(live, consult_id)
                booked = live.ensure(consult_id, starts_at, ends_at)
            if patient_no_show_due(booked, now, rules):
                close_as_no_show(
                    self.socketio, self.clinic, consult_id, Side.PATIENT, "system", now
                )
        for consult_id in live.waiting_ids():
            waiting = live.get(consult_id)
            if waiting is None or not self._still_booked(consult_id, now, waiting):
                continue
            if provider_no_show_due(waiting, now, rules):
                if close_as_no_show(
                    self.socketio, self.clinic, consult_id, Side.PROVIDER, "system", now
                ):
                    log.warning("consult %s: provider no-show", consult_id)

    def _still_booked(
        self, consult_id: int, now: datetime, live: LiveConsult | None = None
    ) -> bool:
        """SQL is the truth: a room whose booking was cancelled or moved is closed, not ended.

        Cancel and reschedule close the room themselves; this catches what they could not
        (Redis unreachable at that moment), so the clock never rewrites a cancelled consult
        as a no-show, nor trips over the slot it freed."""
        with self.clinic.db.sessions() as session:
            row = session.execute(
                select(Consult.status, Consult.starts_at).where(Consult.id == consult_id)
            ).first()
        live = live or self.clinic.live.get(consult_id)
        if row is None or live is None:
            return row is not None
        status, starts_at = row
        if status == ConsultStatus.CANCELLED:
            self.rooms.close(consult_id, RoomClosedBecause.CANCELLED, now)
            return False
        if status != ConsultStatus.BOOKED:
            return False  # already over in SQL: the first terminal status stands
        if starts_at != live.starts_at:
            self.rooms.close(consult_id, RoomClosedBecause.RESCHEDULED, now)
            return False
        return True

    def _unattended(self, now: datetime) -> list[tuple[int, datetime, datetime]]:
        rules = self.clinic.live.rules
        query = select(Consult.id, Consult.starts_at, Consult.ends_at).where(
            Consult.status == ConsultStatus.BOOKED,
            Consult.checked_in_at.is_(None),
            Consult.is_probe.is_(False),
            Consult.starts_at <= now - rules.no_show_after,
            Consult.starts_at >= now - timedelta(days=1),
        )
        with self.clinic.db.sessions() as session:
            return [(i, s, e) for i, s, e in session.execute(query)]

    def _send_warnings(self, now: datetime) -> None:
        rules = self.clinic.live.rules
        horizon = now + max(rules.warnings, default=timedelta(0))
        for consult_id in self.clinic.live.calls_ending_by(horizon):
            live = self.clinic.live.get(consult_id)
            if live is None:
                continue
            sent = self.clinic.live.warned(consult_id)
            for seconds_left in due_warnings(live, now, rules, sent):
                if self.clinic.live.claim_warning(consult_id, seconds_left):
                    self.socketio.emit(
                        "warning",
                        {"seconds_left": seconds_left},
                        namespace=NAMESPACE,
                        to=room_of(consult_id),
                    )

    OUTAGE_AFTER_FAILED_TICKS = 3

    def run(self) -> None:
        """Tick until stopped; an outage is logged and the next tick tries again."""
        failed_ticks = 0
        while not self.stopped.is_set():
            try:
                self.tick(utcnow())
                failed_ticks = 0
            except redis.RedisError as error:
                failed_ticks += 1
                log.warning("consult clock: Redis unavailable (%s)", type(error).__name__)
                if failed_ticks == self.OUTAGE_AFTER_FAILED_TICKS:
                    for handler in self.outage_handlers:
                        handler()
            except Exception:  # noqa: BLE001 - an SQL blip must not stop the clock
                log.exception("consult clock tick failed")
            self.socketio.sleep(self.tick_seconds)

    def stop(self) -> None:
        self.stopped.set()
