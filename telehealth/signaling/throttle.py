"""Throttles: a per-socket token bucket (small bursts pass, floods are dropped and then cut
off), and a per-address gate on refused connects."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import cast

import redis
from flask import Flask, request

from ..clinic import Clinic
from ..denied_access import client_address, client_tag, denied_access
from .context import refused_connection

log = logging.getLogger(__name__)


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    burst: float  # most tokens held at once
    tokens: float = field(default=-1.0)
    updated: float = 0.0
    dropped: int = 0

    def allow(self, now: float) -> bool:
        """Spend one token if there is one; count a drop otherwise."""
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.dropped += 1
        return False

    @property
    def flooding(self) -> bool:
        """A socket that keeps sending after being throttled for a full burst is cut off."""
        return self.dropped > self.burst

    def forgive(self) -> None:
        """After a cut-off, count drops afresh (the budget itself still has to refill)."""
        self.dropped = 0


RATE_LIMITED_MESSAGE = (
    "Too many refused connections from your network. Wait a minute, then reload the page."
)
UNAVAILABLE_MESSAGE = "The clinic's live service is reconnecting. Try again in a moment."
# The fixed window of refused connects; the limit itself is CONNECT_REFUSALS_PER_MINUTE.
REFUSALS_WINDOW_SECONDS = 60


class ConnectGate:
    """Socket connects refused per client address, counted in Redis in a fixed window.

    Past the limit every connect from that address is refused at once, before any SQL lookup
    or audit write, so guessing credentials costs an attacker one Redis command per try. Only
    refusals count: a clinic behind one NAT address, or a benchmark, may connect freely with
    valid credentials (the device cap bounds the sockets of one link). Refusals are audited
    through `DeniedAccess`: one row per address, actor and window, with the count."""

    def __init__(self, app: Flask) -> None:
        self.clinic: Clinic = app.extensions["clinic"]
        self.limit = int(app.config["CONNECT_REFUSALS_PER_MINUTE"])
        self.proxy_hops = int(app.config.get("PROXY_HOPS") or 0)
        self.secret = str(app.config["SECRET_KEY"])
        self.denied = denied_access(self.clinic)

    def _client(self) -> str:
        """This connect's client address as a keyed pseudonym (never the address itself)."""
        return client_tag(self.secret, client_address(request.environ, self.proxy_hops))

    def _refusals_key(self, client: str, now: float) -> str:
        return f"th:connect-refusals:{int(now // REFUSALS_WINDOW_SECONDS)}:{client}"

    def let_in_or_refuse(self, target: str) -> None:
        """Raise `rate_limited` for an address refused too often this minute; else return."""
        now, client = time.time(), self._client()
        try:
            refused = int(
                cast(str | None, self.clinic.redis.get(self._refusals_key(client, now))) or 0
            )
            if refused < self.limit:
                return
            self._count(client, "anonymous", f"{target}:rate_limited", now)
        except redis.RedisError as error:
            raise refused_connection(
                {"code": "unavailable", "message": UNAVAILABLE_MESSAGE}
            ) from error
        raise refused_connection({"code": "rate_limited", "message": RATE_LIMITED_MESSAGE})

    def refuse(self, actor: str, target: str, code: str, message: str) -> Exception:
        """Count a refused connect against its address and audit it; returns what to raise."""
        try:
            self._count(self._client(), actor, target, time.time())
        except redis.RedisError as error:
            log.warning("could not count a refused connect (%s)", type(error).__name__)
        return refused_connection({"code": code, "message": message})

    def note_denied(self, actor: str, target: str) -> None:
        """Audit a refused event of a connected socket in the aggregate (it is already
        throttled by its own token bucket, so it does not count against the address)."""
        self.denied.note(self._client(), actor, target)

    def _count(self, client: str, actor: str, target: str, now: float) -> None:
        key = self._refusals_key(client, now)
        with self.clinic.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2 * REFUSALS_WINDOW_SECONDS)
            pipe.execute()
        self.denied.note(client, actor, target, now)


def connect_gate(app: Flask) -> ConnectGate:
    """The app's one gate, shared by the /consult, /monitor and /media namespaces."""
    gate = app.extensions.get("connect_gate")
    if gate is None:
        gate = app.extensions["connect_gate"] = ConnectGate(app)
    return cast(ConnectGate, gate)
