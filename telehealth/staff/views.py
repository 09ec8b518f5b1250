"""Staff pages: login, the physiotherapist's day and the consult room."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.exceptions import HTTPException

from .. import audit
from ..booking import notices
from ..booking.service import BookingRefused
from ..clinic import current_clinic
from ..consult import outcomes
from ..db import utcnow
from ..domain.booking_rules import InvalidBooking
from ..domain.measurements import MeasurementRefused
from ..domain.names import short_name
from ..extensions import limiter
from ..models import Consult, StaffUser
from ..notify import messages
from ..sessions import Side, TransitionError
from . import caller_booking, day, local_time, two_factor
from .accounts import hash_password, password_matches
from .auth import (
    current_staff,
    end_staff_session,
    record_denied,
    revoke_sessions_of,
    role_required,
    start_staff_session,
)
from .login import (
    audit_login,
    check_password,
    code_is_valid,
    load_staff_user,
    login_limit,
    refusals_only,
)
from .login_flow import ENROL, NEW_PASSWORD, PASSWORD, TOTP, PendingLogin, next_step
from .passwords import password_problem
from .words import RECOMMENDATIONS, ended_by_label, measurement_words, status_label

bp = Blueprint("staff", __name__)

LOGIN_PENDING_KEY = "login_pending"
ENROLMENT_KEY = "totp_enrolment"
NEXT_KEY = "login_next"


def _pending_login(step: str) -> tuple[StaffUser, PendingLogin] | None:
    """The half-done login whose due step is `step`: same person, password minutes ago."""
    pending = PendingLogin.from_session(session.get(LOGIN_PENDING_KEY))
    if pending is None or not pending.is_fresh(time.time()):
        return None
    user = load_staff_user(pending.user_id)
    if user is None or not user.active or next_step(user, pending.done) != step:
        return None
    return user, pending


def _safe_next(target: str) -> str:
    """Only a path of one of our own staff or admin pages; anything else goes to the
    dashboard (a tab, newline or backslash is how `/\\t/evil` becomes `//evil`)."""
    if not target.startswith("/") or any(ch in target for ch in "\\\t\r\n") or "//" in target:
        return ""
    path = target.split("?", 1)[0]
    try:
        endpoint, _ = current_app.url_map.bind("localhost").match(path, method="GET")
    except HTTPException:
        return ""
    return target if str(endpoint).startswith(("staff.", "admin.")) else ""


def _continue_login(user: StaffUser, pending: PendingLogin) -> Any:
    """Send the person to the step due now, or in when none is left."""
    step = next_step(user, pending.done)
    session[LOGIN_PENDING_KEY] = pending.to_session()
    if step == TOTP:
        return render_template("staff/login_totp.html", error=None)
    if step == ENROL:
        session[ENROLMENT_KEY] = {"user_id": user.id, "secret": two_factor.new_secret()}
        return redirect(url_for("staff.totp_setup"), code=303)
    if step == NEW_PASSWORD:
        return redirect(url_for("staff.password_new"), code=303)
    if step == PASSWORD:
        session.pop(LOGIN_PENDING_KEY, None)
        return redirect(url_for("staff.login"), code=303)
    return _finish_login(user)


def _finish_login(user: StaffUser) -> Any:
    target = _safe_next(str(session.get(NEXT_KEY) or ""))
    audit_login(user, "staff.login")
    start_staff_session(user)
    return redirect(target or url_for("staff.dashboard"), code=303)


@bp.route("/staff/login", methods=["GET"])
def login() -> Any:
    """The staff login form."""
    return render_template("staff/login.html", error=None, email="")


@bp.route("/staff/login", methods=["POST"])
@limiter.limit(login_limit, methods=["POST"], deduct_when=refusals_only)
def login_submit() -> Any:
    """Check the password; then whatever step this person owes next."""
    email = request.form.get("email", "").strip()
    user = check_password(email, request.form.get("password", ""))
    if user is None:
        message = _("That email and password do not match an active staff account.")
        return render_template("staff/login.html", error=message, email=email), 401
    for key in (LOGIN_PENDING_KEY, ENROLMENT_KEY):  # a new login starts from nothing
        session.pop(key, None)
    session[NEXT_KEY] = _safe_next(request.args.get("next", ""))
    return _continue_login(user, PendingLogin(user.id, time.time()))


@bp.route("/staff/login/totp", methods=["POST"])
@limiter.limit(login_limit, methods=["POST"], deduct_when=refusals_only)
def login_totp() -> Any:
    """The second step: the six-digit code from the authenticator app."""
    found = _pending_login(TOTP)
    if found is None:
        return redirect(url_for("staff.login"), code=303)
    user, pending = found
    assert user.totp_secret is not None
    if not code_is_valid(user.totp_secret, request.form.get("code", ""), user.id):
        audit_login(user, "staff.login_failed", reason="bad_totp")
        return render_template(
            "staff/login_totp.html", error=_("That code is not right. Try the newest one.")
        ), 401
    return _continue_login(user, pending.with_done(TOTP))


def _enrolment_secret(user_id: int) -> str:
    """The secret shown for this person's enrolment, kept until it is confirmed."""
    held = session.get(ENROLMENT_KEY)
    if isinstance(held, dict) and held.get("user_id") == user_id and held.get("secret"):
        return str(held["secret"])
    secret = two_factor.new_secret()
    session[ENROLMENT_KEY] = {"user_id": user_id, "secret": secret}
    return secret


