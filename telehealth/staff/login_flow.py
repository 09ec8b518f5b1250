"""The staff login as a sequence of steps, in plain Python.

A login is complete only when every step this person owes has been done, in order, for
the same person, within a few minutes of the password. Each page of the login asks
`next_step` whether it is the step due now; nothing else lets a half-logged-in session on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

PASSWORD = "password"  # noqa: S105 - the name of a step
TOTP = "totp"
ENROL = "enrol"
NEW_PASSWORD = "new_password"  # noqa: S105 - the name of a step
PENDING_SECONDS = 300.0


class LoginSubject(Protocol):
    role: str
    totp_secret: str | None
    must_enrol_totp: bool
    must_change_password: bool


def steps_owed(user: LoginSubject) -> list[str]:
    """Password, then the second factor (or enrolling one), then a new password if reset."""
    steps = [PASSWORD]
    if user.totp_secret and not user.must_enrol_totp:
        steps.append(TOTP)
    elif user.role == "admin" or user.must_enrol_totp:
        steps.append(ENROL)
    if user.must_change_password:
        steps.append(NEW_PASSWORD)
    return steps


@dataclass(frozen=True)
class PendingLogin:
    """What the server remembers between the steps of one login."""

    user_id: int
    started_at: float
    done: tuple[str, ...] = field(default=(PASSWORD,))

    def to_session(self) -> dict[str, object]:
        return {"user_id": self.user_id, "at": self.started_at, "done": list(self.done)}

    @classmethod
    def from_session(cls, value: object) -> PendingLogin | None:
        if not isinstance(value, dict):
            return None
        user_id, at, done = value.get("user_id"), value.get("at"), value.get("done")
        if not isinstance(user_id, int) or not isinstance(at, int | float):
            return None
        if not isinstance(done, list) or not all(isinstance(step, str) for step in done):
            return None
        return cls(user_id, float(at), tuple(done))

    def is_fresh(self, now: float) -> bool:
        return 0 <= now - self.started_at <= PENDING_SECONDS

    def with_done(self, step: str) -> PendingLogin:
        return PendingLogin(self.user_id, self.started_at, (*self.done, step))


def next_step(user: LoginSubject, done: tuple[str, ...]) -> str | None:
    """The step due now, or None when the login is complete. Steps done out of order, or
    steps this person does not owe, mean the login is broken: start again at the password."""
    owed = steps_owed(user)
    if tuple(owed[: len(done)]) != done:
        return PASSWORD
    return owed[len(done)] if len(done) < len(owed) else None
