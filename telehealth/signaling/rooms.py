"""What every web process tells the two sides of a consult (through the Redis queue)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from flask_socketio import SocketIO

from ..clinic import Clinic
from ..db import utcnow
from ..sessions import ConsultChanged, LiveConsult, LiveSnapshot, Phase, Side
from .ice import ice_servers, spend_from_budget, turn_budget_key

NAMESPACE = "/consult"


def room_of(consult_id: int, side: Side | str | None = None) -> str:
    """Socket.IO room names: one per consult and one per side of it."""
    return f"c{consult_id}" if side is None else f"c{consult_id}:{side}"


def other_side(side: Side | str) -> Side:
    return Side.PROVIDER if side == Side.PATIENT else Side.PATIENT


# The patient's ending page tells why the consult ended from the server's records (never
# from this event), so every ending leads there.
PATIENT_ENDING_URL = "/consult/ended"


def next_url(consult_id: int, side: Side | str) -> str:
    if side == Side.PATIENT:
        return PATIENT_ENDING_URL
    return f"/staff/consults/{consult_id}/outcome"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _presence_view(
    presence: dict[Side, list[dict[str, str]]], active: dict[Side, str | None]
) -> dict[str, list[dict[str, Any]]]:
    return {
        str(side): [
            {
                "device": d.get("device", ""),
                "since": d.get("since", ""),
                "active": d.get("sid") == active[side],
            }
            for d in devices
        ]
        for side, devices in presence.items()
    }


def state_view(
    clinic: Clinic,
    live: LiveConsult,
    side: Side,
    this_device: str | None = None,
    reads: LiveSnapshot | None = None,
) -> dict[str, Any]:
    """The consult as one side sees it; the patient never sees the provider's notes.
    `this_device` ("active" or "standby") tells the device it goes to whether it is the one
    in the call; the physiotherapist also learns when the patient has a device waiting.
    `reads`: the consult read once for a whole broadcast (else it is read now)."""
    reads = reads or clinic.live.snapshot(live.consult_id)
    info = reads.note(live.consult_id, "info")
    active = {each: reads.active_sid(live.consult_id, each) for each in Side}
    presence = _presence_view(reads.presence(live.consult_id), active)
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
        "presence": presence,
    }
    if this_device is not None:
        view["this_device"] = this_device
    if side == Side.PROVIDER:
        view["patient_name"] = info.get("patient_name", "")
        checklist: dict[str, Any] = dict(reads.note(live.consult_id, "checklist"))
        if checklist:
            checklist["in_ontario"] = checklist.get("in_ontario") == "yes"
        view["checklist"] = checklist or None
        view["precheck"] = reads.note(live.consult_id, "precheck") or None
        view["patient_device_waiting"] = any(
            not device["active"] for device in presence[str(Side.PATIENT)]
        )
    return view


def send_state(
    socketio: SocketIO,
    clinic: Clinic,
    consult_id: int,
    to: str | None = None,
    side: Side | None = None,
    reads: LiveSnapshot | None = None,
) -> None:
    """Tell both sides (or one socket of `side`) how the consult stands now, and the admins.
    Each device hears whether it is its side's active one. One Redis round trip for all of
    it (`LiveConsultStore.snapshot`, or `reads` when the change came with it), and no
    message for a side's waiting devices when it has none."""
    reads = reads or clinic.live.snapshot(consult_id)
    live = reads.live
    if live is None:
        return
    if to is not None:
        side = side or Side.PATIENT
        role = "active" if reads.active[side] == to else "standby"
        view = state_view(clinic, live, side, role, reads)
        socketio.emit("state", view, namespace=NAMESPACE, to=to)
        return
    for each in Side:
        active = reads.active[each]
        if active:
            view = state_view(clinic, live, each, "active", reads)
            socketio.emit("state", view, namespace=NAMESPACE, to=active)
        if reads.has_standby(each):
            socketio.emit(
                "state",
                state_view(clinic, live, each, "standby", reads),
                namespace=NAMESPACE,
                to=room_of(consult_id, each),
                skip_sid=active,
            )
    from .monitor import room_changed

    room_changed(socketio, clinic, consult_id)


