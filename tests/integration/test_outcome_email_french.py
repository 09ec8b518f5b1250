"""The recommendation of a consult booked in French: its email names the recommended service
in French whatever the physiotherapist's page speaks, and the patient's request to book it
is written in French too. The email is read from a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

from telehealth.models import Consult
from tests.integration.test_treatment_booking import (
    _ended_consult,
    _manage_page,
    _recommend,
    _seeded,
)
from tests.smtp import Inbox, smtp_server
from tests.waiting import wait_until


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, str]]:
    with smtp_server() as served:
        yield served


def _in_french(clinic: Any, consult: Any) -> None:
    with clinic.db.transaction() as session:
        session.get(Consult, consult.id).language = "fr"


def test_a_french_booking_reads_its_recommendation_in_french(app_factory, mail):
    inbox, smtp_url = mail
    app = app_factory(SMTP_URL=smtp_url, TREATMENT_BOOKING_URL="")
    clinic = _seeded(app)
    consult = _ended_consult(clinic)
    _in_french(clinic, consult)
    _recommend(app, consult.id, "both")  # from the physiotherapist's English page

    wait_until(lambda: inbox.messages, 10, "the recommendation email")
    message = inbox.messages[-1]
    assert message["Subject"].startswith("Votre recommandation"), message["Subject"]
    text = " ".join(message.get_body(preferencelist=("plain",)).get_content().split())
    assert "Notre recommandation : physiothérapie et massothérapie." in text

    page = _manage_page(app, consult)
    assert "Demande de rendez-vous : Physiothérapie et massothérapie" in unquote(page)
