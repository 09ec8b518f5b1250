"""Retention: personal data older than the clinic's retention period is removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from .. import audit
from ..models import Consult, Patient


def purge_expired(session: Session, cutoff: datetime) -> tuple[int, int]:
    """Delete consults that ended before `cutoff`, then patients with none left."""
    consults = session.execute(delete(Consult).where(Consult.ends_at < cutoff)).rowcount  # type: ignore[attr-defined]
    orphaned = select(Patient.id).where(~exists().where(Consult.patient_id == Patient.id))
    patients = session.execute(delete(Patient).where(Patient.id.in_(orphaned))).rowcount  # type: ignore[attr-defined]
    audit.record(
        session,
        "system",
        "retention.purged",
        consults=consults,
        patients=patients,
        cutoff=cutoff.isoformat(),
    )
    return consults, patients


def purge_if_due(clinic: Any, now: datetime) -> tuple[int, int] | None:
    """The daily purge, run by whichever web process claims today first (None otherwise):
    personal data must not outlive the retention period because nobody ran a command."""
    day = now.astimezone(UTC).date().isoformat()
    if not clinic.redis.set(f"th:retention-purge:{day}", "1", nx=True, ex=2 * 24 * 3600):
        return None
    from ..web_sessions import purge_expired_sessions

    purge_expired_sessions(clinic.db)
    keep = timedelta(days=int(clinic.config["RETENTION_DAYS"]))
    with clinic.db.transaction() as session:
        return purge_expired(session, now - keep)
