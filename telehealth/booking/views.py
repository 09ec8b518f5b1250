"""Public pages: home, providers, the booking form and the patient's manage page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..clinic import current_clinic
from ..consult.outcomes import TreatmentBooking, outcome_of, treatment_booking
from ..db import utcnow
from ..domain.availability import CLINIC_TZ
from ..domain.booking_rules import (
    CONDITIONS,
    EMAIL_PATTERN,
    InvalidBooking,
    normalise_email,
    parse_start,
)
from ..domain.text_rules import NOT_ALLOWED, is_clean_text
from ..extensions import limiter
from ..i18n import current_language, language_or_default
from ..models import COLLEGES, RECOMMENDATION_LABELS, Consult, ConsultOutcome, Provider
from ..notify.links import request_link
from .flows import cancel_booking, move_booking, place_booking, resend_links
from .presenters import day_heading, group_by_day
from .service import (
    BookingRefused,
    can_change,
    consult_by_credential,
    consult_providers,
    open_slots,
)

bp = Blueprint("booking", __name__)
DAYS_SHOWN = 7
MANAGE_SESSION_KEY = "manage_credential"
CONFIRMED_SESSION_KEY = "confirmed_booking"


def _booking_limit() -> str:
    return str(current_app.config["BOOKING_RATE_LIMIT"])


# The same bucket as the API's booking routes (same scope, keyed by client address).
booking_budget = limiter.shared_limit(_booking_limit, scope="booking")


@bp.get("/")
def home() -> str:
    """The clinic and its free 20-minute consult."""
    return render_template("index.html")


def _language_asked(args: Any) -> str:
    """The consult language a directory or booking page is filtered on ('' for any)."""
    asked = args.get("language", "")
    return language_or_default(asked) if asked else ""


def _speaking(providers: list[Provider], language: str) -> list[Provider]:
    return [p for p in providers if not language or language in (p.languages or ["en"])]


@bp.get("/providers")
def providers() -> str:
    """Our providers and their registration with the Ontario colleges."""
    language = _language_asked(request.args)
    with current_clinic().db.sessions() as db_session:
        rows = list(
            db_session.scalars(
                select(Provider).where(Provider.active.is_(True)).order_by(Provider.name)
            )
        )
    return render_template(
        "providers.html",
        providers=_speaking(rows, language),
        colleges=COLLEGES,
        language_choice=language,
    )


# Far-off days are not bookable, and date arithmetic near year 9999 overflows.
LAST_DAY_SHOWN = date(2100, 12, 31)


class InvalidDay(ValueError):
    """A `day` or `week` in the address that no calendar page can show."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        year = LAST_DAY_SHOWN.year
        message = (
            _(
                "The week asked for is too far ahead: choose a date in or before %(year)s.",
                year=year,
            )
            if field == "week"
            else _(
                "The day asked for is too far ahead: choose a date in or before %(year)s.",
                year=year,
            )
        )
        self.errors = {field: message}


def _day_param(value: str | None, today: date, field: str = "day") -> date | None:
    try:
        chosen = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    if chosen is not None and chosen > LAST_DAY_SHOWN:
        raise InvalidDay(field)
    return max(chosen, today) if chosen else None


def _days_asked(args: Any, today: date) -> tuple[date | None, date | None]:
    """The week and day a page was asked for; InvalidDay names the field that is out of range."""
    return _day_param(args.get("week"), today, "week"), _day_param(args.get("day"), today)


def _slot_page_context(
    provider_choice: str, week: date | None, day: date | None, language: str = ""
) -> dict[str, Any]:
    """A week of days to choose from, and the free times of the chosen day; with a
    `language`, only the providers who consult in it."""
    clinic = current_clinic()
    today = utcnow().astimezone(CLINIC_TZ).date()
    first_day = week or day or today
    last_day = first_day + timedelta(days=DAYS_SHOWN - 1)
    with clinic.db.sessions() as db_session:
        everyone = _speaking(consult_providers(db_session), language)
        names = {p.id: p.name for p in everyone}
        chosen = [p for p in everyone if str(p.id) == provider_choice] or everyone
        slots = open_slots(
            db_session, chosen, clinic.consult_rules(), first_day, last_day, utcnow()
        )
    days = group_by_day(slots, names, one_per_time=len(chosen) > 1)
    selected = next((d for d in days if d.day == day), days[0] if days else None)
    return {
        "providers": everyone,
        "provider_choice": provider_choice if len(chosen) == 1 else "any",
        "language_choice": language,
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
    }


@bp.get("/book")
def book() -> Any:
    """Pick a provider (or first available) and a time, then give your details."""
    today = utcnow().astimezone(CLINIC_TZ).date()
    provider_choice = request.args.get("provider", "any")
    language = _language_asked(request.args)
    try:
        week, day = _days_asked(request.args, today)
    except InvalidDay as error:
        context = _slot_page_context(provider_choice, None, None, language)
        page = render_template(
            "book.html", form={}, errors=error.errors, field_labels=FIELD_LABELS, **context
        )
        return page, 422
    context = _slot_page_context(provider_choice, week, day, language)
    return render_template("book.html", form={}, errors={}, field_labels=FIELD_LABELS, **context)


