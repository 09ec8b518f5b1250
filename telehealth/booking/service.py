"""Booking, cancelling and rescheduling free consults against SQL."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, joinedload

from .. import audit
from ..credentials import derive_credential, fingerprint, looks_like_credential, new_nonce
from ..db import Database
from ..domain.availability import (
    ConsultRules,
    Interval,
    Slot,
    WeeklyWindow,
    free_slots,
    is_bookable,
    local_day_bounds,
)
from ..domain.booking_rules import BookingRequest, uses_free_consult
from ..domain.endings import Ending, ending_of
from ..models import SLOT_HOLDING, AuditEvent, Consult, ConsultStatus, Patient, Provider
from ..sessions import ConsultService

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 5


class BookingRefused(Exception):
    """The request was well formed but the clinic cannot accept it."""

    def __init__(self, status: int, code: str, message: object, field: str | None = None) -> None:
        message = str(message)  # a catalog message, in the language of the request raising it
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = {field: message} if field else {}


SLOT_TAKEN = (
    409,
    "slot_taken",
    _l("Sorry, someone has just booked that time. Please pick another."),
)


class FreeConsultUsed(BookingRefused):
    """This email had its free consult within the period: nothing was booked.

    Staff tools may say so; the public routes must not (it would tell anyone that the
    address has consulted the clinic), so they answer as for a booking and email the owner."""

    def __init__(self, patient_id: int, provider: Provider, start: datetime, end: datetime) -> None:
        super().__init__(
            409,
            "free_consult_used",
            _l(
                "This email address has already had its free consult this year. "
                "Please call the clinic to book a treatment visit."
            ),
            "patient.email",
        )
        self.patient_id = patient_id
        self.provider_id = provider.id
        self.provider_name = provider.name
        self.start = start
        self.end = end


@dataclass(frozen=True)
class Credentials:
    join: str
    manage: str


@dataclass(frozen=True)
class BookedConsult:
    consult: Consult
    credentials: Credentials


def consult_credentials(secret_key: str, consult: Consult) -> Credentials:
    """The patient's join and manage credentials, re-derived from the stored nonces."""
    return Credentials(
        join=derive_credential(secret_key, "join", consult.join_nonce),
        manage=derive_credential(secret_key, "manage", consult.manage_nonce),
    )


# --- availability --------------------------------------------------------------------


def consult_providers(session: Session) -> list[Provider]:
    """Active providers who run the free consult, in a stable order."""
    query = (
        select(Provider)
        .where(Provider.active.is_(True), Provider.offers_free_consult.is_(True))
        .order_by(Provider.name)
    )
    return list(session.scalars(query))


def _booked_intervals(
    session: Session, provider_id: int, start: datetime, end: datetime
) -> list[Interval]:
    query = select(Consult.starts_at, Consult.ends_at).where(
        Consult.provider_id == provider_id,
        Consult.status.in_(SLOT_HOLDING),
        Consult.ends_at > start,
        Consult.starts_at < end,
    )
    return [Interval(s, e) for s, e in session.execute(query)]


def _provider_calendar(
    session: Session, provider: Provider, first_day: date, last_day: date, rules: ConsultRules
) -> tuple[list[WeeklyWindow], list[Interval], list[Interval]]:
    start, _ = local_day_bounds(first_day)
    _, end = local_day_bounds(last_day)
    padded_start, padded_end = start - rules.buffer - rules.length, end + rules.buffer
    hours = [WeeklyWindow(h.weekday, h.starts, h.ends) for h in provider.weekly_hours]
    time_off = [
        Interval(t.starts_at, t.ends_at)
        for t in provider.time_off
        if t.ends_at > padded_start and t.starts_at < padded_end
    ]
    booked = _booked_intervals(session, provider.id, padded_start, padded_end)
    return hours, time_off, booked


def provider_slots(
    session: Session,
    provider: Provider,
    rules: ConsultRules,
    first_day: date,
    last_day: date,
    now: datetime,
) -> list[Slot]:
    """Free consult slots of one provider between two local days, inclusive."""
    hours, time_off, booked = _provider_calendar(session, provider, first_day, last_day, rules)
    return free_slots(provider.id, hours, time_off, booked, rules, first_day, last_day, now)


