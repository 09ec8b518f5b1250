"""Booking steps shared by the API and the booking pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import request

from ..clinic import current_clinic
from ..db import utcnow
from ..domain.booking_rules import parse_booking
from ..models import Consult
from ..notify import messages
from . import notices
from .service import BookedConsult, book_consult


def place_booking(payload: dict[str, Any], actor: str = "patient") -> BookedConsult:
    """Validate and book; shared by the API and the booking page."""
    clinic = current_clinic()
    booking_request = parse_booking(payload)
    booked = book_consult(
        clinic.db,
        booking_request,
        rules=clinic.consult_rules(),
        now=utcnow(),
        secret_key=clinic.config["SECRET_KEY"],
        consent_version=clinic.config["CONSENT_VERSION"],
        free_period=timedelta(days=clinic.config["FREE_CONSULTS_PER_PERIOD_DAYS"]),
        actor=actor,
    )
    with clinic.db.sessions() as session:
        consult = session.get(Consult, booked.consult.id)
        assert consult is not None
        notices.send_notice(clinic, consult, request.url_root, messages.booking_confirmation)
    return booked
