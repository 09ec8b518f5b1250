"""A consult's route: what relaying a signal needs to know, published on every change of it.

The route is the consult's phase and the socket of each side's active device. The store
publishes it on one Redis channel from inside the atomic write that changes it (the Lua
script of a device joining, leaving or switching, or the MULTI of a phase change), with a
version counted per consult in the same write. So the messages on the channel are in the
order of the writes, and a reader holding version n of a route knows that a message with a
version ≤ n tells it nothing new. Web processes keep the routes of the consults they serve
in memory from these messages (`telehealth/signaling/routing.py`): relaying a signal then
costs no Redis command at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .state import Phase, Side

__all__ = ["LUA_PUBLISH_ROUTE", "LUA_PUBLISH_ROUTE_SCRIPT", "Route"]

# Needs _LUA_TTL's borrow_ttl. Counts the consult's route version up, publishes the route
# on `channel` and returns it.
LUA_PUBLISH_ROUTE = """
local function publish_route(consult_key, patient_key, provider_key, version_key,
                             channel, consult_id, default_ms)
  local version = redis.call('INCR', version_key)
  redis.call('PEXPIRE', version_key, borrow_ttl(consult_key, default_ms))
  local route = cjson.encode({
    id = tonumber(consult_id),
    v = version,
    phase = redis.call('HGET', consult_key, 'phase') or '',
    patient = redis.call('HGET', patient_key, 'sid') or '',
    provider = redis.call('HGET', provider_key, 'sid') or '',
  })
  redis.call('PUBLISH', channel, route)
  return route
end
"""

# A whole transaction that changed a consult's phase ends with this (as an EVAL in its MULTI).
LUA_PUBLISH_ROUTE_SCRIPT = (
    """
local function borrow_ttl(consult_key, default_ms)
  local ttl = redis.call('PTTL', consult_key)
  if ttl < 0 then ttl = tonumber(default_ms) end
  return ttl
end
"""
    + LUA_PUBLISH_ROUTE
    + """
-- KEYS: consult, active(patient), active(provider), route version.
-- ARGV: channel, consult id, default ttl ms.
return publish_route(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3])
"""
)


@dataclass(frozen=True, slots=True)
class Route:
    """One consult's phase and each side's active socket ('' while that device is away),
    at `version`. `forgotten`: the consult's live room was deleted (it moved to a new time);
    a reader drops what it held."""

    consult_id: int
    version: int
    phase: Phase | None
    patient: str = ""
    provider: str = ""
    forgotten: bool = False

    def active(self, side: Side) -> str:
        return self.patient if side == Side.PATIENT else self.provider

    def encode(self) -> str:
        return json.dumps(
            {
                "id": self.consult_id,
                "v": self.version,
                "phase": str(self.phase or ""),
                "patient": self.patient,
                "provider": self.provider,
                **({"forgotten": True} if self.forgotten else {}),
            }
        )

    @classmethod
    def decode(cls, raw: str | bytes) -> Route | None:
        """The route in a message, or None for anything that is not one."""
        try:
            data: Any = json.loads(raw)
            phase = Phase(data["phase"]) if data.get("phase") else None
            return cls(
                int(data["id"]),
                int(data["v"]),
                phase,
                str(data.get("patient") or ""),
                str(data.get("provider") or ""),
                bool(data.get("forgotten")),
            )
        except (ValueError, TypeError, KeyError):
            return None
