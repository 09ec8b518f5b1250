"""/media: where media workers offer echo peers for the patients' pre-call check.

A worker connects with the service credential and its capacity; a patient's browser sends
its offer on /consult, the server hands it to a worker and relays the answer back. Nothing
of the media passes through here, and the worker stores none of it.
"""

from __future__ import annotations

import hmac
import json
import random
import secrets
import time
from typing import Any

from flask import Flask, current_app
from flask_socketio import Namespace

from ..clinic import Clinic
from ..protocol import MAX_PRECHECK_SDP as MAX_PRECHECK_SDP  # the /consult offer's limit
from ..protocol import REFUSALS as PROTOCOL_REFUSALS
from ..protocol import (
    Invalid,
    PrecheckAnswer,
    decode,
    encode,
    events,
    ok,
    refused,
)
from .context import current_sid
from .ice import BUDGET_WINDOW_SECONDS
from .throttle import connect_gate

MEDIA_NAMESPACE = events.MEDIA
WORKERS_KEY = "th:media:workers"
# A check's Redis record and its consult's place expire after this, even if no worker says so.
CHECK_TTL_SECONDS = 120
# The longest a worker may run one check; below CHECK_TTL_SECONDS so a place never outlives it.
CHECK_MAX_SECONDS = 90
HEARTBEAT_TTL = 30