def open_slots(
    session: Session,
    providers: Iterable[Provider],
    rules: ConsultRules,
    first_day: date,
    last_day: date,
    now: datetime,
) -> list[Slot]:
    """Free slots of several providers, merged in time order."""
    slots: list[Slot] = []
    for provider in providers:
        slots.extend(provider_slots(session, provider, rules, first_day, last_day, now))
    return sorted(slots, key=lambda s: (s.start, s.provider_id))


def _slot_is_free(
    session: Session, provider: Provider, start: datetime, rules: ConsultRules, now: datetime
) -> bool:
    day = start.astimezone(UTC).date()
    first, last = day - timedelta(days=1), day + timedelta(days=1)
    hours, time_off, booked = _provider_calendar(session, provider, first, last, rules)
    return is_bookable(start, provider.id, hours, time_off, booked, rules, now)


# --- booking -------------------------------------------------------------------------


def _bookable_provider(session: Session, provider_id: int) -> Provider:
    provider = session.get(Provider, provider_id)
    if provider is None or not provider.active or not provider.offers_free_consult:
        raise BookingRefused(
            422, "unknown_provider", _l("Choose one of our physiotherapists."), "provider_id"
        )
    return provider


def _patient_for(
    session: Session, request: BookingRequest, now: datetime, free_since: datetime | None
) -> Patient:
    query = select(Patient).where(Patient.email == request.email).with_for_update()
    patient = session.scalars(query).first()
    if (
        patient is not None
        and free_since is not None
        and had_free_consult(session, patient.id, free_since)
    ):
        # Before any update: an unverified request must not rename a known patient.
        provider = session.get(Provider, request.provider_id)
        assert provider is not None
        start = request.start.astimezone(UTC)
        raise FreeConsultUsed(patient.id, provider, start, start)
    if patient is None:
        patient = Patient(email=request.email, name=request.name, phone=request.phone)
        session.add(patient)
        session.flush()
    else:
        patient.name, patient.phone = request.name, request.phone
    return patient


def had_free_consult(session: Session, patient_id: int, since: datetime) -> bool:
    """Whether this patient holds a consult (past or upcoming) that started after `since`
    and used up their free consult: one the physiotherapist missed does not count."""
    query = select(Consult.id, Consult.status, Consult.ended_by, Consult.admitted_at).where(
        Consult.patient_id == patient_id,
        Consult.status.in_(SLOT_HOLDING),
        Consult.status != ConsultStatus.NO_SHOW_PROVIDER,
        Consult.starts_at > since,
        Consult.is_probe.is_(False),
    )
    held = list(session.execute(query))
    reasons = end_reasons(session, [row.id for row in held if row.status != ConsultStatus.BOOKED])
    return any(
        uses_free_consult(
            row.status, row.ended_by, reasons.get(row.id), row.admitted_at is not None
        )
        for row in held
    )


def end_reasons(session: Session, consult_ids: list[int]) -> dict[int, str]:
    """The session service's reason for each ended consult (e.g. provider_left), from the
    audit row it wrote when the consult ended."""
    if not consult_ids:
        return {}
    query = (
        select(AuditEvent.consult_id, AuditEvent.detail)
        .where(AuditEvent.consult_id.in_(consult_ids), AuditEvent.action == "consult.ended")
        .order_by(AuditEvent.id)
    )
    reasons: dict[int, str] = {}
    for consult_id, detail in session.execute(query):
        reason = detail.get("reason") if isinstance(detail, dict) else None
        if consult_id is not None and isinstance(reason, str):
            reasons.setdefault(consult_id, reason)  # the first end stands
    return reasons


def _new_consult(
    provider: Provider,
    patient: Patient,
    start: datetime,
    request: BookingRequest,
    rules: ConsultRules,
    consent_version: str,
    now: datetime,
    secret_key: str,
    is_probe: bool = False,
) -> tuple[Consult, Credentials]:
    join_nonce, manage_nonce = new_nonce(), new_nonce()
    consult = Consult(
        provider_id=provider.id,
        patient_id=patient.id,
        starts_at=start,
        ends_at=start + rules.length,
        status=ConsultStatus.BOOKED,
        reason=request.reason,
        consent_version=consent_version,
        consented_at=now,
        join_nonce=join_nonce,
        manage_nonce=manage_nonce,
        join_hash="",
        manage_hash="",
        is_probe=is_probe,
        language=request.language,
    )
    credentials = consult_credentials(secret_key, consult)
    consult.join_hash = fingerprint(credentials.join)
    consult.manage_hash = fingerprint(credentials.manage)
    return consult, credentials


