"""The admin monitor: every room of today, live, with its call health; and force-end."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import redis
from flask import Flask, current_app, has_app_context
from flask_socketio import Namespace, SocketIO, join_room
from sqlalchemy import select

from .. import audit
from ..clinic import Clinic
from ..db import utcnow
from ..domain.availability import CLINIC_TZ, local_day_bounds
from ..domain.names import short_name
from ..models import Consult, ConsultStatus
from ..protocol.acks import ok, refused
from ..sessions import LiveConsult, LiveSnapshot, Phase, Side
from ..staff.auth import current_staff
from .context import current_sid
from .messages import ROUTES, STATS_RANGES, VERDICTS, stat_number
from .throttle import connect_gate

log = logging.getLogger(__name__)
MONITOR_NAMESPACE = "/monitor"
MONITOR_ROOM = "admins"
WAITING_TOO_LONG = timedelta(minutes=3)
POOR_LOSS_PCT = 5.0
# A busy clinic's second of changes goes out in parts this size: reading and encoding a
# hundred rooms in one go would hold up every socket of the process meanwhile.
ROOMS_PER_MESSAGE = 20
POOR_RTT_MS = 400.0
POOR_BITRATE_KBPS = 150.0


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _number(stats: dict[str, str], key: str) -> float | None:
    try:
        return float(stats[key])
    except (KeyError, ValueError):
        return None


def _moment(value: str | None) -> str | None:
    try:
        return datetime.fromisoformat(value).isoformat() if value and len(value) <= 40 else None
    except ValueError:
        return None


def sane_health(note: dict[str, str]) -> dict[str, str]:
    """Only what a browser can honestly report, whatever Redis holds (an older server, a bug):
    numbers in range, a known route and verdict, a timestamp; nothing else reaches an admin."""
    clean: dict[str, str] = {}
    for key in STATS_RANGES:
        try:
            number = stat_number(float(note[key]), key)
        except (KeyError, ValueError):
            number = None
        if number is not None:
            clean[key] = f"{number:g}"
    if "route" in note:
        clean["route"] = note["route"] if note["route"] in ROUTES else "unknown"
    if note.get("verdict") in VERDICTS:
        clean["verdict"] = note["verdict"]
    if at := _moment(note.get("at")):
        clean["at"] = at
    return clean


def call_quality(stats: dict[str, str]) -> str:
    """good / poor / unknown, from loss, round-trip time and bitrate (as Jitsi grades it)."""
    if not stats:
        return "unknown"
    loss, rtt, bitrate = (_number(stats, k) for k in ("loss_pct", "rtt_ms", "bitrate_kbps"))
    poor = (
        (loss is not None and loss > POOR_LOSS_PCT)
        or (rtt is not None and rtt > POOR_RTT_MS)
        or (bitrate is not None and bitrate < POOR_BITRATE_KBPS)
    )
    return "poor" if poor else "good"


def _flags(live: LiveConsult, health: dict[str, dict[str, str]], now: datetime) -> list[str]:
    flags = []
    if (
        live.phase == Phase.WAITING
        and live.checked_in_at
        and now - live.checked_in_at > WAITING_TOO_LONG
    ):
        flags.append("waiting_long")
    if live.phase == Phase.IN_CALL and any(call_quality(s) == "poor" for s in health.values()):
        flags.append("poor_quality")
    if live.phase == Phase.NO_SHOW_PROVIDER:
        flags.append("provider_no_show")
    return flags


def room_summary(
    clinic: Clinic, live: LiveConsult, now: datetime, reads: LiveSnapshot | None = None
) -> dict[str, Any]:
    """Call metadata an admin may see: never SDP, media or chat. `reads`: the consult
    read in one round trip (else it is read now)."""
    reads = reads or clinic.live.snapshot(live.consult_id)
    info = reads.note(live.consult_id, "info")
    presence = reads.presence(live.consult_id)
    health = {str(side): sane_health(reads.note(live.consult_id, f"stats:{side}")) for side in Side}
    precheck = sane_health(reads.note(live.consult_id, "precheck"))
    return {
        "consult_id": live.consult_id,
        "provider_name": info.get("provider_name", ""),
        "patient_name": info.get("patient_name", ""),
        "phase": str(live.phase),
        "starts_at": _iso(live.starts_at),
        "checked_in_at": _iso(live.checked_in_at),
        "admitted_at": _iso(live.admitted_at),
        "call_ends_at": _iso(live.call_ends_at),
        "server_time": now.isoformat(),
        "devices": {str(side): len(devices) for side, devices in presence.items()},
        "health": {
            side: {**stats, "quality": call_quality(stats)} for side, stats in health.items()
        },
        "precheck": precheck or None,
        "flags": _flags(live, health, now),
        "probe": bool(info.get("probe")),
    }


def _scheduled_summary(consult: Consult, now: datetime) -> dict[str, Any]:
    phase = {ConsultStatus.BOOKED: "scheduled", ConsultStatus.COMPLETED: "ended"}.get(
        ConsultStatus(consult.status), consult.status
    )
    return {
        "consult_id": consult.id,
        "provider_name": consult.provider.name,
        "patient_name": short_name(consult.patient.name),
        "phase": phase,
        "starts_at": _iso(consult.starts_at),
        "checked_in_at": _iso(consult.checked_in_at),
        "admitted_at": _iso(consult.admitted_at),
        "call_ends_at": None,
        "server_time": now.isoformat(),
        "devices": {"patient": 0, "provider": 0},
        "health": {},
        "precheck": None,
        "flags": ["provider_no_show"] if consult.status == ConsultStatus.NO_SHOW_PROVIDER else [],
    }


def todays_rooms(clinic: Clinic, now: datetime) -> list[dict[str, Any]]:
    """Every consult of today (Toronto), live where Redis knows it, else from SQL."""
    start, end = local_day_bounds(now.astimezone(CLINIC_TZ).date())
    query = (
        select(Consult)
        .where(
            Consult.starts_at >= start,
            Consult.starts_at < end,
            Consult.status != ConsultStatus.CANCELLED,
        )
        .order_by(Consult.starts_at)
    )
    rows = []
    with clinic.db.sessions() as session:
        for consult in session.scalars(query):
            live = clinic.live.get(consult.id)
            rows.append(
                room_summary(clinic, live, now) if live else _scheduled_summary(consult, now)
            )
    known = {row["consult_id"] for row in rows}
    for consult_id in clinic.live.live_ids():  # instant consults booked across midnight
        live = clinic.live.get(consult_id)
        if consult_id not in known and live is not None:
            rows.append(room_summary(clinic, live, now))
    return rows


class RoomUpdates:
    """What the admins hear of rooms changing: from each web process at most one
    `rooms_update` message per `MONITOR_UPDATE_SECONDS`, listing every room that changed
    meanwhile, all read from Redis in one round trip.

    Both sides of every call report their call health every few seconds, and every join,
    leave and phase change touches the room too; a message per change would cost the
    process a Redis read and a trip through the message queue each time, for a table an
    admin reads at a glance."""

    def __init__(self, socketio: SocketIO, clinic: Clinic, every_seconds: float) -> None:
        self.socketio, self.clinic, self.every = socketio, clinic, every_seconds
        self.changed: set[int] = set()
        self.scheduled = False
        self.sending = False

    @property
    def idle(self) -> bool:
        """Nothing marked, nothing waiting to go, nothing going out."""
        return not (self.changed or self.scheduled or self.sending)

    def room_changed(self, consult_id: int) -> None:
        self.changed.add(consult_id)
        if not self.scheduled:
            self.scheduled = True
            self.socketio.start_background_task(self._send_after_a_pause)

    def _send_after_a_pause(self) -> None:
        self.socketio.sleep(self.every)
        # Cleared before the read: a change from here on is sent in the next message.
        self.sending, self.scheduled = True, False
        changed, self.changed = sorted(self.changed), set()
        try:
            for start in range(0, len(changed), ROOMS_PER_MESSAGE):
                send_rooms(self.socketio, self.clinic, changed[start : start + ROOMS_PER_MESSAGE])
                self.socketio.sleep(0)  # the calls' signals go on between parts of a second
        except redis.RedisError as error:  # the next change sends its room again
            log.warning("monitor update skipped (%s)", type(error).__name__)
        finally:
            self.sending = False


def send_rooms(socketio: SocketIO, clinic: Clinic, consult_ids: list[int]) -> None:
    """Push these rooms' states to every admin watching, on any web process, at once."""
    now = utcnow()
    rooms = [
        room_summary(clinic, reads.live, now, reads)
        for reads in clinic.live.snapshots(consult_ids).values()
        if reads.live is not None
    ]
    if rooms:
        socketio.emit(
            "rooms_update", {"rooms": rooms}, namespace=MONITOR_NAMESPACE, to=MONITOR_ROOM
        )


