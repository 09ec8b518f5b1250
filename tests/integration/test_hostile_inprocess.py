"""A hostile barrage at the /consult namespace, in process, through Flask-SocketIO's test client.

Hypothesis drives ≥ 10,000 malformed, oversized and out-of-order events from both sockets of
a consult A (a fresh consult per example, admitted part-way through or not at all) while a
consult B sits admitted beside it. The server must answer every event with a well-formed
acknowledgement, relay only protocol-shaped signals, and keep B working and untouched.

Notes on the protocol shape checked here (docs/protocol.md, `signal`):
- descriptions may also be of type "rollback" or "pranswer": the server accepts the W3C
  RTCSdpType values on purpose and both clients handle them (the doc lists offer|answer);
- a missing `sdp` / `candidate` string is relayed as "" (the WebIDL dictionary defaults of
  RTCSessionDescriptionInit / RTCIceCandidateInit), so the relayed payload always has every key.

Besides payloads, the barrage varies the envelope: client-sent reserved event names
("connect", "disconnect"), non-string event names, and no or extra arguments. Each of those
attacks, and a signal right after the end, also has its own short test below.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telehealth.extensions import socketio
from tests.consults import CHECK_IN, CHECKLIST, instant_consult, patient_client, staff_client

NS = "/consult"
SIDES = ("patient", "provider")
EXAMPLES = 210
EVENTS_PER_EXAMPLE = 50
MIN_TOTAL_EVENTS = 10_000
DESCRIPTION_TYPES = ("offer", "answer", "rollback", "pranswer")
ERROR_CODES_WITH_FIELDS = ("invalid",)


@pytest.fixture
def app(app_factory):
    """In process, no Redis message queue, and a rate limit that never ends the barrage early."""
    return app_factory(
        SOCKETIO_MESSAGE_QUEUE=False,
        SOCKET_EVENTS_PER_SECOND=1_000_000,
        SOCKET_EVENT_BURST=1_000_000,
    )


def _connect(app, http_client, auth):
    client = socketio.test_client(app, namespace=NS, flask_test_client=http_client, auth=auth)
    assert client.is_connected(NS)
    return client


def _received(client, name=None):
    return [
        (e["name"], e["args"][0] if e["args"] else None)
        for e in client.get_received(NS)
        if name is None or e["name"] == name
    ]


# -- what the server may send back ---------------------------------------------------------


def assert_ack(ack: Any, event: Any) -> None:
    """Either {"ok": true, ...} or {"ok": false, "error": {"code", "message"}} (+ `fields`)."""
    assert isinstance(ack, dict), f"{event!r}: ack {ack!r} is not an object"
    if ack.get("ok") is True:
        return
    assert ack.get("ok") is False, f"{event!r}: ack {ack!r}"
    assert set(ack) <= {"ok", "error", "fields"} and "error" in ack, f"{event!r}: ack {ack!r}"
    error = ack["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, ack
    assert isinstance(error["code"], str) and error["code"], ack
    assert isinstance(error["message"], str) and error["message"], ack
    if "fields" in ack:
        assert error["code"] in ERROR_CODES_WITH_FIELDS, ack
        fields = ack["fields"]
        assert isinstance(fields, dict), ack
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()), ack


def _short_str(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def assert_protocol_signal(payload: Any) -> None:
    """A relayed `signal` exactly as docs/protocol.md describes it, and nothing else."""
    assert isinstance(payload, dict) and len(payload) == 1, payload
    if "description" in payload:
        description = payload["description"]
        assert isinstance(description, dict), payload
        assert set(description) == {"type", "sdp"}, payload
        assert description["type"] in DESCRIPTION_TYPES, payload
        assert _short_str(description["sdp"], 60_000), payload
        return
    assert "candidate" in payload, payload
    candidate = payload["candidate"]
    if candidate is None:
        return  # end of candidates
    assert isinstance(candidate, dict), payload
    keys = set(candidate)
    assert {"candidate", "sdpMid", "sdpMLineIndex"} <= keys, payload
    assert keys <= {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}, payload
    assert _short_str(candidate["candidate"], 1_000), payload
    mid, index = candidate["sdpMid"], candidate["sdpMLineIndex"]
    assert mid is None or _short_str(mid, 32), payload
    assert index is None or (
        isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 64
    ), payload
    if "usernameFragment" in candidate:
        assert _short_str(candidate["usernameFragment"], 256), payload


def assert_relayed_event(name: str, payload: Any, consult_id: int) -> None:
    """Everything else a consult's socket receives is well-formed too."""
    if name == "signal":
        assert_protocol_signal(payload)
    elif name == "chat":
        assert isinstance(payload, dict) and set(payload) == {"from", "text", "at"}, payload
        assert payload["from"] in SIDES and isinstance(payload["at"], str), payload
        assert isinstance(payload["text"], str) and 1 <= len(payload["text"]) <= 1_000, payload
    elif name == "peer_media":
        assert isinstance(payload, dict) and set(payload) == {"audio", "video", "screen"}
        assert all(isinstance(v, bool) for v in payload.values()), payload
    elif name == "state":
        assert payload["consult_id"] == consult_id, payload
    else:
        known = ("ice_servers", "ended", "peer_left", "peer_back", "warning")
        assert name in known, (name, payload)