def _payload_from_form(form: Any) -> dict[str, Any]:
    provider_id, _bar, start = form.get("slot", "").partition("|")
    reason = (
        form.get("reason_other", "").strip()
        if form.get("reason") == "other"
        else form.get("reason", "")
    )
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
        # The page's language: the booking's emails and links will speak it.
        "language": current_language(),
    }


FIELD_ALIASES = {
    "provider_id": "slot",
    "start": "slot",
    "patient.name": "name",
    "patient.email": "email",
    "patient.phone": "phone",
}


# What to change, in the words of the page (the API's messages speak of JSON fields).
FORM_MESSAGES = {
    "slot": _l(
        "Choose one of the free times under \u201cChoose a time\u201d. If none suits "
        "you, look at later days or choose another physiotherapist."
    ),
    "email": _l("Enter your email address in the form name@example.com."),
    "phone": _l("Enter a phone number with its area code, for example 905-555-0123."),
    "reason": _l(
        "Choose what brings you in from the list. If it is not listed, choose "
        "\u201cSomething else\u201d and describe it in the box under the list."
    ),
    "reason_other": _l(
        "Describe briefly what brings you in (up to 500 characters), or choose "
        "a condition from the list."
    ),
    "consent": _l(
        "Please agree to a virtual consult: tick the box under \u201cConsent to virtual care\u201d."
    ),
}
# The name each field has on the page, so that the error summary says which one to fix.
FIELD_LABELS = {
    "slot": _l("Time"),
    "name": _l("Full name"),
    "email": _l("Email"),
    "phone": _l("Phone"),
    "reason": _l("What brings you in"),
    "reason_other": _l("Something else"),
    "consent": _l("Consent to virtual care"),
    "week": _l("Week"),
    "day": _l("Day"),
}


def _form_errors(fields: dict[str, str], form: Any) -> dict[str, str]:
    """The API's per-field errors as the booking page words them, one per form field."""
    errors: dict[str, str] = {}
    for field, message in fields.items():
        name = FIELD_ALIASES.get(field, field)
        if name == "reason" and form.get("reason") == "other":
            name = "reason_other"  # the box was left empty, not the list
        errors.setdefault(
            name, _(message) if message == NOT_ALLOWED else str(FORM_MESSAGES.get(name, _(message)))
        )
    return errors


# Which form field a refusal is about, so the page puts the message next to it.
REFUSAL_FIELDS = {"slot_taken": "slot", "unknown_provider": "slot", "too_many_emails": "email"}


@bp.post("/book")
@booking_budget
def book_submit() -> Any:
    """Book from the form; on a problem, show the form again with what to fix."""
    form = request.form
    try:
        answer = place_booking(_payload_from_form(form))
    except InvalidBooking as error:
        return _book_again(form, _form_errors(error.fields, form), 422)
    except BookingRefused as error:
        field = REFUSAL_FIELDS.get(error.code, "booking")
        return _book_again(form, {field: error.message}, error.status)
    # What the confirmation page shows: the same for a booking and a declined one (flows.py).
    session[CONFIRMED_SESSION_KEY] = {
        "provider_id": answer.provider_id,
        "start": answer.start.isoformat(),
        "email": answer.email,
        "join": answer.credentials.join,
        "manage": answer.credentials.manage,
    }
    return redirect(url_for("booking.confirmed"), code=303)


def _book_again(form: Any, errors: dict[str, str], status: int) -> tuple[str, int]:
    today = utcnow().astimezone(CLINIC_TZ).date()
    try:
        week, day = _days_asked(form, today)
    except InvalidDay as error:
        (week, day), errors = (None, None), {**errors, **error.errors}
    context = _slot_page_context(form.get("provider", "any"), week, day, _language_asked(form))
    return render_template(
        "book.html", form=form, errors=errors, field_labels=FIELD_LABELS, **context
    ), status


@bp.get("/book/confirmed")
def confirmed() -> Any:
    """What was booked, and what happens next."""
    saved = session.get(CONFIRMED_SESSION_KEY)
    if not isinstance(saved, dict) or "provider_id" not in saved:
        return redirect(url_for("booking.book"))
    with current_clinic().db.sessions() as db_session:
        provider = db_session.get(Provider, saved["provider_id"])
        if provider is None:
            abort(404)
        provider_name = provider.name
    return render_template(
        "confirmed.html",
        starts_at=datetime.fromisoformat(saved["start"]),
        provider_name=provider_name,
        email=saved["email"],
        join_url=request_link(f"/join/{saved['join']}"),
        manage_url=request_link(f"/manage/{saved['manage']}"),
    )


# --- resend my links -----------------------------------------------------------------


@bp.get("/resend-links")
def resend_form() -> str:
    """Lost the email? Ask for the links of your upcoming consults again."""
    return render_template("resend.html", errors={}, email="", done=False)


