"""Decode what arrives and encode what leaves, with msgspec; a wrong payload becomes `Invalid`
naming the field (`description.sdp`), as aiortc's object_from_string / object_to_string pair
does for its own signaling."""

from __future__ import annotations

import functools
import re
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

from .schemas import Payload

P = TypeVar("P", bound=Payload)
NOT_AN_OBJECT = "The payload must be an object."
_AT = re.compile(r"^(?P<text>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")


class Invalid(Exception):
    """A payload that does not follow docs/protocol.md; `fields` names what is wrong."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


def decode(schema: type[P], data: Any) -> P:
    """The payload as `schema`, or `Invalid` naming the first wrong field."""
    try:
        return msgspec.convert(data, schema)
    except msgspec.ValidationError as error:
        raise _invalid(schema, error) from None


def decode_form(schema: type[P], data: Any) -> P:
    """Like `decode`, but a refusal names every wrong field (a form shows them all at once)."""
    try:
        return msgspec.convert(data, schema)
    except msgspec.ValidationError as error:
        wrong = form_problems(schema, data)
        raise (Invalid(schema.refusal, wrong) if wrong else _invalid(schema, error)) from None


def encode(payload: Payload) -> dict[str, Any]:
    """The payload as the JSON object that goes on the wire (unset fields left out)."""
    built = msgspec.to_builtins(payload)
    assert isinstance(built, dict)
    return built


def form_problems(schema: type[Payload], data: Any) -> dict[str, str]:
    """Every wrong or missing field of `data`, each with what a person is told about it."""
    if not isinstance(data, dict):
        raise Invalid(NOT_AN_OBJECT)
    wrong: dict[str, str] = {}
    for info in msgspec.structs.fields(schema):
        name = info.encode_name
        if name not in data:
            if info.required:
                wrong[name] = field_hint(schema, [name])
            continue
        try:
            msgspec.convert(data[name], info.type)
        except msgspec.ValidationError as error:
            path, _ = _where(error)
            wrong[".".join([name, *path])] = field_hint(schema, [name, *path])
    return wrong


def _where(error: msgspec.ValidationError) -> tuple[list[str], str]:
    """The field path of a msgspec error (`$.description.sdp` → [description, sdp]) and its text."""
    match = _AT.match(str(error))
    text, path = (match["text"], match["path"] or "") if match else (str(error), "")
    parts = [part for part in re.split(r"[.\[\]]", path) if part]
    if missing := _MISSING.match(text):
        parts.append(missing["name"])
    return parts, text


def _invalid(schema: type[Payload], error: msgspec.ValidationError) -> Invalid:
    path, text = _where(error)
    if not path:
        if text.startswith("Expected `object`"):
            return Invalid(NOT_AN_OBJECT)
        return Invalid(text if text.endswith(".") else schema.refusal)  # a rule of the schema
    return Invalid(schema.refusal, {".".join(path): field_hint(schema, path)})


# -- what a field's rules are, in words (refusal hints and the docs' tables) --------------


@functools.cache
def struct_info(schema: type[Payload]) -> mi.StructType:
    info = mi.type_info(schema)
    assert isinstance(info, mi.StructType)
    return info


def _field(info: mi.StructType, name: str) -> mi.Field | None:
    return next((f for f in info.fields if f.encode_name == name), None)


def _structs_in(kind: mi.Type) -> list[mi.StructType]:
    if isinstance(kind, mi.Metadata):
        return _structs_in(kind.type)
    if isinstance(kind, mi.UnionType):
        return [s for t in kind.types for s in _structs_in(t)]
    return [kind] if isinstance(kind, mi.StructType) else []


def field_hint(schema: type[Payload], path: list[str]) -> str:
    """What a person is told about the field at `path`: its own words, or its rules."""
    info: mi.StructType | None = struct_info(schema)
    kind: mi.Type | None = None
    for name in path:
        found = _field(info, name) if info is not None else None
        if found is None:
            return "not expected here" if kind is None else describe(kind, for_people=True)
        kind = found.type
        nested = _structs_in(kind)
        info = nested[0] if nested else None
    return describe(kind, for_people=True) if kind is not None else "required"


def _range(kind: mi.IntType | mi.FloatType) -> str:
    low = kind.ge if kind.ge is not None else kind.gt
    high = kind.le if kind.le is not None else kind.lt
    if low is not None and high is not None:
        return f" from {low:g} to {high:g}"
    if low is not None:
        return f" of at least {low:g}" if kind.ge is not None else f" above {low:g}"
    return f" of at most {high:g}" if high is not None else ""


def _text(kind: mi.StrType) -> str:
    low, high = kind.min_length, kind.max_length
    blank = " (not blank)" if kind.pattern else ""
    if high is not None:
        if low:
            return f"text of {low} to {high} characters{blank}"
        return f"text of at most {high} characters"
    return f"text{blank}"


def describe(kind: mi.Type, for_people: bool = False) -> str:
    """A field's type and rules in a few words ("a number from 0 to 100")."""
    if isinstance(kind, mi.Metadata):
        refusal = (kind.extra or {}).get("refusal")
        return str(refusal) if for_people and refusal else describe(kind.type, for_people)
    if isinstance(kind, mi.UnionType):
        parts = [describe(t, for_people) for t in kind.types if not isinstance(t, mi.NoneType)]
        nullable = len(parts) < len(kind.types)
        return " or ".join(parts) + (" or null" if nullable and not for_people else "")
    if isinstance(kind, mi.LiteralType):
        values = [_json(v) for v in kind.values]
        return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
    if isinstance(kind, mi.StrType):
        return _text(kind)
    if isinstance(kind, mi.IntType):
        return "a whole number" + _range(kind)
    if isinstance(kind, mi.FloatType):
        return "a number" + _range(kind)
    if isinstance(kind, mi.BoolType):
        return "true or false"
    if isinstance(kind, mi.StructType):
        return f"an object ({kind.cls.__name__})"
    if isinstance(kind, mi.ListType):
        return f"a list of {describe(kind.item_type, for_people)}"
    if isinstance(kind, mi.NoneType):
        return "null"
    return "anything"


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()
