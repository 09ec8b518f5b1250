"""The public JSON API, as documented in openapi.json."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from ..booking.flows import BookingAnswer, cancel_booking, move_booking, place_booking
from ..booking.service import (
    BookingRefused,
    consult_by_credential,
    consult_providers,
    open_slots,
)
from ..clinic import current_clinic
from ..db import utcnow
from ..domain.availability import CLINIC_TZ, Slot
from ..domain.booking_rules import BOOKING_LANGUAGES, InvalidBooking, parse_start
from ..errors import ApiError
from ..extensions import csrf, limiter
from ..i18n import current_language
from ..models import Consult, Provider
from .openapi import openapi_document

bp = Blueprint("api", __name__)
MAX_SLOT_RANGE_DAYS = 62

csrf.exempt(bp)  # JSON only: browsers cannot send application/json cross-site without CORS


def _booking_limit() -> str:
    return str(current_app.config["BOOKING_RATE_LIMIT"])


# One bucket per client address for every route that books, cancels or moves, here and on
# the booking pages (same scope): a client cannot multiply its budget by switching doors.
booking_budget = limiter.shared_limit(_booking_limit, scope="booking")


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document())


@bp.get("/providers")
def providers() -> Any:
    """Every active provider, with credentials; `?language=fr`: those who consult in French."""
    language = request.args.get("language", "")
    if language and language not in BOOKING_LANGUAGES:
        choose = _("Choose English (en) or French (fr).")
        raise ApiError(422, "invalid_query", choose, {"language": choose})
    with current_clinic().db.sessions() as session:
        rows = session.scalars(
            select(Provider).where(Provider.active.is_(True)).order_by(Provider.name)
        )
        return jsonify(
            [p.to_public() for p in rows if not language or language in (p.languages or ["en"])]
        )


def _day_param(name: str, default: date) -> date:
    value = request.args.get(name)
    if value is None:
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise ApiError(
            422, "invalid_query", "Dates must look like 2027-03-15.", {name: "Use YYYY-MM-DD."}
        ) from error
    if not 2000 <= day.year <= 2100:
        raise ApiError(
            422, "invalid_query", "Choose a date between 2000 and 2100.", {name: "Out of range."}
        )
    return day


def _slot_json(slot: Slot) -> dict[str, Any]:
    return {
        "provider_id": slot.provider_id,
        "start": slot.start.astimezone(CLINIC_TZ).isoformat(),
        "end": slot.end.astimezone(CLINIC_TZ).isoformat(),
    }


@bp.get("/slots")
def slots() -> Any:
    """Free consult slots in a range of local days, for one provider or all."""
    today = utcnow().astimezone(CLINIC_TZ).date()
    first = _day_param("from", today)
    last = _day_param("to", first + timedelta(days=6))
    if last < first or (last - first).days > MAX_SLOT_RANGE_DAYS:
        raise ApiError(
            422,
            "invalid_query",
            f"'to' must be on or after 'from', at most {MAX_SLOT_RANGE_DAYS} days later.",
            {"to": "Choose a shorter range."},
        )
    clinic = current_clinic()
    rules = clinic.consult_rules()
    with clinic.db.sessions() as session:
        chosen = consult_providers(session)
        provider_id = request.args.get("provider_id")
        if provider_id:
            chosen = [p for p in chosen if str(p.id) == provider_id]
            if not chosen:
                raise ApiError(
                    422,
                    "unknown_provider",
                    "No such provider offers the free consult.",
                    {"provider_id": "Choose one of our physiotherapists."},
                )
        found = open_slots(session, chosen, rules, first, last, utcnow())
    return jsonify({"timezone": CLINIC_TZ.key, "slots": [_slot_json(s) for s in found]})


def _json_payload() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "Send JSON with Content-Type: application/json."
        )
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    return payload


def _refused(error: BookingRefused) -> ApiError:
    return ApiError(error.status, error.code, error.message, error.fields)


def booking_json(booked: BookingAnswer | Consult) -> dict[str, Any]:
    """A booking as the API shows it; links only in the answer to the booking itself."""
    if isinstance(booked, BookingAnswer):
        return {
            "id": booked.consult_id,
            "provider_id": booked.provider_id,
            "start": booked.start.astimezone(CLINIC_TZ).isoformat(),
            "end": booked.end.astimezone(CLINIC_TZ).isoformat(),
            "status": "booked",
            "join_url": booked.join_url,
            "manage_url": booked.manage_url,
        }
    return {
        "id": booked.id,
        "provider_id": booked.provider_id,
        "start": booked.starts_at.astimezone(CLINIC_TZ).isoformat(),
        "end": booked.ends_at.astimezone(CLINIC_TZ).isoformat(),
        "status": booked.status,
    }


@bp.post("/bookings")
@booking_budget
def create_booking() -> Any:
    """Book a free consult (an email that already had one gets the same answer; see flows)."""
    payload = _json_payload()
    # Without a "language", the booking speaks the request's (Accept-Language, else English).
    payload.setdefault("language", current_language())
    try:
        answer = place_booking(payload)
    except InvalidBooking as error:
        # Stable codes and field names; the messages in the request's language.
        fields = {field: _(message) for field, message in error.fields.items()}
        raise ApiError(422, "invalid_booking", _("Some details need fixing."), fields) from error
    except BookingRefused as error:
        raise _refused(error) from error
    return jsonify(booking_json(answer)), 201


def _manage_credential() -> str:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(
            401, "unauthorized", "Send the manage credential as 'Authorization: Bearer'."
        )
    return header.removeprefix("Bearer ").strip()


def _owned_consult(booking_id: int, credential: str) -> Consult:
    with current_clinic().db.sessions() as session:
        consult = consult_by_credential(session, "manage", credential)
        if consult is None or consult.id != booking_id:
            raise ApiError(404, "not_found", "We could not find that booking.")
        _ = consult.patient.email  # loaded for the mail budget, before the session closes
        return consult


@bp.get("/bookings/<int:booking_id>")
@limiter.limit(_booking_limit)
def get_booking(booking_id: int) -> Any:
    """A booking, seen with its manage credential."""
    consult = _owned_consult(booking_id, _manage_credential())
    return jsonify(booking_json(consult))


@bp.delete("/bookings/<int:booking_id>")
@booking_budget
def delete_booking(booking_id: int) -> Any:
    """Cancel a booking with its manage credential."""
    credential = _manage_credential()
    consult = _owned_consult(booking_id, credential)
    try:
        consult = cancel_booking(credential, consult)
    except BookingRefused as error:
        raise _refused(error) from error
    return jsonify(booking_json(consult))


@bp.patch("/bookings/<int:booking_id>")
@booking_budget
def move_booking_to(booking_id: int) -> Any:
    """Reschedule a booking to another free slot with its manage credential."""
    credential = _manage_credential()
    consult = _owned_consult(booking_id, credential)
    new_start = parse_start(_json_payload().get("start"))
    if new_start is None:
        raise ApiError(
            422,
            "invalid_booking",
            "Some details need fixing.",
            {"start": "Choose a time (ISO 8601 with a UTC offset), without control characters."},
        )
    try:
        consult = move_booking(credential, consult, new_start)
    except BookingRefused as error:
        raise _refused(error) from error
    return jsonify(booking_json(consult))
