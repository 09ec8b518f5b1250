"""Staff sessions with Flask-Login: who is logged in, and what their role lets them do.

Sessions live on the server (telehealth/web_sessions.py), each row marked with its staff
member, so that logout, a password change, a reset or disabling the account can delete
them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, request, session
from flask_login import UserMixin, current_user, login_user, logout_user

from .. import web_sessions
from ..clinic import current_clinic
from ..extensions import login_manager
from ..models import StaffUser

F = TypeVar("F", bound=Callable[..., Any])
LAST_SEEN_KEY = "staff_seen"


class StaffSession(UserMixin):
    """The logged-in staff member, detached from any SQL session."""

    def __init__(self, user: StaffUser) -> None:
        self.id = user.id
        self.email = user.email
        self.name = user.name
        self.role = user.role
        self.provider_id = user.provider_id

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_physiotherapist(self) -> bool:
        return self.role == "physiotherapist"


def staff_session_of(user: StaffUser | None) -> StaffSession | None:
    """Who may act as staff: a known, active account whose password is its own. A disabled
    account stops working at its next request or socket connect."""
    if user is None or not user.active or user.must_change_password:
        return None
    return StaffSession(user)


def _load_user(user_id: str) -> StaffSession | None:
    with current_clinic().db.sessions() as db_session:
        return staff_session_of(db_session.get(StaffUser, int(user_id)))


def staff_id_in_session() -> int | None:
    """The staff id this browser session was logged in with, its account not yet checked:
    a socket's connect checks it (`staff_session_of`) with the consult it loads."""
    raw = session.get("_user_id")
    return int(raw) if isinstance(raw, str | int) and str(raw).isdigit() else None


def start_staff_session(user: StaffUser) -> None:
    """Log in with a fresh session id (the old one, and anything it carried, is dropped)."""
    web_sessions.renew_session_id()
    session.clear()
    session[LAST_SEEN_KEY] = time.time()
    login_user(StaffSession(user))


def end_staff_session() -> None:
    """Log out: the session is deleted on the server, not just forgotten by this browser."""
    staff = current_staff()
    logout_user()
    session.clear()
    if staff is not None:
        web_sessions.delete_session(current_clinic().db, web_sessions.current_session_id())


def revoke_sessions_of(user_id: int, keep_current: bool = False) -> int:
    """End every session of this staff member (a password change keeps the one making it)."""
    keep = web_sessions.current_session_id() if keep_current else ""
    return web_sessions.revoke_staff_sessions(current_clinic().db, user_id, keep)


def _end_idle_staff_session() -> None:
    """A staff session with no request for STAFF_IDLE_SECONDS is over."""
    if "_user_id" not in session:
        return
    now = time.time()
    seen = session.get(LAST_SEEN_KEY)
    idle_limit = float(current_app.config["STAFF_IDLE_SECONDS"])
    if not isinstance(seen, int | float) or now - seen > idle_limit:
        logout_user()
        session.clear()
    elif now - seen > 30:  # refreshing it on every request would rewrite it needlessly
        session[LAST_SEEN_KEY] = now


def current_staff() -> StaffSession | None:
    user = cast(Any, current_user)
    return user if getattr(user, "is_authenticated", False) else None


def role_required(*roles: str) -> Callable[[F], F]:
    """Refuse anyone who is not logged in with one of `roles` (and audit the refusal)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                return login_manager.unauthorized()
            if staff.role not in roles:
                record_denied(f"staff:{staff.id}", request.path)
                abort(403)
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate


def record_denied(actor: str, what: str, consult_id: int | None = None) -> None:
    from .. import audit

    with current_clinic().db.transaction() as db_session:
        audit.record(db_session, actor, "access.denied", consult_id, target=what)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(_load_user)
    login_manager.login_view = "staff.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.session_protection = "basic"
    app.before_request(_end_idle_staff_session)
