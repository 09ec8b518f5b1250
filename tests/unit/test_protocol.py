"""The protocol module on its own: valid payloads decode, each invalid one names its field."""

from __future__ import annotations

import pytest

from telehealth.protocol import (
    REFUSALS,
    Admit,
    CheckIn,
    IceServers,
    Invalid,
    MediaState,
    PrecheckAnswer,
    PrecheckRequest,
    PrecheckResult,
    Signal,
    Stats,
    decode,
    decode_form,
    encode,
    events,
    ok,
    refusal_of,
    refused,
)
from telehealth.signaling.messages import (
    parse_chat,
    parse_check_in,
    parse_first_frame,
    parse_precheck_offer,
    parse_running_late,
    parse_signal,
    parse_stats,
)

OFFER = {"description": {"type": "offer", "sdp": "v=0\r\n"}}
CANDIDATE = {"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.2 5000 typ host"}}


def _fields(schema, data, form=False):
    with pytest.raises(Invalid) as refused_payload:
        (decode_form if form else decode)(schema, data)
    return refused_payload.value.fields


# -- valid payloads ---------------------------------------------------------------------


def test_an_offer_is_relayed_with_only_its_type_and_sdp():
    assert parse_signal({**OFFER, "evil": 1}) == OFFER
    extra = {"description": {"type": "answer", "sdp": "x", "evil": 1}}
    assert parse_signal(extra) == {"description": {"type": "answer", "sdp": "x"}}


def test_a_candidate_gets_the_webidl_defaults_and_keeps_a_short_ufrag():
    relayed = parse_signal({"candidate": {"candidate": "c", "usernameFragment": "ab"}})
    assert relayed == {
        "candidate": {
            "candidate": "c",
            "sdpMid": None,
            "sdpMLineIndex": None,
            "usernameFragment": "ab",
        }
    }
    assert parse_signal({"candidate": {"usernameFragment": None}}) == {
        "candidate": {"candidate": "", "sdpMid": None, "sdpMLineIndex": None}
    }
    assert parse_signal({"candidate": None}) == {"candidate": None}


def test_encode_and_decode_are_a_pair():
    signal = decode(Signal, CANDIDATE)
    assert decode(Signal, encode(signal)) == signal
    ice = {"iceServers": [{"urls": ["stun:127.0.0.1"]}], "ttl": 300, "iceTransportPolicy": "relay"}
    assert encode(decode(IceServers, ice)) == {
        "iceServers": [{"urls": ["stun:127.0.0.1"], "username": None, "credential": None}],
        "ttl": 300,
        "iceTransportPolicy": "relay",
    }


def test_media_switches_default_to_camera_and_microphone_on():
    assert encode(decode(MediaState, {})) == {"audio": True, "video": True, "screen": False}


def test_check_in_answers_are_cleaned():
    answers = parse_check_in(
        {
            "location": " Vaughan ",
            "in_ontario": True,
            "emergency_phone": "905 555 0100",
            "consent": True,
        },
        lambda phone: phone.replace(" ", ""),
    )
    assert answers == {"location": "Vaughan", "in_ontario": True, "emergency_phone": "9055550100"}


def test_stats_are_rounded_and_the_route_defaults_to_unknown():
    assert parse_stats({"rtt_ms": 12.3456, "loss_pct": None}) == {
        "rtt_ms": 12.35,
        "route": "unknown",
    }
    result = decode(PrecheckResult, {"verdict": "good", "route": "direct"})
    assert result.verdict == "good" and result.route == "direct"


def test_small_events_decode_to_their_value():
    assert parse_running_late({"minutes": 10}) == 10
    assert parse_first_frame({"seconds": 0.42}) == 0.42
    assert parse_chat({"text": "  hello "}) == "hello"
    assert parse_precheck_offer({"description": {"type": "offer", "sdp": "v=0"}}) == {
        "type": "offer",
        "sdp": "v=0",
    }


def test_the_worker_request_and_answer_decode():
    request = decode(
        PrecheckRequest,
        {"check_id": "abc", "description": {"type": "offer", "sdp": "v=0"}, "max_seconds": 90},
    )
    assert request.ice_servers.ice_servers == [] and request.max_seconds == 90
    answer = decode(PrecheckAnswer, {"check_id": "abc", "description": {"type": "answer"}})
    assert answer.description.sdp == ""


# -- invalid payloads name their field ----------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"description": {"type": "evil", "sdp": "x"}}, "description.type"),
        ({"description": {"sdp": "x"}}, "description.type"),
        ({"description": {"type": "offer", "sdp": "x" * 60_001}}, "description.sdp"),
        ({"description": {"type": "offer", "sdp": 5}}, "description.sdp"),
        ({"description": "offer"}, "description"),
        ({"candidate": 5}, "candidate"),
        ({"candidate": {"candidate": "x" * 1_001}}, "candidate.candidate"),
        ({"candidate": {"sdpMid": 1}}, "candidate.sdpMid"),
        ({"candidate": {"sdpMid": "m" * 33}}, "candidate.sdpMid"),
        ({"candidate": {"sdpMLineIndex": True}}, "candidate.sdpMLineIndex"),
        ({"candidate": {"sdpMLineIndex": 64}}, "candidate.sdpMLineIndex"),
        ({"candidate": {"sdpMLineIndex": 2**80}}, "candidate.sdpMLineIndex"),
        ({"candidate": {"usernameFragment": "u" * 257}}, "candidate.usernameFragment"),
    ],
)
def test_a_bad_signal_names_the_field(payload, field):
    assert list(_fields(Signal, payload)) == [field]


