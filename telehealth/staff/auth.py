"""Staff sessions with Flask-Login: who is logged in, and what their role lets them do."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, request, session
from flask_login import UserMixin, current_user, login_user, logout_user

from ..clinic import current_clinic
from ..extensions import login_manager
from ..models import StaffUser

F = TypeVar("F", bound=Callable[..., Any])


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


def _load_user(user_id: str) -> StaffSession | None:
    """A disabled account stops working at its next request or socket event."""
    with current_clinic().db.sessions() as db_session:
        user = db_session.get(StaffUser, int(user_id))
        if user is None or not user.active:
            return None
        return StaffSession(user)


def start_staff_session(user: StaffUser) -> None:
    """Log in with a fresh session (the old one, and any id it carried, is dropped)."""
    session.clear()
    session.permanent = True  # the idle timeout is PERMANENT_SESSION_LIFETIME
    session["staff_nonce"] = secrets.token_urlsafe(16)
    login_user(StaffSession(user))


def end_staff_session() -> None:
    logout_user()
    session.clear()


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
