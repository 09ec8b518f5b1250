"""The live consult: waiting room, call clock and no-show rules, with no I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "ENDERS",
    "LATE_MINUTES",
    "ClockRules",
    "ConsultPolicy",
    "LiveConsult",
    "Phase",
    "Side",
    "TransitionError",
    "admit",
    "cancel",
    "check_in",
    "due_warnings",
    "end",
    "is_overdue",
    "join_window",
    "mark_no_show",
    "patient_no_show_due",
    "provider_no_show_due",
    "running_late",
    "time_left",
]


class Phase(StrEnum):
    """Where a consult is in its day: booked, in the waiting room, on the call, or over."""

    SCHEDULED = "scheduled"
    WAITING = "waiting"
    IN_CALL = "in_call"
    ENDED = "ended"
    NO_SHOW_PATIENT = "no_show_patient"
    NO_SHOW_PROVIDER = "no_show_provider"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True once nothing more can happen to the consult."""
        return self in _TERMINAL


_TERMINAL = frozenset({Phase.ENDED, Phase.NO_SHOW_PATIENT, Phase.NO_SHOW_PROVIDER, Phase.CANCELLED})


class Side(StrEnum):
    """The two people on a consult."""

    PATIENT = "patient"
    PROVIDER = "provider"


# Who may hang up a consult: either person, the server's clock, or clinic staff.
ENDERS = frozenset({"patient", "provider", "clock", "admin"})
# The physiotherapist can only announce these delays, so patients see a short, honest wait.
LATE_MINUTES = frozenset({5, 10, 15})


@dataclass(frozen=True)
class ConsultPolicy:
    """The clinic's rules for a live consult, in one place. The defaults here are the only
    ones; telehealth/sessions/policy.py builds the clinic's from the admin's settings."""

    # None: the call lasts as long as the booked slot (the admin's consult length).
    length: timedelta | None = None
    warnings: tuple[timedelta, ...] = (timedelta(minutes=5), timedelta(minutes=1))
    grace: timedelta = timedelta(seconds=5)
    lobby_opens: timedelta = timedelta(minutes=10)
    rejoin_window: timedelta = timedelta(minutes=2)
    no_show_after: timedelta = timedelta(minutes=10)
    join_valid_after_end: timedelta = timedelta(minutes=15)

    def call_length(self, c: LiveConsult) -> timedelta:
        """A full consult from admission, however late it started."""
        return self.length or (c.ends_at_booked - c.starts_at)


# The name the rest of the code grew up with; one class, one set of defaults.
ClockRules = ConsultPolicy