def send_ice_servers(
    socketio: SocketIO, clinic: Clinic, consult_id: int, side: Side, to: str | None = None
) -> None:
    """ICE and time-limited TURN credentials, only ever sent to an admitted party.

    Reconnecting over and over buys no TURN quota: past the consult's hourly budget of
    credentials the party gets STUN only."""
    # Only the side's active device: a waiting one takes no part (and gets no TURN
    # credential); an active device that is away gets them when it reconnects.
    target = to or clinic.live.active_sid(consult_id, side)
    if not target:
        return
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


# What people read when a consult ends, by the service's reason.
END_REASONS = {
    "ended_by_patient": "The patient ended the call.",
    "ended_by_provider": "The physiotherapist ended the call.",
    "ended_by_clock": "The 20-minute consult is over.",
    "ended_by_admin": "The clinic ended this call.",
    "patient_left": "The patient left the call and did not come back in time.",
    "provider_left": "The physiotherapist left the call and did not come back in time.",
    "no_show_patient": "The patient did not arrive.",
    "no_show_provider": "We're sorry: your physiotherapist could not join. The clinic will "
    "call you to book another time.",
    "ended": "The call has ended.",
}
ROOM_CLOSED_REASONS = {
    "cancelled": "This consult was cancelled.",
    "rescheduled": "This consult has moved to a new time. Your email has the details.",
}
# A cancelled consult's patient reads its ending; a moved one's, the new time (/consult).
ROOM_CLOSED_NEXT = {
    "cancelled": {Side.PATIENT: PATIENT_ENDING_URL, Side.PROVIDER: "/staff"},
    "rescheduled": {Side.PATIENT: "/consult", Side.PROVIDER: "/staff"},
}


def tell_room_closed(socketio: SocketIO, clinic: Clinic, consult_id: int, because: str) -> None:
    """Both sides' open pages learn that the booking was cancelled or moved, and leave."""
    for side in Side:
        socketio.emit(
            "ended",
            {
                "by": "patient",
                "phase": because,
                "reason": ROOM_CLOSED_REASONS[because],
                "next_url": ROOM_CLOSED_NEXT[because][side],
            },
            namespace=NAMESPACE,
            to=room_of(consult_id, side),
        )
    send_state(socketio, clinic, consult_id)


def tell_sockets(socketio: SocketIO, clinic: Clinic, event: ConsultChanged) -> None:
    """Translate one change of the session service into the socket messages it means."""
    consult_id, live = event.consult_id, event.live
    if event.change in ("cancelled", "rescheduled"):
        tell_room_closed(socketio, clinic, consult_id, event.change)
        return
    if event.change == "warning":
        socketio.emit(
            "warning",
            {"seconds_left": event.seconds_left},
            namespace=NAMESPACE,
            to=room_of(consult_id),
        )
        return
    if event.change in ("ended", "no_show") and live is not None:
        if event.change == "no_show" and event.side is not None:
            _count(lambda m: m.no_shows.labels(str(event.side)).inc())
        else:
            _count(lambda m: m.consults_ended.labels(event.by or "clock").inc())
        text = END_REASONS.get(event.reason, END_REASONS["ended"])
        send_ended(socketio, consult_id, live, text)
    elif event.change in ("device_joined", "device_left") and event.side is not None:
        alone = event.devices == (1 if event.change == "device_joined" else 0)
        if alone and live is not None and not live.is_terminal:
            socketio.emit(
                "peer_back" if event.change == "device_joined" else "peer_left",
                {"side": str(event.side), "devices": event.devices},
                namespace=NAMESPACE,
                to=room_of(consult_id, other_side(event.side)),
            )
    send_state(socketio, clinic, consult_id, reads=event.snapshot)
    if event.change == "device_switched" and event.side is not None:
        # Both sides' pages: the other side's call starts afresh with the new device.
        socketio.emit(
            "device_switched",
            {"side": str(event.side), "by": event.by},
            namespace=NAMESPACE,
            to=room_of(consult_id),
        )
        if live is not None and live.phase == Phase.IN_CALL:
            send_ice_servers(socketio, clinic, consult_id, event.side)
    if event.change == "admitted":
        if not clinic.live.note(consult_id, "info").get("probe"):
            _count(lambda m: m.consults_started.inc())  # probes stay out of the numbers
        for side in Side:
            send_ice_servers(socketio, clinic, consult_id, side)


def listen_for_consult_changes(socketio: SocketIO, clinic: Clinic) -> None:
    """Wire the session service's events to the sockets (called once per app)."""
    clinic.consults.subscribe(lambda event: tell_sockets(socketio, clinic, event))
