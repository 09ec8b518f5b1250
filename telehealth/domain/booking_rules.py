"""What a booking request must contain, checked without any framework."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .endings import Ending, ending_of
from .text_rules import NOT_ALLOWED, is_clean_text
from .wording import N_

# Stored in English (the physiotherapist's list); the booking page shows them translated.
CONDITIONS = (
    N_("Knee pain"),
    N_("Shoulder pain"),
    N_("Neck pain"),
    N_("Back pain"),
    N_("Joint pain"),
    N_("Tissue injury"),
    N_("Ankle sprain"),
    N_("Sports injury"),
    N_("Mobility issues"),
    N_("Damaged muscle tissue"),
    N_("Pelvic-floor rehabilitation"),
    N_("Muscle tension or trigger points"),
    N_("Connective-tissue problems"),
)
# The languages a booking may be made in; the emails about it speak the same one.
BOOKING_LANGUAGES = ("en", "fr")

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}$")
MAX_REASON = 500


@dataclass(frozen=True)
class BookingRequest:
    provider_id: int
    start: datetime
    name: str
    email: str
    phone: str
    reason: str
    language: str = "en"


class InvalidBooking(Exception):
    """The request is malformed; `fields` says what to fix, per field."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("invalid booking request")
        self.fields = fields


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str | None:
    """Digits of a North American or international number, or None when it is not one."""
    digits = re.sub(r"[^\d+]", "", phone.strip())
    bare = digits.lstrip("+")
    if not bare.isdigit() or not 10 <= len(bare) <= 15:
        return None
    return digits


def parse_start(value: Any) -> datetime | None:
    """An ISO 8601 time with an offset; naive times are refused (ambiguous around DST)."""
    if not isinstance(value, str) or not is_clean_text(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None or not 2000 <= parsed.year <= 2100:
        return None  # naive times are ambiguous around DST; far years are not bookable
    return parsed


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return value.strip() if isinstance(value, str) else ""


# The patient's free-text reason may span lines; every other field is one line.
MULTILINE_FIELDS = frozenset({"reason"})


def unclean_booking_fields(payload: dict[str, Any]) -> dict[str, str]:
    """Per-field errors for control or text-direction characters anywhere in a booking."""
    given = payload.get("patient")
    patient: dict[str, Any] = given if isinstance(given, dict) else {}
    texts = {f"patient.{key}": patient.get(key) for key in ("name", "email", "phone")}
    texts.update({"start": payload.get("start"), "reason": payload.get("reason")})
    return {
        field: NOT_ALLOWED
        for field, value in texts.items()
        if isinstance(value, str) and not is_clean_text(value, field in MULTILINE_FIELDS)
    }


def parse_booking(payload: dict[str, Any]) -> BookingRequest:
    """Turn an API or form payload into a BookingRequest, or raise InvalidBooking."""
    given = payload.get("patient")
    patient: dict[str, Any] = given if isinstance(given, dict) else {}
    errors: dict[str, str] = {}

    provider_id = payload.get("provider_id")
    if isinstance(provider_id, str) and provider_id.isdigit():
        provider_id = int(provider_id)
    if (
        not isinstance(provider_id, int)
        or isinstance(provider_id, bool)
        or not 1 <= provider_id < 2**31
    ):
        errors["provider_id"] = N_("Choose a physiotherapist.")

    start = parse_start(payload.get("start"))
    if start is None:
        errors["start"] = N_("Choose a time (ISO 8601 with a UTC offset).")

    name = _text(patient, "name")
    if not 1 <= len(name) <= 120:
        errors["patient.name"] = N_("Enter your name (up to 120 characters).")

    email = normalise_email(_text(patient, "email"))
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        errors["patient.email"] = N_("Enter an email address like name@example.com.")

    phone = normalise_phone(_text(patient, "phone"))
    if phone is None:
        errors["patient.phone"] = N_("Enter a phone number with area code, e.g. 905-555-0123.")

    reason = _text(payload, "reason")
    if not 1 <= len(reason) <= MAX_REASON:
        # Written out (MAX_REASON is 500) so that the catalog knows the whole sentence.
        errors["reason"] = N_("Tell us briefly what brings you in (up to 500 characters).")

    if payload.get("consent") is not True:
        errors["consent"] = N_("Please agree to a virtual consult to continue.")

    language = payload.get("language", "en")
    if language not in BOOKING_LANGUAGES:
        errors["language"] = N_("Choose English (en) or French (fr).")

    errors.update(unclean_booking_fields(payload))

    if errors:
        raise InvalidBooking(errors)
    assert start is not None and phone is not None and isinstance(provider_id, int)
    return BookingRequest(provider_id, start, name, email, phone, reason, str(language))


def uses_free_consult(
    status: str, ended_by: str | None, reason: str | None, admitted: bool
) -> bool:
    """Whether a consult counts toward the once-a-year free consult: one the patient never
    had because the physiotherapist did not come (or left for good) does not."""
    return ending_of(status, ended_by, reason, admitted) is not Ending.PROVIDER_ABSENT
