"""Refused access from outside, audited without letting an attacker fill the audit table.

The audit table is append-only, so one row per refused attempt would let anyone write
hundreds of undeletable rows a second (forged join links over HTTP, forged socket connects).
Refusals are counted in Redis instead, per client address, actor and window (a minute by
default), and each window becomes ONE `access.denied` row with the count, written by the
first web process to sweep after the window is over.

Client addresses are personal data and the audit is kept for years, so neither the audit nor
Redis stores them: both use `client_tag`, an HMAC-SHA256 of the address keyed with the app's
SECRET_KEY. Rows of one address still line up (same tag), an admin who suspects an address
can compute its tag with the key, but a leaked audit export alone does not reveal who it was
(the 2^32 IPv4 space would be trivial to search for an unkeyed hash).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

import redis

from . import audit
from .db import Database

if TYPE_CHECKING:
    from .clinic import Clinic

log = logging.getLogger(__name__)

ACTION = "access.denied"
TAG_HEX_CHARS = 16  # 64 bits: no collisions among a clinic's visitors, short in the audit
# A window nobody swept (every web process stopped) is forgotten after this long.
FORGET_UNSWEPT_SECONDS = 24 * 3600
SWEEP_BATCH = 500


def client_tag(secret_key: str, address: str | None) -> str:
    """A stable pseudonym for a client address: HMAC-SHA256 keyed with SECRET_KEY, 16 hex."""
    digest = hmac.new(
        f"client-address:{secret_key}".encode(), (address or "unknown").encode(), hashlib.sha256
    )
    return digest.hexdigest()[:TAG_HEX_CHARS]


def client_address(environ: Mapping[str, object], proxy_hops: int) -> str | None:
    """The client's address as ProxyFix sees it, also where ProxyFix never ran.

    Socket.IO requests are answered by the Socket.IO middleware, which sits outside the
    ProxyFix of the Flask app: there REMOTE_ADDR is nginx's. Trust exactly `proxy_hops`
    entries of X-Forwarded-For, counted from the right, as ProxyFix does."""
    if "werkzeug.proxy_fix.orig" in environ or proxy_hops <= 0:
        return cast(str | None, environ.get("REMOTE_ADDR"))
    forwarded = [part.strip() for part in str(environ.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    if len(forwarded) >= proxy_hops and forwarded[-proxy_hops]:
        return forwarded[-proxy_hops]
    return cast(str | None, environ.get("REMOTE_ADDR"))


class DeniedAccess:
    """Counts refusals per (client, actor, window) and turns each window into one audit row."""

    def __init__(
        self,
        redis_client: redis.Redis,
        db: Database,
        window_seconds: int = 60,
        prefix: str = "th:denied",
        action: str = ACTION,
    ) -> None:
        self.redis = redis_client
        self.db = db
        self.window = max(1, int(window_seconds))
        self.prefix = prefix
        self.action = action  # the same tally serves other anonymous requests (resends)

    @property
    def _due_key(self) -> str:
        return f"{self.prefix}:due"

    def _count_key(self, window_start: int, tag: str, actor: str) -> str:
        return f"{self.prefix}:{window_start}:{tag}:{actor}"

    def note(self, tag: str, actor: str, target: str, now: float | None = None) -> None:
        """Count one refused attempt; its window's audit row is written once the window ends."""
        now = time.time() if now is None else now
        start = int(now // self.window) * self.window
        key = self._count_key(start, tag, actor)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, target, 1)
            pipe.expire(key, self.window + FORGET_UNSWEPT_SECONDS)
            pipe.zadd(self._due_key, {f"{start}|{tag}|{actor}": start + self.window}, nx=True)
            pipe.execute()

    def write_due(self, now: float | None = None) -> int:
        """Write one audit row per window that is over; returns how many were written.

        Any number of processes may sweep at once: removing a window from the due set is
        the claim, so each window is written by exactly one of them."""
        now = time.time() if now is None else now
        due = cast(
            list[str],
            self.redis.zrangebyscore(self._due_key, "-inf", now, start=0, num=SWEEP_BATCH),
        )
        rows: list[tuple[str, str, dict[str, int]]] = []
        for member in due:
            if not self.redis.zrem(self._due_key, member):
                continue  # another process claimed it
            start, tag, actor = member.split("|", 2)
            key = self._count_key(int(start), tag, actor)
            with self.redis.pipeline() as pipe:
                pipe.hgetall(key)
                pipe.delete(key)
                counts, _ = pipe.execute()
            if counts:
                rows.append((member, actor, {k: int(v) for k, v in counts.items()}))
        if rows:
            try:
                self._write(rows)
            except Exception:
                self._put_back(rows)  # the next sweep tries again
                raise
        return len(rows)

    def _put_back(self, rows: list[tuple[str, str, dict[str, int]]]) -> None:
        for member, actor, counts in rows:
            start, tag, _ = member.split("|", 2)
            key = self._count_key(int(start), tag, actor)
            with self.redis.pipeline(transaction=False) as pipe:
                for target, count in counts.items():
                    pipe.hincrby(key, target, count)
                pipe.expire(key, self.window + FORGET_UNSWEPT_SECONDS)
                pipe.zadd(self._due_key, {member: int(start) + self.window}, nx=True)
                pipe.execute()

    def _write(self, rows: list[tuple[str, str, dict[str, int]]]) -> None:
        with self.db.transaction() as session:
            for member, actor, counts in rows:
                start, tag, _ = member.split("|", 2)
                audit.record(
                    session,
                    actor,
                    self.action,
                    None,
                    target=max(counts, key=lambda target: counts[target]),
                    targets=counts,
                    count=sum(counts.values()),
                    client=tag,
                    since=datetime.fromtimestamp(int(start), UTC).isoformat(),
                    seconds=self.window,
                )
        log.info("audited %d window(s) of %s", len(rows), self.action)


def denied_access(clinic: Clinic) -> DeniedAccess:
    """The clinic's tally of refused access (cheap to build: it holds no state of its own)."""
    return DeniedAccess(
        clinic.redis, clinic.db, int(clinic.config.get("DENIED_AUDIT_WINDOW_SECONDS", 60))
    )
