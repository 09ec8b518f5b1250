"""The end of every consult: a recommendation (and private notes), or a no-show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from flask_babel import gettext as _
from sqlalchemy import select

from .. import audit
from ..db import Database
from ..i18n_format import translated
from ..models import (
    RECOMMENDATION_LABELS,
    Consult,
    ConsultOutcome,
    ConsultStatus,
    Recommendation,
)

MAX_NOTES = 5_000
MAX_MESSAGE = 1_000


class OutcomeRefused(Exception):
    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


@dataclass(frozen=True)
class OutcomeForm:
    recommendation: Recommendation
    private_notes: str
    message_to_patient: str


def parse_outcome(form: Any) -> OutcomeForm:
    """The outcome form's fields, or OutcomeRefused with what to fix."""
    errors: dict[str, str] = {}
    try:
        recommendation = Recommendation(form.get("recommendation", ""))
    except ValueError:
        errors["recommendation"] = _("Choose what you recommend.")
        recommendation = Recommendation.NONE
    notes = str(form.get("private_notes", "")).strip()
    message = str(form.get("message_to_patient", "")).strip()
    if len(notes) > MAX_NOTES:
        errors["private_notes"] = _("Notes are limited to %(count)d characters.", count=MAX_NOTES)
    if len(message) > MAX_MESSAGE:
        errors["message_to_patient"] = _(
            "The message is limited to %(count)d characters.", count=MAX_MESSAGE
        )
    if errors:
        raise OutcomeRefused(_("Some fields need fixing."), errors)
    return OutcomeForm(recommendation, notes, message)


def save_outcome(
    db: Database, consult_id: int, staff_id: int, form: OutcomeForm, now: datetime
) -> bool:
    """Record (or correct) the outcome; True when the patient has not been emailed yet."""
    with db.transaction() as session:
        consult = session.get(Consult, consult_id)
        if consult is None or consult.status != ConsultStatus.COMPLETED:
            raise OutcomeRefused(_("An outcome can be recorded once the call has ended."))
        outcome = session.scalars(
            select(ConsultOutcome).where(ConsultOutcome.consult_id == consult_id)
        ).first()
        if outcome is None:
            outcome = ConsultOutcome(consult_id=consult_id, recorded_by=staff_id)
            session.add(outcome)
        outcome.recommendation = form.recommendation
        outcome.private_notes = form.private_notes
        outcome.message_to_patient = form.message_to_patient
        outcome.recorded_at = now
        audit.record(
            session,
            f"staff:{staff_id}",
            "consult.outcome_recorded",
            consult_id,
            recommendation=str(form.recommendation),
        )
        return outcome.emailed_at is None


def mark_emailed(db: Database, consult_id: int, now: datetime) -> None:
    with db.transaction() as session:
        outcome = session.scalars(
            select(ConsultOutcome).where(ConsultOutcome.consult_id == consult_id)
        ).first()
        if outcome is not None:
            outcome.emailed_at = now


def outcome_of(db: Database, consult_id: int) -> ConsultOutcome | None:
    with db.sessions() as session:
        return session.scalars(
            select(ConsultOutcome).where(ConsultOutcome.consult_id == consult_id)
        ).first()


@dataclass(frozen=True)
class TreatmentBooking:
    """How the patient books the recommended service: the clinic's booking page when it
    has one (a real link, no mail app needed), else an email to the clinic, with the
    address shown in words so that it works without a mail app too."""

    url: str  # the booking page, or "" when the clinic books by email
    email: str
    subject: str

    @property
    def mailto(self) -> str:
        return f"mailto:{self.email}?subject={quote(self.subject)}"

    @property
    def href(self) -> str:
        return self.url or self.mailto


def treatment_booking(
    booking_url: str, clinic_email: str, recommendation: Recommendation | str
) -> TreatmentBooking | None:
    """None when nothing is to be booked here (a referral elsewhere, or no treatment)."""
    try:
        recommended = Recommendation(recommendation)
    except ValueError:
        return None
    if recommended in (Recommendation.REFERRAL, Recommendation.NONE):
        return None
    subject = _(
        "Booking request: %(service)s", service=translated(RECOMMENDATION_LABELS[recommended])
    )
    if booking_url:
        separator = "&" if "?" in booking_url else "?"
        url = f"{booking_url}{separator}{urlencode({'service': str(recommended)})}"
        return TreatmentBooking(url, clinic_email, subject)
    return TreatmentBooking("", clinic_email, subject)


def treatment_link(booking_url: str, clinic_email: str, recommendation: Recommendation) -> str:
    """Where the patient books the recommended service: the clinic's booking page, or a
    mailto: link to the clinic (the email then shows the address itself); "" for none."""
    booking = treatment_booking(booking_url, clinic_email, recommendation)
    return booking.href if booking else ""
