"""Patient pages: the join link, the consult page, the page before the waiting room opens,
the consult's ending and the rebooking of a consult the physiotherapist missed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis
from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from .. import audit
from ..booking import notices
from ..booking.flows import spend_mail_budget
from ..booking.service import (
    BookingRefused,
    FreeConsultUsed,
    consult_providers,
    open_slots,
    rebook_missed_consult,
)
from ..booking.views import (
    CONFIRMED_SESSION_KEY,
    InvalidDay,
    _days_asked,
    _slot_page_context,
    booking_budget,
)
from ..clinic import Clinic, current_clinic
from ..db import utcnow
from ..denied_access import client_tag, denied_access
from ..domain.availability import CLINIC_TZ
from ..domain.booking_rules import parse_start
from ..domain.endings import Ending
from ..extensions import limiter
from ..i18n_format import format_local
from ..models import Consult
from ..notify import messages
from ..sessions import join_window
from .access import PatientPass, consult_of_credential, consult_of_pass, join_is_open
from .endings import PatientEnding, ending_for, was_rescheduled

bp = Blueprint("consult", __name__)
PATIENT_SESSION_KEY = "patient"
REBOOK_TIMES_SHOWN = 3
REBOOK_DAYS_SEARCHED = 14

LINK_NOT_ACTIVE = _l(
    "This link is not active right now. Consult links work from 10 minutes before your "
    "consult until 15 minutes after it ends. Check the time in your email, or call the clinic."
)


def _join_limit() -> str:
    return str(current_app.config["JOIN_RATE_LIMIT"])


def _link_not_active() -> tuple[str, int]:
    return render_template("error.html", title=_("Link not active"), message=LINK_NOT_ACTIVE), 404


def _note_guess(clinic: Clinic) -> None:
    """A failed join is audited in the aggregate (one row per address and minute, with the
    count): a guesser must not be able to write one undeletable row per guess."""
    client = client_tag(clinic.config["SECRET_KEY"], request.remote_addr)
    try:
        denied_access(clinic).note(client, "anonymous", "join")
    except redis.RedisError:
        # Redis is down: the limiter's in-memory fallback still bounds these rows.
        with clinic.db.transaction() as db_session:
            audit.record(db_session, "anonymous", "access.denied", target="join", client=client)


@bp.app_template_global("rejoin_seconds")
def rejoin_seconds() -> int:
    """How long a person who left the call may come back to it (the clinic's policy)."""
    return int(current_clinic().live.rules.rejoin_window.total_seconds())


@bp.app_template_global("rejoin_minutes")
def rejoin_minutes() -> int:
    return _minutes(current_clinic().live.rules.rejoin_window)


@bp.get("/join/<credential>")
@limiter.limit(_join_limit, deduct_when=lambda response: response.status_code == 404)
def join(credential: str) -> Any:
    """Swap the join credential for a session cookie and drop it from the address bar.
    Any real credential is swapped, early or late: /consult then shows the waiting room,
    the time it opens, or the consult's ending."""
    clinic = current_clinic()
    with clinic.db.sessions() as db_session:
        consult = consult_of_credential(db_session, credential)
        patient_pass = PatientPass(consult.id, consult.join_hash) if consult else None
    if patient_pass is None:
        _note_guess(clinic)
        return _link_not_active()
    session[PATIENT_SESSION_KEY] = patient_pass.to_session()
    return redirect(url_for("consult.room"), code=303)


def _patient_pass() -> PatientPass | None:
    return PatientPass.from_session(session.get(PATIENT_SESSION_KEY))


@bp.get("/consult")
def room() -> Any:
    """Check-in, waiting room and call, for the patient holding the session cookie; before
    the waiting room opens, when it opens; after the end, the ending."""
    patient_pass = _patient_pass()
    if patient_pass is None:
        return _link_not_active()
    clinic, now = current_clinic(), utcnow()
    with clinic.db.sessions() as db_session:
        consult = consult_of_pass(db_session, patient_pass)
        if consult is None:
            return _link_not_active()
        if ending_for(clinic, db_session, consult) is not None:
            return redirect(url_for("consult.ended"), code=303)
        if not join_is_open(consult, now, clinic.live.rules):
            return _not_open(db_session, consult)
        provider_name = consult.provider.name
    return render_template(
        "consult/patient.html",
        consult_id=consult.id,
        provider_name=provider_name,
        starts_at_label=format_local(consult.starts_at),
        thanks_url=url_for("consult.ended"),
    )


def _not_open(db_session: Session, consult: Consult) -> tuple[str, int]:
    """Too early (the time, a countdown, then the waiting room by itself) or too late."""
    rules = current_clinic().live.rules
    opens, closes = join_window(consult.starts_at, consult.ends_at, rules)
    now = utcnow()
    if now < opens:
        return render_template(
            "consult/early.html",
            provider_name=consult.provider.name,
            starts_at=consult.starts_at,
            starts_at_label=format_local(consult.starts_at),
            opens_at=opens,
            opens_at_label=format_local(opens),
            server_now=now,
            moved=was_rescheduled(db_session, consult.id),
            lobby_minutes=_minutes(rules.lobby_opens),
        ), 200
    return render_template(
        "consult/too_late.html",
        starts_at_label=format_local(consult.starts_at),
        closed_minutes=_minutes(closes - consult.ends_at),
    ), 410


def _minutes(span: timedelta) -> int:
    return max(1, round(span.total_seconds() / 60))


# --- the ending ----------------------------------------------------------------------


def _ending_of_session() -> tuple[PatientEnding | None, bool]:
    """The ending of the session's consult, and whether the session holds a consult at all."""
    patient_pass = _patient_pass()
    if patient_pass is None:
        return None, False
    clinic = current_clinic()
    with clinic.db.sessions() as db_session:
        consult = consult_of_pass(db_session, patient_pass)
        if consult is None:
            return None, False
        return ending_for(clinic, db_session, consult), True


@bp.get("/consult/ended")
def ended() -> Any:
    """The consult is over: one honest page per reason, built from the server's records."""
    ending, known = _ending_of_session()
    if not known:
        return _link_not_active()
    if ending is None:
        return redirect(url_for("consult.room"), code=303)
    rules = current_clinic().live.rules
    return render_template(
        "consult/ended.html",
        ending=ending,
        kinds=Ending,
        starts_at_label=format_local(ending.starts_at),
        rebook_times=_next_free_times() if ending.kind is Ending.PROVIDER_ABSENT else [],
        rejoin_minutes=_minutes(rules.rejoin_window),
        no_show_minutes=_minutes(rules.no_show_after),
        treatment_url=current_app.config["TREATMENT_BOOKING_URL"],
    )


@bp.get("/consult/thanks")
def thanks() -> Any:
    """The old address of the ending (pages still open from before it moved)."""
    return redirect(url_for("consult.ended"), code=303)


def _next_free_times() -> list[dict[str, str]]:
    """The first few free times with any physiotherapist, for one-click rebooking."""
    clinic = current_clinic()
    now = utcnow()
    today = now.astimezone(CLINIC_TZ).date()
    last = today + timedelta(days=REBOOK_DAYS_SEARCHED)
    with clinic.db.sessions() as db_session:
        providers = consult_providers(db_session)
        names = {p.id: p.name for p in providers}
        slots = open_slots(db_session, providers, clinic.consult_rules(), today, last, now)
    times: list[dict[str, str]] = []
    seen: set[Any] = set()
    for slot in slots:
        if slot.start in seen:
            continue
        seen.add(slot.start)
        times.append(
            {
                "value": f"{slot.provider_id}|{slot.start.astimezone(CLINIC_TZ).isoformat()}",
                "label": format_local(slot.start),
                "provider_name": names.get(slot.provider_id, ""),
            }
        )
        if len(times) == REBOOK_TIMES_SHOWN:
            break
    return times


# --- rebooking a consult the physiotherapist missed ----------------------------------


def _missed_consult_id() -> int | None:
    """The session's consult, when the physiotherapist missed it (only then may its
    details book a new free consult)."""
    ending, _has_consult = _ending_of_session()
    return ending.consult_id if ending and ending.kind is Ending.PROVIDER_ABSENT else None


@bp.get("/consult/rebook")
def rebook() -> Any:
    """Pick a new time for the free consult the physiotherapist missed."""
    if _missed_consult_id() is None:
        return _not_rebookable()
    return _rebook_page({}, 200, request.args)


def _rebook_page(errors: dict[str, str], status: int, args: Any) -> tuple[str, int]:
    today = utcnow().astimezone(CLINIC_TZ).date()
    try:
        week, day = _days_asked(args, today)
    except InvalidDay as error:
        (week, day), errors = (None, None), {**errors, **error.errors}
    context = _slot_page_context(args.get("provider", "any"), week, day)
    if errors and status == 200:
        status = 422
    return render_template("consult/rebook.html", form=args, errors=errors, **context), status


def _not_rebookable() -> tuple[str, int]:
    return render_template(
        "error.html",
        title=_("This consult cannot be booked again here"),
        message=_(
            "Only a consult your physiotherapist missed can be booked again from its "
            "link. To book a free consult, use the booking page."
        ),
    ), 404


@bp.post("/consult/rebook")
@booking_budget
def rebook_submit() -> Any:
    """Book the chosen time with the missed consult's details, then confirm it."""
    missed_id = _missed_consult_id()
    if missed_id is None:
        return _not_rebookable()
    provider_part, _sep, start_part = request.form.get("slot", "").partition("|")
    start = parse_start(start_part)
    if start is None or not provider_part.isdigit():
        return _rebook_page({"slot": _("Choose one of the free times.")}, 422, request.form)
    clinic = current_clinic()
    try:
        with clinic.db.sessions() as db_session:
            missed = db_session.get(Consult, missed_id)
            assert missed is not None
            spend_mail_budget(missed.patient.email)
        booked = rebook_missed_consult(
            clinic.db,
            missed_id,
            int(provider_part),
            start,
            rules=clinic.consult_rules(),
            now=utcnow(),
            secret_key=clinic.config["SECRET_KEY"],
            consent_version=clinic.config["CONSENT_VERSION"],
            free_period=timedelta(days=clinic.config["FREE_CONSULTS_PER_PERIOD_DAYS"]),
        )
    except FreeConsultUsed:
        return render_template(
            "error.html",
            title=_("You already have a new consult"),
            message=_(
                "A new free consult is already booked with your details. Your email has "
                "its link and the link to change its time."
            ),
        ), 409
    except BookingRefused as error:
        return _rebook_page({"slot": error.message}, error.status, request.form)
    return _confirm(clinic, booked.consult.id, booked.credentials.join, booked.credentials.manage)


def _confirm(clinic: Clinic, consult_id: int, join: str, manage: str) -> Any:
    with clinic.db.sessions() as db_session:
        consult = db_session.get(Consult, consult_id)
        assert consult is not None
        notices.send_notice(clinic, consult, request.url_root, messages.booking_confirmation)
        session[CONFIRMED_SESSION_KEY] = {
            "provider_id": consult.provider_id,
            "start": consult.starts_at.isoformat(),
            "email": consult.patient.email,
            "join": join,
            "manage": manage,
        }
    return redirect(url_for("booking.confirmed"), code=303)
