"""The /consult namespace: authenticate at connect, authorize every event, relay signals."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import redis
from flask import Flask, request
from flask_socketio import Namespace, join_room

from ..clinic import Clinic
from ..db import utcnow
from ..domain.booking_rules import normalise_phone
from ..domain.names import short_name
from ..metrics import metrics_of
from ..protocol import Measuring, SwitchDevice, decode, encode
from ..sessions import Phase, Side, TransitionError
from .context import current_sid, refused_connection
from .identify import TARGET, Identity, who_connects
from .members import (
    OK,
    STANDBY,
    UNAUTHORIZED,
    UNAVAILABLE,
    UNAVAILABLE_MESSAGE,
    Member,
    device_id,
    device_label,
    refusal,
)
from .messages import (
    Invalid,
    parse_admit,
    parse_chat,
    parse_check_in,
    parse_media_state,
    parse_signal,
    parse_stats,
)
from .monitor import room_changed
from .precheck_events import PrecheckEvents
from .queue import ClinicRedisManager
from .rooms import (
    NAMESPACE,
    other_side,
    room_of,
    send_ice_servers,
)
from .routing import RelayRoutes
from .throttle import TokenBucket, connect_gate

log = logging.getLogger(__name__)
FLOOD_COOL_OFF_SECONDS = 10


class ConsultNamespace(PrecheckEvents, Namespace):
    """Both sides of every consult this process serves."""

    def __init__(self, app: Flask) -> None:
        super().__init__(NAMESPACE)
        self.app = app
        self.clinic: Clinic = app.extensions["clinic"]
        self.members: dict[str, Member] = {}
        self.process_id = uuid.uuid4().hex
        self.buckets: dict[tuple[int, Side], TokenBucket] = {}
        self.cooling_off: dict[tuple[int, Side], float] = {}
        self.metrics = metrics_of(app)
        self._counters: dict[str, Any] = {}
        self.gate = connect_gate(app)
        self.max_devices = int(app.config["MAX_DEVICES_PER_SIDE"])
        self.routes = self._routes_of(app)

    def _routes_of(self, app: Flask) -> RelayRoutes:
        """The routes of the consults served here, fed by the message queue's connection."""
        from ..extensions import socketio

        queue = socketio.server.manager if socketio.server is not None else None
        shared = bool(app.config.get("SOCKETIO_MESSAGE_QUEUE", True))
        routes = RelayRoutes(self.clinic.live, shared=shared)
        if isinstance(queue, ClinicRedisManager):
            queue.hear_routes(routes, self.clinic.live.route_channel)
        return routes

    def counted(self, event: str) -> Any:
        """The per-event counter; unknown event names share one label (bounded cardinality)."""
        name = event if hasattr(self, f"on_{event}") or event == "signal" else "unknown"
        if name not in self._counters:
            self._counters[name] = self.metrics.signaling_events.labels(name)
        return self._counters[name]

    # -- dispatch: every event is rate-limited and tied to the socket's consult ----------

    def trigger_event(self, event: Any, *args: Any) -> Any:
        sid = args[0] if args else None
        # A client may send EVENT packets named like these: only the server's own count.
        if event == "connect" and sid not in self.members:
            try:
                return super().trigger_event(event, *args)
            except redis.RedisError as error:
                raise refused_connection(
                    {"code": "unavailable", "message": UNAVAILABLE_MESSAGE}
                ) from error
        if event == "disconnect" and not self.socketio.server.manager.is_connected(sid, NAMESPACE):
            try:
                return super().trigger_event(event, *args)
            except redis.RedisError:
                return None
        member = self.members.get(str(sid))
        if member is None:
            return UNAUTHORIZED
        if not isinstance(event, str) or event in ("connect", "disconnect") or len(args) > 2:
            return refusal("invalid", "Send one payload with a known event name.")
        if not member.bucket.allow(time.monotonic()):
            if member.bucket.flooding:
                log.warning("disconnecting a flooding socket of consult %s", member.consult_id)
                member.bucket.forgive()
                self.cooling_off[(member.consult_id, member.side)] = (
                    time.monotonic() + FLOOD_COOL_OFF_SECONDS
                )
                self.socketio.server.disconnect(sid, namespace=NAMESPACE)
            return refusal("rate_limited", "Too many messages; slow down.")
        self.counted(event).inc()
        if event == "signal":  # the hot path skips the per-event Flask context
            try:
                return self._relay_signal(member, str(sid), args[1] if len(args) > 1 else None)
            except redis.RedisError:  # a route not held while Redis is away
                return UNAVAILABLE
        if not hasattr(self, f"on_{event}"):
            return refusal("unknown_event", f"There is no event called {event[:40]!r}.")
        try:  # exactly one payload argument, whatever the client sent
            return super().trigger_event(event, sid, args[1] if len(args) > 1 else None)
        except redis.RedisError:
            return UNAVAILABLE
        except Invalid as error:
            return {**refusal("invalid", error.message), "fields": error.fields}
        except TransitionError as error:
            return refusal(error.code, error.message)

    # -- connect and disconnect ------------------------------------------------------

    def on_connect(self, auth: Any) -> None:
        # An address refused too often is turned away before any SQL lookup or audit write.
        self.gate.let_in_or_refuse(TARGET)
        auth = auth if isinstance(auth, dict) else {}
        consult, side, actor, staff_id = self._identify(auth)
        if self.cooling_off.get((consult.id, side), 0.0) > time.monotonic():
            # A side cut off for flooding may not buy a fresh burst by reconnecting at once.
            raise self.gate.refuse(
                actor, TARGET, "rate_limited", "Too many messages; try again in a moment."
            )
        now = utcnow()
        info = {
            "provider_name": consult.provider.name,
            "patient_name": short_name(consult.patient.name),
            "probe": "1" if consult.is_probe else "",
        }
        live = self.clinic.consults.open_room(consult.id, consult.starts_at, consult.ends_at, info)
        if live.phase.is_terminal:
            raise refused_connection({"code": "ended", "message": "This consult has ended."})
        sid = current_sid()
        device = device_label(auth.get("device"))
        # In its rooms before the join, so the join's one broadcast (`state` to every device
        # of both sides, the monitor's room) reaches this socket too. A refused connect
        # leaves its rooms with it.
        join_room(room_of(consult.id))
        join_room(room_of(consult.id, side))
        # Served from before the join: the route the join writes is kept without a read.
        self.routes.serve(consult.id)
        try:
            self._join_device(
                consult.id, side, sid, device, actor, now, device_id(auth.get("device_id"))
            )
        except BaseException:
            self.routes.release(consult.id)
            raise
        self.members[sid] = Member(
            consult.id,
            side,
            actor,
            device,
            self._bucket_of(consult.id, side),
            staff_id,
            room_of(consult.id, other_side(side)),
        )
        # A waiting device gets no ICE servers: it takes no part in the call until switched.
        if live.phase == Phase.IN_CALL and self.routes.active(consult.id, side) == sid:
            send_ice_servers(self.socketio, self.clinic, consult.id, side, to=sid)

    def _join_device(
        self,
        consult_id: int,
        side: Side,
        sid: str,
        device: str,
        actor: str,
        now: Any,
        device_id: str = "",
    ) -> int:
        """Count the device in the shared presence; one link opens at most MAX_DEVICES_PER_SIDE
        sockets per side, across every web process. A side's first device is the one in the
        call; another one waits (`switch_device`)."""
        try:
            return self.clinic.consults.device_joined(
                consult_id,
                side,
                sid,
                device,
                now,
                self.process_id,
                self.max_devices,
                device_id,
            )
        except TransitionError as error:
            if error.code == "too_many_devices":
                raise self.gate.refuse(actor, TARGET, error.code, error.message) from error
            ended = {"code": "ended", "message": "This consult has ended."}
            raise refused_connection(ended) from error

    def _identify(self, auth: dict[str, Any]) -> Identity:
        return who_connects(self.clinic, self.app.config, self.gate, auth)

    def _bucket_of(self, consult_id: int, side: Side) -> TokenBucket:
        """One event budget per consult side in this process: reconnecting buys no new burst."""
        key = (consult_id, side)
        if key not in self.buckets:
            config = self.app.config
            self.buckets[key] = TokenBucket(
                config["SOCKET_EVENTS_PER_SECOND"], config["SOCKET_EVENT_BURST"]
            )
        return self.buckets[key]

    # -- devices of web processes that died (kill -9, a crashed container) -------------

    PROCESS_ALIVE_SECONDS = 6

    def say_alive(self) -> None:
        self.clinic.live.process_alive(self.process_id, self.PROCESS_ALIVE_SECONDS)

    def forget_dead_devices(self) -> int:
        """Let go of devices held by dead processes, telling the other side as a disconnect
        would have; any live process may do it for all of them."""
        now, forgotten = utcnow(), 0
        dead = self.clinic.live.devices_of_dead_processes(self.clinic.live.live_ids())
        for consult_id, devices in dead.items():
            for side, sid in devices:
                forgotten += 1
                self.clinic.consults.device_left(consult_id, side, sid, now)
        return forgotten

    def on_disconnect(self, reason: Any = None) -> None:
        member = self.members.pop(current_sid(), None)
        if member is None:
            return
        try:
            self.clinic.consults.device_left(
                member.consult_id, member.side, current_sid(), utcnow()
            )
        finally:
            self.routes.release(member.consult_id)

    # -- events ----------------------------------------------------------------------

    def _member(self) -> Member:
        return self.members[current_sid()]

    def _require(self, side: Side) -> Member | None:
        member = self._member()
        if member.side != side:
            # Aggregated: a socket repeating a refused event must not write a row each time.
            self.gate.note_denied(
                member.actor,
                f"event:{request.event['message']}",  # type: ignore[attr-defined]
            )
            return None
        return member

    def _is_standby(self, member: Member) -> bool:
        """True for a device that waits while another device of its side is in the call."""
        return self.routes.active(member.consult_id, member.side) != current_sid()

    def on_check_in(self, data: Any) -> dict[str, Any]:
        member = self._require(Side.PATIENT)
        if member is None:
            return UNAUTHORIZED
        if self._is_standby(member):
            return STANDBY
        answers = parse_check_in(data, normalise_phone)
        if not answers["in_ontario"]:
            return refusal(
                "not_in_ontario",
                "Ontario physiotherapists can only consult people "
                "who are in Ontario at the time of the call.",
            )
        live = self.clinic.consults.check_in(
            member.consult_id,
            member.actor,
            member.device,
            {
                "location": answers["location"],
                "in_ontario": "yes",
                "emergency_phone": answers["emergency_phone"],
            },
            utcnow(),
        )
        return {**OK, "phase": str(live.phase)}

    def on_admit(self, data: Any) -> dict[str, Any]:
        member = self._require(Side.PROVIDER)
        if member is None:
            return UNAUTHORIZED
        parse_admit(data)
        live = self.clinic.consults.admit(member.consult_id, member.actor, utcnow())
        return {**OK, "call_ends_at": live.call_ends_at.isoformat() if live.call_ends_at else None}

    def on_running_late(self, data: Any) -> dict[str, Any]:
        member = self._require(Side.PROVIDER)
        if member is None:
            return UNAUTHORIZED
        minutes = data.get("minutes") if isinstance(data, dict) else None
        if not isinstance(minutes, int) or minutes not in (5, 10, 15):
            raise Invalid("Choose 5, 10 or 15 minutes.", {"minutes": "5, 10 or 15"})
        self.clinic.consults.running_late(member.consult_id, member.actor, minutes)
        return OK

    def on_chat(self, data: Any) -> dict[str, Any]:
        member = self._member()
        text = parse_chat(data)
        if not self._phase_is(member.consult_id, Phase.WAITING, Phase.IN_CALL):
            return refusal("wrong_phase", "Chat opens when the patient is in the waiting room.")
        self.emit(
            "chat",
            {"from": str(member.side), "text": text, "at": utcnow().isoformat()},
            room=room_of(member.consult_id),
        )
        return OK

    def on_media_state(self, data: Any) -> dict[str, Any]:
        member = self._member()
        if self._is_standby(member):
            return STANDBY
        if not self._phase_is(member.consult_id, Phase.WAITING, Phase.IN_CALL):
            return refusal("wrong_phase", "Media switches are shared in the waiting room and call.")
        self.emit("peer_media", parse_media_state(data), room=member.relay_to)
        return OK

    def on_measuring(self, data: Any) -> dict[str, Any]:
        """The physiotherapist froze a frame to measure: the patient's page says so."""
        member = self._require(Side.PROVIDER)
        if member is None:
            return UNAUTHORIZED
        if self._is_standby(member):
            return STANDBY
        if not self._phase_is(member.consult_id, Phase.IN_CALL):
            return refusal("wrong_phase", "Measurements are taken during the call.")
        self.emit("peer_measuring", encode(decode(Measuring, data)), room=member.relay_to)
        return OK

    def on_stats(self, data: Any) -> dict[str, Any]:
        member = self._member()
        if self._is_standby(member):
            return STANDBY
        if not self._phase_is(member.consult_id, Phase.IN_CALL):
            return refusal("wrong_phase", "Call health is reported during the call only.")
        stats = parse_stats(data)
        stats["at"] = utcnow().isoformat()
        self.clinic.live.set_note(
            member.consult_id, f"stats:{member.side}", {k: str(v) for k, v in stats.items()}
        )
        room_changed(self.socketio, self.clinic, member.consult_id)
        return OK

    def on_first_frame(self, data: Any) -> dict[str, Any]:
        """A browser's admit → first decoded remote frame time, for the metrics."""
        seconds = data.get("seconds") if isinstance(data, dict) else None
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not (0 <= seconds <= 600)
        ):
            raise Invalid("seconds must be a number from 0 to 600.", {"seconds": "number"})
        self.metrics.first_frame.observe(float(seconds))
        return OK

    def on_end(self, data: Any = None) -> dict[str, Any]:
        member = self._member()
        if self._is_standby(member):
            return STANDBY
        live = self.clinic.consults.end(member.consult_id, str(member.side), member.actor, utcnow())
        if live is None:
            return refusal("already_ended", "This consult has already ended.")
        return OK

    # -- devices: one in the call per side, the others wait ----------------------------

    def on_switch_device(self, data: Any) -> dict[str, Any]:
        """A waiting device takes over its own side; the physiotherapist's device in the call
        moves the patient to the device they are joining from. Nothing else."""
        member = self._member()
        wanted = decode(SwitchDevice, data if data is not None else {}).side
        side = Side(wanted) if wanted else member.side
        standby = self._is_standby(member)
        if side == member.side:
            if not standby:
                return refusal("already_active", "This device is already the one in the call.")
            to_sid = current_sid()
        elif member.side == Side.PROVIDER:
            if standby:
                return STANDBY  # only the physiotherapist's page in the call decides
            waiting = self.clinic.live.waiting_devices(member.consult_id, side)
            if not waiting:
                return refusal(
                    "no_waiting_device", "The patient has no other device waiting to take over."
                )
            to_sid = waiting[0]  # the device the patient joined from last
        else:
            # A patient's device never moves the physiotherapist's side.
            self.gate.note_denied(member.actor, "event:switch_device")
            return UNAUTHORIZED
        self.clinic.consults.switch_device(
            member.consult_id, side, to_sid, by=str(member.side), actor=member.actor
        )
        return OK

    # -- the signal relay --------------------------------------------------------------

    def _phase_is(self, consult_id: int, *phases: Phase) -> bool:
        return self.routes.phase(consult_id) in phases

    def _relay_signal(self, member: Member, sid: str, data: Any) -> dict[str, Any]:
        """No Redis command: the route is in this process's memory (signaling/routing.py)."""
        try:
            payload = parse_signal(data)
        except Invalid as error:
            return {**refusal("invalid", error.message), "fields": error.fields}
        # Only the two sides' active devices exchange signals; the others stand by.
        route = self.routes.route(member.consult_id)
        if route.phase != Phase.IN_CALL:
            return refusal("wrong_phase", "Signals are relayed only during the call.")
        if route.active(member.side) != sid:
            return STANDBY
        target = route.active(other_side(member.side))
        if not target:
            return OK  # the other side's device is reconnecting; it renegotiates when back
        server = self.socketio.server
        # A peer on this very process needs no trip through the Redis queue.
        local = server.manager.eio_sid_from_sid(target, NAMESPACE)
        server.emit("signal", payload, to=target, namespace=NAMESPACE, ignore_queue=bool(local))
        return OK
