"""Synthetic probe consults: real consults, marked so that no statistic or dashboard counts them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from ..booking.service import BookedConsult, book_consult
from ..clinic import Clinic
from ..db import utcnow
from ..domain.booking_rules import BookingRequest
from ..models import Profession, Provider

PROBE_PATIENT_EMAIL = "probe@telehealth.invalid"


def any_physiotherapist(clinic: Clinic) -> int | None:
    with clinic.db.sessions() as session:
        return session.scalar(
            select(Provider.id)
            .where(Provider.active.is_(True), Provider.profession == Profession.PHYSIOTHERAPIST)
            .order_by(Provider.id)
            .limit(1)
        )


def create_probe_consult(clinic: Clinic, provider_id: int, actor: str) -> BookedConsult:
    """An instant consult starting now, for the probe to join as both sides."""
    start = utcnow()  # to the microsecond: two probes in one second must not collide
    request = BookingRequest(
        provider_id,
        start,
        "Synthetic Probe",
        PROBE_PATIENT_EMAIL,
        "+10000000000",
        "Synthetic probe call",
    )
    return book_consult(
        clinic.db,
        request,
        rules=clinic.consult_rules(),
        now=utcnow(),
        secret_key=clinic.config["SECRET_KEY"],
        consent_version="probe",
        free_period=timedelta(0),
        actor=actor,
        enforce_calendar=False,
        is_probe=True,
    )


def probe_links(clinic: Clinic, booked: BookedConsult, root_url: str) -> dict[str, Any]:
    return {
        "id": booked.consult.id,
        "join_url": clinic.public_url(f"/join/{booked.credentials.join}", root_url),
    }