def room_changed(socketio: SocketIO, clinic: Clinic, consult_id: int) -> None:
    """The admins will hear of this room's new state (with the app's `RoomUpdates`; sent at
    once outside an app, as in a script)."""
    updates = current_app.extensions.get("room_updates") if has_app_context() else None
    if isinstance(updates, RoomUpdates):
        updates.room_changed(consult_id)
    else:
        send_rooms(socketio, clinic, [consult_id])


class MonitorNamespace(Namespace):
    """Admins only, checked at connect and again on every event."""

    def __init__(self, app: Flask) -> None:
        super().__init__(MONITOR_NAMESPACE)
        self.clinic: Clinic = app.extensions["clinic"]
        self.admins: dict[str, int] = {}
        self.gate = connect_gate(app)

    def on_connect(self, auth: Any = None) -> None:
        self.gate.let_in_or_refuse("socket:/monitor")  # before the staff session's SQL lookup
        staff = current_staff()
        if staff is None or not staff.is_admin:
            actor = f"staff:{staff.id}" if staff else "anonymous"
            raise self.gate.refuse(
                actor, "socket:/monitor", "unauthorized", "The monitor is for clinic admins."
            )
        self.admins[current_sid()] = staff.id
        join_room(MONITOR_ROOM)
        self.emit("rooms", {"rooms": todays_rooms(self.clinic, utcnow())}, room=current_sid())

    def on_disconnect(self, reason: Any = None) -> None:
        self.admins.pop(current_sid(), None)

    def on_run_probe(self, data: Any = None) -> dict[str, Any]:
        """Start a synthetic probe call; its JSON result comes back as `probe_result`."""
        from ..consult.probes import any_physiotherapist, create_probe_consult, probe_links

        admin_id = self.admins.get(current_sid())
        if admin_id is None:
            return refused("unauthorized", "Admins only.")
        provider_id = any_physiotherapist(self.clinic)
        if provider_id is None:
            return refused("no_provider")
        base = self.clinic.config.get("PUBLIC_URL") or self.clinic.config.get("SELF_URL", "")
        booked = create_probe_consult(self.clinic, provider_id, f"staff:{admin_id}")
        links = probe_links(self.clinic, booked, base)
        with self.clinic.db.transaction() as session:
            audit.record(session, f"staff:{admin_id}", "admin.probe_started", links["id"])
        self.socketio.start_background_task(
            run_probe_process, self.socketio, self.clinic, base, links, current_sid()
        )
        return ok(consult_id=links["id"])

    def on_end_room(self, data: Any) -> dict[str, Any]:
        admin_id = self.admins.get(current_sid())
        consult_id = data.get("consult_id") if isinstance(data, dict) else None
        if admin_id is None:
            return refused("unauthorized", "Admins only.")
        if not isinstance(consult_id, int):
            return refused("invalid", "consult_id needed.", {"consult_id": "a number"})
        actor = f"staff:{admin_id}"
        live = self.clinic.consults.end(consult_id, "admin", actor, utcnow())
        if live is None:
            return refused("already_ended", "That room has already ended.")
        with self.clinic.db.transaction() as session:
            audit.record(session, actor, "admin.force_end", consult_id)
        return ok()


PROBE_TIMEOUT_SECONDS = 90


def run_probe_process(
    socketio: SocketIO, clinic: Clinic, base_url: str, links: dict[str, Any], admin_sid: str
) -> None:
    """aiortc needs asyncio, so the probe runs as its own process, never in this one."""
    env = {
        **os.environ,
        "PROBE_CONSULT_ID": str(links["id"]),
        "PROBE_JOIN_URL": links["join_url"],
        "MEDIA_SERVICE_TOKEN": str(clinic.config.get("MEDIA_SERVICE_TOKEN") or ""),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "telehealth", "probe", base_url],
            env=env,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
        )
        lines = done.stdout.strip().splitlines()
        result = json.loads(lines[-1]) if lines else {"ok": False, "error": done.stderr[-500:]}
    except (subprocess.TimeoutExpired, json.JSONDecodeError, OSError) as error:
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    result["consult_id"] = links["id"]
    socketio.emit("probe_result", result, namespace=MONITOR_NAMESPACE, to=admin_sid)