@dataclass(frozen=True)
class LiveConsult:
    """A booked consult as it happens: who is waiting, whether the call runs, when it ends."""

    consult_id: int
    phase: Phase
    starts_at: datetime
    ends_at_booked: datetime
    checked_in_at: datetime | None = None
    admitted_at: datetime | None = None
    call_ends_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    running_late_minutes: int | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the consult has ended, been cancelled or been marked a no-show."""
        return self.phase.is_terminal


class TransitionError(Exception):
    """A consult cannot move as asked; `code` is stable for clients, `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _refuse_if_over(c: LiveConsult) -> None:
    if c.is_terminal:
        raise TransitionError("already_ended", f"consult {c.consult_id} is {c.phase}")


def join_window(
    starts_at: datetime, ends_at: datetime, rules: ClockRules
) -> tuple[datetime, datetime]:
    """The span in which a join link for this booking is honoured."""
    return starts_at - rules.lobby_opens, ends_at + rules.join_valid_after_end


def check_in(c: LiveConsult, now: datetime, rules: ClockRules) -> LiveConsult:
    """Put the patient in the waiting room; repeat check-ins change nothing."""
    _refuse_if_over(c)
    if c.phase in (Phase.WAITING, Phase.IN_CALL):
        return c
    opens, closes = join_window(c.starts_at, c.ends_at_booked, rules)
    if now < opens:
        raise TransitionError("not_open_yet", f"the waiting room opens at {opens.isoformat()}")
    if now > closes:
        raise TransitionError("lobby_closed", f"the waiting room closed at {closes.isoformat()}")
    return replace(c, phase=Phase.WAITING, checked_in_at=now)


def admit(c: LiveConsult, now: datetime, rules: ClockRules) -> LiveConsult:
    """Bring the waiting patient into the call and start its clock."""
    _refuse_if_over(c)
    if c.phase is Phase.IN_CALL:
        raise TransitionError("already_admitted", f"consult {c.consult_id} is already in call")
    if c.phase is not Phase.WAITING:
        raise TransitionError("not_waiting", "the patient has not checked in yet")
    return replace(c, phase=Phase.IN_CALL, admitted_at=now, call_ends_at=now + rules.call_length(c))


def end(c: LiveConsult, now: datetime, by: str) -> LiveConsult:
    """Close the waiting room or hang up the call, recording who ended it."""
    if by not in ENDERS:
        raise ValueError(f"unknown ender {by!r}; expected one of {sorted(ENDERS)}")
    _refuse_if_over(c)
    if c.phase not in (Phase.WAITING, Phase.IN_CALL):
        raise TransitionError("not_waiting", "nobody has checked in; cancel the consult instead")
    return replace(c, phase=Phase.ENDED, ended_at=now, ended_by=by)


def mark_no_show(c: LiveConsult, side: Side, now: datetime) -> LiveConsult:
    """Record that one side never turned up; callers gate this with the *_no_show_due rules."""
    _refuse_if_over(c)
    if c.phase is Phase.IN_CALL:
        raise TransitionError("already_admitted", "both sides met; end the call instead")
    if side is Side.PATIENT:
        # A patient who checked in and then left the waiting room can still be a no-show.
        if now < c.starts_at:
            raise TransitionError("too_early", "the consult has not started yet")
        return replace(c, phase=Phase.NO_SHOW_PATIENT, ended_at=now)
    if c.phase is not Phase.WAITING:
        # Without a patient in the waiting room nobody was kept waiting by the provider.
        raise TransitionError("not_waiting", "the patient has not checked in")
    return replace(c, phase=Phase.NO_SHOW_PROVIDER, ended_at=now)


def cancel(c: LiveConsult) -> LiveConsult:
    """Call the consult off before it starts."""
    _refuse_if_over(c)
    if c.phase is Phase.IN_CALL:
        raise TransitionError("already_admitted", "the call is running; end it instead")
    return replace(c, phase=Phase.CANCELLED)


def running_late(c: LiveConsult, minutes: int) -> LiveConsult:
    """Tell the waiting patient the physiotherapist is 5, 10 or 15 minutes behind."""
    if minutes not in LATE_MINUTES:
        raise TransitionError("bad_delay", f"running late must be one of {sorted(LATE_MINUTES)}")
    _refuse_if_over(c)
    if c.phase is Phase.IN_CALL:
        raise TransitionError("already_admitted", "the patient has already been admitted")
    return replace(c, running_late_minutes=minutes)


def time_left(c: LiveConsult, now: datetime) -> timedelta | None:
    """Time left on the call clock, never negative; None when no call is running."""
    if c.phase is not Phase.IN_CALL or c.call_ends_at is None:
        return None
    return max(c.call_ends_at - now, timedelta(0))


def due_warnings(
    c: LiveConsult, now: datetime, rules: ClockRules, already_sent: set[int]
) -> list[int]:
    """Seconds-left warnings to announce now (at most one), skipping any already sent."""
    if c.phase is not Phase.IN_CALL or c.call_ends_at is None or now >= c.call_ends_at:
        return []
    passed = [int(w.total_seconds()) for w in rules.warnings if now >= c.call_ends_at - w]
    if not passed:
        return []
    # A late tick announces only the nearest warning: "5 minutes left" with 30 s to go misleads.
    nearest = min(passed)
    return [] if nearest in already_sent else [nearest]


def is_overdue(c: LiveConsult, now: datetime, rules: ClockRules) -> bool:
    """True once the call has run past its end plus the grace the clock allows."""
    if c.phase is not Phase.IN_CALL or c.call_ends_at is None:
        return False
    return now >= c.call_ends_at + rules.grace


def patient_no_show_due(c: LiveConsult, now: datetime, rules: ClockRules) -> bool:
    """True when the patient has not checked in well after the booked start."""
    return c.phase is Phase.SCHEDULED and now >= c.starts_at + rules.no_show_after


def provider_no_show_due(c: LiveConsult, now: datetime, rules: ClockRules) -> bool:
    """True when a checked-in patient has waited too long without being admitted."""
    if c.phase is not Phase.WAITING or c.checked_in_at is None:
        return False
    # Early check-ins wait for the booked start, and an announced delay extends the patience.
    waiting_from = max(c.checked_in_at, c.starts_at)
    delay = timedelta(minutes=c.running_late_minutes or 0)
    return now >= waiting_from + rules.no_show_after + delay