def relayed_form(payload: dict[str, Any]) -> dict[str, Any]:
    """What the other side should get for an accepted signal: the known fields, defaulted."""
    if "description" in payload:
        description = payload["description"]
        return {"description": {"type": description["type"], "sdp": description.get("sdp", "")}}
    candidate = payload["candidate"]
    if candidate is None:
        return {"candidate": None}
    relayed = {
        "candidate": candidate.get("candidate", ""),
        "sdpMid": candidate.get("sdpMid"),
        "sdpMLineIndex": candidate.get("sdpMLineIndex"),
    }
    fragment = candidate.get("usernameFragment")
    if isinstance(fragment, str) and len(fragment) <= 256:
        relayed["usernameFragment"] = fragment
    return {"candidate": relayed}


# -- what a hostile client sends ----------------------------------------------------------

HUGE = (
    "x" * 1_001,
    "y" * 60_001,
    "z" * 70_000,
    "\u20ac" * 40_000,
    "\x00" * 5_000,
    "a" * 300_000,
)
KNOWN_KEYS = (
    "description", "candidate", "type", "sdp", "sdpMid", "sdpMLineIndex", "usernameFragment",
    "text", "minutes", "seconds", "location", "in_ontario", "emergency_phone", "consent",
    "audio", "video", "screen", "verdict", "route", "rtt_ms", "check_id", "consult_id",
    "__proto__", "constructor",
)  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**200),
    st.floats(),  # NaN and ±Infinity included: Python's JSON reads them back
    st.text(max_size=20),
    st.sampled_from(HUGE),
    st.binary(max_size=16),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)