@bp.post("/resend-links")
def resend_submit() -> Any:
    """The same answer whether or not the address has a booking (see flows.resend_links)."""
    email = normalise_email(request.form.get("email", ""))
    if not EMAIL_PATTERN.match(email) or len(email) > 254 or not is_clean_text(email):
        errors = {"email": _("Enter the email address you booked with, like name@example.com.")}
        return render_template("resend.html", errors=errors, email=email, done=False), 422
    try:
        resend_links(email)
    except BookingRefused as error:
        return render_template(
            "error.html", title=_("Please wait before asking again"), message=error.message
        ), error.status
    return render_template("resend.html", errors={}, email="", done=True)


# --- the manage link -----------------------------------------------------------------


@bp.get("/manage/<credential>")
@limiter.limit(lambda: str(current_app.config["JOIN_RATE_LIMIT"]))
def manage_entry(credential: str) -> Any:
    """Swap the credential in the link for a session cookie, so it leaves the URL."""
    with current_clinic().db.sessions() as db_session:
        consult = consult_by_credential(db_session, "manage", credential)
    if consult is None:
        return render_template(
            "error.html",
            title=_("Booking not found"),
            message=_(
                "We could not find that booking. Check the link in your email, or call the clinic."
            ),
            show_resend=True,
        ), 404
    session[MANAGE_SESSION_KEY] = credential
    return redirect(url_for("booking.manage"), code=303)


def _managed_consult() -> tuple[str, Consult] | None:
    credential = session.get(MANAGE_SESSION_KEY)
    if not credential:
        return None
    with current_clinic().db.sessions() as db_session:
        consult = consult_by_credential(db_session, "manage", credential)
        if consult is not None:
            _loaded = consult.provider.name, consult.patient.email  # before the session closes
            # The page speaks the booking's language, unless this person switched.
            g.booking_language = consult.language
    return (credential, consult) if consult else None


@bp.get("/manage")
def manage() -> Any:
    """The patient's booking: cancel it, or move it to another time."""
    found = _managed_consult()
    if found is None:
        return render_template(
            "error.html",
            title=_("Booking not found"),
            message=_("Open the manage link from your confirmation email."),
            show_resend=True,
        ), 404
    consult = found[1]
    today = utcnow().astimezone(CLINIC_TZ).date()
    errors: dict[str, str] = {}
    try:
        week, day = _days_asked(request.args, today)
    except InvalidDay as error:
        (week, day), errors = (None, None), error.errors
    context = _slot_page_context(str(consult.provider_id), week, day)
    outcome = outcome_of(current_clinic().db, consult.id)
    return render_template(
        "manage.html",
        consult=consult,
        outcome=outcome,
        treatment=_treatment(outcome),
        recommendation_labels=RECOMMENDATION_LABELS,
        changeable=can_change(consult, utcnow()),
        notice=request.args.get("done"),
        errors=errors,
        **context,
    ), (422 if errors else 200)


def _cancel_question(consult: Consult) -> str:
    """The page that asks before cancelling; it needs no script."""
    return render_template("cancel_confirm.html", consult=consult)


@bp.get("/manage/cancel")
def manage_cancel_ask() -> Any:
    """Ask "Cancel your consult on …?" before anything is cancelled."""
    found = _managed_consult()
    if found is None:
        abort(404)
    consult = found[1]
    if not can_change(consult, utcnow()):
        return redirect(url_for("booking.manage"), code=303)
    return _cancel_question(consult)


def _treatment(outcome: ConsultOutcome | None) -> TreatmentBooking | None:
    """How to book what the physiotherapist recommended, if anything is to be booked here."""
    if outcome is None:
        return None
    config = current_app.config
    return treatment_booking(
        config["TREATMENT_BOOKING_URL"], config["CLINIC_EMAIL"], outcome.recommendation
    )


@bp.post("/manage/cancel")
@booking_budget
def manage_cancel() -> Any:
    """Cancel the consult once the patient has said yes on the question page; the slot is
    free for someone else at once."""
    found = _managed_consult()
    if found is None:
        abort(404)
    credential, consult = found
    if request.form.get("confirm") != "yes":
        return _cancel_question(consult)
    try:
        cancel_booking(credential, consult)
    except BookingRefused as error:
        return render_template(
            "error.html", title=_("Cannot cancel"), message=error.message
        ), error.status
    return redirect(url_for("booking.manage", done="cancelled"), code=303)


@bp.post("/manage/reschedule")
@booking_budget
def manage_reschedule() -> Any:
    """Move the consult to a new slot of the same provider."""
    found = _managed_consult()
    if found is None:
        abort(404)
    credential, consult = found
    new_start = parse_start(_payload_from_form(request.form)["start"])
    if new_start is None:
        return _manage_again(consult, _("Choose a new time."), 422)
    try:
        move_booking(credential, consult, new_start)
    except BookingRefused as error:
        return _manage_again(consult, error.message, error.status)
    return redirect(url_for("booking.manage", done="moved"), code=303)


def _manage_again(consult: Consult, message: str, status: int) -> tuple[str, int]:
    context = _slot_page_context(str(consult.provider_id), None, None)
    page = render_template(
        "manage.html",
        consult=consult,
        changeable=True,
        notice=None,
        errors={"slot": message},
        **context,
    )
    return page, status
