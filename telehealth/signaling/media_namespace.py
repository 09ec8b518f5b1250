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

from flask import Flask
from flask_socketio import Namespace

from ..clinic import Clinic
from ..consult.records import record_denied
from .context import current_sid, refused_connection

MEDIA_NAMESPACE = "/media"
WORKERS_KEY = "th:media:workers"
CHECK_TTL_SECONDS = 120
HEARTBEAT_TTL = 30


def _check_key(check_id: str) -> str:
    return f"th:precheck:{check_id}"


class PrecheckBroker:
    """Matches pre-call checks to media workers through Redis, from any web process."""

    def __init__(self, clinic: Clinic, socketio: Any) -> None:
        self.clinic = clinic
        self.socketio = socketio

    def workers(self) -> list[str]:
        """Workers seen within the last HEARTBEAT_TTL seconds (a dead process's drop out)."""
        fresh_since = time.time() - HEARTBEAT_TTL
        return list(self.clinic.redis.zrangebyscore(WORKERS_KEY, fresh_since, "+inf"))  # type: ignore[arg-type]

    def heartbeat(self, sid: str) -> None:
        self.clinic.redis.zadd(WORKERS_KEY, {sid: time.time()})

    def forget(self, sid: str) -> None:
        self.clinic.redis.zrem(WORKERS_KEY, sid)

    def start(
        self, browser_sid: str, consult_id: int, description: dict[str, str], ice: dict[str, Any]
    ) -> str | None:
        """Hand the offer to a worker; returns the check id, or None with no worker at all."""
        check_id = secrets.token_urlsafe(12)
        record = {
            "browser": browser_sid,
            "consult_id": consult_id,
            "tried": [],
            "description": description,
            "ice": ice,
        }
        return check_id if self._offer(check_id, record) else None

    def _offer(self, check_id: str, record: dict[str, Any]) -> bool:
        candidates = [sid for sid in self.workers() if sid not in record["tried"]]
        if not candidates:
            return False
        worker = random.choice(candidates)  # noqa: S311 - load spreading, not security
        record["tried"].append(worker)
        record["worker"] = worker
        self.clinic.redis.set(_check_key(check_id), json.dumps(record), ex=CHECK_TTL_SECONDS)
        self.socketio.emit(
            "precheck_request",
            {
                "check_id": check_id,
                "description": record["description"],
                "ice_servers": record["ice"],
            },
            namespace=MEDIA_NAMESPACE,
            to=worker,
        )
        return True

    def record(self, check_id: str) -> dict[str, Any] | None:
        raw = self.clinic.redis.get(_check_key(check_id)) if isinstance(check_id, str) else None
        return json.loads(raw) if raw else None  # type: ignore[arg-type]

    def answered(self, worker_sid: str, check_id: str, description: dict[str, str]) -> None:
        record = self.record(check_id)
        if record and record.get("worker") == worker_sid:
            self.socketio.emit(
                "precheck_answer",
                {"check_id": check_id, "description": description},
                namespace="/consult",
                to=record["browser"],
            )

    def refused(self, worker_sid: str, check_id: str, reason: str) -> None:
        """A busy worker passes the check on to another; with none left the patient is told."""
        record = self.record(check_id)
        if not record or record.get("worker") != worker_sid:
            return
        if not self._offer(check_id, record):
            self.socketio.emit(
                "precheck_error",
                {
                    "check_id": check_id,
                    "code": "busy",
                    "message": "The connection check is busy right now. You can still join; "
                    "try the check again in a minute.",
                },
                namespace="/consult",
                to=record["browser"],
            )

    def stop(self, check_id: str, browser_sid: str) -> None:
        record = self.record(check_id)
        if record and record.get("browser") == browser_sid and record.get("worker"):
            self.socketio.emit(
                "precheck_close",
                {"check_id": check_id},
                namespace=MEDIA_NAMESPACE,
                to=record["worker"],
            )
            self.clinic.redis.delete(_check_key(check_id))


class MediaNamespace(Namespace):
    """Media workers only: the service credential is checked at connect."""

    def __init__(self, app: Flask, broker: PrecheckBroker) -> None:
        super().__init__(MEDIA_NAMESPACE)
        self.clinic: Clinic = app.extensions["clinic"]
        self.token = str(app.config.get("MEDIA_SERVICE_TOKEN") or "")
        self.broker = broker
        self.workers: set[str] = set()

    def on_connect(self, auth: Any = None) -> None:
        given = auth.get("service_token") if isinstance(auth, dict) else None
        if (
            not self.token
            or not isinstance(given, str)
            or not hmac.compare_digest(given.encode(), self.token.encode())
        ):
            record_denied(self.clinic.db, "anonymous", "socket:/media", None)
            raise refused_connection(
                {"code": "unauthorized", "message": "Media workers need the service token."}
            )
        sid = current_sid()
        self.workers.add(sid)
        self.broker.heartbeat(sid)

    def on_heartbeat(self, data: Any = None) -> dict[str, Any]:
        """Workers call every 10 s; a worker of a crashed web process stops being offered."""
        self.broker.heartbeat(current_sid())
        return {"ok": True}

    def on_disconnect(self, reason: Any = None) -> None:
        sid = current_sid()
        self.workers.discard(sid)
        self.broker.forget(sid)

    def on_precheck_answer(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("description"), dict):
            return {"ok": False}
        description = data["description"]
        self.broker.answered(
            current_sid(),
            str(data.get("check_id")),
            {"type": str(description.get("type")), "sdp": str(description.get("sdp"))[:60_000]},
        )
        return {"ok": True}

    def on_precheck_refused(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            self.broker.refused(
                current_sid(),
                str(data.get("check_id")),
                str(data.get("reason", "busy")),
            )
        return {"ok": True}
