"""How slots and times read to a patient in the clinic's time zone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from ..domain.availability import CLINIC_TZ, Slot
from ..domain.wording import N_
from ..i18n_format import format_clock, format_day

# Stored in English on each provider's row; the French directory names them in French.
COLLEGE_NAMES = (
    N_("College of Physiotherapists of Ontario"),
    N_("College of Massage Therapists of Ontario"),
)


def clock_time(moment: datetime) -> str:
    """'9:00 a.m. EST' ('9 h 00 HNE'): Toronto time, with the zone (which changes with the
    season), in the request's language."""
    return format_clock(moment)


def day_heading(day: date) -> str:
    """'Monday, March 15' ('lundi 15 mars')."""
    return format_day(day)


def slot_value(slot: Slot) -> str:
    """The form value of a slot: provider and start, unambiguous across DST."""
    return f"{slot.provider_id}|{slot.start.astimezone(CLINIC_TZ).isoformat()}"


@dataclass(frozen=True)
class SlotChoice:
    value: str
    time: str
    provider_name: str


@dataclass(frozen=True)
class DayOfSlots:
    day: date
    heading: str
    choices: list[SlotChoice]


def group_by_day(
    slots: Iterable[Slot], provider_names: dict[int, str], one_per_time: bool
) -> list[DayOfSlots]:
    """Slots grouped into local days; with `one_per_time`, the first provider free at each time."""
    days: dict[date, list[SlotChoice]] = {}
    seen: set[datetime] = set()
    for slot in sorted(slots, key=lambda s: (s.start, provider_names.get(s.provider_id, ""))):
        if one_per_time and slot.start in seen:
            continue
        seen.add(slot.start)
        day = slot.start.astimezone(CLINIC_TZ).date()
        choice = SlotChoice(
            slot_value(slot), clock_time(slot.start), provider_names.get(slot.provider_id, "")
        )
        days.setdefault(day, []).append(choice)
    return [DayOfSlots(day, day_heading(day), choices) for day, choices in sorted(days.items())]
