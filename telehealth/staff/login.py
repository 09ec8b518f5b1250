"""The checks every staff login makes, whether from the login pages or the JSON API."""

from __future__ import annotations

from typing import Any

from flask import current_app

from .. import audit
from ..clinic import current_clinic
from ..models import StaffUser
from . import two_factor
from .accounts import password_matches, staff_by_email


def login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def refusals_only(response: Any) -> bool:
    """Only refusals count against the login budget: a busy clinic logging in is not a
    guessing attack."""
    return bool(response.status_code in (401, 422))


def audit_login(user: StaffUser | None, action: str, **detail: Any) -> None:
    with current_clinic().db.transaction() as db_session:
        audit.record(db_session, f"staff:{user.id}" if user else "anonymous", action, **detail)


def check_password(email: str, password: str) -> StaffUser | None:
    """The active account this email and password open, or None (audited either way)."""
    with current_clinic().db.sessions() as db_session:
        user = staff_by_email(db_session, email)
    ok = password_matches(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        reason = "disabled" if user and ok else "bad_credentials"
        audit_login(user, "staff.login_failed", reason=reason)
        return None
    return user


def code_is_valid(secret: str, code: str, user_id: int) -> bool:
    return two_factor.code_is_valid(secret, code, user_id, current_clinic().redis)


def load_staff_user(user_id: int) -> StaffUser | None:
    with current_clinic().db.sessions() as db_session:
        return db_session.get(StaffUser, user_id)
