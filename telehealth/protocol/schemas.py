"""Every payload of docs/protocol.md as a msgspec schema: the one place its rules live.

The server decodes what clients send with these, the Python client, the media worker and
the pre-call check build what they send with them, and docs/protocol.md's payload tables are
generated from them (`python -m telehealth.protocol --markdown`). A field's `refusal` is what
a person is told when that field is wrong; its description is what the docs say about it.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from msgspec import UNSET, Meta, Struct, UnsetType, field

MAX_SDP = 60_000
# A browser's gathered offer is 3-10 KB; anything far larger is not a real pre-call check.
MAX_PRECHECK_SDP = 20_000
MAX_CANDIDATE = 1_000
MAX_CHAT = 1_000
MAX_CHECK_ID = 64
DESCRIPTION_TYPES = ("offer", "answer", "rollback", "pranswer")
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
VERDICTS = ("good", "audio_only", "cannot_connect")
RUNNING_LATE_MINUTES = (5, 10, 15)
NOT_BLANK = r"\S"  # at least one character that is not white space


def about(description: str, refusal: str = "", **constraints: Any) -> Meta:
    """A field's constraints, what the docs say about it, and what a person is told."""
    extra = {"refusal": refusal} if refusal else {}
    return Meta(description=description, extra=extra, **constraints)


class Payload(Struct):
    """A payload of the protocol; unknown keys are ignored, never relayed."""

    refusal: ClassVar[str] = "The message does not follow the consult protocol."


# -- SDP and ICE -----------------------------------------------------------------------


class Description(Payload):
    """An RTCSessionDescriptionInit, as a browser's `toJSON()` writes it."""

    type: Annotated[Literal["offer", "answer", "rollback", "pranswer"], about("the W3C RTCSdpType")]
    sdp: Annotated[str, about("the session description (missing: empty)", max_length=MAX_SDP)] = ""


class Offer(Payload):
    """The pre-call check's offer: gathered first (non-trickle), so one SDP does it all."""

    type: Annotated[Literal["offer"], about("always an offer")]
    sdp: Annotated[str, about("the gathered offer", max_length=MAX_PRECHECK_SDP)] = ""


class Candidate(Payload):
    """An RTCIceCandidateInit, as a browser's `toJSON()` writes it."""

    candidate: Annotated[str, about("the a=candidate line", max_length=MAX_CANDIDATE)] = ""
    sdp_mid: Annotated[str, about("the media section's mid", max_length=32)] | None = field(
        default=None, name="sdpMid"
    )
    sdp_m_line_index: Annotated[int, about("the media section's index", ge=0, le=63)] | None = (
        field(default=None, name="sdpMLineIndex")
    )
    username_fragment: (
        Annotated[str, about("the ICE ufrag it belongs to", max_length=256)] | None | UnsetType
    ) = field(default=UNSET, name="usernameFragment")

    def __post_init__(self) -> None:
        if self.username_fragment is None:  # relayed only when there is one
            self.username_fragment = UNSET


class Signal(Payload):
    """Exactly one of a description or a candidate (`null`: end of candidates)."""

    refusal: ClassVar[str] = "This signal does not follow the consult protocol."
    description: Annotated[Description, about("an offer, answer, rollback or pranswer")] | (
        UnsetType
    ) = UNSET
    candidate: Annotated[Candidate, about("one ICE candidate")] | None | UnsetType = UNSET

    def __post_init__(self) -> None:
        if (self.description is UNSET) == (self.candidate is UNSET):
            raise ValueError("A signal carries exactly one of description or candidate.")


# -- /consult, client → server ---------------------------------------------------------


class CheckIn(Payload):
    """The patient's safety answers: where they are now and whom to call in an emergency."""

    refusal: ClassVar[str] = "Some answers need fixing."
    location: Annotated[
        str,
        about(
            "the city or town the patient is in now",
            "Tell us the city or town you are in now.",
            min_length=1,
            max_length=120,
            pattern=NOT_BLANK,
        ),
    ]
    in_ontario: Annotated[
        bool,
        about(
            "whether the patient is in Ontario now (false is refused: `not_in_ontario`)",
            "Tell us whether you are in Ontario right now.",
        ),
    ]
    emergency_phone: Annotated[
        str,
        about(
            "an emergency contact's phone with area code (10 to 15 digits)",
            "Enter an emergency contact phone with area code.",
            max_length=40,
        ),
    ]
    consent: Annotated[
        Literal[True],
        about(
            "in a private place and agrees to a video consult",
            "Please confirm you are in a private place and agree to a video consult.",
        ),
    ]


