"""A physiotherapist's day as they read it: each consult's state in words, and whether the
patient can be marked a no-show yet. The dashboard page and its live JSON share this."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from ..clinic import Clinic
from ..domain.availability import CLINIC_TZ, local_day_bounds
from ..models import Consult, ConsultOutcome, ConsultStatus
from ..sessions import ConsultPolicy, LiveConsult, Phase, Side
from . import local_time

DAYS_AHEAD = 7
# How soon before the start a consult says "Starts in 5 minutes" rather than only its time.
SOON = timedelta(hours=1)

PHASE_LABELS = {
    Phase.SCHEDULED: _l("Not arrived"),
    Phase.WAITING: _l("Patient waiting"),
    Phase.IN_CALL: _l("In call"),
    Phase.ENDED: _l("Ended"),
    Phase.NO_SHOW_PATIENT: _l("Patient no-show"),
    Phase.NO_SHOW_PROVIDER: _l("Provider no-show"),
    Phase.CANCELLED: _l("Cancelled"),
}
STATUS_LABELS: dict[str, Any] = {
    ConsultStatus.BOOKED: _l("Not arrived"),
    ConsultStatus.COMPLETED: _l("Ended"),
    ConsultStatus.NO_SHOW_PATIENT: _l("Patient no-show"),
    ConsultStatus.NO_SHOW_PROVIDER: _l("Provider no-show"),
    ConsultStatus.CANCELLED: _l("Cancelled"),
}


@dataclass(frozen=True)
class ConsultRow:
    """One line of the day: what the page shows and what it offers."""

    id: int
    starts_at: str
    when: str
    patient_name: str
    provider_name: str
    state: str
    status: str
    detail: str
    running_late_minutes: int
    waiting: bool
    no_show: bool
    room_url: str | None
    outcome_url: str | None
    outcome_label: str
    no_show_url: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def expected_label(starts_at: datetime, now: datetime) -> str:
    """'Starts in 3 minutes', 'Expected now' or 'Expected 4 minutes ago' (empty when far off)."""
    early = (starts_at - now).total_seconds()
    if early > SOON.total_seconds():
        return ""
    if early > 0:
        soon = math.ceil(early / 60)
        return ngettext("Starts in %(num)d minute", "Starts in %(num)d minutes", soon)
    late = math.floor(-early / 60)
    if late < 1:
        return _("Expected now")
    return ngettext("Expected %(num)d minute ago", "Expected %(num)d minutes ago", late)


def patient_present(presence: dict[Side, list[dict[str, str]]]) -> bool:
    return bool(presence.get(Side.PATIENT))


def no_show_offered(
    consult: Consult,
    live: LiveConsult | None,
    patient_here: bool,
    policy: ConsultPolicy,
    now: datetime,
) -> bool:
    """Only when it is true: booked, the patient not here (never came, or left the waiting
    room), and the no-show wait after the booked start is over. The server checks again."""
    if consult.status != ConsultStatus.BOOKED or patient_here:
        return False
    if live is not None and live.phase not in (Phase.SCHEDULED, Phase.WAITING):
        return False
    return now >= consult.starts_at + policy.no_show_after


def _detail(consult: Consult, live: LiveConsult | None, patient_here: bool, now: datetime) -> str:
    phase = live.phase if live else None
    if phase is Phase.WAITING and live is not None and live.checked_in_at and patient_here:
        return _("In the waiting room since %(time)s", time=clock(live.checked_in_at))
    if phase is Phase.WAITING and not patient_here:
        return _("Checked in, then left the waiting room")
    if phase in (None, Phase.SCHEDULED) and consult.status == ConsultStatus.BOOKED:
        if patient_here:
            return _("Checking camera and answering the check-in questions")
        return expected_label(consult.starts_at, now)
    return ""


def clock(moment: datetime) -> str:
    """'9:02 a.m. EST' ('9 h 02 HNE'), in the clinic's time zone, with the zone."""
    return local_time.clock(moment)


def consult_row(
    clinic: Clinic, consult: Consult, has_outcome: bool, own: bool, now: datetime
) -> ConsultRow:
    """One consult as the day's list shows it; links only to what this person may open."""
    live = clinic.live.get(consult.id) if consult.status == ConsultStatus.BOOKED else None
    here = patient_present(clinic.live.presence(consult.id)) if live else False
    state = str(live.phase) if live else str(consult.status)
    label = PHASE_LABELS.get(live.phase) if live else STATUS_LABELS.get(consult.status)
    status = str(label) if label else ""
    offered = own and no_show_offered(consult, live, here, clinic.consults.policy, now)
    booked = consult.status == ConsultStatus.BOOKED
    return ConsultRow(
        id=consult.id,
        starts_at=consult.starts_at.astimezone(CLINIC_TZ).isoformat(),
        when=local_time.when(consult.starts_at),
        patient_name=consult.patient.name,
        provider_name=consult.provider.name,
        state=state,
        status=status or state.replace("_", " ").capitalize(),
        detail=_detail(consult, live, here, now),
        running_late_minutes=(live.running_late_minutes or 0) if live else 0,
        waiting=live is not None and live.phase is Phase.WAITING and here,
        no_show=offered,
        room_url=url_for("staff.consult_room", consult_id=consult.id) if own and booked else None,
        outcome_url=url_for("staff.outcome", consult_id=consult.id)
        if own and consult.status == ConsultStatus.COMPLETED
        else None,
        outcome_label=_("Outcome") if has_outcome else _("Record outcome"),
        no_show_url=url_for("staff.mark_no_show", consult_id=consult.id) if offered else None,
    )


def day_consults(clinic: Clinic, provider_id: int | None, now: datetime) -> list[Consult]:
    """Today's and the next days' consults (cancelled ones too, so a cancellation shows)."""
    today = now.astimezone(CLINIC_TZ).date()
    start, _ = local_day_bounds(today)
    _, end = local_day_bounds(today + timedelta(days=DAYS_AHEAD))
    query = (
        select(Consult)
        .where(Consult.is_probe.is_(False), Consult.starts_at >= start, Consult.starts_at < end)
        .order_by(Consult.starts_at, Consult.id)
    )
    if provider_id is not None:
        query = query.where(Consult.provider_id == provider_id)
    with clinic.db.sessions() as db_session:
        consults = list(db_session.scalars(query))
        for consult in consults:
            _ = consult.patient.name, consult.provider.name
    return consults


def _with_outcome(clinic: Clinic, consult_ids: list[int]) -> set[int]:
    with clinic.db.sessions() as db_session:
        query = select(ConsultOutcome.consult_id).where(ConsultOutcome.consult_id.in_(consult_ids))
        return set(db_session.scalars(query))


def day_rows(
    clinic: Clinic, provider_id: int | None, viewer_provider_id: int | None, now: datetime
) -> list[ConsultRow]:
    """The day's rows of one provider (or everyone's, for an admin)."""
    consults = day_consults(clinic, provider_id, now)
    outcomes = _with_outcome(clinic, [c.id for c in consults])
    own = {c.id for c in consults if viewer_provider_id is not None}
    own &= {c.id for c in consults if c.provider_id == viewer_provider_id}
    return [consult_row(clinic, c, c.id in outcomes, c.id in own, now) for c in consults]
