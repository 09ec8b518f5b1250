"""The manage page asks before cancelling; "Resend my links" answers every address alike.

Real SQL and Redis; emails go through a real SMTP server on loopback (tests/smtp.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from telehealth.booking.flows import resend_tally
from telehealth.models import AuditEvent, Consult
from tests.helpers import booking_payload, free_slots, unique_email
from tests.smtp import Inbox, smtp_server
from tests.waiting import wait_until

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, str]]:
    with smtp_server() as served:
        yield served


@pytest.fixture
def app(app_factory, mail):
    _, url = mail
    return app_factory(SMTP_URL=url)


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def _status(clinic: Any, consult_id: int) -> str:
    with clinic.db.sessions() as session:
        return str(session.get(Consult, consult_id).status)


def _booked(client: Any, email: str | None = None) -> dict[str, Any]:
    slot = free_slots(client)[0]
    response = client.post("/api/v1/bookings", json=booking_payload(slot, email=email))
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def _managing(app: Any, body: dict[str, Any]) -> Any:
    browser = app.test_client()
    response = browser.get(urlsplit(body["manage_url"]).path)
    assert response.status_code == 303
    return browser


# --- cancel asks first ---------------------------------------------------------------


def test_cancel_asks_first_and_keeping_the_consult_changes_nothing(app, demo_clinic):
    body = _booked(app.test_client())
    browser = _managing(app, body)
    question = browser.get("/manage/cancel").get_data(as_text=True)
    assert re.search(r"Cancel your consult on \w+day, .+ [ap]\.m\. E[SD]T\?", question)
    assert "Yes, cancel it" in question and "Keep my consult" in question
    assert 'href="/manage"' in question  # keeping it is a plain link back
    assert _status(demo_clinic, body["id"]) == "booked"


def test_a_post_without_the_confirm_step_does_not_cancel(app, demo_clinic):
    body = _booked(app.test_client())
    browser = _managing(app, body)
    token = _csrf(browser.get("/manage").get_data(as_text=True))
    response = browser.post("/manage/cancel", data={"csrf_token": token})
    assert response.status_code == 200
    assert "Yes, cancel it" in response.get_data(as_text=True)
    assert _status(demo_clinic, body["id"]) == "booked"

    token = _csrf(browser.get("/manage/cancel").get_data(as_text=True))
    done = browser.post("/manage/cancel", data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 303 and done.headers["Location"].endswith("done=cancelled")
    assert _status(demo_clinic, body["id"]) == "cancelled"


def test_a_cross_site_cancel_without_the_csrf_token_is_refused(app, demo_clinic):
    body = _booked(app.test_client())
    browser = _managing(app, body)  # the victim's cookie, replayed by another site's form
    response = browser.post(
        "/manage/cancel",
        data={"confirm": "yes"},
        headers={"Origin": "https://evil.example", "Referer": "https://evil.example/x"},
    )
    assert response.status_code == 400
    assert _status(demo_clinic, body["id"]) == "booked"


# --- resend my links -----------------------------------------------------------------


def _ask(client: Any, email: str) -> Any:
    token = _csrf(client.get("/resend-links").get_data(as_text=True))
    return client.post("/resend-links", data={"csrf_token": token, "email": email})


def _from(app: Any, address: str) -> Any:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _without_csrf(html: bytes) -> bytes:
    return CSRF.sub(b'name="csrf_token" value=""'.decode(), html.decode()).encode()


def test_resend_answers_known_and_unknown_addresses_byte_for_byte_alike(app, demo_clinic, mail):
    known = unique_email()
    _booked(app.test_client(), email=known)
    for_known = _ask(_from(app, "203.0.113.1"), known)
    for_unknown = _ask(_from(app, "203.0.113.2"), unique_email())
    assert for_known.status_code == for_unknown.status_code == 200
    assert _without_csrf(for_known.data) == _without_csrf(for_unknown.data)
    assert "If this address has an upcoming consult, we've sent its links." in (
        for_known.get_data(as_text=True)
    )


def test_resend_emails_the_links_of_every_upcoming_consult(app, demo_clinic, mail):
    inbox, _ = mail
    email = unique_email()
    first = _booked(app.test_client(), email=email)
    _ask(_from(app, "203.0.113.3"), email)

    def links_arrived() -> list[Any]:
        return [m for m in inbox.messages if m["Subject"] == "Your free consult links"]

    wait_until(links_arrived, 10, "the links email")
    [message] = links_arrived()
    assert email in str(message["To"])
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert urlsplit(first["join_url"]).path in text
    assert urlsplit(first["manage_url"]).path in text
    assert re.search(r"Join your consult on \w+day, .+ at \d+:\d\d [ap]\.m\. E[SD]T", text)
    assert ".." not in text.replace("...", "")


def test_resend_for_an_unknown_address_sends_nothing(app, demo_clinic, mail):
    inbox, _ = mail
    _booked(app.test_client())  # someone else's booking
    before = len(inbox.messages)
    _ask(_from(app, "203.0.113.4"), unique_email())
    later = _booked(app.test_client())  # an email sent after ours would have been
    wait_until(lambda: len(inbox.messages) > before, 10, "the later confirmation")
    assert not any(m["Subject"] == "Your free consult links" for m in inbox.messages), later


def test_resend_refuses_the_sixth_try_from_one_address(app, demo_clinic):
    client = _from(app, "198.51.100.7")
    answers = [_ask(client, unique_email()).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    page = _ask(client, unique_email()).get_data(as_text=True)
    assert "Please wait an hour" in page


def test_resend_refuses_the_sixth_email_to_one_address_from_anywhere(app, demo_clinic):
    email = unique_email()
    answers = [_ask(_from(app, f"198.51.100.{n}"), email).status_code for n in range(10, 16)]
    assert answers == [200] * 5 + [429]


def test_resend_shows_what_to_fix_for_a_bad_address(app, demo_clinic):
    response = _ask(app.test_client(), "not an email")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Email: Enter the email address you booked with, like name@example.com." in page
    assert 'href="#email"' in page


def test_resend_is_audited_once_per_client_and_hour_without_the_email(app, demo_clinic):
    email = unique_email()
    _booked(app.test_client(), email=email)
    client = _from(app, "192.0.2.44")
    _ask(client, email)
    _ask(client, unique_email())
    tally = resend_tally(demo_clinic)
    assert tally.write_due(now=10**10) == 1  # the hour is over: one row
    with demo_clinic.db.sessions() as session:
        [row] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "booking.links_resent")
        ).all()
    assert row.actor == "anonymous"
    assert row.detail["targets"] == {"sent": 1, "nothing_to_send": 1}
    assert email not in str(row.detail) and "192.0.2.44" not in str(row.detail)


def test_resend_is_linked_from_home_manage_not_found_and_the_confirmation(app, demo_clinic):
    client = app.test_client()
    assert 'href="/resend-links"' in client.get("/").get_data(as_text=True)
    assert 'href="/resend-links"' in client.get("/manage/" + "B" * 43).get_data(as_text=True)
    slot = free_slots(client)[0]
    page = client.get("/book").get_data(as_text=True)
    form = {
        "csrf_token": _csrf(page),
        "slot": f"{slot['provider_id']}|{slot['start']}",
        "name": "Ann Lee",
        "email": unique_email(),
        "phone": "905-555-0123",
        "reason": "Back pain",
        "consent": "yes",
    }
    confirmed = client.post("/book", data=form, follow_redirects=True)
    assert 'href="/resend-links"' in confirmed.get_data(as_text=True)


def test_the_resend_row_reads_in_words_on_the_audit_page(app, demo_clinic):
    from tests.integration.test_admin_audit_page import _text, admin_client

    _ask(_from(app, "192.0.2.45"), unique_email())
    resend_tally(demo_clinic).write_due(now=10**10)
    page = admin_client(app).get("/admin/audit?action=booking.links").get_data(as_text=True)
    text = _text(page)
    assert "Asked for their consult links again" in text and "Anonymous" in text
    assert "Asked once in the hour from" in text and "No upcoming consult: 1" in text


# --- the booking page says exactly what to change -------------------------------------


def test_every_booking_error_names_the_field_and_the_fix_and_links_to_it(app, demo_clinic):
    client = app.test_client()
    token = _csrf(client.get("/book").get_data(as_text=True))
    response = client.post(
        "/book",
        data={"csrf_token": token, "name": "", "email": "ann@", "phone": "12", "reason": "other"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    summary = page.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    expected = {
        "#field-slot": "Time: Choose one of the free times under “Choose a time”.",
        "#name": "Full name: Enter your name (up to 120 characters).",
        "#email": "Email: Enter your email address in the form name@example.com.",
        "#phone": "Phone: Enter a phone number with its area code, for example 905-555-0123.",
        "#reason_other": "Something else: Describe briefly what brings you in",
        "#consent": "Consent to virtual care: Please agree to a virtual consult: tick the box",
    }
    for anchor, words in expected.items():
        link = re.search(rf'<a href="{anchor}">([^<]+)</a>', summary)
        assert link, f"no summary link to {anchor}"
        assert html_text(link.group(1)).startswith(words), link.group(1)
    for control in ("name", "email", "phone", "reason_other", "consent"):
        assert f'id="{control}"' in page
    assert 'id="field-slot" tabindex="-1"' in page
    assert "ISO 8601" not in page  # the API's words stay in the API


def html_text(fragment: str) -> str:
    import html

    return html.unescape(fragment)
