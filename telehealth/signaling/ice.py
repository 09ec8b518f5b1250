"""ICE servers for a call, with short-lived TURN credentials (coturn use-auth-secret)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import redis

# A budget counts credentials per consult over a fixed window of this length.
BUDGET_WINDOW_SECONDS = 3600

# KEYS: counter. ARGV: limit, window seconds. Returns 1 and counts when the budget allows.
_SPEND_LUA = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return 0 end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


def _urls(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def turn_credential(secret: str, username: str) -> str:
    """coturn's REST-API credential: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_servers(
    *,
    stun_urls: str,
    turn_urls: str,
    turn_secret: str,
    ttl: int,
    user_tag: str,
    now: float,
    transport_policy: str = "all",
    with_turn: bool = True,
) -> dict[str, Any]:
    """The RTCConfiguration iceServers for one admitted party; TURN expires after `ttl`.

    `iceTransportPolicy` "relay" tells the peer to use TURN only, hiding its address."""
    servers: list[dict[str, Any]] = []
    if _urls(stun_urls):
        servers.append({"urls": _urls(stun_urls)})
    if with_turn and _urls(turn_urls) and turn_secret:
        username = f"{int(now) + ttl}:{user_tag}"
        servers.append(
            {
                "urls": _urls(turn_urls),
                "username": username,
                "credential": turn_credential(turn_secret, username),
            }
        )
    payload: dict[str, Any] = {"iceServers": servers, "ttl": ttl}
    if transport_policy == "relay":  # absent means "all", the RTCConfiguration default
        payload["iceTransportPolicy"] = "relay"
    return payload


def spend_from_budget(client: redis.Redis, key: str, limit: int) -> bool:
    """Count one use against a per-consult hourly budget; False once it is spent."""
    allowed = client.eval(_SPEND_LUA, 1, key, int(limit), BUDGET_WINDOW_SECONDS)
    return int(allowed) == 1  # type: ignore[arg-type]


def turn_budget_key(consult_id: int, purpose: str) -> str:
    """The Redis counter of TURN credentials issued for one consult ("call" or "precheck")."""
    return f"th:turn:c{consult_id}:{purpose}"
