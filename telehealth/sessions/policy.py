"""The clinic's consult policy: the admin's settings, with operators' overrides on top.

Plain Python: the caller reads the settings row and the environment and passes them in.
The defaults live in ConsultPolicy alone; an override is applied only when it was set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from .state import ConsultPolicy

# Settings an operator (or a test) may set to shrink or stretch the live consult's times,
# in seconds, under the names operators already use.
OVERRIDES = {
    "CALL_LENGTH_SECONDS": "length",
    "CALL_GRACE_SECONDS": "grace",
    "LOBBY_OPENS_SECONDS": "lobby_opens",
    "NO_SHOW_SECONDS": "no_show_after",
    "REJOIN_WINDOW_SECONDS": "rejoin_window",
    "JOIN_VALID_AFTER_END_SECONDS": "join_valid_after_end",
}


def _seconds(value: Any) -> timedelta:
    return timedelta(seconds=float(value))


def consult_policy(lobby_opens_minutes: int | None, overrides: Mapping[str, Any]) -> ConsultPolicy:
    """The policy from the admin's lobby setting (the length comes from each booked slot)
    and whichever overrides are set (None or '' means not set)."""
    policy = ConsultPolicy()
    if lobby_opens_minutes is not None:
        policy = replace(policy, lobby_opens=timedelta(minutes=lobby_opens_minutes))
    changes: dict[str, Any] = {
        field: _seconds(overrides[name])
        for name, field in OVERRIDES.items()
        if overrides.get(name) not in (None, "")
    }
    warnings = overrides.get("CALL_WARNING_SECONDS")
    if warnings not in (None, ""):
        changes["warnings"] = tuple(_seconds(w) for w in str(warnings).split(",") if w.strip())
    return replace(policy, **changes)
