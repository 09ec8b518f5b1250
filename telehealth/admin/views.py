"""Admin pages: monitor, providers (hours, time off), consult settings, staff, audit log."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from .. import audit
from ..clinic import current_clinic
from ..domain.availability import CLINIC_TZ
from ..domain.text_rules import unclean_fields
from ..models import (
    COLLEGES,
    AuditEvent,
    ConsultSettings,
    Profession,
    Provider,
    StaffRole,
    StaffUser,
    TimeOff,
    WeeklyHours,
)
from ..staff import local_time
from ..staff.accounts import create_staff_user, hash_password
from ..staff.auth import current_staff, revoke_sessions_of, role_required
from ..staff.passwords import password_problem
from .audit_words import audit_lines
from .forms import (
    WEEKDAYS,
    FormErrors,
    not_allowed,
    parse_provider,
    parse_settings,
    parse_time_off,
    parse_weekly_hours,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")
AUDIT_PAGE = 200
# The colleges' names as stored (English) and as the page's language says them.
COLLEGE_NAMES = {
    COLLEGES[Profession.PHYSIOTHERAPIST]: _l("College of Physiotherapists of Ontario"),
    COLLEGES[Profession.MASSAGE_THERAPIST]: _l("College of Massage Therapists of Ontario"),
}


@bp.app_template_filter("staff_when")
def _staff_when(moment: datetime) -> str:
    """A day and time on staff and admin pages, in the page's language and Toronto time."""
    return local_time.when(moment)


def _actor() -> str:
    staff = current_staff()
    assert staff is not None
    return f"staff:{staff.id}"


@bp.get("")
@role_required("admin")
def monitor() -> Any:
    """Every room of today, live."""
    return render_template("admin/monitor.html", clinic_timezone=CLINIC_TZ.key)


# --- providers -----------------------------------------------------------------------


@bp.get("/providers")
@role_required("admin")
def providers() -> Any:
    """All providers, active or not."""
    with current_clinic().db.sessions() as session:
        rows = list(session.scalars(select(Provider).order_by(Provider.name)))
    return render_template("admin/providers.html", providers=rows, college_names=COLLEGE_NAMES)


def _provider_page(
    provider: Provider | None, errors: dict[str, str], form: Any, status: int = 200
) -> Any:
    return render_template(
        "admin/provider.html",
        provider=provider,
        errors=errors,
        form=form,
        weekdays=WEEKDAYS,
        professions=list(Profession),
    ), status


@bp.get("/providers/new")
@role_required("admin")
def new_provider() -> Any:
    return _provider_page(None, {}, {})


def _loaded_provider(provider_id: int) -> Provider:
    """A provider with its hours and time off loaded, or 404."""
    with current_clinic().db.sessions() as session:
        row = session.get(Provider, provider_id)
        if row is None:
            abort(404)
        _ = row.weekly_hours, row.time_off
    return row


@bp.get("/providers/<int:provider_id>")
@role_required("admin")
def provider(provider_id: int) -> Any:
    """A provider's credentials, weekly hours and time off."""
    return _provider_page(_loaded_provider(provider_id), {}, {})


@bp.post("/providers/new")
@bp.post("/providers/<int:provider_id>")
@role_required("admin")
def save_provider(provider_id: int | None = None) -> Any:
    """Create or update a provider's credentials (the college follows the profession)."""
    try:
        values = parse_provider(request.form)
    except FormErrors as error:
        return _provider_page(None, error.fields, request.form, 422)
    with current_clinic().db.transaction() as session:
        row = session.get(Provider, provider_id) if provider_id else Provider()
        if row is None:
            abort(404)
        if _email_taken_by_another(session, values["email"], provider_id):
            errors = {"email": _("Another provider already uses this email address.")}
            return _provider_page(row if provider_id else None, errors, request.form, 422)
        for key, value in values.items():
            setattr(row, key, value)
        row.college = COLLEGES[values["profession"]]
        row.offers_free_consult = values["profession"] == Profession.PHYSIOTHERAPIST
        session.add(row)
        session.flush()
        audit.record(session, _actor(), "admin.provider_saved", provider_id=row.id)
        saved_id = row.id
    return redirect(url_for("admin.provider", provider_id=saved_id), code=303)


def _email_taken_by_another(session: Any, email: str, provider_id: int | None) -> bool:
    """Provider emails are unique; say so on the form instead of failing on the constraint."""
    query = select(Provider.id).where(func.lower(Provider.email) == email)
    return any(found != provider_id for found in session.scalars(query))


