"""Reminders 24 h and 1 h before a consult, each sent exactly once across all processes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from ..clinic import Clinic
from ..models import Consult, ConsultStatus
from ..notify import messages
from .notices import send_notice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReminderKind:
    hours_before: int
    column: InstrumentedAttribute  # type: ignore[type-arg]


REMINDERS = (
    ReminderKind(24, Consult.reminder_24h_at),
    ReminderKind(1, Consult.reminder_1h_at),
)


def _due_ids(clinic: Clinic, kind: ReminderKind, now: datetime) -> list[int]:
    lead = timedelta(hours=kind.hours_before)
    query = select(Consult.id, Consult.starts_at, Consult.created_at).where(
        Consult.status == ConsultStatus.BOOKED,
        Consult.is_probe.is_(False),
        kind.column.is_(None),
        Consult.starts_at > now,
        Consult.starts_at <= now + lead,
    )
    with clinic.db.sessions() as session:
        rows = session.execute(query).all()
    # Someone who booked inside the window already has the confirmation email.
    return [consult_id for consult_id, starts, created in rows if created <= starts - lead]


def _claim(clinic: Clinic, kind: ReminderKind, consult_id: int, now: datetime) -> bool:
    """Only one process's UPDATE finds the reminder unclaimed."""
    with clinic.db.transaction() as session:
        result = session.execute(
            update(Consult)
            .where(Consult.id == consult_id, kind.column.is_(None))
            .values({kind.column.key: now})
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def _release(clinic: Clinic, kind: ReminderKind, consult_id: int) -> None:
    with clinic.db.transaction() as session:
        session.execute(
            update(Consult).where(Consult.id == consult_id).values({kind.column.key: None})
        )


def send_due_reminders(clinic: Clinic, root_url: str, now: datetime) -> int:
    """Claim and send every reminder due at `now`; returns how many this process sent."""
    sent = 0
    for kind in REMINDERS:
        for consult_id in _due_ids(clinic, kind, now):
            if not _claim(clinic, kind, consult_id, now):
                continue
            if _send(clinic, kind, consult_id, root_url):
                sent += 1
            else:
                _release(clinic, kind, consult_id)  # try again on the next round
    return sent


def _send(clinic: Clinic, kind: ReminderKind, consult_id: int, root_url: str) -> bool:
    with clinic.db.sessions() as session:
        consult = session.get(Consult, consult_id)
        if consult is None:
            return False

        def build(notice: messages.ConsultNotice) -> messages.EmailMessage:
            return messages.reminder(notice, kind.hours_before)

        build.__name__ = f"reminder_{kind.hours_before}h"
        return send_notice(clinic, consult, root_url, build)
