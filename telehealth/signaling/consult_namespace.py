"""The /consult namespace: authenticate at connect, authorize every event, relay signals."""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Flask, request, session
from flask_socketio import Namespace, join_room

from ..clinic import Clinic
from ..consult.access import PatientPass, consult_for_credential, consult_for_pass
from ..db import utcnow
from ..domain.booking_rules import normalise_phone
from ..domain.names import short_name
from ..metrics import metrics_of
from ..models import Consult, ConsultStatus
from ..protocol import SwitchDevice, decode
from ..protocol.acks import ok, refused
from ..sessions import Phase, Side, TransitionError
from ..sessions.state import join_window
from ..staff.auth import current_staff
from .context import current_sid, refused_connection
from .ice import ice_servers, spend_from_budget, turn_budget_key
from .media_namespace import MAX_PRECHECK_SDP, REFUSALS, PrecheckRefused
from .messages import (
    Invalid,
    parse_admit,
    parse_chat,
    parse_check_in,
    parse_media_state,
    parse_precheck,
    parse_signal,
    parse_stats,
)
from .monitor import send_room_update
from .rooms import (
    NAMESPACE,
    other_side,
    room_of,
    send_ice_servers,
    send_state,
)
from .throttle import TokenBucket, connect_gate

log = logging.getLogger(__name__)
TARGET = "socket:/consult"  # what a refused connect tried to open, in the audit
FLOOD_COOL_OFF_SECONDS = 10
# The pre-call check runs before admission, so its TURN credential is short-lived.
PRECHECK_TURN_TTL = 300


def refusal(code: str, message: str) -> dict[str, Any]:
    """The protocol's one refusal shape (telehealth/protocol/acks.py)."""
    return refused(code, message)


OK: dict[str, Any] = ok()
UNAUTHORIZED = refusal("unauthorized", "You are not part of this consult.")
UNAVAILABLE_MESSAGE = (
    "The clinic's live service is reconnecting. Your call continues; this page will catch up "
    "in a moment."
)
UNAVAILABLE = refusal("unavailable", UNAVAILABLE_MESSAGE)


@dataclass
class Member:
    """One connected socket: which consult, which side, and its event budget."""

    consult_id: int
    side: Side
    actor: str
    device: str
    bucket: TokenBucket
    staff_id: int | None = None
    relay_to: str = field(default="")


def _device_label(value: Any) -> str:
    return value.strip()[:40] if isinstance(value, str) and value.strip() else "Browser"


_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _device_id(value: Any) -> str:
    """The page's own random id, kept across its reconnects (docs/protocol.md); anything
    else makes the socket a device of its own."""
    return value if isinstance(value, str) and _DEVICE_ID.fullmatch(value) else ""


STANDBY = refusal(
    "standby",
    "This consult is open on another device. Use this device instead to take part.",
)


