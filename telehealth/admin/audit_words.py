"""The audit log as an admin reads it: people's names and sentences, not ids and dicts.

The rows themselves stay as written (append-only, ids only); names are looked up when the
page is shown, so a renamed physiotherapist reads with today's name and a purged patient
reads as the consult's number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain.availability import format_local
from ..models import RECOMMENDATION_LABELS, AuditEvent, Consult, Patient, Recommendation, StaffUser

ACTIONS = {
    "access.denied": "Access refused",
    "admin.audit_viewed": "Viewed the audit log",
    "admin.force_end": "Ended a room from the monitor",
    "admin.hours_saved": "Changed a provider's weekly hours",
    "admin.probe_started": "Started a probe call",
    "admin.provider_saved": "Saved a provider's details",
    "admin.settings_saved": "Changed the consult settings",
    "admin.staff_disabled": "Disabled a staff login",
    "admin.staff_enabled": "Enabled a staff login",
    "admin.staff_password_reset": "Reset a staff password",
    "admin.staff_totp_reset": "Reset a staff two-step login",
    "admin.time_off_added": "Added time off",
    "admin.time_off_removed": "Removed time off",
    "booking.cancelled": "Cancelled the consult",
    "booking.created": "Booked a consult",
    "booking.declined_free_consult_used": "Booking declined: free consult already used",
    "booking.links_resent": "Asked for their consult links again",
    "booking.rescheduled": "Moved the consult",
    "consult.admitted": "Admitted the patient",
    "consult.checked_in": "Checked in to the waiting room",
    "consult.device_switched": "Moved the call to another device",
    "consult.ended": "The consult ended",
    "consult.no_show_patient": "Marked the patient as a no-show",
    "consult.no_show_provider": "Marked the physiotherapist as a no-show",
    "consult.outcome_recorded": "Recorded the outcome",
    "consult.running_late": "Told the patient they are running late",
    "retention.purged": "Deleted records past the retention period",
    "staff.created": "Created a staff login",
    "staff.login": "Logged in",
    "staff.login_failed": "Login failed",
    "staff.password_change_failed": "Password change failed",
    "staff.password_changed": "Changed their password",
    "staff.totp_enrolled": "Turned on two-step login",
    "staff.totp_enrolment_failed": "Two-step login set-up failed",
    "staff.totp_replaced": "Replaced their two-step login",
}

ENDED_BY = {
    "patient": "Ended by the patient",
    "provider": "Ended by the physiotherapist",
    "admin": "Ended by a clinic admin",
    "clock": "Ended by the clock",
}
SIDES = {"patient": "the patient", "provider": "the physiotherapist"}
REASONS = {
    "patient_left": "patient left",
    "provider_left": "physiotherapist left",
    "ended_by_patient": "the patient ended it",
    "ended_by_provider": "the physiotherapist ended it",
    "ended_by_admin": "a clinic admin ended it",
    "ended_by_clock": "time ran out",
    "ended": "time ran out",
    "no_show_patient": "the patient did not come",
    "no_show_provider": "the physiotherapist did not come",
    "bad_password": "wrong password",
    "bad_totp": "wrong two-step code",
    "inactive": "the login is disabled",
}
ACTORS = {"system": "System", "anonymous": "Anonymous", "cli": "Clinic staff (command line)"}


@dataclass(frozen=True)
class AuditLine:
    """One audit row as the page shows it."""

    event: AuditEvent
    who: str
    what: str
    details: list[str]
    raw: str


@dataclass(frozen=True)
class People:
    """Names for the ids that audit rows carry, fetched once per page."""

    staff: dict[int, tuple[str, str]]
    patients: dict[int, str]  # by consult id

    @classmethod
    def of(cls, session: Session, events: Iterable[AuditEvent]) -> People:
        rows = list(events)
        consult_ids = {e.consult_id for e in rows if e.consult_id}
        consult_ids |= {_patient_consult(e.actor) or 0 for e in rows} - {0}
        staff = {
            user.id: (user.name, user.role)
            for user in session.scalars(select(StaffUser).where(StaffUser.id.in_(_staff_ids(rows))))
        }
        query = (
            select(Consult.id, Patient.name)
            .join(Patient, Consult.patient_id == Patient.id)
            .where(Consult.id.in_(consult_ids))
        )
        patients = {consult_id: name for consult_id, name in session.execute(query)}
        return cls(staff, patients)

    def actor(self, event: AuditEvent) -> str:
        """'Dr. Jane Smith (physiotherapist)', 'Patient: Ann Lee', 'System', 'Anonymous'."""
        actor = event.actor
        if actor.startswith("staff:"):
            return self._staff(actor.partition(":")[2])
        if actor == "patient" or actor.startswith("patient:"):
            consult_id = _patient_consult(actor) or event.consult_id
            name = self.patients.get(consult_id or 0)
            if name:
                return f"Patient: {name}"
            return f"Patient of consult {consult_id}" if consult_id else "A patient"
        return ACTORS.get(actor, actor)

    def _staff(self, staff_id: str) -> str:
        found = self.staff.get(int(staff_id)) if staff_id.isdigit() else None
        if found is None:
            return f"Staff member {staff_id} (no longer on file)"
        name, role = found
        return f"{name} ({role})"

    def staff_name(self, staff_id: Any) -> str:
        return self._staff(str(staff_id))


def _staff_ids(events: list[AuditEvent]) -> set[int]:
    ids = set()
    for event in events:
        who = event.actor.partition(":")[2]
        if event.actor.startswith("staff:") and who.isdigit():
            ids.add(int(who))
        target = (event.detail or {}).get("staff_id")
        if isinstance(target, int):
            ids.add(target)
    return ids


def _patient_consult(actor: str) -> int | None:
    number = actor.partition(":")[2]
    return int(number) if actor.startswith("patient:") and number.isdigit() else None


def audit_lines(session: Session, events: list[AuditEvent]) -> list[AuditLine]:
    """Every row with its actor's name, the action in words and its details as sentences."""
    people = People.of(session, events)
    return [
        AuditLine(
            event,
            people.actor(event),
            ACTIONS.get(event.action, event.action),
            details(event.action, dict(event.detail or {}), people),
            json.dumps(event.detail or {}, sort_keys=True, ensure_ascii=False),
        )
        for event in events
    ]