def _maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a plausible value, sometimes anything at all."""
    return st.one_of(valid, valid, json_values)


description_type = _maybe(st.sampled_from([*DESCRIPTION_TYPES, "OFFER", "evil", ""]))
sdp = _maybe(st.sampled_from(["v=0\r\n", "", "x" * 60_000]) | st.text(max_size=30))
description = st.fixed_dictionaries(
    {}, optional={"type": description_type, "sdp": sdp, "extra": json_values}
) | st.fixed_dictionaries({"type": st.sampled_from(["offer", "answer"]), "sdp": st.text()})
candidate_dict = st.fixed_dictionaries(
    {},
    optional={
        "candidate": _maybe(st.text(max_size=40) | st.just("c" * 1_001)),
        "sdpMid": _maybe(st.sampled_from(["0", "1", "", "m" * 33])),
        "sdpMLineIndex": _maybe(st.sampled_from([0, 1, 63, 64, -1, True, False, 0.5, "0"])),
        "usernameFragment": _maybe(st.text(max_size=8) | st.just("u" * 257)),
        "junk": json_values,
    },
)
candidate = st.none() | candidate_dict | json_values
valid_signals = st.one_of(
    st.fixed_dictionaries(
        {"description": st.fixed_dictionaries(
            {"type": st.sampled_from(["offer", "answer"]), "sdp": st.text(max_size=60)}
        )}
    ),
    st.fixed_dictionaries(
        {"candidate": st.none() | st.fixed_dictionaries(
            {"candidate": st.text(max_size=60), "sdpMid": st.sampled_from(["0", "1"]),
             "sdpMLineIndex": st.integers(0, 63)},
            optional={"usernameFragment": st.text(max_size=8)},
        )}
    ),
)  # fmt: skip
signal_payloads = st.one_of(
    *[valid_signals] * 8,
    st.fixed_dictionaries({"description": description}),
    st.fixed_dictionaries({"candidate": candidate}),
    st.fixed_dictionaries({"description": description, "candidate": candidate}),
    st.fixed_dictionaries(
        {}, optional={"description": json_values, "candidate": json_values, "x": json_values}
    ),
    json_values,
)
check_in_payloads = st.one_of(
    st.just(CHECK_IN),
    st.fixed_dictionaries(
        {},
        optional={
            "location": _maybe(st.sampled_from(["Vaughan, ON", "", "     ", "l" * 121])),
            "in_ontario": _maybe(st.booleans()),
            "emergency_phone": _maybe(st.sampled_from(["905-555-0100", "1", "+1 905 555 0100"])),
            "consent": _maybe(st.booleans()),
        },
    ),
    json_values,
)
admit_payloads = st.one_of(
    st.just(CHECKLIST),
    st.fixed_dictionaries({}, optional={k: _maybe(st.just(True)) for k in CHECKLIST}),
    json_values,
)
numbers = _maybe(st.floats() | st.integers() | st.sampled_from([0, -1, 1e308, 600, 601]))
stats_payloads = (
    st.fixed_dictionaries(
        {},
        optional={
            **{key: numbers for key in ("rtt_ms", "jitter_ms", "loss_pct", "bitrate_kbps")},
            "route": _maybe(st.sampled_from(["direct", "relayed", "evil"])),
            "verdict": _maybe(st.sampled_from(["good", "audio_only", "cannot_connect", "bad"])),
        },
    )
    | json_values
)
PAYLOADS: dict[str, st.SearchStrategy[Any]] = {
    "signal": signal_payloads,
    "check_in": check_in_payloads,
    "admit": admit_payloads,
    "chat": st.fixed_dictionaries(
        {"text": _maybe(st.text(max_size=40) | st.sampled_from(["", "   ", "t" * 1_000]))}
    )
    | json_values,
    "media_state": st.dictionaries(st.sampled_from(["audio", "video", "screen", "x"]), json_values)
    | json_values,
    "running_late": st.fixed_dictionaries(
        {"minutes": _maybe(st.sampled_from([5, 10, 15, 0, -5, 5.0, True, "5", 2**80]))}
    )
    | json_values,
    "stats": stats_payloads,
    "first_frame": st.fixed_dictionaries({"seconds": numbers}) | json_values,
    "precheck_offer": signal_payloads,
    "precheck_stop": st.fixed_dictionaries({"check_id": _maybe(st.text(max_size=12))})
    | json_values,
    "precheck_result": stats_payloads,
    "end": st.just({}) | json_values,
}
JUNK_NAMES = st.one_of(
    st.sampled_from(
        [
            "connect", "disconnect", "", "message", "json", "event", "on_connect",
            "trigger_event", "_relay_signal", "__init__", "__class__", "members", "signal ",
            "SIGNAL", "check_in\x00", "chat\n", "connect_error", "state", "ice_servers",
            "peer_left", "*", "n" * 10_000,
        ]
    ),
    st.text(max_size=30),
    # Not even strings: a raw client can put anything first in an EVENT packet.
    st.none() | st.booleans() | st.integers() | st.floats(),
    st.lists(st.text(max_size=3), max_size=2) | st.dictionaries(st.text(max_size=3), scalars),
)  # fmt: skip


def _arguments(payloads: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    """Usually the one payload the protocol expects; sometimes none, or extra ones."""
    one = payloads.map(lambda payload: (payload,))
    return st.one_of(
        *[one] * 8,
        st.just(()),
        st.tuples(payloads, json_values),
        st.tuples(payloads, json_values, json_values),
    )


def _event(name: str) -> st.SearchStrategy[tuple[str, str, tuple[Any, ...]]]:
    return st.tuples(st.sampled_from(SIDES), st.just(name), _arguments(PAYLOADS[name]))


# Signals dominate (the relay is the hot path); `end` is rare so most examples get a call.
events = st.one_of(
    *[_event("signal")] * 6,
    *[_event(name) for name in PAYLOADS if name not in ("signal", "end")],
    st.tuples(st.sampled_from(SIDES), JUNK_NAMES, _arguments(json_values)),
    _event("end"),
)
scripts = st.tuples(
    st.lists(events, min_size=EVENTS_PER_EXAMPLE, max_size=EVENTS_PER_EXAMPLE),
    st.none()
    | st.integers(min_value=0, max_value=5)
    | st.integers(min_value=0, max_value=EVENTS_PER_EXAMPLE - 1),
)


# -- the barrage -------------------------------------------------------------------------


class ConsultA:
    """One example's consult: both sockets, the phase as the acks tell it, what was relayed."""

    def __init__(self, app, clinic, staff_http, offset_seconds: int) -> None:
        self.consult = instant_consult(clinic, minutes_from_now=offset_seconds / 60)
        self.sockets = {
            "patient": _connect(
                app, patient_client(app, self.consult), {"device": "hostile patient"}
            ),
            "provider": _connect(
                app, staff_http, {"consult_id": self.consult.id, "device": "hostile desk"}
            ),
        }
        self.phase = "scheduled"
        self.accepted: dict[str, list[Any]] = {side: [] for side in SIDES}
        self.got: dict[str, list[Any]] = {side: [] for side in SIDES}

    def send(self, side: str, name: Any, *args: Any) -> dict[str, Any]:
        """One event as the protocol's state machine allows it, judged by its ack."""
        client = self.sockets[side]
        assert client.is_connected(NS), f"the {side} socket was cut off"
        ack = client.emit(name, *args, namespace=NS, callback=True)
        assert_ack(ack, name)
        ok, phase = ack["ok"] is True, self.phase
        if ok and (not isinstance(name, str) or name in ("connect", "disconnect")):
            raise AssertionError(f"event {name!r} was accepted: {ack!r}")
        if ok and len(args) > 1:
            raise AssertionError(f"{name!r} with {len(args)} arguments was accepted: {ack!r}")
        if ok and name == "check_in":
            assert side == "patient" and phase in ("scheduled", "waiting"), (side, phase)
            self.phase = "waiting"
        elif ok and name == "admit":
            assert side == "provider" and phase == "waiting", (side, phase)
            self.phase = "in_call"
        elif ok and name == "end":
            assert phase in ("waiting", "in_call"), phase
            self.phase = "ended"
        elif ok and name == "running_late":
            assert side == "provider" and phase in ("scheduled", "waiting"), (side, phase)
        elif ok and name == "chat":
            assert phase in ("waiting", "in_call"), phase
        elif ok and name == "stats":
            assert phase == "in_call", phase
        # (`media_state` outside waiting/in_call: see test_media_state_is_relayed_only_...)
        elif ok and name == "signal":
            assert phase == "in_call", f"a signal was accepted in phase {phase}: {args!r}"
            self.accepted[side].append(relayed_form(args[0]))
        return ack

    def collect(self) -> None:
        for side, client in self.sockets.items():
            for name, payload in _received(client):
                assert_relayed_event(name, payload, self.consult.id)
                if name == "signal":
                    self.got[side].append(payload)

    def close(self) -> None:
        for client in self.sockets.values():
            if client.is_connected(NS):
                client.disconnect(namespace=NS)


