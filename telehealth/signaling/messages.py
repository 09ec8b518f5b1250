"""Shape checks for every client event: bad payloads are refused, never relayed."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

MAX_SDP = 60_000
MAX_CANDIDATE = 1_000
MAX_CHAT = 1_000
DESCRIPTION_TYPES = ("offer", "answer", "rollback", "pranswer")


class Invalid(Exception):
    """A payload that does not follow docs/protocol.md."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid("The payload must be an object.")
    return data


def _description(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Invalid("description must be an object.", {"description": "object"})
    kind, sdp = value.get("type"), value.get("sdp", "")
    if kind not in DESCRIPTION_TYPES:
        raise Invalid("Unknown description type.", {"description.type": "offer or answer"})
    if not isinstance(sdp, str) or len(sdp) > MAX_SDP:
        raise Invalid("The SDP is missing or too large.", {"description.sdp": "string"})
    return {"type": kind, "sdp": sdp}


def _candidate(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None  # end of candidates
    if not isinstance(value, dict):
        raise Invalid("candidate must be an object or null.", {"candidate": "object"})
    text, mid, index = value.get("candidate", ""), value.get("sdpMid"), value.get("sdpMLineIndex")
    if not isinstance(text, str) or len(text) > MAX_CANDIDATE:
        raise Invalid("The candidate is not a string.", {"candidate.candidate": "string"})
    if mid is not None and (not isinstance(mid, str) or len(mid) > 32):
        raise Invalid("sdpMid must be a short string.", {"candidate.sdpMid": "string"})
    if index is not None and (
        not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64
    ):
        raise Invalid("sdpMLineIndex must be a small number.", {"candidate.sdpMLineIndex": "int"})
    clean: dict[str, Any] = {"candidate": text, "sdpMid": mid, "sdpMLineIndex": index}
    fragment = value.get("usernameFragment")
    if isinstance(fragment, str) and len(fragment) <= 256:
        clean["usernameFragment"] = fragment
    return clean


def parse_signal(data: Any) -> dict[str, Any]:
    """A description or a candidate, rebuilt from known fields only."""
    data = _object(data)
    if "description" in data and "candidate" not in data:
        return {"description": _description(data["description"])}
    if "candidate" in data and "description" not in data:
        return {"candidate": _candidate(data["candidate"])}
    raise Invalid("A signal carries exactly one of description or candidate.")


def parse_chat(data: Any) -> str:
    text = _object(data).get("text")
    if not isinstance(text, str) or not text.strip():
        raise Invalid("Write a message first.", {"text": "required"})
    if len(text) > MAX_CHAT:
        raise Invalid(f"Messages are limited to {MAX_CHAT} characters.", {"text": "too long"})
    return text.strip()


def parse_media_state(data: Any) -> dict[str, bool]:
    data = _object(data)
    return {key: bool(data.get(key, key != "screen")) for key in ("audio", "video", "screen")}


def parse_check_in(data: Any, normalise_phone: Callable[[str], str | None]) -> dict[str, Any]:
    """The patient's safety answers: where they are now and whom to call in an emergency."""
    data = _object(data)
    errors: dict[str, str] = {}
    location = data.get("location")
    if not isinstance(location, str) or not 1 <= len(location.strip()) <= 120:
        errors["location"] = "Tell us the city or town you are in now."
    in_ontario = data.get("in_ontario")
    if not isinstance(in_ontario, bool):
        errors["in_ontario"] = "Tell us whether you are in Ontario right now."
    phone = data.get("emergency_phone")
    normalised = normalise_phone(phone) if isinstance(phone, str) else None
    if normalised is None:
        errors["emergency_phone"] = "Enter an emergency contact phone with area code."
    if data.get("consent") is not True:
        errors["consent"] = (
            "Please confirm you are in a private place and agree to a video consult."
        )
    if errors:
        raise Invalid("Some answers need fixing.", errors)
    return {
        "location": str(location).strip(),
        "in_ontario": in_ontario,
        "emergency_phone": normalised,
    }


def parse_admit(data: Any) -> None:
    """The physiotherapist's checklist must be complete before anyone is admitted."""
    data = _object(data)
    missing = {
        key: "Confirm this before admitting."
        for key in ("identity_confirmed", "location_confirmed", "emergency_contact_confirmed")
        if data.get(key) is not True
    }
    if missing:
        raise Invalid("Complete the checklist before admitting.", missing)


# What a browser's getStats() can honestly report (static/js/consult/call.js, precheck.js):
# anything outside these ranges is a broken or lying client, and the admin's monitor and
# the physiotherapist's pre-call summary must never show it.
STATS_RANGES: dict[str, tuple[float, float]] = {
    "rtt_ms": (0, 60_000),  # a minute of round trip: no call survives that
    "jitter_ms": (0, 60_000),
    "loss_pct": (0, 100),
    "bitrate_kbps": (0, 1_000_000),  # 1 Gbit/s
}
ROUTES = ("direct", "relayed")


def stat_number(value: Any, key: str) -> float | None:
    """A call-health number inside its range, or None (absent, not a number, or out of range).

    `null` is how a browser's JSON writes NaN or an unmeasured value; the caller treats None
    as absent only when the client sent null or nothing."""
    low, high = STATS_RANGES[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and not low <= value <= high:
        return None  # checked before float(): 2**2000 cannot become a float
    number = float(value)
    return round(number, 2) if math.isfinite(number) and low <= number <= high else None


VERDICTS = ("good", "audio_only", "cannot_connect")


def parse_precheck(data: Any) -> dict[str, Any]:
    """The pre-call check's verdict and measurements, as the browser reports them."""
    data = _object(data)
    verdict = data.get("verdict")
    if verdict not in VERDICTS:
        raise Invalid("Unknown verdict.", {"verdict": " / ".join(VERDICTS)})
    return {**parse_stats(data), "verdict": verdict}


def parse_stats(data: Any) -> dict[str, Any]:
    """Call health from getStats: numbers in range and the route kind, or `Invalid` naming
    every field that is out of range; absent or null numbers are simply not reported."""
    data = _object(data)
    stats: dict[str, Any] = {}
    wrong: dict[str, str] = {}
    for key, (low, high) in STATS_RANGES.items():
        value = data.get(key)
        if value is None:
            continue
        number = stat_number(value, key)
        if number is None:
            wrong[key] = f"a number from {low:g} to {high:g}"
        else:
            stats[key] = number
    route = data.get("route")
    if route is not None and route not in ROUTES:
        wrong["route"] = " or ".join(ROUTES)
    if wrong:
        raise Invalid("Some call statistics are out of range.", wrong)
    stats["route"] = route or "unknown"
    return stats