def details(action: str, detail: dict[str, Any], people: People) -> list[str]:
    """The row's detail as sentences; keys no sentence covers are listed plainly."""
    lines: list[str] = []
    by = detail.pop("by", None)
    if by in ENDED_BY and action in ("consult.ended", "booking.cancelled"):
        lines.append(ENDED_BY[by])
    elif by in SIDES or by == "clock":
        lines.append(f"Asked by {SIDES.get(by, 'the clock')}")
    if reason := detail.pop("reason", None):
        lines.append(f"Reason: {REASONS.get(str(reason), str(reason).replace('_', ' '))}")
    for key in ("start", "old_start", "new_start", "since", "cutoff"):
        if key in detail:
            detail[key] = _when(detail[key])
    if "start" in detail:
        lines.append(f"Consult time: {detail.pop('start')}")
    if "old_start" in detail and "new_start" in detail:
        lines.append(f"Moved from {detail.pop('old_start')} to {detail.pop('new_start')}")
    if "recommendation" in detail:
        lines.append(f"Recommended: {_recommendation(detail.pop('recommendation'))}")
    if "minutes" in detail and action == "consult.running_late":
        lines.append(f"About {detail.pop('minutes')} minutes late")
    if "side" in detail:
        lines.append(f"Side: {SIDES.get(str(detail['side']), detail['side'])}")
        detail.pop("side")
    if "staff_id" in detail:
        lines.append(f"Staff login: {people.staff_name(detail.pop('staff_id'))}")
    if action == "access.denied":
        lines.extend(_denied(detail))
    if action == "booking.links_resent":
        lines.extend(_resends(detail))
    lines.extend(f"{_label(key)}: {_plain(value)}" for key, value in sorted(detail.items()))
    return lines


def _denied(detail: dict[str, Any]) -> list[str]:
    lines = []
    if "target" in detail:
        lines.append(f"Tried to open: {detail.pop('target')}")
    if "count" in detail:
        lines.append(f"Attempts: {detail.pop('count')}")
        detail.pop("targets", None)
    if "client" in detail:
        lines.append(f"Client tag: {detail.pop('client')}")
    return lines


def _resends(detail: dict[str, Any]) -> list[str]:
    """One row per client and hour (booking/flows.py): how often, and how many had links."""
    targets = detail.pop("targets", {}) or {}
    count = detail.pop("count", 0)
    times = "once" if count == 1 else f"{count} times"
    lines = [f"Asked {times} in the hour from {detail.pop('since', '?')}"]
    lines.append(f"Links sent: {targets.get('sent', 0)}")
    lines.append(f"No upcoming consult: {targets.get('nothing_to_send', 0)}")
    for key in ("target", "seconds"):
        detail.pop(key, None)
    if "client" in detail:
        lines.append(f"Client tag: {detail.pop('client')}")
    return lines


def _when(value: Any) -> str:
    try:
        return format_local(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _recommendation(value: Any) -> str:
    try:
        return RECOMMENDATION_LABELS[Recommendation(str(value))]
    except ValueError:
        return str(value)


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{_label(str(k))} {_plain(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value) or "none"
    return str(value)