@pytest.mark.slow  # 210 generated attack scripts: minutes, not seconds
# Ten thousand events take about a minute alone; CI runs four suites side by side on two
# cores, where the same barrage has taken more than the default five minutes.
@pytest.mark.timeout(1200)
def test_a_hostile_barrage_is_refused_cleanly_and_spares_the_consult_next_door(app, demo_clinic):
    clinic = demo_clinic
    namespace = app.extensions["consult_namespace"]
    staff_http = staff_client(app)

    consult_b = instant_consult(clinic)
    b_patient = _connect(app, patient_client(app, consult_b), {"device": "B phone"})
    b_provider = _connect(app, staff_http, {"consult_id": consult_b.id, "device": "B desk"})
    assert b_patient.emit("check_in", CHECK_IN, namespace=NS, callback=True)["ok"]
    assert b_provider.emit("admit", CHECKLIST, namespace=NS, callback=True)["ok"]
    for client in (b_patient, b_provider):
        client.get_received(NS)

    offsets = itertools.count(60)  # distinct start seconds (one live booking per slot)
    sent = {"events": 0, "examples": 0, "relayed": 0, "admitted": 0}
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(script=scripts)
    def barrage(script: tuple[list[tuple[str, Any, tuple[Any, ...]]], int | None]) -> None:
        plan, admit_at = script
        consult_a = ConsultA(app, clinic, staff_http, next(offsets))
        try:
            for index, (side, name, args) in enumerate(plan):
                if index == admit_at:  # the legitimate path, wherever it falls in the chaos
                    consult_a.send("patient", "check_in", CHECK_IN)
                    consult_a.send("provider", "admit", CHECKLIST)
                consult_a.send(side, name, *args)
                sent["events"] += 1
                if index % 10 == 9:
                    consult_a.collect()
            consult_a.collect()
            sent["admitted"] += consult_a.phase in ("in_call", "ended")
            # Exactly the accepted signals crossed over, in order, rebuilt from known fields.
            assert consult_a.got["patient"] == consult_a.accepted["provider"]
            assert consult_a.got["provider"] == consult_a.accepted["patient"]
            sent["relayed"] += len(consult_a.got["patient"]) + len(consult_a.got["provider"])
            sent["examples"] += 1
        finally:
            consult_a.close()

    barrage()
    elapsed = time.monotonic() - started
    print(
        f"\nbarrage: {sent['events']} events in {sent['examples']} examples "
        f"({sent['admitted']} admitted, {sent['relayed']} signals relayed) in {elapsed:.1f} s"
    )
    assert sent["events"] >= MIN_TOTAL_EVENTS
    assert sent["admitted"] > EXAMPLES // 4 and sent["relayed"] > 50  # the relay was exercised

    # Consult B heard nothing of A and still works both ways.
    assert _received(b_patient) == [] and _received(b_provider) == []
    assert len(namespace.members) == 2, "consult A's sockets were not all released"
    offer = {"description": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}
    assert b_provider.emit("signal", offer, namespace=NS, callback=True) == {"ok": True}
    assert _received(b_patient) == [("signal", offer)] and _received(b_provider) == []
    host = "candidate:1 1 udp 2122260223 127.0.0.2 5000 typ host"
    ice = {"candidate": {"candidate": host, "sdpMid": "0", "sdpMLineIndex": 0}}
    assert b_patient.emit("signal", ice, namespace=NS, callback=True) == {"ok": True}
    assert _received(b_provider) == [("signal", ice)] and _received(b_patient) == []
    assert b_patient.emit("chat", {"text": "still here"}, namespace=NS, callback=True)["ok"]
    for client in (b_patient, b_provider):
        chats = _received(client, "chat")
        assert [(c["from"], c["text"]) for _, c in chats] == [("patient", "still here")]


