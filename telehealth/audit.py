"""The audit log: one append-only row per state change that matters."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .models import AuditEvent


def record(
    session: Session, actor: str, action: str, consult_id: int | None = None, **detail: Any
) -> AuditEvent:
    """Add an audit row to the caller's transaction; it commits or rolls back with it."""
    event = AuditEvent(actor=actor, action=action, consult_id=consult_id, detail=detail)
    session.add(event)
    return event
