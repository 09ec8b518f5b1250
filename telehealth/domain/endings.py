"""How a consult ended, as the patient must be told it: one kind per honest story."""

from __future__ import annotations

from enum import StrEnum


class Ending(StrEnum):
    """Why a patient's consult is over."""

    COMPLETED = "completed"  # they met; by either person or the clock
    PROVIDER_ABSENT = "provider_absent"  # the physiotherapist never came, or left for good
    CLINIC_ENDED = "clinic_ended"  # an admin closed the room
    CANCELLED = "cancelled"
    PATIENT_NO_SHOW = "patient_no_show"
    LEFT_WAITING_ROOM = "left_waiting_room"  # the patient ended it before being let in


def ending_of(
    status: str, ended_by: str | None, reason: str | None, admitted: bool
) -> Ending | None:
    """The ending of a consult from its lasting status, who ended it, the service's reason
    (e.g. provider_left) and whether the patient was ever let in; None while it is booked."""
    if status == "cancelled":
        return Ending.CANCELLED
    if status == "no_show_patient":
        return Ending.PATIENT_NO_SHOW
    if status == "no_show_provider" or reason in ("provider_left", "no_show_provider"):
        return Ending.PROVIDER_ABSENT
    if status != "completed":
        return None
    if ended_by == "admin":
        return Ending.CLINIC_ENDED
    if not admitted:
        # Ended before anyone was let in: by the patient, or the clinic's side closed it.
        return Ending.LEFT_WAITING_ROOM if ended_by == "patient" else Ending.PROVIDER_ABSENT
    return Ending.COMPLETED