# -- envelope-level attacks, one test each ---------------------------------------------


def _admitted_pair(app, clinic):
    consult = instant_consult(clinic)
    patient = _connect(app, patient_client(app, consult), {"device": "phone"})
    provider = _connect(app, staff_client(app), {"consult_id": consult.id, "device": "desk"})
    assert patient.emit("check_in", CHECK_IN, namespace=NS, callback=True)["ok"]
    assert provider.emit("admit", CHECKLIST, namespace=NS, callback=True)["ok"]
    for client in (patient, provider):
        client.get_received(NS)
    return consult, patient, provider


def test_client_sent_connect_and_disconnect_events_are_refused(app, demo_clinic):
    """EVENT packets named like the server's own connect/disconnect run nothing."""
    _, patient, provider = _admitted_pair(app, demo_clinic)
    namespace = app.extensions["consult_namespace"]
    members = dict(namespace.members)
    for name in ("connect", "disconnect", "connect"):
        ack = patient.emit(name, {}, namespace=NS, callback=True)
        assert isinstance(ack, dict) and ack.get("ok") is False, f"{name!r} was run: ack {ack!r}"
    # Nothing was re-run: no membership change, no presence spoofed to the other side,
    # no fresh state or TURN credentials pushed, and the patient is still a member.
    assert namespace.members.keys() == members.keys()
    assert _received(provider) == [] and _received(patient) == []
    assert patient.emit("chat", {"text": "hi"}, namespace=NS, callback=True)["ok"]