@bp.post("/providers/<int:provider_id>/hours")
@role_required("admin")
def save_hours(provider_id: int) -> Any:
    """Replace the weekly hours (Toronto wall-clock times)."""
    try:
        hours = parse_weekly_hours(request.form)
    except FormErrors as error:
        return _provider_page(_loaded_provider(provider_id), error.fields, request.form, 422)
    with current_clinic().db.transaction() as session:
        row = session.get(Provider, provider_id)
        if row is None:
            abort(404)
        row.weekly_hours = [WeeklyHours(weekday=d, starts=s, ends=e) for d, s, e in hours]
        audit.record(session, _actor(), "admin.hours_saved", provider_id=provider_id)
    return redirect(url_for("admin.provider", provider_id=provider_id), code=303)


@bp.post("/providers/<int:provider_id>/time-off")
@role_required("admin")
def add_time_off(provider_id: int) -> Any:
    """Block a period (holidays, courses): no slots are offered inside it."""
    try:
        starts, ends, note = parse_time_off(request.form)
    except FormErrors as error:
        return _provider_page(_loaded_provider(provider_id), error.fields, request.form, 422)
    with current_clinic().db.transaction() as session:
        if session.get(Provider, provider_id) is None:
            abort(404)
        session.add(TimeOff(provider_id=provider_id, starts_at=starts, ends_at=ends, note=note))
        audit.record(session, _actor(), "admin.time_off_added", provider_id=provider_id)
    return redirect(url_for("admin.provider", provider_id=provider_id), code=303)


@bp.post("/providers/<int:provider_id>/time-off/<int:time_off_id>/delete")
@role_required("admin")
def remove_time_off(provider_id: int, time_off_id: int) -> Any:
    with current_clinic().db.transaction() as session:
        row = session.get(TimeOff, time_off_id)
        if row is None or row.provider_id != provider_id:
            abort(404)
        session.delete(row)
        audit.record(session, _actor(), "admin.time_off_removed", provider_id=provider_id)
    return redirect(url_for("admin.provider", provider_id=provider_id), code=303)


# --- consult settings ----------------------------------------------------------------


@bp.get("/settings")
@role_required("admin")
def settings() -> Any:
    with current_clinic().db.sessions() as session:
        row = session.get(ConsultSettings, 1) or ConsultSettings(
            length_minutes=20,
            buffer_minutes=10,
            minimum_notice_minutes=120,
            horizon_days=56,
            lobby_opens_minutes=10,
        )
    return render_template("admin/settings.html", settings=row, errors={}, form={})


@bp.post("/settings")
@role_required("admin")
def save_settings() -> Any:
    try:
        values = parse_settings(request.form)
    except FormErrors as error:
        return render_template(
            "admin/settings.html", settings=None, errors=error.fields, form=request.form
        ), 422
    with current_clinic().db.transaction() as session:
        row = session.get(ConsultSettings, 1) or ConsultSettings(id=1)
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
        audit.record(session, _actor(), "admin.settings_saved", **values)
    return redirect(url_for("admin.settings", saved=1), code=303)


# --- staff accounts ------------------------------------------------------------------


@bp.get("/staff")
@role_required("admin")
def staff() -> Any:
    with current_clinic().db.sessions() as session:
        users = list(session.scalars(select(StaffUser).order_by(StaffUser.name)))
        physios = list(
            session.scalars(
                select(Provider)
                .where(Provider.profession == Profession.PHYSIOTHERAPIST)
                .order_by(Provider.name)
            )
        )
    return render_template("admin/staff.html", users=users, physios=physios, errors={}, form={})


@bp.post("/staff")
@role_required("admin")
def add_staff() -> Any:
    """A new login; the admin passes the first password on, the person changes nothing else."""
    form = request.form
    errors: dict[str, str] = {}
    email, name = form.get("email", "").strip(), form.get("name", "").strip()
    password, role = form.get("password", ""), form.get("role", "")
    if "@" not in email:
        errors["email"] = _("Enter an email address.")
    if not name:
        errors["name"] = _("Enter a name.")
    password_error = password_problem(password)
    if password_error:
        errors["password"] = password_error
    if role not in ("physiotherapist", "admin"):
        errors["role"] = _("Choose a role.")
    errors.update(
        {field: not_allowed() for field in unclean_fields({"email": email, "name": name})}
    )
    clinic = current_clinic()
    if not errors:
        with clinic.db.transaction() as session:
            if session.scalars(select(StaffUser).where(StaffUser.email == email.lower())).first():
                errors["email"] = _("That email already has a login.")
            else:
                provider = session.get(Provider, int(form.get("provider_id") or 0))
                create_staff_user(
                    session,
                    email=email,
                    name=name,
                    password=password,
                    role=StaffRole(role),
                    provider=provider,
                    actor=_actor(),
                )
    if errors:
        with clinic.db.sessions() as session:
            users = list(session.scalars(select(StaffUser).order_by(StaffUser.name)))
            physios = list(session.scalars(select(Provider).order_by(Provider.name)))
        return render_template(
            "admin/staff.html", users=users, physios=physios, errors=errors, form=form
        ), 422
    return redirect(url_for("admin.staff"), code=303)