_CONFIRM = "Confirm this before admitting."


class Admit(Payload):
    """The physiotherapist's checklist: every item must be confirmed before admitting."""

    refusal: ClassVar[str] = "Complete the checklist before admitting."
    identity_confirmed: Annotated[Literal[True], about("the patient's identity", _CONFIRM)]
    location_confirmed: Annotated[Literal[True], about("where the patient is now", _CONFIRM)]
    emergency_contact_confirmed: Annotated[
        Literal[True], about("the patient's emergency contact", _CONFIRM)
    ]


class MediaState(Payload):
    """One side's media switches (also relayed as `peer_media`)."""

    audio: Annotated[bool, about("microphone on")] = True
    video: Annotated[bool, about("camera on")] = True
    screen: Annotated[bool, about("sharing the screen")] = False


class Measuring(Payload):
    """The physiotherapist froze a frame of the patient's video to measure a joint angle
    (also relayed as `peer_measuring`). The frame itself never leaves their browser."""

    refusal: ClassVar[str] = "Say whether a measurement is being taken (true or false)."
    active: Annotated[bool, about("a frame is frozen for measuring", "true or false")]


class ChatMessage(Payload):
    """A chat line; relayed, never stored."""

    refusal: ClassVar[str] = f"Write a message of at most {MAX_CHAT} characters."
    text: Annotated[str, about("the message", min_length=1, max_length=MAX_CHAT, pattern=NOT_BLANK)]


class RunningLate(Payload):
    """The physiotherapist tells the waiting patient how late they are."""

    refusal: ClassVar[str] = "Choose 5, 10 or 15 minutes."
    minutes: Annotated[Literal[5, 10, 15], about("minutes late", "5, 10 or 15")]


def _in_range(description: str, key: str) -> Meta:
    low, high = STATS_RANGES[key]
    return about(description, f"a number from {low:g} to {high:g}", ge=low, le=high)


class Stats(Payload):
    """Call health from getStats; every number is optional (`null`: not measured)."""

    refusal: ClassVar[str] = "Some call statistics are out of range."
    rtt_ms: Annotated[float, _in_range("round-trip time, ms", "rtt_ms")] | None = None
    jitter_ms: Annotated[float, _in_range("jitter, ms", "jitter_ms")] | None = None
    loss_pct: Annotated[float, _in_range("packet loss, %", "loss_pct")] | None = None
    bitrate_kbps: Annotated[float, _in_range("bitrate, kbit/s", "bitrate_kbps")] | None = None
    route: (
        Annotated[Literal["direct", "relayed"], about("relayed: through TURN", "direct or relayed")]
        | None
    ) = None


class PrecheckResult(Stats, kw_only=True):
    """The pre-call check's verdict, with the measurements it was based on."""

    refusal: ClassVar[str] = "The connection check's result is not valid."
    verdict: Annotated[
        Literal["good", "audio_only", "cannot_connect"],
        about("what the patient's check found", " / ".join(VERDICTS)),
    ]


class FirstFrame(Payload):
    """Admit → first decoded remote video frame, once per call, for the metrics."""

    refusal: ClassVar[str] = "seconds must be a number from 0 to 600."
    seconds: Annotated[float, about("seconds since admission", "number", ge=0, le=600)]


class PrecheckOffer(Payload):
    """The browser's offer for an echo peer on a media worker."""

    refusal: ClassVar[str] = "Send an offer description."
    description: Annotated[Offer, about("the gathered offer", "offer")]


class CheckId(Payload):
    """Which pre-call check (`precheck_stop`, `precheck_close`, `precheck_done`)."""

    check_id: Annotated[str, about("the check's id", max_length=MAX_CHECK_ID)]


class SwitchDevice(Payload):
    """Which side moves to another of its devices: your own (this waiting device takes over
    from your active one) or, from the physiotherapist's active device, the patient's (to
    the device the patient is joining from)."""

    refusal: ClassVar[str] = "Say which side to switch: patient or provider."
    side: (
        Annotated[
            Literal["patient", "provider"],
            about("the side that moves (missing: your own)", "patient or provider"),
        ]
        | None
    ) = None


