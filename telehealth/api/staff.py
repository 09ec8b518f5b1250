"""Staff JSON routes under /api/v1/staff: a program's login (the probe), probe consults
and the day's consults that the dashboard keeps live."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_wtf.csrf import generate_csrf

from ..clinic import current_clinic
from ..db import utcnow
from ..errors import ApiError
from ..extensions import csrf, limiter
from ..staff.auth import current_staff, record_denied, role_required, start_staff_session
from ..staff.day import day_rows
from ..staff.login import audit_login, check_password, code_is_valid, login_limit, refusals_only
from ..staff.login_flow import ENROL, NEW_PASSWORD, PASSWORD, TOTP, next_step
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
        raise ApiError(401, "unauthorized", "Log in as clinic staff to see consults.")
    if staff.role not in ("physiotherapist", "admin"):
        record_denied(f"staff:{staff.id}", request.path)
        raise ApiError(403, "forbidden", "Your account cannot see consults.")
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