def test_a_check_in_after_admission_leaves_the_confirmed_checklist_alone(app, demo_clinic):
    """The answers the physiotherapist confirmed at admission cannot be rewritten."""
    _, patient, provider = _admitted_pair(app, demo_clinic)
    moved = {**CHECK_IN, "location": "Kenora, ON", "emergency_phone": "807-555-0199"}
    ack = patient.emit("check_in", moved, namespace=NS, callback=True)
    checklists = [state["checklist"] for _, state in _received(provider, "state")]
    assert all(c["location"] == "Vaughan, ON" for c in checklists), checklists
    assert ack["ok"] is False, f"check_in during the call was acknowledged: {ack!r}"


def test_non_string_event_names_are_refused(app, demo_clinic):
    """A raw client can put any JSON value where the event name goes."""
    _, patient, _ = _admitted_pair(app, demo_clinic)
    for name in (123, None, ["signal"], {"a": 1}, 1.5, True):
        ack = patient.emit(name, {}, namespace=NS, callback=True)
        assert_ack(ack, name)
        assert ack["ok"] is False


def test_events_with_missing_or_extra_arguments_are_refused(app, demo_clinic):
    """No payload, or more than one: an answer, never an exception in the handler."""
    _, patient, provider = _admitted_pair(app, demo_clinic)
    for client, name, args in (
        (patient, "chat", ()),
        (patient, "chat", ({"text": "a"}, {"text": "b"})),
        (provider, "running_late", ()),
        (patient, "media_state", ({}, 1, 2)),
        (provider, "end", ({}, {})),
    ):
        ack = client.emit(name, *args, namespace=NS, callback=True)
        assert_ack(ack, name)
        assert ack["ok"] is False


def test_no_signal_is_relayed_after_the_consult_ends(app, demo_clinic):
    """Not even in the second after the end, when the relay was busy just before it."""
    _, patient, provider = _admitted_pair(app, demo_clinic)
    candidate = {"candidate": None}
    assert provider.emit("signal", candidate, namespace=NS, callback=True)["ok"]
    assert provider.emit("end", {}, namespace=NS, callback=True)["ok"]
    _received(patient)
    ack = provider.emit("signal", candidate, namespace=NS, callback=True)
    assert _received(patient, "signal") == [], "a signal crossed after the call ended"
    assert ack["ok"] is False and ack["error"]["code"] == "wrong_phase", ack


def test_media_state_is_relayed_only_while_waiting_or_in_call(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    patient = _connect(app, patient_client(app, consult), {"device": "phone"})
    provider = _connect(app, staff_client(app), {"consult_id": consult.id, "device": "desk"})
    switches = {"audio": True, "video": False, "screen": False}
    answers = {}

    def media_state(phase: str) -> None:
        for client in (patient, provider):
            client.get_received(NS)
        ack = provider.emit("media_state", switches, namespace=NS, callback=True)
        answers[phase] = (ack, _received(patient, "peer_media"))

    media_state("scheduled")
    assert patient.emit("check_in", CHECK_IN, namespace=NS, callback=True)["ok"]
    media_state("waiting")
    assert provider.emit("admit", CHECKLIST, namespace=NS, callback=True)["ok"]
    media_state("in_call")
    assert patient.emit("end", {}, namespace=NS, callback=True)["ok"]
    media_state("ended")
    relayed = {phase: bool(got) for phase, (_, got) in answers.items()}
    assert relayed == {"scheduled": False, "waiting": True, "in_call": True, "ended": False}, (
        answers
    )
    assert not answers["scheduled"][0]["ok"] and not answers["ended"][0]["ok"], answers


def test_the_protocol_checks_reject_what_they_should():
    """The test's own validators: a relayed-shape check that would pass anything is useless."""
    for bad in (
        {"description": {"type": "offer", "sdp": "x", "evil": 1}},
        {"description": {"type": "evil", "sdp": "x"}},
        {"candidate": {"candidate": "x", "sdpMid": 1, "sdpMLineIndex": 0}},
        {"candidate": {"candidate": "x", "sdpMid": "0", "sdpMLineIndex": True}},
        {"candidate": None, "description": None},
        {"candidate": {"candidate": "x" * 1_001, "sdpMid": "0", "sdpMLineIndex": 0}},
    ):
        with pytest.raises(AssertionError):
            assert_protocol_signal(bad)
    for bad_ack in ([], None, {"ok": False}, {"ok": False, "error": {"code": "x"}}, {"ok": 1}):
        with pytest.raises(AssertionError):
            assert_ack(bad_ack, "x")