class NoPayload(Payload):
    """Nothing: send `{}`."""


# -- /consult, server → client ---------------------------------------------------------


class IceServer(Payload):
    """An RTCIceServer: STUN, or TURN with a time-limited credential."""

    urls: Annotated[str | list[str], about("stun: or turn: URLs")]
    username: Annotated[str, about("TURN only: expiry:tag")] | None = None
    credential: Annotated[str, about("TURN only: the credential")] | None = None


class IceServers(Payload):
    """The ICE servers of the call (or of the pre-call check, in its acknowledgement)."""

    ice_servers: Annotated[list[IceServer], about("pass to RTCPeerConnection")] = field(
        default_factory=list, name="iceServers"
    )
    ttl: Annotated[int, about("seconds the TURN credentials last", ge=0)] = 0
    ice_transport_policy: (
        Annotated[Literal["all", "relay"], about("relay: TURN only")] | UnsetType
    ) = field(default=UNSET, name="iceTransportPolicy")


class ChatLine(Payload):
    """A chat message, to both sides (the sender's copy confirms delivery)."""

    sender: Annotated[Literal["patient", "provider"], about("who wrote it")] = field(name="from")
    text: Annotated[str, about("the message", max_length=MAX_CHAT)]
    at: Annotated[str, about("when the server relayed it, ISO 8601")]


class TimeWarning(Payload):
    """Time is running out (`warning`)."""

    seconds_left: Annotated[int, about("300, then 60", ge=0)]


class Ended(Payload):
    """The consult is over; each side goes to its `next_url`."""

    by: Annotated[str, about("patient, provider, clock or admin")]
    reason: Annotated[str, about("why, in words both sides can read")]
    next_url: Annotated[str, about("where this side goes next")]
    phase: Annotated[str, about("cancelled or rescheduled, when so")] | UnsetType = UNSET


class Presence(Payload):
    """The other side lost its last connection (`peer_left`) or came back (`peer_back`)."""

    side: Annotated[Literal["patient", "provider"], about("which side")]
    devices: Annotated[int, about("its connected devices", ge=0)]


class DeviceSwitched(Payload):
    """A side moved to another of its devices: every device then gets `state` (which one is
    active), and the other side's page starts the call afresh with the new device."""

    side: Annotated[Literal["patient", "provider"], about("the side that moved")]
    by: Annotated[
        Literal["patient", "provider"],
        about("who asked: the physiotherapist, or the side's own waiting device"),
    ]


class PrecheckAnswer(Payload):
    """The echo peer's answer (worker → server on /media, server → browser on /consult)."""

    check_id: Annotated[str, about("the check's id", max_length=MAX_CHECK_ID)]
    description: Annotated[Description, about("the echo peer's answer")]


class PrecheckError(Payload):
    """The check could not run after all (every worker busy)."""

    check_id: Annotated[str, about("the check's id", max_length=MAX_CHECK_ID)]
    code: Annotated[str, about("busy")]
    message: Annotated[str, about("what to tell the patient")]


# -- /media ----------------------------------------------------------------------------


class PrecheckRequest(Payload):
    """An offer for the worker to answer with an echo peer."""

    check_id: Annotated[str, about("the check's id", max_length=MAX_CHECK_ID)]
    description: Annotated[Offer, about("the browser's offer")]
    ice_servers: Annotated[IceServers, about("the ICE servers the browser got")] = field(
        default_factory=IceServers
    )
    max_seconds: Annotated[float, about("the longest the check may run", gt=0)] | None = None


class PrecheckRefusal(Payload):
    """The worker cannot take the check (it is full); the server offers it to another."""

    check_id: Annotated[str, about("the check's id", max_length=MAX_CHECK_ID)]
    reason: Annotated[str, about("busy", max_length=40)] = "busy"


class Heartbeat(Payload):
    """Every 10 s: the worker is alive (and how busy)."""

    busy: Annotated[int, about("checks running now", ge=0)] = 0


# -- /monitor --------------------------------------------------------------------------


class EndRoom(Payload):
    """An admin force-ends a room."""

    refusal: ClassVar[str] = "consult_id needed."
    consult_id: Annotated[int, about("the consult to end", "a consult id", ge=1)]