def _retrying_writes(attempt_write):  # type: ignore[no-untyped-def]
    """Run a write transaction, retrying when SQLite is busy or a racing insert collides."""
    last_error: Exception | None = None
    for _ in range(WRITE_ATTEMPTS):
        try:
            return attempt_write()
        except OperationalError as error:  # SQLite "database is locked" under heavy load
            last_error = error
        except IntegrityError as error:
            last_error = error
    if isinstance(last_error, IntegrityError):
        raise BookingRefused(*SLOT_TAKEN) from last_error
    raise BookingRefused(
        503, "busy", _l("We are very busy right now. Please try again in a moment.")
    ) from last_error


def book_consult(
    db: Database,
    request: BookingRequest,
    *,
    rules: ConsultRules,
    now: datetime,
    secret_key: str,
    consent_version: str,
    free_period: timedelta,
    actor: str = "patient",
    enforce_calendar: bool = True,
    is_probe: bool = False,
    replaces: int | None = None,
) -> BookedConsult:
    """Book a free consult; the database refuses a second booking of the same slot.
    `replaces`: the missed consult this one makes up for (kept in the audit row)."""
    start = request.start.astimezone(UTC)

    def attempt() -> BookedConsult:
        with db.write_transaction() as session:
            provider = _bookable_provider(session, request.provider_id)
            if enforce_calendar and not _slot_is_free(session, provider, start, rules, now):
                raise BookingRefused(*SLOT_TAKEN, field="start")
            free_since = None if is_probe else now - free_period
            patient = _patient_for(session, request, now, free_since)
            consult, credentials = _new_consult(
                provider,
                patient,
                start,
                request,
                rules,
                consent_version,
                now,
                secret_key,
                is_probe,
            )
            session.add(consult)
            session.flush()
            audit.record(
                session,
                actor,
                "booking.created",
                consult.id,
                provider_id=provider.id,
                start=start.isoformat(),
                **({"replaces": replaces} if replaces is not None else {}),
            )
            return BookedConsult(consult, credentials)

    try:
        booked: BookedConsult = _retrying_writes(attempt)
    except FreeConsultUsed as declined:
        declined.end = declined.start + rules.length
        _audit_declined(db, declined, actor)
        raise
    log.info("consult %s booked", booked.consult.id)
    return booked


def _audit_declined(db: Database, declined: FreeConsultUsed, actor: str) -> None:
    with db.transaction() as session:
        audit.record(
            session,
            actor,
            "booking.declined_free_consult_used",
            None,
            patient_id=declined.patient_id,
            provider_id=declined.provider_id,
            start=declined.start.isoformat(),
        )
    log.info("booking declined: free consult already used (patient %s)", declined.patient_id)


NOT_REBOOKABLE = (
    409,
    "not_rebookable",
    _l(
        "Only a consult your physiotherapist missed can be booked again this way. "
        "Please use the booking page, or call the clinic."
    ),
)


def consult_ending(session: Session, consult: Consult) -> Ending | None:
    """How the consult ended, from its SQL row and the reason in its end's audit row."""
    if consult.status == ConsultStatus.BOOKED:
        return None
    reason = end_reasons(session, [consult.id]).get(consult.id)
    return ending_of(consult.status, consult.ended_by, reason, consult.admitted_at is not None)


def rebook_missed_consult(
    db: Database,
    missed_consult_id: int,
    provider_id: int,
    start: datetime,
    *,
    rules: ConsultRules,
    now: datetime,
    secret_key: str,
    consent_version: str,
    free_period: timedelta,
) -> BookedConsult:
    """A new free consult, with the same details, for a patient whose physiotherapist did
    not come; the missed one does not count toward the once-a-year rule, the new one does."""
    with db.sessions() as session:
        missed = session.get(Consult, missed_consult_id)
        if (
            missed is None
            or missed.is_probe
            or consult_ending(session, missed) is not Ending.PROVIDER_ABSENT
        ):
            raise BookingRefused(*NOT_REBOOKABLE)
        patient = missed.patient
        request = BookingRequest(
            provider_id,
            start,
            patient.name,
            patient.email,
            patient.phone,
            missed.reason,
            language=missed.language,
        )
    return book_consult(
        db,
        request,
        rules=rules,
        now=now,
        secret_key=secret_key,
        consent_version=consent_version,
        free_period=free_period,
        actor=f"patient:{missed_consult_id}",
        replaces=missed_consult_id,
    )


