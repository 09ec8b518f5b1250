"""/setup: the connection check of the "Test your setup" page, for holders of a setup link.

A socket connects with the link's token (telehealth/consult/setup_token.py); without a
genuine, unexpired token for a booked consult it is refused at connect (and the refusal
counts against its address, as on /consult), so no anonymous socket can drive a media
worker. A connected socket may only run the pre-call check's events, within the consult's
hourly budget of checks (shared with the lobby's check) and a small event budget.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask
from flask_socketio import Namespace

from ..clinic import Clinic
from ..consult.setup_token import consult_for_setup_token
from ..db import utcnow
from ..models import Consult, ConsultStatus
from .context import current_sid, refused_connection
from .members import OK, UNAUTHORIZED, UNAVAILABLE, UNAVAILABLE_MESSAGE, refusal
from .messages import Invalid, parse_precheck
from .precheck_events import PrecheckEvents
from .throttle import TokenBucket, connect_gate

log = logging.getLogger(__name__)

SETUP_NAMESPACE = "/setup"
TARGET = "socket:/setup"
# A check needs about five events; a person pressing "Test again" a few times stays far below.
EVENTS_PER_SECOND = 2.0
EVENT_BURST = 12.0
# Setup pages of one consult open at once in this process (tabs, a phone and a laptop).
SOCKETS_PER_CONSULT = 3
NOT_VALID = (
    "This setup link can't check your connection. Open the newest link in your email, "
    "or join your consult as usual."
)
EVENTS = ("precheck_ice", "precheck_offer", "precheck_stop", "precheck_result")


@dataclass
class SetupChecker:
    """One connected setup page: its consult and the consult's event budget."""

    consult_id: int
    bucket: TokenBucket


class SetupNamespace(PrecheckEvents, Namespace):
    """The setup link's echo check; nothing else happens on this namespace."""

    def __init__(self, app: Flask) -> None:
        super().__init__(SETUP_NAMESPACE)
        self.app = app
        self.clinic: Clinic = app.extensions["clinic"]
        self.gate = connect_gate(app)
        self.checkers: dict[str, SetupChecker] = {}
        self.buckets: dict[int, TokenBucket] = {}

    def trigger_event(self, event: Any, *args: Any) -> Any:
        sid = str(args[0]) if args else ""
        if event == "connect" and sid not in self.checkers:
            try:
                return super().trigger_event(event, *args)
            except redis.RedisError as error:
                raise refused_connection(
                    {"code": "unavailable", "message": UNAVAILABLE_MESSAGE}
                ) from error
        if event == "disconnect":
            self.checkers.pop(sid, None)
            return None
        checker = self.checkers.get(sid)
        if checker is None:
            return UNAUTHORIZED
        if event not in EVENTS or len(args) > 2:
            return refusal("unknown_event", "Only the connection check runs here.")
        if not checker.bucket.allow(time.monotonic()):
            if checker.bucket.flooding:
                checker.bucket.forgive()
                self.socketio.server.disconnect(sid, namespace=SETUP_NAMESPACE)
            return refusal("rate_limited", "Too many messages; slow down.")
        try:
            return super().trigger_event(event, sid, args[1] if len(args) > 1 else None)
        except redis.RedisError:
            return UNAVAILABLE
        except Invalid as error:
            return {**refusal("invalid", error.message), "fields": error.fields}

    def on_connect(self, auth: Any = None) -> None:
        self.gate.let_in_or_refuse(TARGET)  # an address refused too often is turned away first
        token = auth.get("setup_token") if isinstance(auth, dict) else None
        with self.clinic.db.sessions() as db_session:
            consult = consult_for_setup_token(
                db_session, self.app.config["SECRET_KEY"], token, utcnow()
            )
            consult_id = consult.id if consult is not None else None
        if consult_id is None:
            raise self.gate.refuse("anonymous", TARGET, "unauthorized", NOT_VALID)
        open_pages = sum(1 for c in self.checkers.values() if c.consult_id == consult_id)
        if open_pages >= SOCKETS_PER_CONSULT:
            raise self.gate.refuse(
                f"patient:{consult_id}",
                TARGET,
                "too_many_devices",
                "The setup page is open in too many places. Close one, then reload this page.",
            )
        self.checkers[current_sid()] = SetupChecker(consult_id, self._bucket_of(consult_id))

    def _bucket_of(self, consult_id: int) -> TokenBucket:
        """One event budget per consult in this process: reconnecting buys no new burst."""
        if consult_id not in self.buckets:
            self.buckets[consult_id] = TokenBucket(EVENTS_PER_SECOND, EVENT_BURST)
        return self.buckets[consult_id]

    def _precheck_consult(self) -> tuple[int, None] | tuple[None, dict[str, Any]]:
        """The socket's consult, while it is still booked (not cancelled, not over)."""
        checker = self.checkers.get(current_sid())
        if checker is None:
            return None, UNAUTHORIZED
        with self.clinic.db.sessions() as db_session:
            consult = db_session.get(Consult, checker.consult_id)
            booked = consult is not None and consult.status == ConsultStatus.BOOKED
        if not booked:
            return None, refusal("wrong_phase", NOT_VALID)
        return checker.consult_id, None

    def on_precheck_result(self, data: Any) -> dict[str, Any]:
        """Checked on the setup page: nothing to tell the physiotherapist yet."""
        parse_precheck(data)
        return OK