def _save_totp_secret(user_id: int, secret: str, action: str) -> None:
    with current_clinic().db.transaction() as db_session:
        row = db_session.get(StaffUser, user_id)
        assert row is not None
        row.totp_secret = secret
        row.must_enrol_totp = False
        audit.record(db_session, f"staff:{user_id}", action)


@bp.route("/staff/totp/setup", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"], deduct_when=refusals_only)
def totp_setup() -> Any:
    """Turn on two-step login: scan the QR code, then confirm with a code. During a login
    only for someone who has no second factor (or whose admin reset it); a logged-in person
    replacing theirs must also give a current code from the old one."""
    staff = current_staff()
    pending: PendingLogin | None = None
    if staff is not None:
        user = load_staff_user(staff.id)
    else:
        found = _pending_login(ENROL)
        if found is None:
            return redirect(url_for("staff.login"), code=303)
        user, pending = found
    assert user is not None
    replacing = pending is None and bool(user.totp_secret)
    secret = _enrolment_secret(user.id)
    error = None
    if request.method == "POST":
        old_ok = not replacing or code_is_valid(
            str(user.totp_secret), request.form.get("current_code", ""), user.id
        )
        if old_ok and code_is_valid(secret, request.form.get("code", ""), user.id):
            action = "staff.totp_replaced" if replacing else "staff.totp_enrolled"
            _save_totp_secret(user.id, secret, action)
            session.pop(ENROLMENT_KEY, None)
            if pending is not None:
                return _continue_login(user, pending.with_done(ENROL))
            return redirect(url_for("staff.dashboard"), code=303)
        audit_login(user, "staff.totp_enrolment_failed")
        error = _("That code is not right. Check the time on your phone and try the newest code.")
    uri = two_factor.provisioning_uri(secret, user.email, current_app.config["CLINIC_NAME"])
    return render_template(
        "staff/totp_setup.html",
        qr=two_factor.qr_data_uri(uri),
        secret=secret,
        error=error,
        replacing=replacing,
    ), 401 if error else 200


def _set_password(user_id: int, password: str, actor: str) -> None:
    with current_clinic().db.transaction() as db_session:
        row = db_session.get(StaffUser, user_id)
        assert row is not None
        row.password_hash = hash_password(password)
        row.must_change_password = False
        audit.record(db_session, actor, "staff.password_changed", staff_id=user_id)


@bp.route("/staff/password/new", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"], deduct_when=refusals_only)
def password_new() -> Any:
    """After an admin's reset: the person chooses their own password before getting in."""
    found = _pending_login(NEW_PASSWORD)
    if found is None:
        return redirect(url_for("staff.login"), code=303)
    user, pending = found
    error = None
    if request.method == "POST":
        new = request.form.get("new_password", "")
        error = password_problem(new)
        if error is None:
            _set_password(user.id, new, f"staff:{user.id}")
            revoke_sessions_of(user.id)
            refreshed = load_staff_user(user.id)
            assert refreshed is not None
            return _continue_login(refreshed, pending)
    return render_template("staff/password.html", error=error, needs_current=False), (
        422 if error else 200
    )


@bp.route("/staff/password", methods=["GET", "POST"])
@role_required("physiotherapist", "admin")
@limiter.limit(login_limit, methods=["POST"], deduct_when=refusals_only)
def password_change() -> Any:
    """Change one's own password; every other session of this person ends."""
    staff = current_staff()
    assert staff is not None
    error = None
    if request.method == "POST":
        user = load_staff_user(staff.id)
        assert user is not None
        new = request.form.get("new_password", "")
        if not password_matches(user.password_hash, request.form.get("current_password", "")):
            error = _("Your current password is not right.")
            audit_login(user, "staff.password_change_failed")
        else:
            error = password_problem(new)
        if error is None:
            _set_password(user.id, new, f"staff:{user.id}")
            revoke_sessions_of(user.id, keep_current=True)
            return redirect(url_for("staff.dashboard"), code=303)
    return render_template("staff/password.html", error=error, needs_current=True), (
        422 if error else 200
    )


@bp.post("/staff/logout")
def logout() -> Any:
    """End the staff session, on the server."""
    end_staff_session()
    return redirect(url_for("staff.login"), code=303)


@bp.get("/staff")
@role_required("physiotherapist", "admin")
def dashboard() -> Any:
    """Today's and upcoming consults, with their live state (kept live by the page)."""
    staff = current_staff()
    assert staff is not None
    if staff.is_admin and "admin.monitor" in current_app.view_functions:
        return redirect(url_for("admin.monitor"))
    provider_id = None if staff.is_admin else staff.provider_id
    return render_template(
        "staff/dashboard.html",
        rows=day.day_rows(current_clinic(), provider_id, staff.provider_id, utcnow()),
        staff=staff,
        feed_url=url_for("api.staff_day"),
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


@bp.get("/staff/consults/<int:consult_id>")
@role_required("physiotherapist")
def consult_room(consult_id: int) -> Any:
    """The physiotherapist's side of one consult: the patient beside the waiting room,
    checklist, admit and call."""
    consult = own_consult(consult_id)
    policy = current_clinic().consults.policy
    return render_template(
        "consult/provider.html",
        consult=consult,
        consult_id=consult.id,
        patient_name=consult.patient.name,
        patient_phone=readable_phone(consult.patient.phone),
        patient_phone_href=_tel(consult.patient.phone),
        starts_at_label=local_time.when(consult.starts_at),
        consented_label=local_time.when(consult.consented_at),
        starts_at_iso=_iso(consult.starts_at),
        no_show_at_iso=_iso(consult.starts_at + policy.no_show_after),
        server_now_iso=_iso(utcnow()),
        no_show_from_label=day.clock(consult.starts_at + policy.no_show_after),
        outcome_url=url_for("staff.outcome", consult_id=consult.id),
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def readable_phone(phone: str) -> str:
    """905-555-0123 for a North American number; anything else as it was given."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return phone


def _tel(phone: str) -> str:
    """A dialable tel: address: digits and a leading plus only."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"tel:{'+' if phone.strip().startswith('+') else ''}{digits}"


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
        recommendations=RECOMMENDATIONS,
        status_label=status_label(consult.status),
        ended_by_label=ended_by_label(consult.ended_by or ""),
        form=form,
        errors=errors,
        saved=request.args.get("saved"),
        measurements=current_clinic().consults.measurements(consult.id),
        measurement_change=_measurement_change(consult.id),
        measurement_words=measurement_words,
    ), status


def _measurement_change(consult_id: int) -> dict[str, Any] | None:
    """What the last delete or undo on the outcome page did, to say so (and offer undo)."""
    for kind in ("deleted", "restored"):
        raw = request.args.get(kind, "")
        found = (
            current_clinic().consults.measurement(consult_id, int(raw)) if raw.isdigit() else None
        )
        if found is not None:
            return {"kind": kind, "id": found.id, "summary": measurement_words(found)}
    return None


@bp.post("/staff/consults/<int:consult_id>/measurements/<int:measurement_id>/delete")
@role_required("physiotherapist")
def delete_measurement(consult_id: int, measurement_id: int) -> Any:
    """Take a measurement out of the record; the page then offers to undo it."""
    return _change_measurement(consult_id, measurement_id, "deleted")


@bp.post("/staff/consults/<int:consult_id>/measurements/<int:measurement_id>/restore")
@role_required("physiotherapist")
def restore_measurement(consult_id: int, measurement_id: int) -> Any:
    """Undo a deletion."""
    return _change_measurement(consult_id, measurement_id, "restored")


def _change_measurement(consult_id: int, measurement_id: int, kind: str) -> Any:
    consult = own_consult(consult_id)
    staff = current_staff()
    assert staff is not None
    service = current_clinic().consults
    try:
        if kind == "deleted":
            service.delete_measurement(consult.id, measurement_id, staff.id, utcnow())
        else:
            service.restore_measurement(consult.id, measurement_id, staff.id)
    except MeasurementRefused:
        abort(404)
    values: dict[str, Any] = {kind: measurement_id}
    target = url_for(
        "staff.outcome", consult_id=consult.id, _anchor="measurements-heading", **values
    )
    return redirect(target, code=303)


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

    def build(notice: messages.ConsultNotice) -> messages.EmailMessage:
        # Built in the booking's language, the booking link's words too.
        link = outcomes.treatment_link(
            clinic.config["TREATMENT_BOOKING_URL"],
            clinic.config["CLINIC_EMAIL"],
            form.recommendation,
        )
        return messages.recommendation_summary(
            notice, str(form.recommendation), link, has_note=bool(form.message_to_patient.strip())
        )

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
    try:
        clinic.consults.open_room(consult.id, consult.starts_at, consult.ends_at)
        clinic.consults.mark_no_show(
            consult.id, Side.PATIENT, f"staff:{staff.id}", utcnow(), by="provider"
        )
    except TransitionError as refusal:
        message = _("This consult has already started or ended.")
        if refusal.code == "too_early":
            wait = clinic.consults.policy.no_show_after
            message = ngettext(
                "The patient has %(num)d minute to arrive: you can mark a no-show from %(time)s.",
                "The patient has %(num)d minutes to arrive: you can mark a no-show from %(time)s.",
                round(wait.total_seconds() / 60),
                time=local_time.when(consult.starts_at + wait),
            )
        back = url_for("staff.consult_room", consult_id=consult.id)
        return render_template(
            "staff/error.html",
            title=_("Cannot mark a no-show"),
            message=message,
            back_url=back,
            back_label=_("Back to the consult"),
        ), 409
    return redirect(url_for("staff.dashboard"), code=303)


# --- booking for a caller -------------------------------------------------------------

CALLER_BOOKED_KEY = "caller_booked"


def _caller_page(form: Any, errors: dict[str, str], status: int = 200) -> Any:
    staff = current_staff()
    assert staff is not None
    now = utcnow()
    today = now.astimezone(day.CLINIC_TZ).date()
    default_provider = str(staff.provider_id) if staff.provider_id else "any"
    context = caller_booking.slot_page(
        current_clinic(),
        str(form.get("provider") or default_provider),
        caller_booking.day_param(form.get("week"), today),
        caller_booking.day_param(form.get("day"), today),
        now,
    )
    return render_template("staff/book.html", form=form, errors=errors, **context), status


@bp.get("/staff/book")
@role_required("physiotherapist", "admin")
def book_for_caller() -> Any:
    """Book a free consult for someone on the phone: provider, time, their details."""
    return _caller_page(request.args, {})


@bp.post("/staff/book")
@role_required("physiotherapist", "admin")
def book_for_caller_submit() -> Any:
    """Book under the public rules; on a problem, the form again with what to change."""
    staff = current_staff()
    assert staff is not None
    clinic = current_clinic()
    try:
        booked = caller_booking.book_for_caller(
            clinic, request.form, staff.id, request.url_root, utcnow()
        )
    except InvalidBooking as error:
        return _caller_page(request.form, caller_booking.form_errors(error.fields), 422)
    except caller_booking.FreeConsultUsed as used:
        name = request.form.get("name", "").strip() or _("This caller")
        days = int(clinic.config["FREE_CONSULTS_PER_PERIOD_DAYS"])
        message = caller_booking.free_consult_used_message(name, days)
        return _caller_page(request.form, {"email": message}, used.status)
    except BookingRefused as error:
        field = {"slot_taken": "slot", "unknown_provider": "slot"}.get(error.code, "email")
        return _caller_page(request.form, {field: error.message}, error.status)
    session[CALLER_BOOKED_KEY] = {
        "consult_id": booked.consult_id,
        "provider_name": booked.provider_name,
        "starts_at": booked.starts_at.isoformat(),
        "patient_name": booked.patient_name,
        "patient_email": booked.patient_email,
        "emailed": booked.emailed,
        "own": booked.provider_id == staff.provider_id,
    }
    return redirect(url_for("staff.caller_booked"), code=303)


@bp.get("/staff/book/done")
@role_required("physiotherapist", "admin")
def caller_booked() -> Any:
    """What was just booked for the caller, and what they receive."""
    done = session.get(CALLER_BOOKED_KEY)
    if not isinstance(done, dict) or "consult_id" not in done:
        return redirect(url_for("staff.book_for_caller"), code=303)
    return render_template(
        "staff/booked.html",
        booked=done,
        starts_at_label=local_time.when(datetime.fromisoformat(done["starts_at"])),
    )
