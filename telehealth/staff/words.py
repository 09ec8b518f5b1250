"""Stored values as staff read them, in the page's language: the recommended service, a
consult's lasting status and who ended it. The English words match models.py's labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from ..domain.measurements import measurement_summary
from ..models import ConsultMeasurement, ConsultStatus, Recommendation

RECOMMENDATIONS = {
    Recommendation.PHYSIOTHERAPY: _l("Physiotherapy"),
    Recommendation.MASSAGE_THERAPY: _l("Massage therapy"),
    Recommendation.BOTH: _l("Physiotherapy and massage therapy"),
    Recommendation.REFERRAL: _l("Referral elsewhere"),
    Recommendation.NONE: _l("No treatment needed"),
}
STATUSES = {
    ConsultStatus.BOOKED: _l("Booked"),
    ConsultStatus.CANCELLED: _l("Cancelled"),
    ConsultStatus.COMPLETED: _l("Completed"),
    ConsultStatus.NO_SHOW_PATIENT: _l("No show patient"),
    ConsultStatus.NO_SHOW_PROVIDER: _l("No show provider"),
}
ENDED_BY = {
    "patient": _l("patient"),
    "provider": _l("provider"),
    "admin": _l("admin"),
    "clock": _l("clock"),
}


def status_label(status: str) -> str:
    label = STATUSES.get(ConsultStatus(status)) if status in set(ConsultStatus) else None
    return str(label) if label else status.replace("_", " ").capitalize()


def ended_by_label(ended_by: str) -> str:
    return str(ENDED_BY[ended_by]) if ended_by in ENDED_BY else ended_by


def measurement_words(measurement: ConsultMeasurement | Mapping[str, Any]) -> str:
    """'knee, right, flexion, active, 93°' in the page's language (a row or its JSON)."""
    fields = measurement if isinstance(measurement, Mapping) else measurement.to_json()
    return measurement_summary(
        str(fields["joint"]),
        str(fields["side"]),
        str(fields["movement"]),
        str(fields["mode"]),
        int(fields["degrees"]),
        translate=gettext,
    )
