"""Ending a live room when its booking changes: the first piece of the session service.

Cancelling or moving a consult is decided in SQL by the booking service; this module makes
the live side (Redis) follow, and tells whoever listens (signaling, wired by the app) so an
open patient or physiotherapist page learns at once. Booking never imports signaling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import redis

from .state import Phase, TransitionError
from .store import LiveConsultStore

log = logging.getLogger(__name__)

__all__ = ["LiveRoomClosed", "LiveRooms", "RoomClosedBecause", "close_live_room", "live_rooms"]


class RoomClosedBecause(StrEnum):
    """Why a live room closed from the booking side."""

    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"


@dataclass(frozen=True)
class LiveRoomClosed:
    """A consult's live room was closed because its booking changed."""

    consult_id: int
    because: RoomClosedBecause
    # The room's phase before it closed; None when Redis did not know the consult.
    phase_before: Phase | None


Listener = Callable[[LiveRoomClosed], object]


@dataclass
class LiveRooms:
    """Closes live rooms and publishes one LiveRoomClosed to every listener."""

    store: LiveConsultStore
    listeners: list[Listener] = field(default_factory=list)

    def subscribe(self, listener: Listener) -> None:
        """Hear about every room closed from now on (signaling tells the sockets)."""
        self.listeners.append(listener)

    def close(
        self, consult_id: int, because: RoomClosedBecause, now: datetime
    ) -> LiveRoomClosed | None:
        """End the room (cancelled) or forget it (rescheduled); None if Redis was unreachable."""
        return close_live_room(self.store, consult_id, because, now, self.listeners)


def close_live_room(
    store: LiveConsultStore,
    consult_id: int,
    because: RoomClosedBecause,
    now: datetime,
    listeners: list[Listener] | tuple[Listener, ...] = (),
) -> LiveRoomClosed | None:
    """Make the live state follow a cancelled or moved booking, then tell the listeners.

    Cancelled: the room moves to its terminal `cancelled` phase, so the clock, check-in and
    admission all refuse it from now on. Rescheduled: the old time's room is deleted, so a
    fresh one is started for the new time. SQL has already been written by the caller; a
    Redis outage is logged and leaves reconciliation to the clock (which reads SQL first)."""
    try:
        before = store.get(consult_id)
        if because is RoomClosedBecause.CANCELLED:
            _cancel_room(store, consult_id, now)
        else:
            forget_live_room(store, consult_id)
    except redis.RedisError as error:
        log.warning("consult %s: live room not closed (%s)", consult_id, type(error).__name__)
        return None
    event = LiveRoomClosed(consult_id, because, before.phase if before else None)
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - the booking change stands even if a page is not told
            log.exception("consult %s: a live room listener failed", consult_id)
    return event


def _cancel_room(store: LiveConsultStore, consult_id: int, now: datetime) -> None:
    try:
        store.cancel(consult_id)
    except TransitionError as error:
        if error.code == "already_admitted":
            # Admitted before the booked start and cancelled by the patient mid-call:
            # the call ends, as if the patient had hung up.
            store.end(consult_id, now, "patient")
        # unknown_consult: nobody ever opened the room; already_ended: nothing to do.


def forget_live_room(store: LiveConsultStore, consult_id: int) -> None:
    """Delete everything Redis holds about a consult's live room (its time has changed)."""
    # The store's own key names (private to it today; the full session service will own this).
    member = str(consult_id)
    consult_key = store._consult_key(consult_id)
    keys: list[Any] = list(store.redis.scan_iter(match=f"{consult_key}:*", count=100))
    with store.redis.pipeline() as pipe:
        pipe.delete(consult_key, *keys)
        pipe.srem(store._live_key, member)
        pipe.zrem(store._lobby_key, member)
        pipe.zrem(store._ending_key, member)
        pipe.execute()


def live_rooms(extensions: dict[str, Any], store: LiveConsultStore) -> LiveRooms:
    """The app's one LiveRooms, kept in `app.extensions` beside the clinic."""
    rooms = extensions.get("live_rooms")
    if not isinstance(rooms, LiveRooms):
        rooms = extensions["live_rooms"] = LiveRooms(store)
    return rooms
