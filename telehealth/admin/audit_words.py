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

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import AuditEvent, Consult, ConsultMeasurement, Patient, Recommendation, StaffUser
from ..staff import local_time
from ..staff.words import RECOMMENDATIONS, measurement_words

ACTIONS = {
    "access.denied": _l("Access refused"),
    "admin.audit_viewed": _l("Viewed the audit log"),
    "admin.force_end": _l("Ended a room from the monitor"),
    "admin.hours_saved": _l("Changed a provider's weekly hours"),
    "admin.probe_started": _l("Started a probe call"),
    "admin.provider_saved": _l("Saved a provider's details"),
    "admin.settings_saved": _l("Changed the consult settings"),
    "admin.staff_disabled": _l("Disabled a staff login"),
    "admin.staff_enabled": _l("Enabled a staff login"),
    "admin.staff_password_reset": _l("Reset a staff password"),
    "admin.staff_totp_reset": _l("Reset a staff two-step login"),
    "admin.time_off_added": _l("Added time off"),
    "admin.time_off_removed": _l("Removed time off"),
    "booking.cancelled": _l("Cancelled the consult"),
    "booking.created": _l("Booked a consult"),
    "booking.declined_free_consult_used": _l("Booking declined: free consult already used"),
    "booking.links_resent": _l("Asked for their consult links again"),
    "booking.rescheduled": _l("Moved the consult"),
    "consult.admitted": _l("Admitted the patient"),
    "consult.checked_in": _l("Checked in to the waiting room"),
    "consult.device_switched": _l("Moved the call to another device"),
    "consult.ended": _l("The consult ended"),
    "consult.measurement_deleted": _l("Deleted a range-of-motion measurement"),
    "consult.measurement_recorded": _l("Recorded a range-of-motion measurement"),
    "consult.measurement_restored": _l("Restored a deleted range-of-motion measurement"),
    "consult.no_show_patient": _l("Marked the patient as a no-show"),
    "consult.no_show_provider": _l("Marked the physiotherapist as a no-show"),
    "consult.outcome_recorded": _l("Recorded the outcome"),
    "consult.running_late": _l("Told the patient they are running late"),
    "retention.purged": _l("Deleted records past the retention period"),
    "staff.created": _l("Created a staff login"),
    "staff.login": _l("Logged in"),
    "staff.login_failed": _l("Login failed"),
    "staff.password_change_failed": _l("Password change failed"),
    "staff.password_changed": _l("Changed their password"),
    "staff.totp_enrolled": _l("Turned on two-step login"),
    "staff.totp_enrolment_failed": _l("Two-step login set-up failed"),
    "staff.totp_replaced": _l("Replaced their two-step login"),
}

ENDED_BY = {
    "patient": _l("Ended by the patient"),
    "provider": _l("Ended by the physiotherapist"),
    "admin": _l("Ended by a clinic admin"),
    "clock": _l("Ended by the clock"),
}
ASKED_BY = {
    "patient": _l("Asked by the patient"),
    "provider": _l("Asked by the physiotherapist"),
    "clock": _l("Asked by the clock"),
}
SIDES = {"patient": _l("Side: the patient"), "provider": _l("Side: the physiotherapist")}
REASONS = {
    "patient_left": _l("patient left"),
    "provider_left": _l("physiotherapist left"),
    "ended_by_patient": _l("the patient ended it"),
    "ended_by_provider": _l("the physiotherapist ended it"),
    "ended_by_admin": _l("a clinic admin ended it"),
    "ended_by_clock": _l("time ran out"),
    "ended": _l("time ran out"),
    "no_show_patient": _l("the patient did not come"),
    "no_show_provider": _l("the physiotherapist did not come"),
    "bad_password": _l("wrong password"),
    "bad_totp": _l("wrong two-step code"),
    "inactive": _l("the login is disabled"),
}
ACTORS = {
    "system": _l("System"),
    "anonymous": _l("Anonymous"),
    "cli": _l("Clinic staff (command line)"),
}
# Detail keys no sentence covers, named in words; any other key is shown as written.
KEYS = {
    "provider_id": _l("Provider number"),
    "patient_id": _l("Patient number"),
    "measurement_id": _l("Measurement number"),
    "summary": _l("Summary"),
    "view": _l("View"),
    "filters": _l("Filters"),
    "role": _l("Role"),
    "device": _l("Device"),
    "patients": _l("Patients"),
    "consults": _l("Consults"),
    "length_minutes": _l("Consult length (minutes)"),
    "buffer_minutes": _l("Buffer between consults (minutes)"),
    "minimum_notice_minutes": _l("Minimum notice to book (minutes)"),
    "horizon_days": _l("Booking horizon (days)"),
    "lobby_opens_minutes": _l("Waiting room opens before the start (minutes)"),
}
ROLES = {"admin": _l("%(name)s (admin)"), "physiotherapist": _l("%(name)s (physiotherapist)")}


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
    measurements: dict[int, str]  # in the page's words, by id

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
        measured = select(ConsultMeasurement).where(
            ConsultMeasurement.id.in_(_measurement_ids(rows))
        )
        measurements = {row.id: measurement_words(row) for row in session.scalars(measured)}
        return cls(staff, patients, measurements)

    def actor(self, event: AuditEvent) -> str:
        """'Dr. Jane Smith (physiotherapist)', 'Patient: Ann Lee', 'System', 'Anonymous'."""
        actor = event.actor
        if actor.startswith("staff:"):
            return self._staff(actor.partition(":")[2])
        if actor == "patient" or actor.startswith("patient:"):
            consult_id = _patient_consult(actor) or event.consult_id
            name = self.patients.get(consult_id or 0)
            if name:
                return _("Patient: %(name)s", name=name)
            if consult_id:
                return _("Patient of consult %(number)s", number=consult_id)
            return _("A patient")
        return str(ACTORS.get(actor, actor))

    def _staff(self, staff_id: str) -> str:
        found = self.staff.get(int(staff_id)) if staff_id.isdigit() else None
        if found is None:
            return _("Staff member %(number)s (no longer on file)", number=staff_id)
        name, role = found
        return str(ROLES[role]) % {"name": name} if role in ROLES else f"{name} ({role})"

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