class ConsultNamespace(Namespace):
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
            return self._relay_signal(member, str(sid), args[1] if len(args) > 1 else None)
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
        live = self.clinic.consults.open_room(consult.id, consult.starts_at, consult.ends_at)
        if live.phase.is_terminal:
            raise refused_connection({"code": "ended", "message": "This consult has ended."})
        self.clinic.live.set_note(
            consult.id,
            "info",
            {
                "provider_name": consult.provider.name,
                "patient_name": short_name(consult.patient.name),
                "probe": "1" if consult.is_probe else "",
            },
        )
        sid = current_sid()
        device = _device_label(auth.get("device"))
        self._join_device(
            consult.id, side, sid, device, actor, now, _device_id(auth.get("device_id"))
        )
        self.members[sid] = Member(
            consult.id,
            side,
            actor,
            device,
            self._bucket_of(consult.id, side),
            staff_id,
            room_of(consult.id, other_side(side)),
        )
        join_room(room_of(consult.id))
        join_room(room_of(consult.id, side))
        # The device_joined event went out before this socket was in its rooms.
        send_state(self.socketio, self.clinic, consult.id, to=sid, side=side)
        # A waiting device gets no ICE servers: it takes no part in the call until switched.
        if live.phase == Phase.IN_CALL and self.clinic.live.active_sid(consult.id, side) == sid:
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

    def _identify(self, auth: dict[str, Any]) -> tuple[Consult, Side, str, int | None]:
        if "service_token" in auth:
            return self._identify_probe(auth)
        staff = current_staff()
        as_patient = "join_credential" in auth or auth.get("as") == "patient"
        if staff is not None and not as_patient:
            return self._identify_staff(staff, auth)
        return self._identify_patient(auth)

    def _identify_patient(self, auth: dict[str, Any]) -> tuple[Consult, Side, str, int | None]:
        now, rules = utcnow(), self.clinic.live.rules
        with self.clinic.db.sessions() as db_session:
            credential = auth.get("join_credential")
            if isinstance(credential, str):
                consult = consult_for_credential(db_session, credential, now, rules)
            else:
                patient_pass = PatientPass.from_session(session.get("patient"))
                consult = (
                    consult_for_pass(db_session, patient_pass, now, rules) if patient_pass else None
                )
            if consult is not None:
                _ = consult.provider.name, consult.patient.name
        if consult is None:
            raise self.gate.refuse(
                "anonymous", TARGET, "unauthorized", "This consult link is not active."
            )
        return consult, Side.PATIENT, f"patient:{consult.id}", None

    def _identify_staff(
        self, staff: Any, auth: dict[str, Any]
    ) -> tuple[Consult, Side, str, int | None]:
        consult_id = auth.get("consult_id")
        consult = None
        if isinstance(consult_id, int) and staff.is_physiotherapist:
            with self.clinic.db.sessions() as db_session:
                consult = db_session.get(Consult, consult_id)
                if consult is not None:
                    _ = consult.provider.name, consult.patient.name
        if (
            consult is None
            or consult.provider_id != staff.provider_id
            or consult.status == ConsultStatus.CANCELLED
        ):
            raise self.gate.refuse(
                f"staff:{staff.id}", TARGET, "unauthorized", "This is not one of your consults."
            )
        return consult, Side.PROVIDER, f"staff:{staff.id}", staff.id

    def _identify_probe(self, auth: dict[str, Any]) -> tuple[Consult, Side, str, int | None]:
        """The media service may play the physiotherapist, in probe consults only."""
        token, given = (
            str(self.app.config.get("MEDIA_SERVICE_TOKEN") or ""),
            auth.get("service_token"),
        )
        consult_id = auth.get("consult_id")
        consult = None
        if token and isinstance(given, str) and hmac.compare_digest(given, token):
            with self.clinic.db.sessions() as db_session:
                consult = (
                    db_session.get(Consult, consult_id) if isinstance(consult_id, int) else None
                )
                if consult is not None:
                    _ = consult.provider.name, consult.patient.name
        if consult is None or not consult.is_probe:
            raise self.gate.refuse(
                "service", TARGET, "unauthorized", "Only probe consults accept the service."
            )
        return consult, Side.PROVIDER, "service:probe", None

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
        for consult_id in self.clinic.live.live_ids():
            for side, sid in self.clinic.live.devices_of_dead_processes(consult_id):
                forgotten += 1
                self.clinic.consults.device_left(consult_id, side, sid, now)
        return forgotten

    def on_disconnect(self, reason: Any = None) -> None:
        member = self.members.pop(current_sid(), None)
        if member is None:
            return
        self.clinic.consults.device_left(member.consult_id, member.side, current_sid(), utcnow())

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
        return self.clinic.live.active_sid(member.consult_id, member.side) != current_sid()

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
        send_room_update(self.socketio, self.clinic, member.consult_id)
        return OK

    # -- the pre-call check: the browser against a media worker's echo peer ----------

    def _precheck_ice(self, consult_id: int) -> dict[str, Any]:
        config = self.app.config
        return ice_servers(
            stun_urls=config["STUN_URLS"],
            turn_urls=config["TURN_URLS"],
            turn_secret=config["TURN_SECRET"],
            ttl=PRECHECK_TURN_TTL,
            user_tag=f"c{consult_id}-precheck",
            now=time.time(),
            transport_policy=config["ICE_TRANSPORT_POLICY"],
        )

    def _precheck_refusal(self, member: Member | None) -> dict[str, Any] | None:
        """The check is the patient's, in an open lobby, before the call; else why not."""
        if member is None:
            return UNAUTHORIZED
        live = self.clinic.live.get(member.consult_id)
        if live is None or live.phase not in (Phase.SCHEDULED, Phase.WAITING):
            return refusal("wrong_phase", "The connection check runs before the call only.")
        opens, closes = join_window(live.starts_at, live.ends_at_booked, self.clinic.live.rules)
        if not opens <= utcnow() <= closes:
            return refusal("not_open_yet", "The connection check opens with the waiting room.")
        return None

    def on_precheck_ice(self, data: Any = None) -> dict[str, Any]:
        """The ICE servers for the check: the same path as the call, credentials for 5 min."""
        member = self._require(Side.PATIENT)
        refused = self._precheck_refusal(member)
        if refused is not None or member is None:
            return refused or UNAUTHORIZED
        # Each answer is a TURN credential: a consult gets as many as it has checks an hour.
        if not spend_from_budget(
            self.clinic.redis,
            turn_budget_key(member.consult_id, "precheck"),
            self.app.config["PRECHECKS_PER_CONSULT_HOUR"],
        ):
            return refusal("precheck_budget", REFUSALS["precheck_budget"])
        return {**OK, **self._precheck_ice(member.consult_id)}

    def on_precheck_offer(self, data: Any) -> dict[str, Any]:
        member = self._require(Side.PATIENT)
        refused = self._precheck_refusal(member)
        if refused is not None or member is None:
            return refused or UNAUTHORIZED
        offer = parse_signal(data).get("description")
        if not offer or offer["type"] != "offer":
            raise Invalid("Send an offer description.", {"description": "offer"})
        if len(offer["sdp"]) > MAX_PRECHECK_SDP:
            raise Invalid(
                "The offer is too large for the connection check.",
                {"description.sdp": f"at most {MAX_PRECHECK_SDP} characters"},
            )
        ice = self._precheck_ice(member.consult_id)
        try:
            check_id = self.app.extensions["precheck_broker"].start(
                current_sid(), member.consult_id, offer, ice
            )
        except PrecheckRefused as refused_check:
            return refusal(refused_check.code, refused_check.message)
        return {**OK, "check_id": check_id}

    def on_precheck_stop(self, data: Any) -> dict[str, Any]:
        check_id = data.get("check_id") if isinstance(data, dict) else None
        if isinstance(check_id, str):
            self.app.extensions["precheck_broker"].stop(check_id, current_sid())
        return OK

    def on_precheck_result(self, data: Any) -> dict[str, Any]:
        member = self._require(Side.PATIENT)
        if member is None:
            return UNAUTHORIZED
        result = parse_precheck(data)
        result["at"] = utcnow().isoformat()
        self.clinic.live.set_note(
            member.consult_id, "precheck", {k: str(v) for k, v in result.items()}
        )
        send_state(self.socketio, self.clinic, member.consult_id)
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
        live = self.clinic.live.get(consult_id)
        return live is not None and live.phase in phases

    def _relay_signal(self, member: Member, sid: str, data: Any) -> dict[str, Any]:
        try:
            payload = parse_signal(data)
        except Invalid as error:
            return {**refusal("invalid", error.message), "fields": error.fields}
        # Only the two sides' active devices exchange signals; the others stand by.
        phase, mine, target = self.clinic.live.relay_route(member.consult_id, member.side)
        if phase != Phase.IN_CALL:
            return refusal("wrong_phase", "Signals are relayed only during the call.")
        if mine != sid:
            return STANDBY
        if target is None:
            return OK  # the other side's device is reconnecting; it renegotiates when back
        server = self.socketio.server
        # A peer on this very process needs no trip through the Redis queue.
        local = server.manager.eio_sid_from_sid(target, NAMESPACE)
        server.emit("signal", payload, to=target, namespace=NAMESPACE, ignore_queue=bool(local))
        return OK
