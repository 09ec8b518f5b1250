"""Staff pages: login, the physiotherapist's day and the consult room."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from .. import audit
from ..booking import notices
from ..clinic import current_clinic
from ..consult import outcomes
from ..db import utcnow
from ..domain.availability import CLINIC_TZ, format_local, local_day_bounds
from ..errors import ApiError
from ..extensions import csrf, limiter, socketio
from ..models import RECOMMENDATION_LABELS, Consult, ConsultOutcome, ConsultStatus, StaffUser
from ..notify import messages
from ..sessions import Side
from .accounts import password_matches, staff_by_email
from .auth import (
    current_staff,
    end_staff_session,
    record_denied,
    role_required,
    start_staff_session,
)

bp = Blueprint("staff", __name__)


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _check_password(email: str, password: str) -> StaffUser | None:
    """The active staff user with these credentials; every attempt is audited."""
    clinic = current_clinic()
    with clinic.db.transaction() as db_session:
        user = staff_by_email(db_session, email)
        ok = password_matches(user.password_hash if user else None, password)
        if user is not None and ok and user.active:
            audit.record(db_session, f"staff:{user.id}", "staff.login")
            return user
        actor = f"staff:{user.id}" if user else "anonymous"
        audit.record(
            db_session,
            actor,
            "staff.login_failed",
            reason="disabled" if user and ok else "bad_credentials",
        )
    return None


@bp.route("/staff/login", methods=["GET"])
def login() -> Any:
    """The staff login form."""
    return render_template("staff/login.html", error=None, email="")


@bp.route("/staff/login", methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_submit() -> Any:
    """Check the password; a new session on success."""
    email = request.form.get("email", "").strip()
    user = _check_password(email, request.form.get("password", ""))
    if user is None:
        message = "That email and password do not match an active staff account."
        return render_template("staff/login.html", error=message, email=email), 401
    start_staff_session(user)
    target = request.args.get("next", "")
    safe = target.startswith("/") and not target.startswith("//")
    return redirect(target if safe else url_for("staff.dashboard"), code=303)


@bp.post("/api/v1/staff/session")
@csrf.exempt
@limiter.limit(_login_limit)
def api_login() -> Any:
    """Log in from a program (the probe): JSON email and password, session cookie back."""
    payload = request.get_json(silent=True) if request.is_json else None
    if not isinstance(payload, dict):
        raise ApiError(415, "unsupported_media_type", "Send JSON with email and password.")
    user = _check_password(str(payload.get("email", "")), str(payload.get("password", "")))
    if user is None:
        raise ApiError(401, "unauthorized", "Wrong email or password.")
    start_staff_session(user)
    return jsonify({"id": user.id, "name": user.name, "role": user.role})


@bp.post("/staff/logout")
def logout() -> Any:
    """End the staff session."""
    end_staff_session()
    return redirect(url_for("staff.login"), code=303)


def _todays_consults(provider_id: int | None) -> list[Consult]:
    today = utcnow().astimezone(CLINIC_TZ).date()
    start, _ = local_day_bounds(today)
    _, end = local_day_bounds(today + timedelta(days=7))
    query = (
        select(Consult)
        .where(
            Consult.starts_at >= start,
            Consult.starts_at < end,
            Consult.status != ConsultStatus.CANCELLED,
        )
        .order_by(Consult.starts_at)
    )
    if provider_id is not None:
        query = query.where(Consult.provider_id == provider_id)
    with current_clinic().db.sessions() as db_session:
        consults = list(db_session.scalars(query))
        for consult in consults:
            _ = consult.patient.name, consult.provider.name
    return consults


@bp.get("/staff")
@role_required("physiotherapist", "admin")
def dashboard() -> Any:
    """Today's and upcoming consults, with their live state."""
    staff = current_staff()
    assert staff is not None
    if staff.is_admin:
        return (
            redirect(url_for("admin.monitor"))
            if "admin.monitor" in current_app.view_functions
            else render_template(
                "staff/dashboard.html", consults=_todays_consults(None), live={}, staff=staff
            )
        )
    consults = _todays_consults(staff.provider_id)
    live = {c.id: current_clinic().live.get(c.id) for c in consults}
    return render_template(
        "staff/dashboard.html",
        consults=consults,
        live=live,
        staff=staff,
        now=utcnow(),
        with_outcome=_with_outcome([c.id for c in consults]),
    )


def _with_outcome(consult_ids: list[int]) -> set[int]:
    with current_clinic().db.sessions() as db_session:
        return set(
            db_session.scalars(
                select(ConsultOutcome.consult_id).where(ConsultOutcome.consult_id.in_(consult_ids))
            )
        )


