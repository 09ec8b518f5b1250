"""Who is connecting to /consult: a patient (join link or cookie), the physiotherapist of the
consult, or the media service playing the physiotherapist in a probe consult."""

from __future__ import annotations

import hmac
from typing import Any

from flask import session
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..booking.service import WITH_NAMES
from ..clinic import Clinic
from ..consult.access import PatientPass, consult_for_credential, consult_for_pass
from ..db import utcnow
from ..models import Consult, ConsultStatus, StaffUser
from ..sessions import Side
from ..staff.auth import StaffSession, staff_id_in_session, staff_session_of
from .throttle import ConnectGate

TARGET = "socket:/consult"  # what a refused connect tried to open, in the audit
# The consult, the side, the actor for the audit, and the staff id of a staff member.
Identity = tuple[Consult, Side, str, int | None]


def who_connects(clinic: Clinic, config: Any, gate: ConnectGate, auth: dict[str, Any]) -> Identity:
    """The consult and side a connecting socket belongs to, or a refusal (audited in the
    aggregate by the gate)."""
    if "service_token" in auth:
        return _identify_probe(clinic, config, gate, auth)
    staff_id = staff_id_in_session()
    as_patient = "join_credential" in auth or auth.get("as") == "patient"
    if staff_id is not None and not as_patient:
        staff, consult = _staff_and_consult(clinic, staff_id, auth.get("consult_id"))
        if staff is not None:  # else the account may no longer act: nobody's session
            return _identify_staff(gate, staff, consult)
    return _identify_patient(clinic, gate, auth)


def _identify_patient(clinic: Clinic, gate: ConnectGate, auth: dict[str, Any]) -> Identity:
    now, rules = utcnow(), clinic.live.rules
    with clinic.db.sessions() as db_session:
        credential = auth.get("join_credential")
        if isinstance(credential, str):
            consult = consult_for_credential(db_session, credential, now, rules)
        else:
            patient_pass = PatientPass.from_session(session.get("patient"))
            consult = (
                consult_for_pass(db_session, patient_pass, now, rules) if patient_pass else None
            )
    # Both lookups load the physiotherapist and the patient with the consult (one query).
    if consult is None:
        raise gate.refuse("anonymous", TARGET, "unauthorized", "This consult link is not active.")
    return consult, Side.PATIENT, f"patient:{consult.id}", None


def _staff_and_consult(
    clinic: Clinic, staff_id: int, consult_id: Any
) -> tuple[StaffSession | None, Consult | None]:
    """The session's staff member and the consult asked for, with its physiotherapist's and
    patient's names, in one query."""
    with clinic.db.sessions() as db_session:
        if not isinstance(consult_id, int):
            return staff_session_of(db_session.get(StaffUser, staff_id)), None
        row = db_session.execute(
            select(StaffUser, Consult)
            .outerjoin(Consult, Consult.id == consult_id)
            .where(StaffUser.id == staff_id)
            .options(*WITH_NAMES)
        ).first()
        if row is None:
            return None, None
        return staff_session_of(row[0]), row[1]


def _identify_staff(gate: ConnectGate, staff: StaffSession, consult: Consult | None) -> Identity:
    if (
        consult is None
        or not staff.is_physiotherapist
        or consult.provider_id != staff.provider_id
        or consult.status == ConsultStatus.CANCELLED
    ):
        raise gate.refuse(
            f"staff:{staff.id}", TARGET, "unauthorized", "This is not one of your consults."
        )
    return consult, Side.PROVIDER, f"staff:{staff.id}", staff.id


def _identify_probe(
    clinic: Clinic, config: Any, gate: ConnectGate, auth: dict[str, Any]
) -> Identity:
    """The media service may play the physiotherapist, in probe consults only."""
    token, given = (
        str(config.get("MEDIA_SERVICE_TOKEN") or ""),
        auth.get("service_token"),
    )
    consult_id = auth.get("consult_id")
    consult = None
    if token and isinstance(given, str) and hmac.compare_digest(given, token):
        with clinic.db.sessions() as db_session:
            consult = _with_names(db_session, consult_id) if isinstance(consult_id, int) else None
    if consult is None or not consult.is_probe:
        raise gate.refuse(
            "service", TARGET, "unauthorized", "Only probe consults accept the service."
        )
    return consult, Side.PROVIDER, "service:probe", None


def _with_names(db_session: Session, consult_id: int) -> Consult | None:
    """The consult with its physiotherapist and patient (their names go in the room's note)
    in one query, before the session closes: no lazy load afterwards."""
    return db_session.get(
        Consult,
        consult_id,
        options=WITH_NAMES,
        populate_existing=True,
    )
