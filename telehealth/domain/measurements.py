"""Range-of-motion measurements: what a physiotherapist may record, and how it reads.

Pure rules: the staff API, the outcome page and the session service share them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .wording import N_, NP_

MIN_DEGREES = 0
MAX_DEGREES = 180


class Joint(enum.StrEnum):
    SHOULDER = "shoulder"
    ELBOW = "elbow"
    WRIST = "wrist"
    HIP = "hip"
    KNEE = "knee"
    ANKLE = "ankle"
    NECK = "neck"
    BACK = "back"


class BodySide(enum.StrEnum):
    LEFT = "left"
    RIGHT = "right"
    NOT_APPLICABLE = "n/a"


class Movement(enum.StrEnum):
    FLEXION = "flexion"
    EXTENSION = "extension"
    ABDUCTION = "abduction"
    ADDUCTION = "adduction"
    INTERNAL_ROTATION = "internal_rotation"
    EXTERNAL_ROTATION = "external_rotation"
    OTHER = "other"


class MotionMode(enum.StrEnum):
    ACTIVE = "active"
    PASSIVE = "passive"


JOINT_LABELS = {
    Joint.SHOULDER: N_("Shoulder"),
    Joint.ELBOW: N_("Elbow"),
    Joint.WRIST: N_("Wrist"),
    Joint.HIP: N_("Hip"),
    Joint.KNEE: N_("Knee"),
    Joint.ANKLE: N_("Ankle"),
    Joint.NECK: N_("Neck"),
    Joint.BACK: N_("Back / trunk"),
}
SIDE_LABELS = {
    BodySide.LEFT: N_("Left"),
    BodySide.RIGHT: N_("Right"),
    BodySide.NOT_APPLICABLE: N_("Not applicable"),
}
MOVEMENT_LABELS = {
    Movement.FLEXION: N_("Flexion"),
    Movement.EXTENSION: N_("Extension"),
    Movement.ABDUCTION: N_("Abduction"),
    Movement.ADDUCTION: N_("Adduction"),
    Movement.INTERNAL_ROTATION: N_("Internal rotation"),
    Movement.EXTERNAL_ROTATION: N_("External rotation"),
    Movement.OTHER: N_("Other"),
}
# In French the range is feminine (amplitude active), a staff login's "Active" is not.
MODE_LABELS = {
    MotionMode.ACTIVE: NP_("range of motion", "Active"),
    MotionMode.PASSIVE: NP_("range of motion", "Passive"),
}

# What a person is told about each field when it is wrong.
# The codes in them are the API's values, the same in every language.
FIELD_HINTS = {
    "joint": N_("Choose the joint: shoulder, elbow, wrist, hip, knee, ankle, neck, back."),
    "side": N_("Choose the side: left, right or n/a."),
    "movement": N_(
        "Choose the movement: flexion, extension, abduction, adduction, internal_rotation, "
        "external_rotation, other."
    ),
    "mode": N_("Choose active or passive."),
    "degrees": N_("The angle is a whole number of degrees from 0 to 180."),
}

# How a measurement reads in a list ('knee, right, flexion, active, 93°'), word by word.
JOINT_WORDS = {
    Joint.SHOULDER: N_("shoulder"),
    Joint.ELBOW: N_("elbow"),
    Joint.WRIST: N_("wrist"),
    Joint.HIP: N_("hip"),
    Joint.KNEE: N_("knee"),
    Joint.ANKLE: N_("ankle"),
    Joint.NECK: N_("neck"),
    Joint.BACK: N_("back/trunk"),
}
SIDE_WORDS = {BodySide.LEFT: N_("left"), BodySide.RIGHT: N_("right")}
MOVEMENT_WORDS = {
    Movement.FLEXION: N_("flexion"),
    Movement.EXTENSION: N_("extension"),
    Movement.ABDUCTION: N_("abduction"),
    Movement.ADDUCTION: N_("adduction"),
    Movement.INTERNAL_ROTATION: N_("internal rotation"),
    Movement.EXTERNAL_ROTATION: N_("external rotation"),
    Movement.OTHER: N_("other"),
}
MODE_WORDS = {MotionMode.ACTIVE: N_("active"), MotionMode.PASSIVE: N_("passive")}
SUMMARY = N_("%(joint)s, %(side)s, %(movement)s, %(mode)s, %(degrees)s°")
SUMMARY_NO_SIDE = N_("%(joint)s, %(movement)s, %(mode)s, %(degrees)s°")


class MeasurementRefused(Exception):
    """Why a measurement cannot be recorded or changed; `code` is a stable word."""

    def __init__(self, code: str, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}


@dataclass(frozen=True)
class MeasurementForm:
    joint: Joint
    side: BodySide
    movement: Movement
    mode: MotionMode
    degrees: int


def _degrees(value: Any) -> int | None:
    """A whole number of degrees from a JSON number or a form's text; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and MIN_DEGREES <= value <= MAX_DEGREES:
        return value
    return None


def parse_measurement(data: Any) -> MeasurementForm:
    """The measurement's fields, or MeasurementRefused naming every field to fix."""
    if not hasattr(data, "get"):
        raise MeasurementRefused("invalid", N_("Send the measurement as an object."), {})
    wrong: dict[str, str] = {}
    kinds: dict[str, type[enum.StrEnum]] = {
        "joint": Joint,
        "side": BodySide,
        "movement": Movement,
        "mode": MotionMode,
    }
    values: dict[str, Any] = {}
    for name, kind in kinds.items():
        try:
            values[name] = kind(str(data.get(name, "")))
        except ValueError:
            wrong[name] = FIELD_HINTS[name]
    degrees = _degrees(data.get("degrees"))
    if degrees is None:
        wrong["degrees"] = FIELD_HINTS["degrees"]
    if wrong:
        raise MeasurementRefused("invalid", N_("Some measurement fields need fixing."), wrong)
    return MeasurementForm(degrees=degrees, **values)  # type: ignore[arg-type]


def _as_written(message: str) -> str:
    return message


def measurement_summary(
    joint: str,
    side: str,
    movement: str,
    mode: str,
    degrees: int,
    translate: Callable[[str], str] = _as_written,
) -> str:
    """'knee, right, flexion, active, 93°' (no side where it does not apply); `translate`
    (a gettext) gives it in the page's language, the English stays for the audit rows."""

    def word(table: dict[Any, str], code: str) -> str:
        found = table.get(code)
        return translate(found) if found else code.replace("_", " ")

    values = {
        "joint": word(JOINT_WORDS, joint),
        "side": word(SIDE_WORDS, side),
        "movement": word(MOVEMENT_WORDS, movement),
        "mode": word(MODE_WORDS, mode),
        "degrees": degrees,
    }
    pattern = SUMMARY_NO_SIDE if side == BodySide.NOT_APPLICABLE else SUMMARY
    return translate(pattern) % values
