"""A connected /consult socket, and the acknowledgements every handler answers with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..protocol.acks import ok, refused
from ..sessions import Side
from .throttle import TokenBucket


def refusal(code: str, message: str) -> dict[str, Any]:
    """The protocol's one refusal shape (telehealth/protocol/acks.py)."""
    return refused(code, message)


OK: dict[str, Any] = ok()
UNAUTHORIZED = refusal("unauthorized", "You are not part of this consult.")
UNAVAILABLE_MESSAGE = (
    "The clinic's live service is reconnecting. Your call continues; this page will catch up "
    "in a moment."
)
UNAVAILABLE = refusal("unavailable", UNAVAILABLE_MESSAGE)


@dataclass
class Member:
    """One connected socket: which consult, which side, and its event budget."""

    consult_id: int
    side: Side
    actor: str
    device: str
    bucket: TokenBucket
    staff_id: int | None = None
    relay_to: str = field(default="")


def device_label(value: Any) -> str:
    return value.strip()[:40] if isinstance(value, str) and value.strip() else "Browser"


_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def device_id(value: Any) -> str:
    """The page's own random id, kept across its reconnects (docs/protocol.md); anything
    else makes the socket a device of its own."""
    return value if isinstance(value, str) and _DEVICE_ID.fullmatch(value) else ""


STANDBY = refusal(
    "standby",
    "This consult is open on another device. Use this device instead to take part.",
)
