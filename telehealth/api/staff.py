"""Staff JSON routes under /api/v1/staff: a program's login (the probe), probe consults,
the day's consults that the dashboard keeps live, and a consult's joint-angle measurements."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from ..clinic import current_clinic
from ..db import utcnow
from ..domain.measurements import MeasurementRefused, parse_measurement
from ..errors import ApiError
from ..extensions import csrf, limiter
from ..models import Consult, StaffUser
from ..staff.auth import current_staff, record_denied, role_required, start_staff_session
from ..staff.day import day_rows
from ..staff.login import audit_login, check_password, code_is_valid, login_limit, refusals_only
from ..staff.login_flow import ENROL, NEW_PASSWORD, PASSWORD, TOTP, next_step
from ..staff.words import measurement_words
from .views import bp


@bp.post("/staff/session")
@limiter.limit(login_limit, deduct_when=refusals_only)
def api_login() -> Any:
    """Log in from a program (the probe): JSON email, password (and totp), cookie back,
    with the CSRF token its later POSTs must carry."""
    payload = request.get_json(silent=True) if request.is_json else None
    if not isinstance(payload, dict):
        raise ApiError(415, "unsupported_media_type", "Send JSON with email and password.")
    user = check_password(str(payload.get("email", "")), str(payload.get("password", "")))
    if user is None:
        raise ApiError(401, "unauthorized", "Wrong email, password or code.")
    done: tuple[str, ...] = (PASSWORD,)
    if next_step(user, done) == TOTP:
        code = str(payload.get("totp", ""))
        if not code:
            raise ApiError(401, "totp_required", "Send the six-digit code as 'totp'.")
        if not code_is_valid(str(user.totp_secret), code, user.id):
            audit_login(user, "staff.login_failed", reason="bad_totp")
            raise ApiError(401, "unauthorized", "Wrong email, password or code.")
        done = (*done, TOTP)
    step = next_step(user, done)
    if step == ENROL:
        raise ApiError(
            403, "totp_enrolment_required", "Turn on two-step login in the browser first."
        )
    if step == NEW_PASSWORD:
        raise ApiError(403, "password_change_required", "Choose a new password in the browser.")
    audit_login(user, "staff.login")
    start_staff_session(user)
    return jsonify(
        {"id": user.id, "name": user.name, "role": user.role, "csrf_token": generate_csrf()}
    )


@bp.post("/staff/probe-consults")
@role_required("physiotherapist")
def create_probe() -> Any:
    """An instant probe consult with the caller's own provider (for `telehealth probe`).
    Cookie-authenticated, so it needs the CSRF token (`X-CSRFToken`) like any form."""
    from ..consult.probes import create_probe_consult, probe_links

    csrf.protect()  # this blueprint is JSON-only and exempt; a cookie alone is not enough
    staff = current_staff()
    assert staff is not None and staff.provider_id is not None
    clinic = current_clinic()
    booked = create_probe_consult(clinic, staff.provider_id, f"staff:{staff.id}")
    return jsonify(probe_links(clinic, booked, request.url_root)), 201


@bp.get("/staff/day")
def staff_day() -> Any:
    """The logged-in physiotherapist's consults of today and the next days (everyone's for
    an admin), with their live state: the dashboard polls this. 401 without a staff login."""
    staff = current_staff()
    if staff is None:
        raise ApiError(401, "unauthorized", _("Log in as clinic staff to see consults."))
    if staff.role not in ("physiotherapist", "admin"):
        record_denied(f"staff:{staff.id}", request.path)
        raise ApiError(403, "forbidden", _("Your account cannot see consults."))
    now = utcnow()
    provider_id = None if staff.is_admin else staff.provider_id
    rows = day_rows(current_clinic(), provider_id, staff.provider_id, now)
    response = jsonify(
        {
            "server_time": now.isoformat(),
            "timezone": "America/Toronto",
            "consults": [row.to_json() for row in rows],
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# -- range-of-motion measurements (the virtual goniometer) ---------------------------------


def _own_consult_staff(consult_id: int) -> StaffUser:
    """The logged-in physiotherapist of this consult's provider; 401 without a staff login,
    403 for another role, 404 (audited) for someone else's consult or none."""
    staff = current_staff()
    if staff is None:
        raise ApiError(401, "unauthorized", _("Log in as the consult's physiotherapist."))
    if staff.role != "physiotherapist":
        record_denied(f"staff:{staff.id}", request.path, consult_id)
        raise ApiError(403, "forbidden", _("Only the consult's physiotherapist can do this."))
    with current_clinic().db.sessions() as db_session:
        consult = db_session.get(Consult, consult_id)
        provider_id = consult.provider_id if consult is not None else None
    if provider_id is None or provider_id != staff.provider_id:
        record_denied(f"staff:{staff.id}", request.path, consult_id)
        raise ApiError(404, "not_found", _("There is no such consult among yours."))
    return staff


def _refused(error: MeasurementRefused) -> ApiError:
    """The refusal in the page's language (the domain writes English, marked for the catalog)."""
    status = {"invalid": 400, "not_found": 404, "wrong_phase": 409}.get(error.code, 400)
    fields = {name: _(hint) for name, hint in error.fields.items()}
    return ApiError(status, error.code, _(error.message), fields)


def _in_words(measurement: dict[str, Any]) -> dict[str, Any]:
    """The measurement's JSON with its summary in the page's language."""
    return {**measurement, "summary": measurement_words(measurement)}


@bp.get("/staff/consults/<int:consult_id>/measurements")
def list_measurements(consult_id: int) -> Any:
    """The consult's range-of-motion measurements, oldest first."""
    _own_consult_staff(consult_id)
    rows = current_clinic().consults.measurements(consult_id)
    response = jsonify({"measurements": [_in_words(row.to_json()) for row in rows]})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/staff/consults/<int:consult_id>/measurements")
def save_measurement(consult_id: int) -> Any:
    """Save one joint angle: JSON joint, side, movement, mode, degrees (0-180)."""
    csrf.protect()  # cookie-authenticated: the page's token in X-CSRFToken
    staff = _own_consult_staff(consult_id)
    payload = request.get_json(silent=True) if request.is_json else None
    if not isinstance(payload, dict):
        raise ApiError(415, "unsupported_media_type", _("Send the measurement as JSON."))
    try:
        form = parse_measurement(payload)
        saved = current_clinic().consults.record_measurement(consult_id, staff.id, form, utcnow())
    except MeasurementRefused as error:
        raise _refused(error) from None
    return jsonify(_in_words(saved)), 201


@bp.delete("/staff/consults/<int:consult_id>/measurements/<int:measurement_id>")
def delete_measurement(consult_id: int, measurement_id: int) -> Any:
    """Take one measurement out of the consult's record."""
    csrf.protect()
    staff = _own_consult_staff(consult_id)
    service = current_clinic().consults
    try:
        service.delete_measurement(consult_id, measurement_id, staff.id, utcnow())
    except MeasurementRefused as error:
        raise _refused(error) from None
    deleted = service.measurement(consult_id, measurement_id)
    summary = measurement_words(deleted) if deleted is not None else ""
    return jsonify({"deleted": measurement_id, "summary": summary})
