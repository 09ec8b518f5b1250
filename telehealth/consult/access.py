"""Who may enter a consult, and when: shared by the pages and the signaling server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import g, has_request_context
from sqlalchemy.orm import Session

from ..booking.service import WITH_NAMES, consult_by_credential
from ..models import Consult, ConsultStatus
from ..sessions import ClockRules, join_window


@dataclass(frozen=True)
class PatientPass:
    """What the patient's session cookie holds after the join link is exchanged."""

    consult_id: int
    join_hash: str

    def to_session(self) -> dict[str, object]:
        return {"consult_id": self.consult_id, "join_hash": self.join_hash}

    @classmethod
    def from_session(cls, value: object) -> PatientPass | None:
        if not isinstance(value, dict):
            return None
        consult_id, join_hash = value.get("consult_id"), value.get("join_hash")
        if not isinstance(consult_id, int) or not isinstance(join_hash, str):
            return None
        return cls(consult_id, join_hash)


def join_is_open(consult: Consult, now: datetime, rules: ClockRules) -> bool:
    """A join credential works from the lobby opening until shortly after the booked end."""
    opens, closes = join_window(consult.starts_at, consult.ends_at, rules)
    return consult.status in (ConsultStatus.BOOKED, ConsultStatus.COMPLETED) and (
        opens <= now <= closes
    )


def consult_for_credential(
    session: Session, credential: str, now: datetime, rules: ClockRules
) -> Consult | None:
    """The consult a join credential opens right now, or None for any reason at all."""
    consult = consult_by_credential(session, "join", credential)
    if consult is None or not join_is_open(consult, now, rules):
        return None
    return consult


def consult_of_credential(session: Session, credential: str) -> Consult | None:
    """The consult a join credential belongs to, whatever its status or time."""
    return consult_by_credential(session, "join", credential)


def consult_of_pass(session: Session, patient_pass: PatientPass) -> Consult | None:
    """The consult a patient's session cookie belongs to, whatever its status or time."""
    consult = session.get(Consult, patient_pass.consult_id, options=WITH_NAMES)
    if consult is None or consult.join_hash != patient_pass.join_hash:
        return None
    if has_request_context():
        # Every page behind the join link speaks the booking's language (unless switched).
        g.booking_language = consult.language
    return consult


def consult_for_pass(
    session: Session, patient_pass: PatientPass, now: datetime, rules: ClockRules
) -> Consult | None:
    """The consult a patient's session cookie still opens, or None."""
    consult = consult_of_pass(session, patient_pass)
    return consult if consult is not None and join_is_open(consult, now, rules) else None
