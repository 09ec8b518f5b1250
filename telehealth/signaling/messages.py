"""Shape checks for every client event: bad payloads are refused, never relayed.

The rules live in the protocol's schemas (telehealth/protocol); these are the server's
thin wrappers, returning the plain values the namespaces work with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from msgspec import UNSET, UnsetType

from ..protocol import (
    DESCRIPTION_TYPES,
    MAX_CANDIDATE,
    MAX_CHAT,
    MAX_PRECHECK_SDP,
    MAX_SDP,
    ROUTES,
    STATS_RANGES,
    VERDICTS,
    Admit,
    ChatMessage,
    CheckIn,
    FirstFrame,
    Invalid,
    MediaState,
    PrecheckOffer,
    PrecheckResult,
    RunningLate,
    Signal,
    Stats,
    decode,
    decode_form,
    encode,
    field_hint,
    form_problems,
)

__all__ = [
    "DESCRIPTION_TYPES",
    "MAX_CANDIDATE",
    "MAX_CHAT",
    "MAX_PRECHECK_SDP",
    "MAX_SDP",
    "ROUTES",
    "STATS_RANGES",
    "VERDICTS",
    "Invalid",
    "parse_admit",
    "parse_chat",
    "parse_check_in",
    "parse_first_frame",
    "parse_media_state",
    "parse_precheck",
    "parse_precheck_offer",
    "parse_running_late",
    "parse_signal",
    "parse_stats",
    "stat_number",
]


def parse_signal(data: Any) -> dict[str, Any]:
    """A description or a candidate, rebuilt from known fields only."""
    signal = decode(Signal, data)
    # Built by hand rather than with encode(): the relay's hot path, 0.5 µs a signal cheaper.
    if signal.description is not UNSET:
        description = signal.description
        return {"description": {"type": description.type, "sdp": description.sdp}}
    candidate = signal.candidate
    if candidate is None or isinstance(candidate, UnsetType):
        return {"candidate": None}
    relayed: dict[str, Any] = {
        "candidate": candidate.candidate,
        "sdpMid": candidate.sdp_mid,
        "sdpMLineIndex": candidate.sdp_m_line_index,
    }
    if candidate.username_fragment is not UNSET:
        relayed["usernameFragment"] = candidate.username_fragment
    return {"candidate": relayed}


def parse_chat(data: Any) -> str:
    """The message without surrounding white space; the words match the chat box's own."""
    try:
        return decode(ChatMessage, data).text.strip()
    except Invalid as error:
        if not error.fields:
            raise
        text = data.get("text")
        if isinstance(text, str) and len(text) > MAX_CHAT:
            raise Invalid(
                f"Messages are limited to {MAX_CHAT} characters.", {"text": "too long"}
            ) from None
        raise Invalid("Write a message first.", {"text": "required"}) from None


def parse_media_state(data: Any) -> dict[str, bool]:
    return encode(decode(MediaState, data))


def parse_check_in(data: Any, normalise_phone: Callable[[str], str | None]) -> dict[str, Any]:
    """The patient's safety answers: where they are now and whom to call in an emergency;
    a refusal names every answer that needs fixing."""
    wrong = form_problems(CheckIn, data)
    phone = data.get("emergency_phone")
    normalised = normalise_phone(phone) if isinstance(phone, str) else None
    if normalised is None:
        wrong.setdefault("emergency_phone", field_hint(CheckIn, ["emergency_phone"]))
    if wrong:
        raise Invalid(CheckIn.refusal, wrong)
    answers = decode(CheckIn, data)
    return {
        "location": answers.location.strip(),
        "in_ontario": answers.in_ontario,
        "emergency_phone": normalised,
    }


def parse_admit(data: Any) -> None:
    """The physiotherapist's checklist must be complete before anyone is admitted."""
    decode_form(Admit, data)


def parse_running_late(data: Any) -> int:
    """5, 10 or 15 minutes."""
    return decode(RunningLate, data).minutes


def parse_first_frame(data: Any) -> float:
    """Seconds from admission to the first decoded remote video frame (0 to 600)."""
    return decode(FirstFrame, data).seconds


def parse_precheck_offer(data: Any) -> dict[str, str]:
    """The pre-call check's offer: an offer description of at most MAX_PRECHECK_SDP."""
    return encode(decode(PrecheckOffer, data).description)


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


def _measured(stats: Stats) -> dict[str, Any]:
    numbers = {key: getattr(stats, key) for key in STATS_RANGES}
    found: dict[str, Any] = {k: round(v, 2) for k, v in numbers.items() if v is not None}
    found["route"] = stats.route or "unknown"
    return found


def parse_precheck(data: Any) -> dict[str, Any]:
    """The pre-call check's verdict and measurements, as the browser reports them."""
    result = decode_form(PrecheckResult, data)
    return {**_measured(result), "verdict": result.verdict}


def parse_stats(data: Any) -> dict[str, Any]:
    """Call health from getStats: numbers in range and the route kind, or `Invalid` naming
    every field that is out of range; absent or null numbers are simply not reported."""
    return _measured(decode_form(Stats, data))