# KEYS: the consult's running check, its hourly count. ARGV: check id, ttl, limit, window.
_CLAIM_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'check_running' end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used >= tonumber(ARGV[3]) then return 'precheck_budget' end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if redis.call('INCR', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
return 'ok'
"""
# KEYS: the consult's running check. ARGV: check id. Only the holder lets its place go.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# The pre-call check's refusals, in the protocol's words.
REFUSALS = {
    code: PROTOCOL_REFUSALS[code] for code in ("check_running", "precheck_budget", "no_worker")
}


class PrecheckRefused(Exception):
    """A pre-call check that may not start now; `code` is one of REFUSALS."""

    def __init__(self, code: str) -> None:
        super().__init__(REFUSALS[code])
        self.code = code
        self.message = REFUSALS[code]


def _check_key(check_id: str) -> str:
    return f"th:precheck:{check_id}"


def _running_key(consult_id: int) -> str:
    return f"th:precheck:c{consult_id}:running"


def _count_key(consult_id: int) -> str:
    return f"th:precheck:c{consult_id}:checks"


class PrecheckBroker:
    """Matches pre-call checks to media workers through Redis, from any web process.

    One check at a time per consult: its place is held from the offer until the worker says
    the echo peer is closed, so no consult ever holds more than one worker slot, and a
    consult gets PRECHECKS_PER_CONSULT_HOUR checks an hour. Redis keeps the offer only until
    it is answered."""

    def __init__(self, clinic: Clinic, socketio: Any) -> None:
        self.clinic = clinic
        self.socketio = socketio
        self.per_hour = int(clinic.config.get("PRECHECKS_PER_CONSULT_HOUR", 10))
        self._claim = clinic.redis.register_script(_CLAIM_LUA)
        self._release = clinic.redis.register_script(_RELEASE_LUA)

    def workers(self) -> list[str]:
        """Workers seen within the last HEARTBEAT_TTL seconds (a dead process's drop out)."""
        fresh_since = time.time() - HEARTBEAT_TTL
        return list(self.clinic.redis.zrangebyscore(WORKERS_KEY, fresh_since, "+inf"))  # type: ignore[arg-type]

    def heartbeat(self, sid: str) -> None:
        now = time.time()
        with self.clinic.redis.pipeline() as pipe:
            pipe.zadd(WORKERS_KEY, {sid: now})
            # Workers of crashed web processes never say goodbye: forget them here.
            pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 10 * HEARTBEAT_TTL)
            pipe.expire(WORKERS_KEY, 10 * HEARTBEAT_TTL)
            pipe.execute()

    def forget(self, sid: str) -> None:
        self.clinic.redis.zrem(WORKERS_KEY, sid)

    def start(
        self,
        browser_sid: str,
        consult_id: int,
        description: dict[str, str],
        ice: dict[str, Any],
        namespace: str = events.CONSULT,
    ) -> str:
        """Hand the offer to a worker and return the check id; PrecheckRefused otherwise.
        `namespace` is the browser's (/consult in the lobby, /setup from the setup link)."""
        if not self.workers():
            raise PrecheckRefused("no_worker")
        check_id = secrets.token_urlsafe(12)
        claimed = self._claim(
            keys=[_running_key(consult_id), _count_key(consult_id)],
            args=[check_id, CHECK_TTL_SECONDS, self.per_hour, BUDGET_WINDOW_SECONDS],
        )
        if claimed != "ok":
            raise PrecheckRefused(str(claimed))
        record = {
            "browser": browser_sid,
            "namespace": namespace,
            "consult_id": consult_id,
            "tried": [],
            "description": description,
            "ice": ice,
        }
        if not self._offer(check_id, record):
            self._let_go(check_id, record, refund=True)
            raise PrecheckRefused("no_worker")
        return check_id

    def _offer(self, check_id: str, record: dict[str, Any]) -> bool:
        candidates = [sid for sid in self.workers() if sid not in record["tried"]]
        if not candidates:
            return False
        worker = random.choice(candidates)  # noqa: S311 - load spreading, not security
        record["tried"].append(worker)
        record["worker"] = worker
        self._save(check_id, record)
        self.socketio.emit(
            events.PRECHECK_REQUEST,
            {
                "check_id": check_id,
                "description": record["description"],
                "ice_servers": record["ice"],
                "max_seconds": CHECK_MAX_SECONDS,
            },
            namespace=MEDIA_NAMESPACE,
            to=worker,
        )
        return True

    def _save(self, check_id: str, record: dict[str, Any]) -> None:
        self.clinic.redis.set(_check_key(check_id), json.dumps(record), ex=CHECK_TTL_SECONDS)

    def _let_go(self, check_id: str, record: dict[str, Any], refund: bool = False) -> None:
        """Free the consult's place (and give back the check it never had, with `refund`)."""
        consult_id = int(record["consult_id"])
        self.clinic.redis.delete(_check_key(check_id))
        self._release(keys=[_running_key(consult_id)], args=[check_id])
        if refund:
            self.clinic.redis.decr(_count_key(consult_id))

    def record(self, check_id: str) -> dict[str, Any] | None:
        raw = self.clinic.redis.get(_check_key(check_id)) if isinstance(check_id, str) else None
        return json.loads(raw) if raw else None  # type: ignore[arg-type]

    def answered(self, worker_sid: str, check_id: str, description: dict[str, str]) -> None:
        record = self.record(check_id)
        if record and record.get("worker") == worker_sid:
            # Answered: nobody else will be offered it, so the patient's SDP leaves Redis.
            self._save(check_id, {**record, "description": None, "ice": None})
            self.socketio.emit(
                events.PRECHECK_ANSWER,
                {"check_id": check_id, "description": description},
                namespace=record.get("namespace", events.CONSULT),
                to=record["browser"],
            )

    def done(self, worker_sid: str, check_id: str) -> None:
        """The worker closed the echo peer: the consult may run its next check."""
        record = self.record(check_id)
        if record and record.get("worker") == worker_sid:
            self._let_go(check_id, record)

    def refused(self, worker_sid: str, check_id: str, reason: str) -> None:
        """A busy worker passes the check on to another; with none left the patient is told."""
        record = self.record(check_id)
        if not record or record.get("worker") != worker_sid or record.get("description") is None:
            return
        if not self._offer(check_id, record):
            self._let_go(check_id, record, refund=True)
            self.socketio.emit(
                events.PRECHECK_ERROR,
                {"check_id": check_id, "code": "busy", "message": PROTOCOL_REFUSALS["busy"]},
                namespace=record.get("namespace", events.CONSULT),
                to=record["browser"],
            )

    def stop(self, check_id: str, browser_sid: str) -> None:
        """The browser is done; its place stays held until the worker has closed the peer."""
        record = self.record(check_id)
        if record and record.get("browser") == browser_sid and record.get("worker"):
            self._save(check_id, {**record, "description": None, "ice": None})
            self.socketio.emit(
                events.PRECHECK_CLOSE,
                {"check_id": check_id},
                namespace=MEDIA_NAMESPACE,
                to=record["worker"],
            )


class MediaNamespace(Namespace):
    """Media workers only: the service credential is checked at connect."""

    def __init__(self, app: Flask, broker: PrecheckBroker) -> None:
        super().__init__(MEDIA_NAMESPACE)
        self.clinic: Clinic = app.extensions["clinic"]
        self.token = str(app.config.get("MEDIA_SERVICE_TOKEN") or "")
        self.broker = broker
        self.workers: set[str] = set()

    def on_connect(self, auth: Any = None) -> None:
        gate = connect_gate(current_app)  # an address refused too often is turned away first
        gate.let_in_or_refuse("socket:/media")
        given = auth.get("service_token") if isinstance(auth, dict) else None
        if (
            not self.token
            or not isinstance(given, str)
            or not hmac.compare_digest(given.encode(), self.token.encode())
        ):
            message = "Media workers need the service token."
            raise gate.refuse("anonymous", "socket:/media", "unauthorized", message)
        sid = current_sid()
        self.workers.add(sid)
        self.broker.heartbeat(sid)

    def on_heartbeat(self, data: Any = None) -> dict[str, Any]:
        """Workers call every 10 s; a worker of a crashed web process stops being offered."""
        self.broker.heartbeat(current_sid())
        return ok()

    def on_disconnect(self, reason: Any = None) -> None:
        sid = current_sid()
        self.workers.discard(sid)
        self.broker.forget(sid)

    def on_precheck_answer(self, data: Any) -> dict[str, Any]:
        try:
            answer = decode(PrecheckAnswer, data)
        except Invalid as error:
            return refused("invalid", error.message, error.fields)
        self.broker.answered(current_sid(), answer.check_id, encode(answer.description))
        return ok()

    def on_precheck_done(self, data: Any) -> dict[str, Any]:
        """The worker closed a check's echo peer (finished, stopped, failed or timed out)."""
        if isinstance(data, dict):
            self.broker.done(current_sid(), str(data.get("check_id")))
        return ok()

    def on_precheck_refused(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            self.broker.refused(
                current_sid(),
                str(data.get("check_id")),
                str(data.get("reason", "busy")),
            )
        return ok()
