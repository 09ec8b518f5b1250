"""Booking steps shared by the API and the booking pages: book, cancel, move.

Every route that books or emails a patient goes through here, so the limits (one mail
budget per email, a cap on upcoming consults per client address), the live room closing on
cancel and reschedule, and the links in emails are the same whichever door was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import redis
from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_limiter.util import get_remote_address
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..clinic import Clinic, current_clinic
from ..credentials import derive_credential, new_nonce
from ..db import utcnow
from ..denied_access import DeniedAccess, client_tag
from ..domain.booking_rules import normalise_email, parse_booking
from ..extensions import socketio
from ..i18n_format import speaking
from ..models import Consult, ConsultStatus, Patient
from ..notify import messages
from ..notify.links import request_link
from ..notify.messages import ConsultNotice
from . import notices
from .abuse import RESEND_LIMIT, BookingLimits, client_address_key, email_key
from .service import (
    BookingRefused,
    Credentials,
    FreeConsultUsed,
    book_consult,
    cancel_consult,
    next_consult_id,
    reschedule_consult,
)

TOO_MANY_EMAILS = (
    429,
    "too_many_emails",
    _l(
        "We have sent several emails to this address in the last while. "
        "Please wait a little before trying again, or call the clinic."
    ),
)


@dataclass(frozen=True)
class BookingAnswer:
    """What the person who booked is told. A declined booking (free consult already used)
    gets an answer of the very same shape, so the answer never says whether an email
    address has consulted the clinic before; only that address's owner is told why."""

    consult_id: int
    provider_id: int
    start: datetime
    end: datetime
    email: str
    credentials: Credentials

    @property
    def join_url(self) -> str:
        return request_link(f"/join/{self.credentials.join}")

    @property
    def manage_url(self) -> str:
        return request_link(f"/manage/{self.credentials.manage}")


def booking_limits() -> BookingLimits:
    """The app's limits on booking and patient email, built once from its settings."""
    limits = current_app.extensions.get("booking_limits")
    if not isinstance(limits, BookingLimits):
        config = current_app.config
        limits = current_app.extensions["booking_limits"] = BookingLimits(
            current_clinic().redis,
            max_future=int(config["BOOKING_MAX_FUTURE_PER_ADDRESS"]),
            email_limit=str(config["BOOKING_EMAIL_RATE_LIMIT"]),
            resend_limit=str(config.get("RESEND_LINKS_RATE_LIMIT") or RESEND_LIMIT),
        )
    return limits


def _client_address() -> str:
    return client_address_key(current_app.config["SECRET_KEY"], get_remote_address())


def spend_mail_budget(email: str) -> None:
    """Count one email to `email`; BookingRefused (429) once its budget is spent."""
    if not booking_limits().spend_mail(email_key(current_app.config["SECRET_KEY"], email)):
        raise BookingRefused(*TOO_MANY_EMAILS)


def _too_many_bookings(cap: int) -> BookingRefused:
    return BookingRefused(
        429,
        "too_many_bookings",
        ngettext(
            "You already hold %(num)d upcoming free consult booked from this connection. "
            "Please cancel one you no longer need, or call the clinic.",
            "You already hold %(num)d upcoming free consults booked from this connection. "
            "Please cancel one you no longer need, or call the clinic.",
            cap,
        ),
    )


def place_booking(payload: dict[str, Any], actor: str = "patient") -> BookingAnswer:
    """Validate, check the limits and book; shared by the API and the booking page."""
    clinic = current_clinic()
    booking_request = parse_booking(payload)
    spend_mail_budget(booking_request.email)
    limits, now = booking_limits(), utcnow()
    hold = limits.claim(_client_address(), booking_request.start, now)
    if hold is None:
        raise _too_many_bookings(limits.max_future)
    try:
        booked = book_consult(
            clinic.db,
            booking_request,
            rules=clinic.consult_rules(),
            now=now,
            secret_key=clinic.config["SECRET_KEY"],
            consent_version=clinic.config["CONSENT_VERSION"],
            free_period=timedelta(days=clinic.config["FREE_CONSULTS_PER_PERIOD_DAYS"]),
            actor=actor,
        )
    except FreeConsultUsed as declined:
        # Counts against the address like a booking: otherwise the cap would tell.
        limits.keep(hold, declined.start, None)
        return _declined_answer(clinic, declined, booking_request.email, booking_request.language)
    except BaseException:
        limits.release(hold)
        raise
    limits.keep(hold, booked.consult.starts_at, booked.consult.id)
    with clinic.db.sessions() as session:
        consult = session.get(Consult, booked.consult.id)
        assert consult is not None
        notices.send_notice(clinic, consult, request.url_root, messages.booking_confirmation)
    consult = booked.consult
    return BookingAnswer(
        consult.id,
        consult.provider_id,
        consult.starts_at,
        consult.ends_at,
        booking_request.email,
        booked.credentials,
    )


def _declined_answer(
    clinic: Clinic, declined: FreeConsultUsed, email: str, language: str
) -> BookingAnswer:
    """Email the real reason to the address only; answer as if booked.

    The credentials have the shape of real ones but belong to no consult: the join link
    shows the same "not active yet" page a real one shows before the lobby opens, and the
    manage link the same "check the link in your email" page as any unknown link. The id is
    the one the next consult would get, so it reads like a fresh booking's."""
    _email_free_consult_used(clinic, declined, email, language)
    secret = clinic.config["SECRET_KEY"]
    decoy = Credentials(
        join=derive_credential(secret, "join", new_nonce()),
        manage=derive_credential(secret, "manage", new_nonce()),
    )
    return BookingAnswer(
        next_consult_id(clinic.db),
        declined.provider_id,
        declined.start,
        declined.end,
        email,
        decoy,
    )


