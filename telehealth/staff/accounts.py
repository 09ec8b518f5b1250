"""Staff accounts: argon2 password hashes and the users who log in."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..models import Provider, StaffRole, StaffUser
from .passwords import password_problem

_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown email as slow as a real one.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Constant-effort check: an unknown user costs as much as a wrong password."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def create_staff_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    role: StaffRole,
    provider: Provider | None = None,
    actor: str = "system",
    allow_weak: bool = False,
) -> StaffUser:
    """Add a staff login; its password is stored only as an argon2 hash. The password rule
    applies everywhere except the demo logins (`allow_weak`, demo mode only)."""
    problem = None if allow_weak else password_problem(password)
    if problem:
        raise ValueError(problem)
    user = StaffUser(
        email=email.strip().lower(),
        name=name,
        password_hash=hash_password(password),
        role=role,
        provider_id=provider.id if provider else None,
        active=True,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "staff.created", staff_id=user.id, role=str(role))
    return user


def staff_by_email(session: Session, email: str) -> StaffUser | None:
    return session.scalars(
        select(StaffUser).where(StaffUser.email == email.strip().lower())
    ).first()
