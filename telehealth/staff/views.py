"""Staff pages: login, the physiotherapist's day and the consult room."""

from __future__ import annotations

import time
from dataclasses import dataclass
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
    session,
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
from . import two_factor
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


LOGIN_PENDING_KEY = "login_pending"
PENDING_SECONDS = 300


@dataclass(frozen=True)
class LoginStep:
    """The outcome of checking a password: in, a second factor needed, or refused."""

    user: StaffUser | None
    needs: str | None = None  # "totp" or "enrol"


def _audit_login(user: StaffUser | None, action: str, **detail: Any) -> None:
    with current_clinic().db.transaction() as db_session:
        audit.record(db_session, f"staff:{user.id}" if user else "anonymous", action, **detail)


def _check_password(email: str, password: str, totp_code: str = "") -> LoginStep:
    """Password, then TOTP where the account has it (admins must); every attempt is audited."""
    clinic = current_clinic()
    with clinic.db.sessions() as db_session:
        user = staff_by_email(db_session, email)
    ok = password_matches(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        reason = "disabled" if user and ok else "bad_credentials"
        _audit_login(user, "staff.login_failed", reason=reason)
        return LoginStep(None)
    if user.totp_secret:
        if not totp_code:
            return LoginStep(user, "totp")
        if not two_factor.code_is_valid(user.totp_secret, totp_code, user.id, clinic.redis):
            _audit_login(user, "staff.login_failed", reason="bad_totp")
            return LoginStep(None)
    elif user.role == "admin":
        return LoginStep(user, "enrol")
    _audit_login(user, "staff.login")
    return LoginStep(user)


def _pending_user() -> StaffUser | None:
    """The user who passed the password step in the last five minutes, if any."""
    pending = session.get(LOGIN_PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    with current_clinic().db.sessions() as db_session:
        user = db_session.get(StaffUser, pending.get("user_id"))
    return user if user is not None and user.active else None


def _finish_login(user: StaffUser) -> Any:
    target = session.pop("login_next", "") or ""
    start_staff_session(user)
    safe = target.startswith("/") and not target.startswith("//")
    return redirect(target if safe else url_for("staff.dashboard"), code=303)


@bp.route("/staff/login", methods=["GET"])
def login() -> Any:
    """The staff login form."""
    return render_template("staff/login.html", error=None, email="")


@bp.route("/staff/login", methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_submit() -> Any:
    """Check the password; then the second factor, or a new session."""
    email = request.form.get("email", "").strip()
    step = _check_password(email, request.form.get("password", ""))
    if step.user is None:
        message = "That email and password do not match an active staff account."
        return render_template("staff/login.html", error=message, email=email), 401
    if step.needs:
        session[LOGIN_PENDING_KEY] = {"user_id": step.user.id, "at": time.time()}
        session["login_next"] = request.args.get("next", "")
        if step.needs == "enrol":
            session["totp_enrolment"] = two_factor.new_secret()
            return redirect(url_for("staff.totp_setup"), code=303)
        return render_template("staff/login_totp.html", error=None)
    session["login_next"] = request.args.get("next", "")
    return _finish_login(step.user)


@bp.route("/staff/login/totp", methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_totp() -> Any:
    """The second step: the six-digit code from the authenticator app."""
    user = _pending_user()
    if user is None or not user.totp_secret:
        return redirect(url_for("staff.login"), code=303)
    clinic = current_clinic()
    if not two_factor.code_is_valid(
        user.totp_secret, request.form.get("code", ""), user.id, clinic.redis
    ):
        _audit_login(user, "staff.login_failed", reason="bad_totp")
        return render_template(
            "staff/login_totp.html", error="That code is not right. Try the newest one."
        ), 401
    _audit_login(user, "staff.login")
    return _finish_login(user)


def _enrolling_user() -> StaffUser | None:
    staff = current_staff()
    if staff is not None:
        with current_clinic().db.sessions() as db_session:
            return db_session.get(StaffUser, staff.id)
    return _pending_user()


@bp.route("/staff/totp/setup", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def totp_setup() -> Any:
    """Turn on two-step login: scan the QR code, then confirm with a code."""
    user = _enrolling_user()
    if user is None:
        return redirect(url_for("staff.login"), code=303)
    secret = session.get("totp_enrolment") or two_factor.new_secret()
    session["totp_enrolment"] = secret
    error = None
    if request.method == "POST":
        clinic = current_clinic()
        if two_factor.code_is_valid(secret, request.form.get("code", ""), user.id, clinic.redis):
            with clinic.db.transaction() as db_session:
                row = db_session.get(StaffUser, user.id)
                assert row is not None
                row.totp_secret = secret
                audit.record(db_session, f"staff:{user.id}", "staff.totp_enrolled")
            session.pop("totp_enrolment", None)
            if current_staff() is None:
                _audit_login(user, "staff.login")
            return _finish_login(user)
        error = "That code is not right. Check the time on your phone and try the newest code."
    uri = two_factor.provisioning_uri(secret, user.email, current_app.config["CLINIC_NAME"])
    return render_template(
        "staff/totp_setup.html", qr=two_factor.qr_data_uri(uri), secret=secret, error=error
    ), 401 if error else 200


@bp.post("/api/v1/staff/session")
@csrf.exempt
@limiter.limit(_login_limit)
def api_login() -> Any:
    """Log in from a program (the probe): JSON email, password (and totp), cookie back."""
    payload = request.get_json(silent=True) if request.is_json else None
    if not isinstance(payload, dict):
        raise ApiError(415, "unsupported_media_type", "Send JSON with email and password.")
    step = _check_password(
        str(payload.get("email", "")),
        str(payload.get("password", "")),
        str(payload.get("totp", "")),
    )
    if step.user is None:
        raise ApiError(401, "unauthorized", "Wrong email, password or code.")
    if step.needs == "totp":
        raise ApiError(401, "totp_required", "Send the six-digit code as 'totp'.")
    if step.needs == "enrol":
        raise ApiError(
            403, "totp_enrolment_required", "Turn on two-step login in the browser first."
        )
    start_staff_session(step.user)
    return jsonify({"id": step.user.id, "name": step.user.name, "role": step.user.role})


@bp.post("/api/v1/staff/probe-consults")
@csrf.exempt
@role_required("physiotherapist")
def create_probe() -> Any:
    """An instant probe consult with the caller's own provider (for `telehealth probe`)."""
    from ..consult.probes import create_probe_consult, probe_links

    staff = current_staff()
    assert staff is not None and staff.provider_id is not None
    clinic = current_clinic()
    booked = create_probe_consult(clinic, staff.provider_id, f"staff:{staff.id}")
    return jsonify(probe_links(clinic, booked, request.url_root)), 201


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
            Consult.is_probe.is_(False),
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