def _email_free_consult_used(
    clinic: Clinic, declined: FreeConsultUsed, email: str, language: str
) -> None:
    config = clinic.config
    days = int(config["FREE_CONSULTS_PER_PERIOD_DAYS"])
    notice = ConsultNotice(
        consult_id=0,
        patient_name="",
        patient_email=email,
        provider_name=declined.provider_name,
        start=declined.start,
        end=declined.end,
        join_url="",
        manage_url="",
        clinic_name=config["CLINIC_NAME"],
        clinic_email=config["CLINIC_EMAIL"],
        clinic_phone=config["CLINIC_PHONE"],
        ics_uid="",
        ics_sequence=0,
        language=language,
    )
    try:
        with speaking(language):
            message = messages.free_consult_already_used(notice, days)
        clinic.mailer.send(message)
    except Exception:  # noqa: BLE001 - the answer must not change when mail is down
        notices.log.exception("could not send the free-consult-used email")


TOO_MANY_RESENDS = (
    429,
    "too_many_resends",
    _l(
        "You have asked for your links several times in the last hour. Please wait an hour "
        "and try again, or call the clinic."
    ),
)
RESEND_AUDIT_WINDOW_SECONDS = 3600


def resend_tally(clinic: Clinic) -> DeniedAccess:
    """Resend requests counted per client tag and hour: one audit row per window, with no
    email address in it (an anonymous request may not write a row of its own)."""
    return DeniedAccess(
        clinic.redis,
        clinic.db,
        RESEND_AUDIT_WINDOW_SECONDS,
        prefix="th:resend",
        action="booking.links_resent",
    )


def resend_links(email: str) -> None:
    """Email the links of every upcoming consult booked with `email`, if there is any.

    The caller learns nothing about the address: both budgets are spent and the same
    answer given whether or not it has a booking, and the email leaves in the background
    so that the answer takes as long either way. BookingRefused (429) once this client or
    this address has asked too often."""
    clinic, limits = current_clinic(), booking_limits()
    if not limits.spend_resend(_client_address()):
        raise BookingRefused(*TOO_MANY_RESENDS)
    spend_mail_budget(email)
    with clinic.db.sessions() as session:
        found = upcoming_consults_of(session, email, utcnow())
        upcoming = [notices.notice_for(clinic, consult, request.url_root) for consult in found]
    _tally_resend(clinic, sent=bool(upcoming))
    if upcoming:
        # In the language of the soonest booking, as its own emails were.
        with speaking(upcoming[0].language):
            message = messages.consult_links(upcoming)
        socketio.start_background_task(_send_quietly, clinic, message)


def upcoming_consults_of(session: Session, email: str, now: datetime) -> list[Consult]:
    """The booked, not yet ended, real consults of one email address, soonest first."""
    query = (
        select(Consult)
        .join(Patient, Consult.patient_id == Patient.id)
        .options(joinedload(Consult.patient), joinedload(Consult.provider))
        .where(
            Patient.email == normalise_email(email),
            Consult.status == ConsultStatus.BOOKED,
            Consult.ends_at > now,
            Consult.is_probe.is_(False),
        )
        .order_by(Consult.starts_at)
    )
    return list(session.scalars(query))


def _tally_resend(clinic: Clinic, sent: bool) -> None:
    tag = client_tag(clinic.config["SECRET_KEY"], get_remote_address())
    try:
        resend_tally(clinic).note(tag, "anonymous", "sent" if sent else "nothing_to_send")
    except redis.RedisError as error:
        notices.log.warning("resend tally unavailable (%s)", type(error).__name__)


def _send_quietly(clinic: Clinic, message: EmailMessage) -> None:
    try:
        clinic.mailer.send(message)
    except Exception:  # noqa: BLE001 - nobody waits for this email's outcome
        notices.log.exception("could not send the consult links email")


def cancel_booking(credential: str, consult: Consult) -> Consult:
    """Cancel with the manage credential, close its live room and email the patient."""
    clinic = current_clinic()
    spend_mail_budget(consult.patient.email)
    cancelled = cancel_consult(clinic.db, credential, utcnow(), clinic.consults)
    booking_limits().cancelled(cancelled.id)
    email_patient(cancelled.id, messages.cancellation_notice)
    return cancelled


def move_booking(credential: str, consult: Consult, new_start: datetime) -> Consult:
    """Move to another free slot, close the old time's live room and email the patient."""
    clinic = current_clinic()
    spend_mail_budget(consult.patient.email)
    moved = reschedule_consult(
        clinic.db,
        credential,
        new_start,
        rules=clinic.consult_rules(),
        now=utcnow(),
        consults=clinic.consults,
    )
    booking_limits().moved(moved.id, moved.starts_at)
    email_patient(moved.id, messages.reschedule_confirmation)
    return moved


def email_patient(consult_id: int, build: Any) -> None:
    """One email about a consult, its links rooted at PUBLIC_URL (notify/links.py)."""
    clinic = current_clinic()
    with clinic.db.sessions() as session:
        consult = session.get(Consult, consult_id)
        if consult is not None:
            notices.send_notice(clinic, consult, request.url_root, build)
