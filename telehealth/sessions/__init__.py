"""Live consults: the waiting room, the call clock and who is connected."""

from .service import ConsultChanged, ConsultService
from .state import (
    ClockRules,
    ConsultPolicy,
    LiveConsult,
    Phase,
    Side,
    TransitionError,
    admit,
    cancel,
    check_in,
    due_warnings,
    end,
    is_overdue,
    join_window,
    mark_no_show,
    patient_no_show_due,
    provider_no_show_due,
    running_late,
    time_left,
)
from .store import LiveConsultStore, StoreBusy

__all__ = [
    "ClockRules",
    "ConsultChanged",
    "ConsultService",
    "ConsultPolicy",
    "LiveConsult",
    "LiveConsultStore",
    "Phase",
    "Side",
    "StoreBusy",
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
