"""The lasting side of a consult's state: its SQL row and audit rows.

Only the session service (service.py) calls these. Every write that ends a consult is
conditional on the row still being `booked`: the first terminal status stands.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from .. import audit
from ..db import Database
from ..models import Consult, ConsultStatus

END_STATUS = {
    "ended": ConsultStatus.COMPLETED,
    "no_show_patient": ConsultStatus.NO_SHOW_PATIENT,
    "no_show_provider": ConsultStatus.NO_SHOW_PROVIDER,
    "cancelled": ConsultStatus.CANCELLED,
}
# SQL's terminal statuses as the live phase they correspond to.
PHASE_OF_STATUS = {status: phase for phase, status in END_STATUS.items()}


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
    db: Database, consult_id: int, actor: str, phase: str, by: str, now: datetime, **detail: Any
) -> bool:
    """Close the consult in SQL: when, by whom, and how. False (and nothing written) when
    SQL already holds a terminal status, which is never overwritten."""
    values: dict[str, Any] = {"status": END_STATUS.get(phase, ConsultStatus.COMPLETED)}
    if phase == "cancelled":
        values.update(cancelled_at=now, ics_sequence=Consult.ics_sequence + 1)
    else:
        values.update(ended_at=now, ended_by=by)
    with db.transaction() as session:
        changed = session.execute(
            update(Consult)
            .where(Consult.id == consult_id, Consult.status == ConsultStatus.BOOKED)
            .values(**values)
        ).rowcount  # type: ignore[attr-defined]
        if not changed:
            return False
        action = {"ended": "consult.ended", "cancelled": "booking.cancelled"}.get(
            phase, f"consult.{phase}"
        )
        audit.record(session, actor, action, consult_id, by=by, **detail)
    return True


def record_device_switch(
    db: Database, consult_id: int, actor: str, side: str, by: str, replaced: bool
) -> None:
    """Which side moved to another device, and who asked (no device names: they are the
    patient's)."""
    with db.transaction() as session:
        audit.record(
            session,
            actor,
            "consult.device_switched",
            consult_id,
            side=side,
            by=by,
            replaced=replaced,
        )


def record_running_late(db: Database, consult_id: int, actor: str, minutes: int) -> None:
    with db.transaction() as session:
        audit.record(session, actor, "consult.running_late", consult_id, minutes=minutes)


Row = tuple[str, datetime, datetime]


def rows_to_watch(db: Database, live_ids: list[int], since: datetime) -> dict[int, Row]:
    """Status and booked times of the consults the clock must watch: those with a live
    room, and the ones still booked in SQL that started since `since` (not probes)."""
    query = select(Consult.id, Consult.status, Consult.starts_at, Consult.ends_at).where(
        Consult.id.in_(live_ids)
        | (
            (Consult.status == ConsultStatus.BOOKED)
            & Consult.is_probe.is_(False)
            & (Consult.starts_at >= since)
        )
    )
    with db.sessions() as session:
        return {i: (str(status), s, e) for i, status, s, e in session.execute(query)}


def booked_row(db: Database, consult_id: int) -> Row | None:
    """The consult's SQL status and booked times, or None if there is no such consult."""
    with db.sessions() as session:
        row = session.execute(
            select(Consult.status, Consult.starts_at, Consult.ends_at).where(
                Consult.id == consult_id
            )
        ).first()
    return (str(row[0]), row[1], row[2]) if row else None
