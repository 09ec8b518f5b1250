"""Booking the recommended treatment: a real link drawn as a button when the clinic has a
booking page; otherwise "email us" with the address in words (no mail app needed).

The outcome is recorded through the physiotherapist's page and the email read from a real
SMTP server on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from telehealth.db import utcnow
from telehealth.models import Consult
from tests.consults import instant_consult, staff_client
from tests.smtp import Inbox, smtp_server
from tests.waiting import wait_until

BOOKING_URL = "https://book.example.clinic/treatment"
ANSWERS = {"location": "Vaughan, ON", "emergency_phone": "905-555-0100"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, str]]:
    with smtp_server() as served:
        yield served


def _ended_consult(clinic: Any) -> Any:
    consult = instant_consult(clinic)
    now = utcnow()
    with clinic.db.sessions() as session:
        row = session.get(Consult, consult.id)
    clinic.consults.open_room(consult.id, row.starts_at, row.ends_at)
    clinic.consults.check_in(consult.id, f"patient:{consult.id}", "Phone", ANSWERS, now)
    clinic.consults.admit(consult.id, "staff:2", now)
    clinic.consults.end(consult.id, "provider", "staff:2", now)
    return consult


def _recommend(app: Any, consult_id: int, recommendation: str) -> None:
    staff = staff_client(app)
    page = staff.get(f"/staff/consults/{consult_id}/outcome").get_data(as_text=True)
    form = {"csrf_token": CSRF.search(page).group(1), "recommendation": recommendation}
    assert staff.post(f"/staff/consults/{consult_id}/outcome", data=form).status_code == 303


def _summary(inbox: Inbox) -> Any:
    def found() -> list[Any]:
        return [m for m in inbox.messages if "recommendation" in m["Subject"]]

    wait_until(found, 10, "the recommendation email")
    return found()[0]


def _manage_page(app: Any, consult: Any) -> str:
    patient = app.test_client()
    assert patient.get(f"/manage/{consult.manage_credential}").status_code == 303
    return str(patient.get("/manage").get_data(as_text=True))


def test_with_a_booking_url_the_email_and_page_link_it_as_a_button(app_factory, mail):
    inbox, smtp_url = mail
    app = app_factory(SMTP_URL=smtp_url, TREATMENT_BOOKING_URL=BOOKING_URL)
    clinic = _seeded(app)
    consult = _ended_consult(clinic)
    _recommend(app, consult.id, "physiotherapy")

    message = _summary(inbox)
    html = message.get_body(preferencelist=("html",)).get_content()
    button = re.search(r'<a href="([^"]+)" style="[^"]*inline-block[^"]*">([^<]+)</a>', html)
    assert button, html
    assert urlsplit(button.group(1).replace("&amp;", "&")).netloc == "book.example.clinic"
    assert "service=physiotherapy" in button.group(1) and button.group(2) == "Book your treatment"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert f"{BOOKING_URL}?service=physiotherapy" in text
    assert "mailto:" not in html + text

    page = _manage_page(app, consult)
    assert f'class="button" href="{BOOKING_URL}?service=physiotherapy">Book your treatment' in page


def test_without_a_booking_url_it_says_email_us_with_the_address(app_factory, mail):
    inbox, smtp_url = mail
    app = app_factory(SMTP_URL=smtp_url, TREATMENT_BOOKING_URL="")
    clinic = _seeded(app)
    consult = _ended_consult(clinic)
    _recommend(app, consult.id, "massage_therapy")

    email = app.config["CLINIC_EMAIL"]
    message = _summary(inbox)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert f"To book your treatment, email us at {email} or call us at" in text
    assert "mailto:" not in text and ".." not in text

    page = _manage_page(app, consult)
    assert "To book your treatment, email us at" in page and f">{email}</a>" in page


def test_a_referral_offers_no_booking(app_factory, mail):
    inbox, smtp_url = mail
    app = app_factory(SMTP_URL=smtp_url, TREATMENT_BOOKING_URL=BOOKING_URL)
    clinic = _seeded(app)
    consult = _ended_consult(clinic)
    _recommend(app, consult.id, "referral")
    text = _summary(inbox).get_body(preferencelist=("plain",)).get_content()
    assert "Book your treatment" not in text and BOOKING_URL not in text
    assert "Book your treatment" not in _manage_page(app, consult)


def _seeded(app: Any) -> Any:
    from telehealth.demo import seed_demo

    clinic = app.extensions["clinic"]
    with clinic.db.transaction() as session:
        seed_demo(session)
    return clinic
