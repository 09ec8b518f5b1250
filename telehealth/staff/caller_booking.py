"""Staff book a free consult for someone on the phone, under the public booking's rules.

The calendar (opening hours, minimum notice, horizon, a taken slot), the once-a-year free
consult and the patient's mail budget apply as on the public page. Two things differ, on
purpose: the cap on upcoming bookings per client address is not applied (every call comes
from the clinic's own address), and a patient who already had their free consult is named
as such to the staff member (the public page must not tell a stranger that).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from ..booking import notices
from ..booking.flows import spend_mail_budget
from ..booking.presenters import day_heading, group_by_day
from ..booking.service import BookedConsult, FreeConsultUsed, book_consult, consult_providers
from ..booking.service import open_slots as free_slots
from ..clinic import Clinic
from ..domain.availability import CLINIC_TZ
from ..domain.booking_rules import CONDITIONS, parse_booking
from ..i18n_format import translated
from ..models import Consult
from ..notify import messages

DAYS_SHOWN = 7
LAST_DAY_SHOWN = date(2100, 12, 31)


@dataclass(frozen=True)
class CallerBooked:
    """What the staff member is told once it is booked."""

    consult_id: int
    provider_id: int
    provider_name: str
    starts_at: datetime
    patient_name: str
    patient_email: str
    emailed: bool


def day_param(value: str | None, today: date) -> date | None:
    """A day from the address; bad, past or far-off days fall back to today's week."""
    try:
        chosen = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    if chosen is None or chosen > LAST_DAY_SHOWN:
        return None
    return max(chosen, today)


def slot_page(
    clinic: Clinic, provider_choice: str, week: date | None, day: date | None, now: datetime
) -> dict[str, Any]:
    """The providers, a week of days with free times, and the chosen day's times."""
    today = now.astimezone(CLINIC_TZ).date()
    first_day = week or day or today
    last_day = first_day + timedelta(days=DAYS_SHOWN - 1)
    with clinic.db.sessions() as db_session:
        everyone = consult_providers(db_session)
        names = {p.id: p.name for p in everyone}
        chosen = [p for p in everyone if str(p.id) == provider_choice] or everyone
        slots = free_slots(db_session, chosen, clinic.consult_rules(), first_day, last_day, now)
    days = group_by_day(slots, names, one_per_time=len(chosen) > 1)
    selected = next((d for d in days if d.day == day), days[0] if days else None)
    return {
        "providers": everyone,
        "provider_choice": provider_choice if len(chosen) == 1 else "any",
        "days": days,
        "selected_day": selected,
        "first_day": first_day,
        "range_label": _(
            "%(first)s to %(last)s", first=day_heading(first_day), last=day_heading(last_day)
        ),
        "previous_week": max(first_day - timedelta(days=DAYS_SHOWN), today)
        if first_day > today
        else None,
        "next_week": first_day + timedelta(days=DAYS_SHOWN),
        "conditions": CONDITIONS,
        "show_provider": len(chosen) > 1,
    }


def payload_from_form(form: Any) -> dict[str, Any]:
    """The booking API's payload from the staff form."""
    provider_id, _, start = str(form.get("slot", "")).partition("|")
    reason = str(form.get("reason", ""))
    if reason == "other":
        reason = str(form.get("reason_other", "")).strip()
    return {
        "provider_id": provider_id,
        "start": start,
        "patient": {
            "name": form.get("name", ""),
            "email": form.get("email", ""),
            "phone": form.get("phone", ""),
        },
        "reason": reason,
        "consent": form.get("consent") == "yes",
    }


# The booking rules name fields as the API does; the form's fields have these names.
FORM_FIELDS = {
    "provider_id": "slot",
    "start": "slot",
    "patient.name": "name",
    "patient.email": "email",
    "patient.phone": "phone",
}
# Messages written for the patient booking themselves, said to the staff member instead.
FOR_STAFF = {
    "patient.name": _l("Enter the caller's full name (up to 120 characters)."),
    "patient.email": _l(
        "Enter the caller's email address, like name@example.com: the join link goes there."
    ),
    "consent": _l("Read the consent to the caller, and tick the box once they agree."),
    "reason": _l("Choose what brings the caller in, or write it briefly (up to 500 characters)."),
}


def form_errors(fields: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for field, message in fields.items():
        said = FOR_STAFF[field] if field in FOR_STAFF else translated(message)
        errors.setdefault(FORM_FIELDS.get(field, field), str(said))
    return errors


def free_consult_used_message(name: str, days: int) -> str:
    if days == 365:
        return _(
            "%(name)s has already had a free consult in the last 12 months with this email "
            "address, so no free consult was booked. Offer a treatment visit instead.",
            name=name,
        )
    return ngettext(
        "%(name)s has already had a free consult in the last %(num)d day with this email "
        "address, so no free consult was booked. Offer a treatment visit instead.",
        "%(name)s has already had a free consult in the last %(num)d days with this email "
        "address, so no free consult was booked. Offer a treatment visit instead.",
        days,
        name=name,
    )


def book_for_caller(
    clinic: Clinic, form: Any, staff_id: int, url_root: str, now: datetime
) -> CallerBooked:
    """Book as the public page would, with the staff member as the audited actor, and email
    the patient their confirmation. Raises InvalidBooking, BookingRefused or FreeConsultUsed."""
    request = parse_booking(payload_from_form(form))
    spend_mail_budget(request.email)
    booked: BookedConsult = book_consult(
        clinic.db,
        request,
        rules=clinic.consult_rules(),
        now=now,
        secret_key=clinic.config["SECRET_KEY"],
        consent_version=clinic.config["CONSENT_VERSION"],
        free_period=timedelta(days=clinic.config["FREE_CONSULTS_PER_PERIOD_DAYS"]),
        actor=f"staff:{staff_id}",
    )
    with clinic.db.sessions() as db_session:
        consult = db_session.get(Consult, booked.consult.id)
        assert consult is not None
        emailed = notices.send_notice(clinic, consult, url_root, messages.booking_confirmation)
        return CallerBooked(
            consult.id,
            consult.provider_id,
            consult.provider.name,
            consult.starts_at,
            consult.patient.name,
            consult.patient.email,
            emailed,
        )


__all__ = ["FreeConsultUsed", "book_for_caller", "form_errors", "slot_page"]
