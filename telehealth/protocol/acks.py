"""The one acknowledgement shape: `{"ok": true, ...}` or
`{"ok": false, "error": {"code", "message"}, "fields"}`, and the refusal codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Every refusal code a client can meet, with the message people see when the server has
# nothing more specific to say. Connect refusals (`connect_error`) use the same codes.
REFUSALS: dict[str, str] = {
    "unauthorized": "You are not part of this consult.",
    "wrong_phase": "That is not possible at this point of the consult.",
    "invalid": "The message does not follow the consult protocol.",
    "rate_limited": "Too many messages; slow down.",
    "unknown_event": "There is no such event.",
    "unavailable": "The clinic's live service is reconnecting. Your call continues; this page "
    "will catch up in a moment.",
    "not_open": "This consult link is not active yet.",
    "not_open_yet": "The waiting room is not open yet.",
    "ended": "This consult has ended.",
    "already_admitted": "You are already in the call.",
    "already_ended": "This consult has already ended.",
    "not_in_ontario": "Ontario physiotherapists can only consult people who are in Ontario "
    "at the time of the call.",
    "too_many_devices": "Too many devices are connected to this consult. Close one and try again.",
    "standby": "This consult is open on another device. Use this device instead to take part.",
    "no_waiting_device": "There is no other device waiting to take over.",
    "already_active": "This device is already the one in the call.",
    "check_running": "A connection check is already running for this consult. Wait for it to "
    "finish, then try again.",
    "precheck_budget": "You have checked your connection many times this hour. You can still "
    "join the waiting room.",
    "no_worker": "The connection check is not available right now. You can still join the "
    "waiting room.",
    "busy": "The connection check is busy right now. You can still join; try the check again "
    "in a minute.",
    "no_provider": "Add an active physiotherapist first.",
}

# Only an `invalid` refusal names fields (clients rely on it, tests check it).
CODES_WITH_FIELDS = ("invalid",)


def ok(**extra: Any) -> dict[str, Any]:
    """An accepted event's acknowledgement, with whatever the event answers."""
    return {"ok": True, **extra}


def refused(
    code: str, message: str | None = None, fields: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A refused event's acknowledgement; `message` defaults to the code's own words."""
    ack: dict[str, Any] = {
        "ok": False,
        "error": {"code": code, "message": message or REFUSALS.get(code, code)},
    }
    if fields is not None and code in CODES_WITH_FIELDS:
        ack["fields"] = dict(fields)
    return ack


def refusal_of(ack: Any) -> tuple[str, str] | None:
    """(code, message) of a refused acknowledgement; None when it was accepted."""
    if isinstance(ack, Mapping) and ack.get("ok") is True:
        return None
    error = ack.get("error") if isinstance(ack, Mapping) else None
    if not isinstance(error, Mapping):
        return "refused", "the server gave no reason"
    code = str(error.get("code") or "refused")
    return code, str(error.get("message") or REFUSALS.get(code, code))
