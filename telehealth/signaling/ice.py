"""ICE servers for a call, with short-lived TURN credentials (coturn use-auth-secret)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any


def _urls(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def turn_credential(secret: str, username: str) -> str:
    """coturn's REST-API credential: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_servers(
    *, stun_urls: str, turn_urls: str, turn_secret: str, ttl: int, user_tag: str, now: float
) -> dict[str, Any]:
    """The RTCConfiguration iceServers for one admitted party; TURN expires after `ttl`."""
    servers: list[dict[str, Any]] = []
    if _urls(stun_urls):
        servers.append({"urls": _urls(stun_urls)})
    if _urls(turn_urls) and turn_secret:
        username = f"{int(now) + ttl}:{user_tag}"
        servers.append(
            {
                "urls": _urls(turn_urls),
                "username": username,
                "credential": turn_credential(turn_secret, username),
            }
        )
    return {"iceServers": servers, "ttl": ttl}