def own_consult(consult_id: int) -> Consult:
    """A consult of the logged-in physiotherapist's own provider, or 404 (audited)."""
    staff = current_staff()
    assert staff is not None
    with current_clinic().db.sessions() as db_session:
        consult = db_session.get(Consult, consult_id)
        if consult is not None:
            _ = consult.patient.name, consult.provider.name
    if consult is None or consult.provider_id != staff.provider_id:
        record_denied(f"staff:{staff.id}", request.path, consult_id)
        abort(404)
    return consult


def short_name(full_name: str) -> str:
    """'Ann Lee' → 'Ann L.': enough to greet and confirm identity on screen."""
    parts = full_name.split()
    return f"{parts[0]} {parts[-1][0]}." if len(parts) > 1 else full_name


@bp.get("/staff/consults/<int:consult_id>")
@role_required("physiotherapist")
def consult_room(consult_id: int) -> Any:
    """The physiotherapist's side of one consult: waiting room, checklist, admit, call."""
    consult = own_consult(consult_id)
    return render_template(
        "consult/provider.html",
        consult_id=consult.id,
        patient_name=short_name(consult.patient.name),
        starts_at_label=format_local(consult.starts_at),
        outcome_url=url_for("staff.outcome", consult_id=consult.id),
    )


@bp.get("/staff/consults/<int:consult_id>/outcome")
@role_required("physiotherapist")
def outcome(consult_id: int) -> Any:
    """Where the physiotherapist lands when the call ends: the outcome form."""
    return _outcome_page(own_consult(consult_id), {}, {})


def _outcome_page(consult: Consult, form: Any, errors: dict[str, str], status: int = 200) -> Any:
    duration = None
    if consult.admitted_at and consult.ended_at:
        duration = max(1, round((consult.ended_at - consult.admitted_at).total_seconds() / 60))
    return render_template(
        "staff/outcome.html",
        consult=consult,
        duration=duration,
        patient_name=short_name(consult.patient.name),
        outcome=outcomes.outcome_of(current_clinic().db, consult.id),
        recommendations=RECOMMENDATION_LABELS,
        form=form,
        errors=errors,
        saved=request.args.get("saved"),
    ), status


@bp.post("/staff/consults/<int:consult_id>/outcome")
@role_required("physiotherapist")
def outcome_submit(consult_id: int) -> Any:
    """Save the recommendation and notes; the patient is emailed the recommendation once."""
    consult = own_consult(consult_id)
    staff = current_staff()
    assert staff is not None
    clinic = current_clinic()
    try:
        form = outcomes.parse_outcome(request.form)
        first_time = outcomes.save_outcome(clinic.db, consult.id, staff.id, form, utcnow())
    except outcomes.OutcomeRefused as error:
        errors = error.fields or {"recommendation": error.message}
        return _outcome_page(consult, request.form, errors, 422)
    if first_time and _email_recommendation(consult.id, form):
        outcomes.mark_emailed(clinic.db, consult.id, utcnow())
    return redirect(url_for("staff.outcome", consult_id=consult.id, saved=1), code=303)


def _email_recommendation(consult_id: int, form: outcomes.OutcomeForm) -> bool:
    clinic = current_clinic()
    link = outcomes.treatment_link(
        clinic.config["TREATMENT_BOOKING_URL"], clinic.config["CLINIC_EMAIL"], form.recommendation
    )
    label = RECOMMENDATION_LABELS[form.recommendation]

    def build(notice: messages.ConsultNotice) -> messages.EmailMessage:
        return messages.recommendation_summary(notice, label.lower(), link, form.message_to_patient)

    build.__name__ = "recommendation_summary"
    with clinic.db.sessions() as db_session:
        consult = db_session.get(Consult, consult_id)
        assert consult is not None
        return notices.send_notice(clinic, consult, request.url_root, build)


@bp.post("/staff/consults/<int:consult_id>/no-show")
@role_required("physiotherapist")
def mark_no_show(consult_id: int) -> Any:
    """The patient never came: close the consult as a patient no-show."""
    consult = own_consult(consult_id)
    staff = current_staff()
    assert staff is not None
    clinic = current_clinic()
    from ..signaling.rooms import close_as_no_show

    live = clinic.live.ensure(consult.id, consult.starts_at, consult.ends_at)
    if live.phase.is_terminal or not close_as_no_show(
        socketio, clinic, consult.id, Side.PATIENT, f"staff:{staff.id}", utcnow()
    ):
        return render_template(
            "error.html",
            title="Cannot mark a no-show",
            message="This consult has already started or ended.",
        ), 409
    return redirect(url_for("staff.dashboard"), code=303)
