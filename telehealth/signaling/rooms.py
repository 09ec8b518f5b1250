"""What every web process tells the two sides of a consult (through the Redis queue)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from flask_socketio import SocketIO

from ..clinic import Clinic
from ..consult.records import record_end
from ..db import utcnow
from ..sessions import LiveConsult, LiveRoomClosed, LiveRooms, Side, TransitionError
from .ice import ice_servers, spend_from_budget, turn_budget_key

NAMESPACE = "/consult"


def room_of(consult_id: int, side: Side | str | None = None) -> str:
    """Socket.IO room names: one per consult and one per side of it."""
    return f"c{consult_id}" if side is None else f"c{consult_id}:{side}"


def other_side(side: Side | str) -> Side:
    return Side.PROVIDER if side == Side.PATIENT else Side.PATIENT


def next_url(consult_id: int, side: Side | str) -> str:
    if side == Side.PATIENT:
        return "/consult/thanks"
    return f"/staff/consults/{consult_id}/outcome"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _presence_view(presence: dict[Side, list[dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    return {
        str(side): [{"device": d.get("device", ""), "since": d.get("since", "")} for d in devices]
        for side, devices in presence.items()
    }


def state_view(clinic: Clinic, live: LiveConsult, side: Side) -> dict[str, Any]:
    """The consult as one side sees it; the patient never sees the provider's notes."""
    info = clinic.live.note(live.consult_id, "info")
    view: dict[str, Any] = {
        "consult_id": live.consult_id,
        "you": str(side),
        "phase": str(live.phase),
        "starts_at": _iso(live.starts_at),
        "checked_in_at": _iso(live.checked_in_at),
        "admitted_at": _iso(live.admitted_at),
        "call_ends_at": _iso(live.call_ends_at),
        "ended_by": live.ended_by,
        "server_time": utcnow().isoformat(),
        "provider_name": info.get("provider_name", ""),
        "running_late_minutes": live.running_late_minutes,
        "presence": _presence_view(clinic.live.presence(live.consult_id)),
    }
    if side == Side.PROVIDER:
        view["patient_name"] = info.get("patient_name", "")
        checklist: dict[str, Any] = dict(clinic.live.note(live.consult_id, "checklist"))
        if checklist:
            checklist["in_ontario"] = checklist.get("in_ontario") == "yes"
        view["checklist"] = checklist or None
        view["precheck"] = clinic.live.note(live.consult_id, "precheck") or None
    return view


def send_state(socketio: SocketIO, clinic: Clinic, consult_id: int, to: str | None = None) -> None:
    """Tell both sides (or one socket) how the consult stands now, and the admins."""
    live = clinic.live.get(consult_id)
    if live is None:
        return
    for side in Side:
        socketio.emit(
            "state",
            state_view(clinic, live, side),
            namespace=NAMESPACE,
            to=to or room_of(consult_id, side),
        )
        if to:
            return
    from .monitor import send_room_update

    send_room_update(socketio, clinic, consult_id)


def send_ice_servers(
    socketio: SocketIO, clinic: Clinic, consult_id: int, side: Side, to: str | None = None
) -> None:
    """ICE and time-limited TURN credentials, only ever sent to an admitted party.

    Reconnecting over and over buys no TURN quota: past the consult's hourly budget of
    credentials the party gets STUN only."""
    config = clinic.config
    payload = ice_servers(
        stun_urls=config["STUN_URLS"],
        turn_urls=config["TURN_URLS"],
        turn_secret=config["TURN_SECRET"],
        ttl=int(config["TURN_TTL_SECONDS"]),
        user_tag=f"c{consult_id}-{side}",
        now=time.time(),
        transport_policy=config["ICE_TRANSPORT_POLICY"],
        with_turn=spend_from_budget(
            clinic.redis,
            turn_budget_key(consult_id, "call"),
            config["TURN_CREDENTIALS_PER_CONSULT_HOUR"],
        ),
    )
    target = to or clinic.live.active_sid(consult_id, side) or room_of(consult_id, side)
    socketio.emit("ice_servers", payload, namespace=NAMESPACE, to=target)


def send_ended(socketio: SocketIO, consult_id: int, live: LiveConsult, reason: str) -> None:
    for side in Side:
        socketio.emit(
            "ended",
            {
                "by": live.ended_by,
                "phase": str(live.phase),
                "reason": reason,
                "next_url": next_url(consult_id, side),
            },
            namespace=NAMESPACE,
            to=room_of(consult_id, side),
        )


def _count(update: Any) -> None:
    """Bump a counter of the current app's metrics, where there is an app context."""
    from flask import current_app, has_app_context

    from ..metrics import metrics_of

    if has_app_context():
        update(metrics_of(current_app))


END_REASONS = {
    "patient": "The patient ended the call.",
    "provider": "The physiotherapist ended the call.",
    "clock": "The 20-minute consult is over.",
    "admin": "The clinic ended this call.",
}


def finish_consult(
    socketio: SocketIO, clinic: Clinic, consult_id: int, by: str, actor: str, now: datetime
) -> LiveConsult | None:
    """End the call once, whoever asks first; returns None if it had already ended."""
    try:
        live = clinic.live.end(consult_id, now, by)
    except TransitionError:
        return None
    record_end(clinic.db, consult_id, actor, str(live.phase), by, now)
    _count(lambda m: m.consults_ended.labels(by).inc())
    send_ended(socketio, consult_id, live, END_REASONS.get(by, "The call has ended."))
    send_state(socketio, clinic, consult_id)
    return live


NO_SHOW_REASONS = {
    Side.PATIENT: "The patient did not arrive.",
    Side.PROVIDER: "We're sorry: your physiotherapist could not join. The clinic will call you "
    "to book another time.",
}


def close_as_no_show(
    socketio: SocketIO, clinic: Clinic, consult_id: int, side: Side, actor: str, now: datetime
) -> LiveConsult | None:
    """Record a no-show of `side` once; tell whoever is connected."""
    try:
        live = clinic.live.mark_no_show(consult_id, side, now)
    except TransitionError:
        return None
    record_end(
        clinic.db,
        consult_id,
        actor,
        str(live.phase),
        "clock" if actor == "system" else "provider",
        now,
    )
    _count(lambda m: m.no_shows.labels(str(side)).inc())
    send_ended(socketio, consult_id, live, NO_SHOW_REASONS[side])
    send_state(socketio, clinic, consult_id)
    return live


ROOM_CLOSED_REASONS = {
    "cancelled": "This consult was cancelled.",
    "rescheduled": "This consult has moved to a new time. Your email has the details.",
}
ROOM_CLOSED_NEXT = {Side.PATIENT: "/consult", Side.PROVIDER: "/staff"}


def tell_room_closed(socketio: SocketIO, clinic: Clinic, event: LiveRoomClosed) -> None:
    """Both sides' open pages learn that the booking was cancelled or moved, and leave."""
    for side in Side:
        socketio.emit(
            "ended",
            {
                "by": "patient",
                "phase": str(event.because),
                "reason": ROOM_CLOSED_REASONS[str(event.because)],
                "next_url": ROOM_CLOSED_NEXT[side],
            },
            namespace=NAMESPACE,
            to=room_of(event.consult_id, side),
        )
    send_state(socketio, clinic, event.consult_id)


def listen_for_closed_rooms(socketio: SocketIO, clinic: Clinic, rooms: LiveRooms) -> None:
    """Wire the booking side's room closings to the sockets (called once per app)."""
    rooms.subscribe(lambda event: tell_room_closed(socketio, clinic, event))
