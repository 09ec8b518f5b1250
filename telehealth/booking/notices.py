"""Emails about a consult: built from SQL rows, sent without ever failing a booking."""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import urlsplit

from ..clinic import Clinic
from ..consult.setup import setup_path
from ..i18n_format import speaking
from ..models import Consult
from ..notify.links import public_link
from ..notify.messages import ConsultNotice
from .service import consult_credentials

log = logging.getLogger(__name__)


def notice_for(clinic: Clinic, consult: Consult, root_url: str) -> ConsultNotice:
    """Everything an email about this consult may show, and nothing clinical.

    `root_url` (the request's root) is used only in development: see notify/links.py."""
    credentials = consult_credentials(clinic.config["SECRET_KEY"], consult)
    join_url = public_link(clinic.config, f"/join/{credentials.join}", root_url)
    host = urlsplit(join_url).hostname or "telehealth.local"
    return ConsultNotice(
        consult_id=consult.id,
        patient_name=consult.patient.name,
        patient_email=consult.patient.email,
        provider_name=consult.provider.name,
        start=consult.starts_at,
        end=consult.ends_at,
        join_url=join_url,
        manage_url=public_link(clinic.config, f"/manage/{credentials.manage}", root_url),
        clinic_name=clinic.config["CLINIC_NAME"],
        clinic_email=clinic.config["CLINIC_EMAIL"],
        clinic_phone=clinic.config["CLINIC_PHONE"],
        ics_uid=f"consult-{consult.id}@{host}",
        ics_sequence=consult.ics_sequence,
        lobby_opens_minutes=round(clinic.live.rules.lobby_opens.total_seconds() / 60),
        setup_url=public_link(clinic.config, setup_path(clinic, consult), root_url),
        language=consult.language,
    )


def send_notice(
    clinic: Clinic,
    consult: Consult,
    root_url: str,
    build: Callable[[ConsultNotice], EmailMessage],
) -> bool:
    """Send one email about a consult, in the language it was booked in (whichever browser
    or process sends it); a mail outage is logged, never raised."""
    try:
        notice = notice_for(clinic, consult, root_url)
        with speaking(notice.language):
            message = build(notice)
        clinic.mailer.send(message)
        return True
    except Exception:  # noqa: BLE001 - the booking stands even when mail is down
        log.exception("could not send %s for consult %s", build.__name__, consult.id)
        return False
