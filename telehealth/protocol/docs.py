"""docs/protocol.md's event and payload tables, generated from the schemas.

`python -m telehealth.protocol --markdown` rewrites the text between each pair of
`<!-- generated:NAME -->` / `<!-- /generated:NAME -->` markers; `--check` only says whether
the file is up to date (a unit test runs it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import msgspec.inspect as mi

from . import events
from .acks import REFUSALS
from .codec import describe, struct_info
from .schemas import (
    Admit,
    ChatLine,
    ChatMessage,
    CheckId,
    CheckIn,
    DeviceSwitched,
    Ended,
    FirstFrame,
    Heartbeat,
    IceServers,
    Measuring,
    MediaState,
    NoPayload,
    Payload,
    PrecheckAnswer,
    PrecheckError,
    PrecheckOffer,
    PrecheckRefusal,
    PrecheckRequest,
    PrecheckResult,
    Presence,
    RunningLate,
    Signal,
    Stats,
    SwitchDevice,
    TimeWarning,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


@dataclass(frozen=True)
class EventDoc:
    """One event of a namespace: who sends it, its payload, when it is allowed, what it does."""

    name: str
    sender: str
    schema: type[Payload] | None
    when: str = ""
    effect: str = ""


CONSULT_CLIENT_EVENTS = (
    EventDoc(
        events.CHECK_IN,
        "patient",
        CheckIn,
        "lobby open, phase scheduled/waiting",
        "phase → waiting; both sides get `state`",
    ),
    EventDoc(
        events.ADMIT,
        "provider",
        Admit,
        "phase waiting",
        "phase → in_call; `state` + `ice_servers` to both",
    ),
    EventDoc(events.SIGNAL, "both", Signal, "phase in_call", "relayed to the other side only"),
    EventDoc(
        events.MEDIA_STATE, "both", MediaState, "phase waiting/in_call", "relayed as `peer_media`"
    ),
    EventDoc(
        events.MEASURING,
        "provider",
        Measuring,
        "phase in_call",
        "relayed to the patient as `peer_measuring` (no image is ever sent)",
    ),
    EventDoc(events.CHAT, "both", ChatMessage, "phase waiting/in_call", "`chat` to both sides"),
    EventDoc(
        events.RUNNING_LATE,
        "provider",
        RunningLate,
        "before admission",
        "`state` to both (the patient sees it at once)",
    ),
    EventDoc(
        events.STATS,
        "both",
        Stats,
        "phase in_call",
        "every 5 s; shown on the admin monitor only",
    ),
    EventDoc(
        events.END, "both", NoPayload, "phase waiting/in_call", "phase → ended; `ended` to both"
    ),
    EventDoc(
        events.FIRST_FRAME,
        "both",
        FirstFrame,
        "once per call",
        "admit → first decoded remote video frame, for the `/metrics` histogram",
    ),
    EventDoc(
        events.SWITCH_DEVICE,
        "both",
        SwitchDevice,
        "phase not over; a waiting device for its own side, the physiotherapist's active "
        "device for the patient's side",
        "that side's waiting device becomes the active one; `device_switched` to both, "
        "`state` to every device (and `ice_servers` to the new one in the call)",
    ),
    EventDoc(
        events.PRECHECK_ICE,
        "patient",
        NoPayload,
        "before admission, lobby open",
        'ack `{"ok": true, "iceServers": [...], "ttl": 300}`: the call\'s ICE path '
        "(see `IceServers`), TURN credentials for 5 minutes",
    ),
    EventDoc(
        events.PRECHECK_OFFER,
        "patient",
        PrecheckOffer,
        "before admission, lobby open; one check at a time, 10 an hour",
        'ack `{"ok": true, "check_id": "..."}`; later `precheck_answer` or `precheck_error`',
    ),
    EventDoc(
        events.PRECHECK_STOP,
        "patient",
        CheckId,
        "a running check",
        "the worker closes the echo peer",
    ),
    EventDoc(
        events.PRECHECK_RESULT,
        "patient",
        PrecheckResult,
        "before admission",
        "shown to the physiotherapist (`state.precheck`) and on the admin monitor",
    ),
)

CONSULT_SERVER_EVENTS = (
    EventDoc(events.STATE, "server", None, effect="see `state` above"),
    EventDoc(events.ICE_SERVERS, "server", IceServers, effect="at admission and on reconnect"),
    EventDoc(events.SIGNAL, "server", Signal, effect="the other side's signal, unchanged"),
    EventDoc(events.PEER_MEDIA, "server", MediaState, effect="the other side's switches"),
    EventDoc(
        events.PEER_MEASURING,
        "server",
        Measuring,
        effect="the physiotherapist is measuring on a frozen frame (the patient's notice)",
    ),
    EventDoc(events.CHAT, "server", ChatLine, effect="to both sides"),
    EventDoc(events.WARNING, "server", TimeWarning, effect="5 and 1 minute before the end"),
    EventDoc(events.ENDED, "server", Ended, effect="to both sides"),
    EventDoc(events.PEER_LEFT, "server", Presence, effect="the other side's last device left"),
    EventDoc(events.PEER_BACK, "server", Presence, effect="the other side is back"),
    EventDoc(
        events.DEVICE_SWITCHED,
        "server",
        DeviceSwitched,
        effect="a side moved to another device; the other side restarts the call",
    ),
    EventDoc(events.PRECHECK_ANSWER, "server", PrecheckAnswer, effect="the echo peer's answer"),
    EventDoc(events.PRECHECK_ERROR, "server", PrecheckError, effect="the check cannot run"),
)

MEDIA_EVENTS = (
    EventDoc(events.PRECHECK_REQUEST, "server", PrecheckRequest, effect="answer it, echo media"),
    EventDoc(events.PRECHECK_CLOSE, "server", CheckId, effect="close that echo peer"),
    EventDoc(events.PRECHECK_ANSWER, "worker", PrecheckAnswer, effect="relayed to the browser"),
    EventDoc(
        events.PRECHECK_REFUSED, "worker", PrecheckRefusal, effect="offered to another worker"
    ),
    EventDoc(events.PRECHECK_DONE, "worker", CheckId, effect="the consult may run its next check"),
    EventDoc(events.HEARTBEAT, "worker", Heartbeat, effect="every 10 s: still alive"),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _payload_link(schema: type[Payload] | None) -> str:
    if schema is None:
        return "—"
    return f"[`{schema.__name__}`](#{schema.__name__.lower()})"


def event_table(rows: tuple[EventDoc, ...], with_rules: bool) -> str:
    if with_rules:
        head = "| event | who | payload | when allowed | effect |\n|---|---|---|---|---|\n"
        lines = [
            f"| `{e.name}` | {e.sender} | {_payload_link(e.schema)} | {_cell(e.when)} | "
            f"{_cell(e.effect)} |"
            for e in rows
        ]
    else:
        head = "| event | from | payload | what it means |\n|---|---|---|---|\n"
        lines = [
            f"| `{e.name}` | {e.sender} | {_payload_link(e.schema)} | {_cell(e.effect)} |"
            for e in rows
        ]
    return head + "\n".join(lines)


def _meaning(kind: mi.Type) -> str:
    if isinstance(kind, mi.Metadata):
        return str((kind.extra_json_schema or {}).get("description", ""))
    if isinstance(kind, mi.UnionType):
        return next((m for m in map(_meaning, kind.types) if m), "")
    return ""


def _required(info: mi.Field) -> str:
    if info.required:
        return "yes"
    default = info.default
    if default is msgspec.NODEFAULT or default is msgspec.UNSET:
        return "no"
    return f"no (`{msgspec.json.encode(default).decode()}`)"


def _nested(kind: mi.Type) -> list[type[Payload]]:
    if isinstance(kind, mi.Metadata):
        return _nested(kind.type)
    if isinstance(kind, mi.UnionType):
        return [s for t in kind.types for s in _nested(t)]
    if isinstance(kind, mi.ListType):
        return _nested(kind.item_type)
    if isinstance(kind, mi.StructType) and issubclass(kind.cls, Payload):
        return [kind.cls]
    return []


def documented_schemas() -> list[type[Payload]]:
    """Every schema the event tables name, then the ones nested in them, each once."""
    found: list[type[Payload]] = []
    queue = [e.schema for e in (*CONSULT_CLIENT_EVENTS, *CONSULT_SERVER_EVENTS, *MEDIA_EVENTS)]
    while queue:
        schema = queue.pop(0)
        if schema is None or schema in found:
            continue
        found.append(schema)
        for info in struct_info(schema).fields:
            queue.extend(_nested(info.type))
    return found


def payload_tables() -> str:
    parts = []
    for schema in documented_schemas():
        doc = (schema.__doc__ or "").strip()
        fields = struct_info(schema).fields
        part = f"#### {schema.__name__}\n{doc}\n"
        if fields:
            part += "\n| field | type and limits | required | meaning |\n|---|---|---|---|\n"
            part += "\n".join(
                f"| `{f.encode_name}` | {_cell(describe(f.type))} | {_required(f)} | "
                f"{_cell(_meaning(f.type))} |"
                for f in fields
            )
        parts.append(part)
    return "\n\n".join(parts)


def refusal_table() -> str:
    head = "| code | message when the server has nothing more specific |\n|---|---|\n"
    return head + "\n".join(f"| `{code}` | {_cell(text)} |" for code, text in REFUSALS.items())


def sections() -> dict[str, str]:
    """The generated text of each marked section of docs/protocol.md."""
    return {
        "consult-client-events": event_table(CONSULT_CLIENT_EVENTS, with_rules=True),
        "consult-server-events": event_table(CONSULT_SERVER_EVENTS, with_rules=False),
        "media-events": event_table(MEDIA_EVENTS, with_rules=False),
        "payloads": payload_tables(),
        "refusals": refusal_table(),
    }


def _keeping_markers(body: str) -> Callable[[re.Match[str]], str]:
    return lambda match: match[1] + body + "\n" + match[2]


def render(text: str) -> str:
    """`text` (docs/protocol.md) with every marked section regenerated."""
    for name, body in sections().items():
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"docs/protocol.md has no <!-- generated:{name} --> section")
        text = pattern.sub(_keeping_markers(body), text)
    return text


def write(path: Path = DOC) -> bool:
    """Regenerate the file; True when it changed."""
    before = path.read_text(encoding="utf-8")
    after = render(before)
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before
