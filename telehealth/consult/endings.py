"""What the patient is told when their consult is over, from what SQL and the session
service know about it (never from anything the browser sends)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..booking.service import end_reasons
from ..clinic import Clinic
from ..domain.endings import Ending, ending_of
from ..models import AuditEvent, Consult, ConsultOutcome, ConsultStatus

log = logging.getLogger(__name__)

# The live phases that end a consult, as the SQL status they stand for.
_STATUS_OF_PHASE = {
    "ended": ConsultStatus.COMPLETED,
    "no_show_patient": ConsultStatus.NO_SHOW_PATIENT,
    "no_show_provider": ConsultStatus.NO_SHOW_PROVIDER,
    "cancelled": ConsultStatus.CANCELLED,
}


@dataclass(frozen=True)
class PatientEnding:
    """One consult's ending, with the facts its page needs."""

    kind: Ending
    consult_id: int
    provider_name: str
    starts_at: datetime
    reason: str  # the service's word: provider_left, patient_left, ended_by_clock, …
    outcome_sent: bool

    @property
    def connection_dropped(self) -> bool:
        return self.reason == "patient_left"

    @property
    def provider_left(self) -> bool:
        return self.reason == "provider_left"


def ending_for(clinic: Clinic, session: Session, consult: Consult) -> PatientEnding | None:
    """The consult's ending, or None while it is not over. SQL decides; when its write is
    still missing (the service crashed between its two writes), the live state does."""
    status, ended_by, admitted = consult.status, consult.ended_by, consult.admitted_at is not None
    reason = ""
    if status == ConsultStatus.BOOKED:
        live = _live_phase(clinic, consult.id)
        if live is None:
            return None
        status, ended_by, admitted = live
    else:
        reason = end_reasons(session, [consult.id]).get(consult.id, "")
    kind = ending_of(status, ended_by, reason or None, admitted)
    if kind is None:
        return None
    return PatientEnding(
        kind=kind,
        consult_id=consult.id,
        provider_name=consult.provider.name,
        starts_at=consult.starts_at,
        reason=reason,
        outcome_sent=_outcome_sent(session, consult.id),
    )


def _live_phase(clinic: Clinic, consult_id: int) -> tuple[str, str | None, bool] | None:
    try:
        live = clinic.live.get(consult_id)
    except redis.RedisError as error:
        log.warning("consult %s: live state unreadable (%s)", consult_id, type(error).__name__)
        return None
    if live is None or not live.is_terminal:
        return None
    return str(_STATUS_OF_PHASE[str(live.phase)]), live.ended_by, live.admitted_at is not None


def _outcome_sent(session: Session, consult_id: int) -> bool:
    emailed = session.scalar(
        select(ConsultOutcome.emailed_at).where(ConsultOutcome.consult_id == consult_id)
    )
    return emailed is not None


def was_rescheduled(session: Session, consult_id: int) -> bool:
    """Whether the booking was moved since it was made (its audit trail says so)."""
    query = select(AuditEvent.id).where(
        AuditEvent.consult_id == consult_id, AuditEvent.action == "booking.rescheduled"
    )
    return session.scalar(query.limit(1)) is not None
