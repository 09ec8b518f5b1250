"""A booking keeps the language it was made in: its emails, its invite and the pages behind
its links speak it, whichever browser or process triggers them. Providers say which
languages they consult in, and the directory and the booking page filter on French.

Real SQL and Redis; emails through a real SMTP server on loopback (tests/smtp.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from icalendar import Calendar
from sqlalchemy import create_engine, inspect, select, text, update

from telehealth.booking.reminders import send_due_reminders
from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from telehealth.migrate import alembic_config, upgrade
from telehealth.models import Consult
from tests.helpers import booking_payload, free_slots, unique_email
from tests.smtp import Inbox, smtp_server
from tests.waiting import wait_until

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SLOT = re.compile(r'name="slot" value="([^"]+)"')
FRENCH = {"Accept-Language": "fr-CA,fr;q=0.9"}
ENGLISH = {"Accept-Language": "en-CA,en;q=0.9"}
# A time in French, with its zone: "14 h 20 HNE" (or HAE in summer).
FRENCH_TIME = re.compile(r"\d{1,2} h \d{2} H[NA]E")


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, str]]:
    with smtp_server() as served:
        yield served


@pytest.fixture
def app(app_factory, mail):
    _, url = mail
    return app_factory(SMTP_URL=url)


def _browser(app: Any, headers: dict[str, str]) -> Any:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = headers["Accept-Language"]
    return client


def _text(message: EmailMessage) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def _invite(message: EmailMessage) -> Any:
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            return next(iter(Calendar.from_ical(part.get_content()).walk("VEVENT")))
    raise AssertionError("no calendar invite attached")


def _mail_to(inbox: Inbox, email: str, count: int) -> list[EmailMessage]:
    def arrived() -> list[EmailMessage]:
        found = [m for m in inbox.messages if m["To"].addresses[0].addr_spec == email]
        return found if len(found) >= count else []

    wait_until(arrived, timeout=10, what=f"{count} email(s) to the patient")
    return arrived()


def _book_on_the_page(browser: Any, email: str) -> Any:
    page = browser.get("/book").get_data(as_text=True)
    slot = SLOT.search(page)
    assert slot, "the booking page offers a free time"
    return browser.post(
        "/book",
        data={
            "csrf_token": CSRF.search(page).group(1),  # type: ignore[union-attr]
            "provider": "any",
            "slot": slot.group(1),
            "name": "Ann Lee",
            "email": email,
            "phone": "905-555-0123",
            "reason": "Knee pain",
            "consent": "yes",
        },
    )


def _language_of(clinic: Any, email: str) -> str:
    with clinic.db.sessions() as session:
        consult = session.scalars(select(Consult).order_by(Consult.id.desc())).first()
        assert consult is not None and consult.patient.email == email
        return consult.language


def test_a_booking_made_in_french_is_confirmed_in_french_by_email_and_invite(
    app, demo_clinic, mail
):
    inbox, _ = mail
    email = unique_email()
    browser = _browser(app, FRENCH)

    answer = _book_on_the_page(browser, email)
    assert answer.status_code == 303
    confirmed = browser.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Votre consultation est réservée" in confirmed
    assert FRENCH_TIME.search(confirmed)
    assert _language_of(demo_clinic, email) == "fr"

    (message,) = _mail_to(inbox, email, 1)
    assert message["Subject"].startswith("Votre consultation gratuite en physiothérapie")
    body = _text(message)
    assert body.startswith("Bonjour Ann Lee,")
    assert "Avant votre consultation" in body and "heure de l’Ontario" in body
    assert FRENCH_TIME.search(body)
    assert "Before your consult" not in body and "Join your consult" not in body
    html = message.get_body(preferencelist=("html",)).get_content()
    assert '<html lang="fr-CA">' in html
    event = _invite(message)
    assert str(event["summary"]).startswith("Consultation gratuite en physiothérapie")
    assert str(event["description"]).startswith("Votre consultation vidéo gratuite de 20 minutes")
    assert event["summary"].params.get("LANGUAGE") == "fr-CA"


def test_the_language_cookie_makes_the_booking_french_whatever_the_browser_says(
    app, demo_clinic, mail
):
    inbox, _ = mail
    email = unique_email()
    browser = _browser(app, ENGLISH)
    browser.get("/language/fr?next=/book")

    assert _book_on_the_page(browser, email).status_code == 303
    assert _language_of(demo_clinic, email) == "fr"
    (message,) = _mail_to(inbox, email, 1)
    assert message["Subject"].startswith("Votre consultation gratuite")


def test_an_english_booking_keeps_its_english_emails(app, demo_clinic, mail):
    inbox, _ = mail
    email = unique_email()
    assert _book_on_the_page(_browser(app, ENGLISH), email).status_code == 303
    (message,) = _mail_to(inbox, email, 1)
    assert message["Subject"].startswith("Your free physiotherapy consult on ")
    assert _text(message).startswith("Hi Ann Lee,")
    assert str(_invite(message)["summary"]).startswith("Free physiotherapy consult")


def _api_booking(app: Any, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    client = _browser(app, headers)
    slot = free_slots(client)[0]
    response = client.post("/api/v1/bookings", json=booking_payload(slot, **changes))
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def test_reminder_manage_page_and_cancel_of_a_french_booking_stay_french_from_english(
    app, demo_clinic, mail
):
    inbox, _ = mail
    email = unique_email()
    booked = _api_booking(app, FRENCH, email=email)
    _mail_to(inbox, email, 1)  # the confirmation

    with demo_clinic.db.transaction() as session:  # booked well before the reminder window
        session.execute(
            update(Consult)
            .where(Consult.id == booked["id"])
            .values(created_at=datetime.fromisoformat(booked["start"]) - timedelta(days=3))
        )
    start = datetime.fromisoformat(booked["start"])
    with app.app_context():  # as the server's reminder loop runs
        assert send_due_reminders(demo_clinic, "http://clinic.test", start - timedelta(hours=23))
    reminder = _mail_to(inbox, email, 2)[1]
    assert reminder["Subject"].startswith("Rappel\u00a0: votre consultation gratuite a lieu demain")

    english = _browser(app, ENGLISH)
    assert english.get(urlsplit(booked["manage_url"]).path).status_code == 303
    page = english.get("/manage").get_data(as_text=True)
    assert 'lang="fr-CA"' in page and "Votre consultation gratuite" in page
    assert FRENCH_TIME.search(page)

    question = english.get("/manage/cancel").get_data(as_text=True)
    assert "Oui, l’annuler" in question
    done = english.post(
        "/manage/cancel", data={"csrf_token": CSRF.search(question).group(1), "confirm": "yes"}
    )
    assert done.status_code == 303
    assert "Votre consultation est annulée" in english.get(done.headers["Location"]).get_data(
        as_text=True
    )
    cancelled = _mail_to(inbox, email, 3)[2]
    assert "annulée" in cancelled["Subject"]
    assert _text(cancelled).startswith("Bonjour Ann Lee,")
    assert "Cette consultation a été annulée" in str(_invite(cancelled)["description"])


def test_a_person_who_switched_to_english_reads_a_french_booking_in_english(app, demo_clinic):
    booked = _api_booking(app, FRENCH)
    browser = _browser(app, FRENCH)
    browser.get("/language/en?next=/")
    assert browser.get(urlsplit(booked["manage_url"]).path).status_code == 303
    page = browser.get("/manage").get_data(as_text=True)
    assert 'lang="en-CA"' in page and "Your free consult" in page


def test_the_api_records_the_language_asked_for_and_refuses_an_unknown_one(app, demo_clinic):
    email = unique_email()
    _api_booking(app, ENGLISH, email=email, language="fr")
    assert _language_of(demo_clinic, email) == "fr"

    client = _browser(app, FRENCH)
    slot = free_slots(client)[0]
    refused = client.post("/api/v1/bookings", json=booking_payload(slot, language="de"))
    body = refused.get_json()
    assert refused.status_code == 422 and body["error"]["code"] == "invalid_booking"
    assert body["error"]["message"] == "Certains renseignements doivent être corrigés."
    assert "language" in body["error"]["fields"]


# --- providers and their languages ----------------------------------------------------


def test_the_directory_and_booking_page_filter_on_french(app, demo_clinic):
    browser = _browser(app, ENGLISH)
    everyone = browser.get("/providers").get_data(as_text=True)
    assert "Priya Raman" in everyone and "Marco Bellini" in everyone
    assert everyone.count("Consults in French") == 1

    french = browser.get("/providers?language=fr").get_data(as_text=True)
    assert "Marco Bellini" in french and "Priya Raman" not in french
    assert "Consults in French" in french

    in_french = _browser(app, FRENCH).get("/providers?language=fr").get_data(as_text=True)
    assert "Consultation en français" in in_french
    assert "Ordre des physiothérapeutes de l’Ontario" in in_french

    booking = browser.get("/book?language=fr").get_data(as_text=True)
    assert "Marco Bellini" in booking and "Priya Raman" not in booking
    assert "with Marco Bellini" in booking or "Marco Bellini</option>" in booking

    listed = browser.get("/api/v1/providers?language=fr").get_json()
    assert [p["name"] for p in listed] == ["Marco Bellini"]
    assert listed[0]["languages"] == ["en", "fr"]

    unknown = _browser(app, FRENCH).get("/api/v1/providers?language=de")
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["fields"] == {
        "language": "Choisissez l’anglais (en) ou le français (fr)."
    }


def test_an_admin_sets_the_languages_a_provider_consults_in(app, demo_clinic):
    admin = app.test_client()
    login = admin.post(
        "/api/v1/staff/session",
        json={
            "email": "admin@demo.clinic",
            "password": "demo",
            "totp": pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).at(time.time()),
        },
    )
    assert login.status_code == 200, login.get_json()
    with demo_clinic.db.sessions() as session:
        from telehealth.models import Provider

        priya = session.scalars(select(Provider).where(Provider.name == "Priya Raman")).one()
        form = {
            "name": priya.name,
            "email": priya.email,
            "profession": priya.profession,
            "designations": ", ".join(priya.designations),
            "registration_number": priya.registration_number,
            "bio": priya.bio,
            "active": "yes",
            "languages": ["en", "fr"],
        }
    page = admin.get(f"/admin/providers/{priya.id}").get_data(as_text=True)
    assert 'name="languages" value="fr"' in page
    form["csrf_token"] = CSRF.search(page).group(1)  # type: ignore[union-attr]
    assert admin.post(f"/admin/providers/{priya.id}", data=form).status_code == 303
    with demo_clinic.db.sessions() as session:
        assert session.get(Provider, priya.id).languages == ["en", "fr"]


# --- the migration --------------------------------------------------------------------


def _migrated_through_0006(url: str) -> None:
    from alembic import command

    config = alembic_config(url)
    command.upgrade(config, "0005")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO providers (id, name, email, profession, designations, college, "
                "registration_number, bio, active, offers_free_consult) VALUES (901, 'Old Pro', "
                "'old@example.com', 'physiotherapist', '[]', 'College', 'PT-1', '', TRUE, TRUE)"
            )
        )
    upgrade(url)
    with engine.begin() as connection:
        columns = {c["name"]: c for c in inspect(connection).get_columns("consults")}
        assert columns["language"]["nullable"] is False
        languages = connection.execute(
            text("SELECT languages FROM providers WHERE id = 901")
        ).scalar()
        assert languages in (["en"], '["en"]')
        connection.execute(text("DELETE FROM providers WHERE id = 901"))
    engine.dispose()


def test_migration_0006_upgrades_sqlite_with_rows_in_place(tmp_path: Path):
    _migrated_through_0006(f"sqlite:///{tmp_path / 'old.sqlite3'}")


def test_migration_0006_upgrades_postgresql(sql_template: str):
    if not sql_template.startswith("postgresql"):
        pytest.skip("runs on the PostgreSQL suite (DATABASE_URL)")
    _migrated_through_0006(sql_template)