@bp.post("/staff/<int:user_id>/active")
@role_required("admin")
def set_staff_active(user_id: int) -> Any:
    """Disable or re-enable a login; a disabled one is cut from live calls within seconds."""
    active = request.form.get("active") == "yes"
    with current_clinic().db.transaction() as session:
        user = session.get(StaffUser, user_id)
        if user is None:
            abort(404)
        user.active = active
        audit.record(
            session,
            _actor(),
            "admin.staff_enabled" if active else "admin.staff_disabled",
            staff_id=user_id,
        )
    if not active:
        revoke_sessions_of(user_id)
    return redirect(url_for("admin.staff"), code=303)


@bp.post("/staff/<int:user_id>/reset-password")
@role_required("admin")
def reset_staff_password(user_id: int) -> Any:
    """A forgotten password: a one-time password to pass on; the person must choose their
    own at the next login, and every session they have now ends."""
    temporary = secrets.token_urlsafe(12)
    with current_clinic().db.transaction() as session:
        user = session.get(StaffUser, user_id)
        if user is None:
            abort(404)
        user.password_hash = hash_password(temporary)
        user.must_change_password = True
        name = user.name
        audit.record(session, _actor(), "admin.staff_password_reset", staff_id=user_id)
    revoke_sessions_of(user_id)
    return render_template("admin/staff_reset.html", name=name, temporary=temporary)


@bp.post("/staff/<int:user_id>/reset-totp")
@role_required("admin")
def reset_staff_totp(user_id: int) -> Any:
    """A lost phone: the old second factor stops working and the person enrols a new one
    at the next login; every session they have now ends."""
    with current_clinic().db.transaction() as session:
        user = session.get(StaffUser, user_id)
        if user is None:
            abort(404)
        user.totp_secret = None
        user.must_enrol_totp = True
        audit.record(session, _actor(), "admin.staff_totp_reset", staff_id=user_id)
    revoke_sessions_of(user_id)
    return redirect(url_for("admin.staff"), code=303)


# --- audit log -----------------------------------------------------------------------


def _audit_query(args: Any) -> Any:
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    actor = str(args.get("actor", "")).strip()
    if actor == "patient":  # public bookings say "patient", the join link "patient:<consult>"
        query = query.where(
            (AuditEvent.actor == "patient") | AuditEvent.actor.startswith("patient:")
        )
    elif actor:
        query = query.where(AuditEvent.actor == actor)
    if args.get("action"):
        query = query.where(AuditEvent.action.startswith(args["action"].strip()))
    if str(args.get("consult", "")).strip().isdigit():
        query = query.where(AuditEvent.consult_id == int(args["consult"]))
    for key, compare in (("since", AuditEvent.at.__ge__), ("until", AuditEvent.at.__lt__)):
        try:
            day = datetime.fromisoformat(args.get(key, "")).date()
        except ValueError:
            continue
        moment = datetime.combine(day + timedelta(days=key == "until"), time(), tzinfo=CLINIC_TZ)
        query = query.where(compare(moment))
    return query


def _record_view(what: str) -> None:
    with current_clinic().db.transaction() as session:
        audit.record(
            session,
            _actor(),
            "admin.audit_viewed",
            view=what,
            filters={k: v for k, v in request.args.items() if v},
        )


@bp.get("/audit")
@role_required("admin")
def audit_log() -> Any:
    """Who did what, when: filter by actor, action, consult and dates."""
    _record_view("page")
    with current_clinic().db.sessions() as session:
        events = list(session.scalars(_audit_query(request.args).limit(AUDIT_PAGE)))
        lines = audit_lines(session, events)
        staff = list(session.scalars(select(StaffUser).order_by(StaffUser.name)))
    return render_template(
        "admin/audit.html",
        lines=lines,
        staff=staff,
        filters=request.args,
        limit=AUDIT_PAGE,
    )


@bp.get("/audit.csv")
@role_required("admin")
def audit_csv() -> Any:
    """The filtered audit log as CSV."""
    _record_view("csv")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "action", "consult_id", "detail"])
    with current_clinic().db.sessions() as session:
        for event in session.scalars(_audit_query(request.args)):
            writer.writerow(
                [
                    event.id,
                    event.at.isoformat(),
                    event.actor,
                    event.action,
                    event.consult_id or "",
                    _csv_safe(str(event.detail or {})),
                ]
            )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=audit.csv"},
    )


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells that start with these as formulas."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
