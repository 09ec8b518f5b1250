"""Patient pages: the join link, the consult page and the thank-you page."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from .. import audit
from ..clinic import Clinic, current_clinic
from ..db import utcnow
from ..denied_access import client_tag, denied_access
from ..domain.availability import format_local
from ..extensions import limiter
from ..models import Consult, ConsultStatus
from .access import PatientPass, consult_for_credential, consult_for_pass

bp = Blueprint("consult", __name__)
PATIENT_SESSION_KEY = "patient"

LINK_NOT_ACTIVE = (
    "This link is not active right now. Consult links work from 10 minutes before your "
    "consult until 15 minutes after it ends. Check the time in your email, or call the clinic."
)


def _join_limit() -> str:
    return str(current_app.config["JOIN_RATE_LIMIT"])


def _link_not_active() -> tuple[str, int]:
    return render_template("error.html", title="Link not active", message=LINK_NOT_ACTIVE), 404


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


@bp.get("/join/<credential>")
@limiter.limit(_join_limit, deduct_when=lambda response: response.status_code == 404)
def join(credential: str) -> Any:
    """Swap the join credential for a session cookie and drop it from the address bar."""
    clinic = current_clinic()
    with clinic.db.sessions() as db_session:
        consult = consult_for_credential(db_session, credential, utcnow(), clinic.live.rules)
        patient_pass = PatientPass(consult.id, consult.join_hash) if consult else None
    if patient_pass is None:
        _note_guess(clinic)
        return _link_not_active()
    session[PATIENT_SESSION_KEY] = patient_pass.to_session()
    return redirect(url_for("consult.room"), code=303)


@bp.get("/consult")
def room() -> Any:
    """Check-in, waiting room and call, for the patient holding the session cookie."""
    patient_pass = PatientPass.from_session(session.get(PATIENT_SESSION_KEY))
    if patient_pass is None:
        return _link_not_active()
    clinic = current_clinic()
    with clinic.db.sessions() as db_session:
        consult = consult_for_pass(db_session, patient_pass, utcnow(), clinic.live.rules)
        if consult is None:
            return _why_not_open(db_session.get(Consult, patient_pass.consult_id), patient_pass)
        provider_name = consult.provider.name
    return render_template(
        "consult/patient.html",
        consult_id=consult.id,
        provider_name=provider_name,
        starts_at_label=format_local(consult.starts_at),
        thanks_url=url_for("consult.thanks"),
    )


def _why_not_open(consult: Consult | None, patient_pass: PatientPass) -> tuple[str, int]:
    """The patient's open page was sent here because the booking changed: say how."""
    if consult is None or consult.join_hash != patient_pass.join_hash:
        return _link_not_active()
    if consult.status == ConsultStatus.CANCELLED:
        return render_template(
            "error.html",
            title="Your consult was cancelled",
            message="This consult was cancelled, so its waiting room is closed. We've emailed "
            "you a confirmation. You can book another free consult from the clinic's home page.",
        ), 410
    opens = consult.starts_at - current_clinic().live.rules.lobby_opens
    if consult.status == ConsultStatus.BOOKED and utcnow() < opens:
        return render_template(
            "error.html",
            title="Your consult has a new time",
            message=f"Your consult is now on {format_local(consult.starts_at)}. Open the link "
            "in your email again from "
            f"{format_local(opens)}, when the waiting room opens.",
        ), 409
    return _link_not_active()


@bp.get("/consult/thanks")
def thanks() -> Any:
    """After the call: what happens next and how to book treatment."""
    return render_template(
        "consult/thanks.html",
        treatment_url=current_app.config["TREATMENT_BOOKING_URL"],
    )
