"""Limits on what one client can do with the public booking routes.

Three things are bounded, whatever route is used (API, booking page, manage page):
- mail: every booking, cancel, move or resend of links emails the patient, so each email
  address has one budget of such emails per window (nobody can flood a stranger's inbox
  through us);
- holdings: one client address can hold at most BOOKING_MAX_FUTURE_PER_ADDRESS upcoming
  consults, so a script cannot empty the calendar;
- resends: one client address may ask "resend my links" RESEND_LINKS_RATE_LIMIT times per
  window, so nobody can probe many email addresses from one connection.

Privacy: the client address is never stored as such. It is reduced to an HMAC with the
server's secret (IPv6 to its /64, which one household gets) and kept only in Redis, on a key
that expires when the last consult it holds starts. SQL, which is kept for years and backed
up, never sees it; without the secret the HMAC cannot be matched to an address by trying
all 2^32 IPv4 addresses, as a plain hash could.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import redis
from limits import RateLimitItem, parse

log = logging.getLogger(__name__)

KEY_PREFIX = "th:booking"
RESEND_LIMIT = "5 per hour"  # per client address; RESEND_LINKS_RATE_LIMIT overrides

# KEYS: holdings zset. ARGV: now (s), cap, member, start (s).
# Drops holdings whose consult has started, refuses past the cap, keeps the key until the
# latest consult it holds starts.
_CLAIM_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(latest[2])) + 60)
return 1
"""

# KEYS: holdings zset. ARGV: member to drop, member to add, its start (s).
_KEEP_LUA = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(latest[2])) + 60)
return 1
"""

# KEYS: email budget counter. ARGV: window (s). Fixed window: the first spend starts it.
_SPEND_LUA = """
local spent = redis.call('INCR', KEYS[1])
if spent == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return spent
"""


def _keyed(secret_key: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret_key.encode(), f"{purpose}\0{value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def client_address_key(secret_key: str, remote_addr: str | None) -> str:
    """The client address as the limits see it: an HMAC, IPv6 reduced to its /64."""
    address = remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
        if parsed.version == 6:
            address = str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    except ValueError:
        pass
    return _keyed(secret_key, "booking-address", address)


def email_key(secret_key: str, email: str) -> str:
    """An email address as the mail budget sees it (never stored in clear in Redis)."""
    return _keyed(secret_key, "booking-email", email.strip().lower())


@dataclass(frozen=True)
class Hold:
    """A claimed place among an address's upcoming consults, not yet tied to a consult."""

    address: str
    member: str


class BookingLimits:
    """The mail budget per email and the cap on upcoming consults per client address."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        max_future: int,
        email_limit: str,
        resend_limit: str = RESEND_LIMIT,
        prefix: str = KEY_PREFIX,
    ) -> None:
        self.redis = client
        self.max_future = max_future
        self.email_limit = parse(email_limit)
        self.resend_limit = parse(resend_limit)
        self.prefix = prefix
        self._claim = client.register_script(_CLAIM_LUA)
        self._keep = client.register_script(_KEEP_LUA)
        self._spend = client.register_script(_SPEND_LUA)

    def _holdings_key(self, address: str) -> str:
        return f"{self.prefix}:holdings:{address}"

    def _holder_key(self, consult_id: int) -> str:
        return f"{self.prefix}:holder:{consult_id}"

    # -- mail ---------------------------------------------------------------------

    def spend_mail(self, email_hmac: str) -> bool:
        """Count one email to this address; False once its budget for the window is spent.

        A Redis outage lets mail through (bookings must not stop), as the route limits do."""
        return self._spend_budget(f"mail:{email_hmac}", self.email_limit)

    def spend_resend(self, address: str) -> bool:
        """Count one "resend my links" from this client address; False once spent."""
        return self._spend_budget(f"resend:{address}", self.resend_limit)

    def _spend_budget(self, key: str, limit: RateLimitItem) -> bool:
        window = int(limit.get_expiry())
        try:
            spent = int(cast(int, self._spend(keys=[f"{self.prefix}:{key}"], args=[window])))
        except redis.RedisError as error:
            log.warning("booking budget unavailable (%s)", type(error).__name__)
            return True
        return spent <= limit.amount

    # -- holdings ------------------------------------------------------------------

    def claim(self, address: str, start: datetime, now: datetime) -> Hold | None:
        """Reserve a place for one more upcoming consult, or None when the address is full."""
        hold = Hold(address, f"pending:{secrets.token_hex(8)}")
        try:
            claimed = self._claim(
                keys=[self._holdings_key(address)],
                args=[now.timestamp(), self.max_future, hold.member, start.timestamp()],
            )
        except redis.RedisError as error:
            log.warning("booking holdings unavailable (%s)", type(error).__name__)
            return hold
        return hold if int(cast(int, claimed)) == 1 else None

    def keep(self, hold: Hold, start: datetime, consult_id: int | None) -> None:
        """The booking went through (or was declined without saying so): the place stays taken.

        A declined booking (free consult already used) keeps its place too, so the cap
        behaves the same whether or not the email had consulted before."""
        member = str(consult_id) if consult_id is not None else f"declined:{hold.member}"
        holdings = self._holdings_key(hold.address)
        try:
            self._keep(keys=[holdings], args=[hold.member, member, start.timestamp()])
            if consult_id is not None:
                self.redis.set(
                    self._holder_key(consult_id), hold.address, exat=int(start.timestamp()) + 60
                )
        except redis.RedisError as error:
            log.warning("booking holdings unavailable (%s)", type(error).__name__)

    def release(self, hold: Hold) -> None:
        """The booking failed: give the place back."""
        try:
            self.redis.zrem(self._holdings_key(hold.address), hold.member)
        except redis.RedisError as error:
            log.warning("booking holdings unavailable (%s)", type(error).__name__)

    def cancelled(self, consult_id: int) -> None:
        """A cancelled consult no longer counts against the address that booked it."""
        try:
            address = cast(str | None, self.redis.get(self._holder_key(consult_id)))
            if address:
                self.redis.zrem(self._holdings_key(address), str(consult_id))
                self.redis.delete(self._holder_key(consult_id))
        except redis.RedisError as error:
            log.warning("booking holdings unavailable (%s)", type(error).__name__)

    def moved(self, consult_id: int, new_start: datetime) -> None:
        """A moved consult counts until its new start."""
        try:
            address = cast(str | None, self.redis.get(self._holder_key(consult_id)))
            if not address:
                return
            holdings = self._holdings_key(address)
            self.redis.zadd(holdings, {str(consult_id): new_start.timestamp()}, xx=True)
            latest = cast(
                list[tuple[str, float]], self.redis.zrange(holdings, -1, -1, withscores=True)
            )
            if latest:
                self.redis.expireat(holdings, int(latest[0][1]) + 60)
            self.redis.expireat(self._holder_key(consult_id), int(new_start.timestamp()) + 60)
        except redis.RedisError as error:
            log.warning("booking holdings unavailable (%s)", type(error).__name__)

    def holding(self, address: str, now: datetime) -> int:
        """How many upcoming consults this address holds (for tests and the admin)."""
        key = self._holdings_key(address)
        return int(cast(int, self.redis.zcount(key, f"({now.timestamp()}", "+inf")))
