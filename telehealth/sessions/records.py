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
from ..domain.measurements import MeasurementForm, MeasurementRefused
from ..models import Consult, ConsultMeasurement, ConsultStatus

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


# A measurement needs a call: once admitted, while the call runs and after it ended.
MEASURABLE = (ConsultStatus.BOOKED, ConsultStatus.COMPLETED)


def record_measurement(
    db: Database, consult_id: int, staff_id: int, form: MeasurementForm, now: datetime
) -> dict[str, Any]:
    """Add a measurement to the consult's record (with its audit row); its JSON."""
    with db.transaction() as session:
        consult = session.get(Consult, consult_id)
        if consult is None:
            raise MeasurementRefused("not_found", "There is no such consult.")
        if consult.admitted_at is None or consult.status not in MEASURABLE:
            raise MeasurementRefused(
                "wrong_phase", "Measurements can be saved once the patient is in the call."
            )
        measurement = ConsultMeasurement(
            consult_id=consult_id,
            joint=str(form.joint),
            side=str(form.side),
            movement=str(form.movement),
            mode=str(form.mode),
            degrees=form.degrees,
            taken_at=now,
            taken_by=staff_id,
        )
        session.add(measurement)
        session.flush()
        audit.record(
            session,
            f"staff:{staff_id}",
            "consult.measurement_recorded",
            consult_id,
            measurement_id=measurement.id,
            summary=measurement.summary(),
        )
        return measurement.to_json()


def mark_measurement_deleted(
    db: Database, consult_id: int, measurement_id: int, staff_id: int, now: datetime | None
) -> str:
    """Delete (`now` given) or restore (`now` None) one of the consult's measurements; its
    summary. The row stays, marked, so a clinical record shows what was corrected."""
    with db.transaction() as session:
        measurement = session.get(ConsultMeasurement, measurement_id)
        if measurement is None or measurement.consult_id != consult_id:
            raise MeasurementRefused("not_found", "There is no such measurement in this consult.")
        if (measurement.deleted_at is None) == (now is None):
            return measurement.summary()  # already as asked: nothing to write
        measurement.deleted_at = now
        action = "consult.measurement_deleted" if now else "consult.measurement_restored"
        audit.record(
            session,
            f"staff:{staff_id}",
            action,
            consult_id,
            measurement_id=measurement.id,
            summary=measurement.summary(),
        )
        return measurement.summary()


def measurements_of(db: Database, consult_id: int) -> list[ConsultMeasurement]:
    """The consult's measurements in the order they were taken (deleted ones left out)."""
    query = (
        select(ConsultMeasurement)
        .where(
            ConsultMeasurement.consult_id == consult_id,
            ConsultMeasurement.deleted_at.is_(None),
        )
        .order_by(ConsultMeasurement.taken_at, ConsultMeasurement.id)
    )
    with db.sessions() as session:
        return list(session.scalars(query))


def measurement_of(db: Database, consult_id: int, measurement_id: int) -> ConsultMeasurement | None:
    """One of the consult's measurements, deleted or not."""
    with db.sessions() as session:
        measurement = session.get(ConsultMeasurement, measurement_id)
    return measurement if measurement and measurement.consult_id == consult_id else None


Row = tuple[str, datetime, datetime]


def rows_to_watch(db: Database, live_ids: list[int], since: datetime) -> dict[int, Row]:
    """Status and booked times of the consults the clock must watch: those with a live
    room, and the ones still booked in SQL that started since `since` (not probes).

    Read as every consult that started since `since` (a range of the booking index), plus
    by id the rare live room older than that: an `IN` of every live room's id would be
    rendered afresh on each tick, twice a second."""
    live = set(live_ids)
    columns = (Consult.id, Consult.status, Consult.starts_at, Consult.ends_at)
    rows: dict[int, Row] = {}
    with db.sessions() as session:
        recent = session.execute(
            select(*columns, Consult.is_probe).where(Consult.starts_at >= since)
        )
        for consult_id, status, starts_at, ends_at, is_probe in recent:
            if consult_id in live or (status == ConsultStatus.BOOKED and not is_probe):
                rows[consult_id] = (str(status), starts_at, ends_at)
        older = sorted(live - rows.keys())
        if older:
            for consult_id, status, starts_at, ends_at in session.execute(
                select(*columns).where(Consult.id.in_(older))
            ):
                rows[consult_id] = (str(status), starts_at, ends_at)
    return rows


def booked_row(db: Database, consult_id: int) -> Row | None:
    """The consult's SQL status and booked times, or None if there is no such consult."""
    with db.sessions() as session:
        row = session.execute(
            select(Consult.status, Consult.starts_at, Consult.ends_at).where(
                Consult.id == consult_id
            )
        ).first()
    return (str(row[0]), row[1], row[2]) if row else None