@pytest.mark.parametrize("payload", [{}, {"description": OFFER["description"], "candidate": None}])
def test_a_signal_carries_exactly_one_thing(payload):
    with pytest.raises(Invalid, match="exactly one"):
        parse_signal(payload)


@pytest.mark.parametrize("payload", [None, [], "signal", 5])
def test_a_payload_that_is_not_an_object_is_refused(payload):
    with pytest.raises(Invalid, match="must be an object"):
        parse_signal(payload)
    with pytest.raises(Invalid, match="must be an object"):
        parse_stats(payload)


def test_every_wrong_check_in_answer_is_named_at_once():
    fields = _fields(CheckIn, {"location": "   ", "in_ontario": "yes", "consent": False}, form=True)
    assert set(fields) == {"location", "in_ontario", "emergency_phone", "consent"}
    assert fields["location"] == "Tell us the city or town you are in now."
    with pytest.raises(Invalid) as refused_check_in:
        parse_check_in(
            {
                "location": "Vaughan",
                "in_ontario": True,
                "emergency_phone": "1",
                "consent": True,
            },
            lambda phone: None,
        )
    assert refused_check_in.value.fields == {
        "emergency_phone": "Enter an emergency contact phone with area code."
    }


def test_an_incomplete_checklist_names_each_missing_item():
    fields = _fields(Admit, {"identity_confirmed": True, "location_confirmed": "true"}, form=True)
    assert fields == {
        "location_confirmed": "Confirm this before admitting.",
        "emergency_contact_confirmed": "Confirm this before admitting.",
    }


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"rtt_ms": 60_001}, "rtt_ms"),
        ({"rtt_ms": float("nan")}, "rtt_ms"),
        ({"jitter_ms": float("inf")}, "jitter_ms"),
        ({"loss_pct": -0.1}, "loss_pct"),
        ({"bitrate_kbps": 10**90}, "bitrate_kbps"),
        ({"bitrate_kbps": "fast"}, "bitrate_kbps"),
        ({"rtt_ms": True}, "rtt_ms"),
        ({"route": "relayed<script>"}, "route"),
    ],
)
def test_lying_stats_name_the_field_and_its_range(payload, field):
    fields = _fields(Stats, payload, form=True)
    assert list(fields) == [field]
    assert fields[field] in (
        "a number from 0 to 60000",
        "a number from 0 to 100",
        "a number from 0 to 1e+06",
        "direct or relayed",
    )


def test_a_precheck_result_names_the_verdict_and_the_numbers():
    fields = _fields(PrecheckResult, {"verdict": "great", "loss_pct": 101}, form=True)
    assert set(fields) == {"verdict", "loss_pct"}


@pytest.mark.parametrize(
    ("parse", "payload", "field"),
    [
        (parse_chat, {"text": "   "}, "text"),
        (parse_chat, {"text": "t" * 1_001}, "text"),
        (parse_chat, {}, "text"),
        (parse_running_late, {"minutes": True}, "minutes"),
        (parse_running_late, {"minutes": 5.0}, "minutes"),
        (parse_running_late, {"minutes": 20}, "minutes"),
        (parse_first_frame, {"seconds": 601}, "seconds"),
        (parse_precheck_offer, {"description": {"type": "answer", "sdp": ""}}, "description.type"),
        (
            parse_precheck_offer,
            {"description": {"type": "offer", "sdp": "x" * 20_001}},
            "description.sdp",
        ),
    ],
)
def test_small_events_name_the_wrong_field(parse, payload, field):
    with pytest.raises(Invalid) as refused_payload:
        parse(payload)
    assert field in refused_payload.value.fields


def test_chat_refusals_use_the_chat_box_words():
    with pytest.raises(Invalid, match="limited to 1000 characters"):
        parse_chat({"text": "t" * 1_001})
    with pytest.raises(Invalid, match="Write a message first"):
        parse_chat({"text": " "})


# -- acknowledgements ---------------------------------------------------------------------


def test_acknowledgements_have_one_shape():
    assert ok() == {"ok": True} and ok(check_id="x") == {"ok": True, "check_id": "x"}
    assert refused("wrong_phase") == {
        "ok": False,
        "error": {"code": "wrong_phase", "message": REFUSALS["wrong_phase"]},
    }
    assert refused("invalid", "Bad.", {"text": "required"})["fields"] == {"text": "required"}
    assert "fields" not in refused("rate_limited", fields={"x": "y"})  # only `invalid` names fields
    assert refusal_of(ok()) is None
    assert refusal_of(refused("busy")) == ("busy", REFUSALS["busy"])
    assert refusal_of({"ok": False}) == ("refused", "the server gave no reason")


def test_event_names_are_plain_strings():
    assert events.SIGNAL == "signal" and type(events.SIGNAL) is str
    assert events.CONSULT == "/consult" and events.MEDIA == "/media"