def _measurement_ids(events: list[AuditEvent]) -> set[int]:
    found = ((event.detail or {}).get("measurement_id") for event in events)
    return {number for number in found if isinstance(number, int)}


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
            str(ACTIONS.get(event.action, event.action)),
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
        lines.append(str(ENDED_BY[by]))
    elif by in ASKED_BY:
        lines.append(str(ASKED_BY[by]))
    if reason := detail.pop("reason", None):
        said = REASONS.get(str(reason), str(reason).replace("_", " "))
        lines.append(_("Reason: %(reason)s", reason=said))
    for key in ("start", "old_start", "new_start", "since", "cutoff"):
        if key in detail:
            detail[key] = _when(detail[key])
    if "start" in detail:
        lines.append(_("Consult time: %(time)s", time=detail.pop("start")))
    if "old_start" in detail and "new_start" in detail:
        old, new = detail.pop("old_start"), detail.pop("new_start")
        lines.append(_("Moved from %(old)s to %(new)s", old=old, new=new))
    if "recommendation" in detail:
        chosen = _recommendation(detail.pop("recommendation"))
        lines.append(_("Recommended: %(service)s", service=chosen))
    if "minutes" in detail and action == "consult.running_late":
        lines.append(_("About %(minutes)s minutes late", minutes=detail.pop("minutes")))
    if "side" in detail:
        side = str(detail.pop("side"))
        lines.append(str(SIDES[side]) if side in SIDES else _("Side: %(side)s", side=side))
    if "staff_id" in detail:
        lines.append(_("Staff login: %(who)s", who=people.staff_name(detail.pop("staff_id"))))
    if "measurement_id" in detail:
        lines.append(_measurement(detail, people))
    if action == "access.denied":
        lines.extend(_denied(detail))
    if action == "booking.links_resent":
        lines.extend(_resends(detail))
    lines.extend(
        _("%(label)s: %(value)s", label=_label(key), value=_plain(value))
        for key, value in sorted(detail.items())
    )
    return lines


def _denied(detail: dict[str, Any]) -> list[str]:
    lines = []
    if "target" in detail:
        lines.append(_("Tried to open: %(target)s", target=detail.pop("target")))
    if "count" in detail:
        lines.append(_("Attempts: %(count)s", count=detail.pop("count")))
        detail.pop("targets", None)
    if "client" in detail:
        lines.append(_("Client tag: %(tag)s", tag=detail.pop("client")))
    return lines


def _measurement(detail: dict[str, Any], people: People) -> str:
    """The measurement in the page's words from its row (the row's English summary if the
    row is gone)."""
    number = detail.pop("measurement_id")
    stored = detail.pop("summary", "")
    said = people.measurements.get(number, str(stored)) if isinstance(number, int) else stored
    return _("Measurement %(number)s: %(measurement)s", number=number, measurement=said)


def _resends(detail: dict[str, Any]) -> list[str]:
    """One row per client and hour (booking/flows.py): how often, and how many had links."""
    targets = detail.pop("targets", {}) or {}
    count = detail.pop("count", 0)
    since = detail.pop("since", "?")
    if count == 1:
        asked = _("Asked once in the hour from %(since)s", since=since)
    else:
        asked = _("Asked %(count)s times in the hour from %(since)s", count=count, since=since)
    lines = [asked]
    lines.append(_("Links sent: %(count)s", count=targets.get("sent", 0)))
    lines.append(_("No upcoming consult: %(count)s", count=targets.get("nothing_to_send", 0)))
    for key in ("target", "seconds"):
        detail.pop(key, None)
    if "client" in detail:
        lines.append(_("Client tag: %(tag)s", tag=detail.pop("client")))
    return lines


def _when(value: Any) -> str:
    try:
        return local_time.when(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _recommendation(value: Any) -> str:
    try:
        return str(RECOMMENDATIONS[Recommendation(str(value))])
    except ValueError:
        return str(value)


def _label(key: str) -> str:
    return str(KEYS[key]) if key in KEYS else key.replace("_", " ").capitalize()


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict):
        return ", ".join(f"{_label(str(k))} {_plain(v)}" for k, v in value.items()) or _("none")
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value) or _("none")
    return str(value)
