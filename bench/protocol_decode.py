"""What msgspec validation costs on the signal relay's hot path, in µs per call.

Compares the hand-written `parse_signal` the server used before the protocol module (copied
below as the baseline) with the schema-based one (telehealth.signaling.messages.parse_signal,
decode + encode through telehealth.protocol), on a typical 1 KB offer and a trickled
candidate, plus two refusals. Pure Python, no server: prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telehealth.protocol import Signal, decode  # noqa: E402
from telehealth.signaling.messages import Invalid, parse_signal  # noqa: E402

# -- the baseline: parse_signal as hand-written before telehealth.protocol ----------------

MAX_SDP = 60_000
MAX_CANDIDATE = 1_000
DESCRIPTION_TYPES = ("offer", "answer", "rollback", "pranswer")


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
        return None
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


def baseline_parse_signal(data: Any) -> dict[str, Any]:
    data = _object(data)
    if "description" in data and "candidate" not in data:
        return {"description": _description(data["description"])}
    if "candidate" in data and "description" not in data:
        return {"candidate": _candidate(data["candidate"])}
    raise Invalid("A signal carries exactly one of description or candidate.")


# -- the payloads: what a browser sends during set-up ---------------------------------------


def _offer_sdp(size: int = 1_024) -> str:
    lines = [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:0123456789abcdef01234567",
        "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
        "a=setup:actpass",
        "a=mid:0",
        "a=rtpmap:111 opus/48000/2",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "a=mid:1",
        "a=rtpmap:96 VP8/90000",
    ]
    sdp = "\r\n".join(lines) + "\r\n"
    while len(sdp) < size:
        sdp += "a=rtcp-fb:96 nack\r\n"
    return sdp[:size]


PAYLOADS: dict[str, Any] = {
    "offer_1kb": {"description": {"type": "offer", "sdp": _offer_sdp()}},
    "candidate": {
        "candidate": {
            "candidate": "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx "
            "raddr 0.0.0.0 rport 0 generation 0 ufrag abcd network-cost 999",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
            "usernameFragment": "abcd",
        }
    },
}
REFUSED: dict[str, Any] = {
    "refused_sdp_too_large": {"description": {"type": "offer", "sdp": "x" * 60_001}},
    "refused_bad_index": {"candidate": {"candidate": "x", "sdpMLineIndex": True}},
}


def _refuse(parse: Any, payload: Any) -> None:
    try:
        parse(payload)
    except Invalid:
        return
    raise AssertionError("a bad payload was accepted")


def microseconds(call: Any, number: int) -> float:
    """The best of five runs of `number` calls, in µs per call (the least disturbed run)."""
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def main(number: int = 50_000) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, payload in PAYLOADS.items():
        assert parse_signal(payload) == baseline_parse_signal(payload), name
        old = microseconds(lambda p=payload: baseline_parse_signal(p), number)
        new = microseconds(lambda p=payload: parse_signal(p), number)
        decode_only = microseconds(lambda p=payload: decode(Signal, p), number)
        results[name] = {
            "handwritten_us": round(old, 3),
            "msgspec_us": round(new, 3),
            "msgspec_decode_only_us": round(decode_only, 3),
            "ratio": round(new / old, 2),
        }
    for name, payload in REFUSED.items():
        old = microseconds(lambda p=payload: _refuse(baseline_parse_signal, p), number // 10)
        new = microseconds(lambda p=payload: _refuse(parse_signal, p), number // 10)
        results[name] = {
            "handwritten_us": round(old, 3),
            "msgspec_us": round(new, 3),
            "ratio": round(new / old, 2),
        }
    # For scale: DESIGN.md measures ≈ 40 µs of server CPU per relayed message for Node.
    results["calls_per_measurement"] = number
    results["python"] = sys.version.split()[0]
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
