"""Range-of-motion measurements: what a physiotherapist may record, and how it reads.

Pure rules: the staff API, the outcome page and the session service share them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

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
    Joint.SHOULDER: "Shoulder",
    Joint.ELBOW: "Elbow",
    Joint.WRIST: "Wrist",
    Joint.HIP: "Hip",
    Joint.KNEE: "Knee",
    Joint.ANKLE: "Ankle",
    Joint.NECK: "Neck",
    Joint.BACK: "Back / trunk",
}
SIDE_LABELS = {
    BodySide.LEFT: "Left",
    BodySide.RIGHT: "Right",
    BodySide.NOT_APPLICABLE: "Not applicable",
}
MOVEMENT_LABELS = {
    Movement.FLEXION: "Flexion",
    Movement.EXTENSION: "Extension",
    Movement.ABDUCTION: "Abduction",
    Movement.ADDUCTION: "Adduction",
    Movement.INTERNAL_ROTATION: "Internal rotation",
    Movement.EXTERNAL_ROTATION: "External rotation",
    Movement.OTHER: "Other",
}
MODE_LABELS = {MotionMode.ACTIVE: "Active", MotionMode.PASSIVE: "Passive"}

# What a person is told about each field when it is wrong.
FIELD_HINTS = {
    "joint": "Choose the joint: " + ", ".join(Joint) + ".",
    "side": "Choose the side: left, right or n/a.",
    "movement": "Choose the movement: " + ", ".join(Movement) + ".",
    "mode": "Choose active or passive.",
    "degrees": f"The angle is a whole number of degrees from {MIN_DEGREES} to {MAX_DEGREES}.",
}


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
        raise MeasurementRefused("invalid", "Send the measurement as an object.", {})
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
        raise MeasurementRefused("invalid", "Some measurement fields need fixing.", wrong)
    return MeasurementForm(degrees=degrees, **values)  # type: ignore[arg-type]


def measurement_summary(joint: str, side: str, movement: str, mode: str, degrees: int) -> str:
    """'knee, right, flexion, active, 93°' (no side where it does not apply)."""
    parts = ["back/trunk" if joint == Joint.BACK else joint]
    if side != BodySide.NOT_APPLICABLE:
        parts.append(side)
    parts += [movement.replace("_", " "), mode, f"{degrees}°"]
    return ", ".join(parts)
