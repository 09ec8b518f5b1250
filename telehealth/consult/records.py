"""The lasting facts of a live consult, written to SQL with their audit rows."""

from __future__ import annotations

from datetime import datetime

from .. import audit
from ..db import Database
from ..models import Consult, ConsultStatus

END_STATUS = {
    "ended": ConsultStatus.COMPLETED,
    "no_show_patient": ConsultStatus.NO_SHOW_PATIENT,
    "no_show_provider": ConsultStatus.NO_SHOW_PROVIDER,
}


def record_check_in(db: Database, consult_id: int, actor: str, now: datetime, device: str) -> None:
    with db.transaction() as session:
        consult = session.get(Consult, consult_id)
        if consult is not None and consult.checked_in_at is None:
            consult.checked_in_at = now
        audit.record(session, actor, "consult.checked_in", consult_id, device=device)


def record_admit(db: Database, consult_id: int, actor: str, now: datetime) -> None:
    with db.transaction() as session:
        consult = session.get(Consult, consult_id)
        if consult is not None:
            consult.admitted_at = now
        audit.record(session, actor, "consult.admitted", consult_id)


def record_end(
    db: Database, consult_id: int, actor: str, phase: str, by: str, now: datetime
) -> None:
    """Close the consult in SQL: when, by whom, and how (completed or a no-show)."""
    with db.transaction() as session:
        consult = session.get(Consult, consult_id)
        if consult is not None and consult.status != ConsultStatus.BOOKED:
            return  # a terminal status (cancelled, ended, no-show) is never overwritten
        if consult is not None and consult.ended_at is None:
            consult.ended_at = now
            consult.ended_by = by
            consult.status = END_STATUS.get(phase, ConsultStatus.COMPLETED)
        action = "consult.ended" if phase == "ended" else f"consult.{phase}"
        audit.record(session, actor, action, consult_id, by=by)


def record_running_late(db: Database, consult_id: int, actor: str, minutes: int) -> None:
    with db.transaction() as session:
        audit.record(session, actor, "consult.running_late", consult_id, minutes=minutes)


def record_denied(db: Database, actor: str, what: str, consult_id: int | None) -> None:
    with db.transaction() as session:
        audit.record(session, actor, "access.denied", consult_id, target=what)