def next_consult_id(db: Database) -> int:
    """The id the next consult will most likely get (for an answer that must look booked)."""
    with db.sessions() as session:
        return int(session.scalar(select(func.max(Consult.id))) or 0) + 1


# --- the manage link -----------------------------------------------------------------


# A consult's physiotherapist and patient, loaded with it: no lazy load after the session.
WITH_NAMES = (joinedload(Consult.provider), joinedload(Consult.patient))


def consult_by_credential(session: Session, purpose: str, credential: str) -> Consult | None:
    """The consult a join or manage credential belongs to, or None; with its physiotherapist
    and patient loaded in the same query (the pages behind these links name both)."""
    if not looks_like_credential(credential):
        return None
    column = Consult.join_hash if purpose == "join" else Consult.manage_hash
    query = select(Consult).where(column == fingerprint(credential)).options(*WITH_NAMES)
    return session.scalars(query).first()


def can_change(consult: Consult, now: datetime) -> bool:
    """A consult can be cancelled or moved until it starts."""
    return consult.status == ConsultStatus.BOOKED and consult.starts_at > now


def cancel_consult(
    db: Database, manage_credential: str, now: datetime, consults: ConsultService
) -> Consult:
    """Cancel through the manage link: the session service marks it cancelled (the slot is
    free again at once) and closes its live room."""
    with db.sessions() as session:
        consult_id = _changeable(session, manage_credential, now).id
    if not consults.cancel(consult_id, "patient", now):
        raise BookingRefused(*NOT_CHANGEABLE)
    log.info("consult %s cancelled", consult_id)
    with db.sessions() as session:
        cancelled = session.get(Consult, consult_id)
        assert cancelled is not None
        return cancelled


def reschedule_consult(
    db: Database,
    manage_credential: str,
    new_start: datetime,
    *,
    rules: ConsultRules,
    now: datetime,
    consults: ConsultService,
) -> Consult:
    """Move a consult: one UPDATE takes the new slot and frees the old one together.

    The old time's live room (a patient may already wait in it) is closed."""
    new_start = new_start.astimezone(UTC)
    moved: list[bool] = []

    def attempt() -> Consult:
        with db.write_transaction() as session:
            consult = _changeable(session, manage_credential, now)
            if new_start == consult.starts_at:
                return consult
            moved.append(True)
            if not _slot_is_free(session, consult.provider, new_start, rules, now):
                raise BookingRefused(*SLOT_TAKEN, field="start")
            old_start = consult.starts_at
            session.execute(
                update(Consult)
                .where(Consult.id == consult.id)
                .values(
                    starts_at=new_start,
                    ends_at=new_start + rules.length,
                    ics_sequence=Consult.ics_sequence + 1,
                    reminder_24h_at=None,
                    reminder_1h_at=None,
                )
            )
            audit.record(
                session,
                "patient",
                "booking.rescheduled",
                consult.id,
                old_start=old_start.isoformat(),
                new_start=new_start.isoformat(),
            )
            session.refresh(consult)
            return consult

    consult: Consult = _retrying_writes(attempt)
    log.info("consult %s rescheduled", consult.id)
    if moved:
        consults.reschedule(consult.id)
    return consult


def _changeable(session: Session, manage_credential: str, now: datetime) -> Consult:
    consult = consult_by_credential(session, "manage", manage_credential)
    if consult is None:
        raise BookingRefused(404, "not_found", _l("We could not find that booking."))
    if not can_change(consult, now):
        raise BookingRefused(*NOT_CHANGEABLE)
    return consult


NOT_CHANGEABLE = (
    409,
    "not_changeable",
    _l("This consult has already started, ended or been cancelled, so it cannot be changed."),
)
