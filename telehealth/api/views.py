"""The public JSON API, as documented in openapi.json."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from ..booking import notices
from ..booking.flows import place_booking
from ..booking.service import (
    BookedConsult,
    BookingRefused,
    cancel_consult,
    consult_by_credential,
    consult_providers,
    open_slots,
    reschedule_consult,
)
from ..clinic import current_clinic
from ..db import utcnow
from ..domain.availability import CLINIC_TZ, Slot
from ..domain.booking_rules import InvalidBooking, parse_start
from ..errors import ApiError
from ..extensions import csrf, limiter
from ..models import Consult, Provider
from ..notify import messages
from .openapi import openapi_document

bp = Blueprint("api", __name__)
MAX_SLOT_RANGE_DAYS = 62

csrf.exempt(bp)  # JSON only: browsers cannot send application/json cross-site without CORS


def _booking_limit() -> str:
    return str(current_app.config["BOOKING_RATE_LIMIT"])


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document())


@bp.get("/providers")
def providers() -> Any:
    """Every active provider, with credentials."""
    with current_clinic().db.sessions() as session:
        rows = session.scalars(
            select(Provider).where(Provider.active.is_(True)).order_by(Provider.name)
        )
        return jsonify([p.to_public() for p in rows])


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


def booking_json(
    booked: BookedConsult | Consult, join_url: str | None, manage_url: str | None
) -> dict[str, Any]:
    consult = booked.consult if isinstance(booked, BookedConsult) else booked
    body: dict[str, Any] = {
        "id": consult.id,
        "provider_id": consult.provider_id,
        "start": consult.starts_at.astimezone(CLINIC_TZ).isoformat(),
        "end": consult.ends_at.astimezone(CLINIC_TZ).isoformat(),
        "status": consult.status,
    }
    if join_url:
        body["join_url"] = join_url
    if manage_url:
        body["manage_url"] = manage_url
    return body


@bp.post("/bookings")
@limiter.limit(_booking_limit, methods=["POST"])
def create_booking() -> Any:
    """Book a free consult."""
    payload = _json_payload()
    try:
        booked = place_booking(payload)
    except InvalidBooking as error:
        raise ApiError(422, "invalid_booking", "Some details need fixing.", error.fields) from error
    except BookingRefused as error:
        raise _refused(error) from error
    clinic = current_clinic()
    root = request.url_root
    body = booking_json(
        booked,
        clinic.public_url(f"/join/{booked.credentials.join}", root),
        clinic.public_url(f"/manage/{booked.credentials.manage}", root),
    )
    return jsonify(body), 201


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
        return consult


@bp.get("/bookings/<int:booking_id>")
@limiter.limit(_booking_limit)
def get_booking(booking_id: int) -> Any:
    """A booking, seen with its manage credential."""
    consult = _owned_consult(booking_id, _manage_credential())
    return jsonify(booking_json(consult, None, None))


@bp.delete("/bookings/<int:booking_id>")
@limiter.limit(_booking_limit)
def delete_booking(booking_id: int) -> Any:
    """Cancel a booking with its manage credential."""
    credential = _manage_credential()
    _owned_consult(booking_id, credential)
    clinic = current_clinic()
    try:
        consult = cancel_consult(clinic.db, credential, utcnow())
    except BookingRefused as error:
        raise _refused(error) from error
    _notify(consult.id, messages.cancellation_notice)
    return jsonify(booking_json(consult, None, None))


@bp.patch("/bookings/<int:booking_id>")
@limiter.limit(_booking_limit)
def move_booking(booking_id: int) -> Any:
    """Reschedule a booking to another free slot with its manage credential."""
    credential = _manage_credential()
    _owned_consult(booking_id, credential)
    new_start = parse_start(_json_payload().get("start"))
    if new_start is None:
        raise ApiError(
            422,
            "invalid_booking",
            "Some details need fixing.",
            {"start": "Choose a time (ISO 8601 with a UTC offset)."},
        )
    clinic = current_clinic()
    try:
        consult = reschedule_consult(
            clinic.db, credential, new_start, rules=clinic.consult_rules(), now=utcnow()
        )
    except BookingRefused as error:
        raise _refused(error) from error
    _notify(consult.id, messages.reschedule_confirmation)
    return jsonify(booking_json(consult, None, None))


def _notify(consult_id: int, build: Any) -> None:
    clinic = current_clinic()
    with clinic.db.sessions() as session:
        consult = session.get(Consult, consult_id)
        if consult is not None:
            notices.send_notice(clinic, consult, request.url_root, build)
