"""Staff book a consult for a caller from the web, under the public booking's rules; the
dashboard's live feed of the day; the staff header on staff and admin pages."""

from __future__ import annotations

import re
import time
from email import message_from_bytes
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from telehealth.extensions import socketio
from telehealth.models import AuditEvent, Consult, StaffUser
from tests.consults import CHECK_IN, instant_consult, patient_client, staff_client
from tests.helpers import unique_email


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False, NO_SHOW_SECONDS=120)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def _slots(html: str) -> list[str]:
    return re.findall(r'name="slot" value="([^"]+)"', html)


def _caller(**changes: str) -> dict[str, str]:
    form = {
        "name": "Rita Caller",
        "email": unique_email(),
        "phone": "416-555-0142",
        "reason": "Back pain",
        "consent": "yes",
    }
    form.update(changes)
    return form


def _book_page(client, query: str = "") -> str:
    response = client.get(f"/staff/book{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _submit(client, page: str, slot: str, **changes: str):
    return client.post(
        "/staff/book", data={"csrf_token": _csrf(page), "slot": slot, **_caller(**changes)}
    )


def _staff_id(clinic, email: str) -> int:
    with clinic.db.sessions() as session:
        return int(session.scalars(select(StaffUser.id).where(StaffUser.email == email)).one())


def _audit(clinic, action: str) -> list[AuditEvent]:
    with clinic.db.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def _mail_to(outbox: Path, email: str) -> list[str]:
    subjects = []
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        message = message_from_bytes(path.read_bytes())
        if email in str(message["To"]):
            subjects.append(str(message["Subject"]))
    return subjects


# --- booking for a caller ---------------------------------------------------------------


def test_physiotherapist_books_for_a_caller_who_gets_the_email_and_the_audit_names_them(
    app, demo_clinic, tmp_path
):
    client = staff_client(app)
    page = _book_page(client)
    assert "Book a free consult for a caller" in page
    slot = _slots(page)[0]
    email = unique_email()
    response = _submit(client, page, slot, email=email)
    assert response.status_code == 303, response.get_data(as_text=True)
    done = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Consult booked for Rita Caller" in done
    assert "We emailed Rita Caller the confirmation" in done

    with demo_clinic.db.sessions() as session:
        consult = session.scalars(select(Consult).order_by(Consult.id.desc())).first()
        assert consult.patient.email == email and consult.reason == "Back pain"
        assert consult.provider_id == int(slot.split("|")[0])
    created = _audit(demo_clinic, "booking.created")[-1]
    assert created.actor == f"staff:{_staff_id(demo_clinic, 'physio@demo.clinic')}"
    assert created.consult_id == consult.id
    assert _mail_to(tmp_path / "outbox", email), "the caller gets the confirmation email"


def test_a_taken_slot_is_refused_with_a_clear_message(app, demo_clinic):
    client = staff_client(app)
    page = _book_page(client)
    slot = _slots(page)[0]
    assert _submit(client, page, slot).status_code == 303
    again = _submit(client, _book_page(client), slot)
    assert again.status_code == 409
    text = again.get_data(as_text=True)
    assert "Nothing was booked" in text
    assert "someone has just booked that time" in text


def test_a_caller_who_had_their_free_consult_this_year_is_named_and_not_booked(app, demo_clinic):
    client = staff_client(app)
    page = _book_page(client)
    first, second = _slots(page)[:2]
    email = unique_email()
    assert _submit(client, page, first, email=email).status_code == 303
    refused = _submit(client, _book_page(client), second, email=email)
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "Rita Caller has already had a free consult in the last 12 months" in text
    with demo_clinic.db.sessions() as session:
        held = session.scalars(select(Consult).join(Consult.patient)).all()
        assert sum(1 for c in held if c.patient.email == email) == 1
    declined = _audit(demo_clinic, "booking.declined_free_consult_used")
    assert declined and declined[-1].actor.startswith("staff:")


def test_bad_details_are_named_next_to_their_fields(app, demo_clinic):
    client = staff_client(app)
    page = _book_page(client)
    response = _submit(client, page, _slots(page)[0], email="not-an-email", consent="")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Enter the caller&#39;s email address" in text
    assert "Read the consent to the caller" in text


def test_booking_for_a_caller_needs_a_staff_login(app, demo_clinic):
    anonymous = app.test_client()
    for path in ("/staff/book", "/staff/book/done"):
        response = anonymous.get(path)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    posted = anonymous.post("/staff/book", data=_caller(slot="1|2030-01-07T10:00:00-05:00"))
    assert posted.status_code in (302, 400)
    patient = patient_client(app, instant_consult(demo_clinic))
    assert patient.get("/staff/book").status_code == 302


def test_booking_for_a_caller_without_the_csrf_token_is_refused(app, demo_clinic):
    client = staff_client(app)
    page = _book_page(client)
    before = len(_audit(demo_clinic, "booking.created"))
    forged = client.post("/staff/book", data={"slot": _slots(page)[0], **_caller()})
    assert forged.status_code == 400
    assert "Form expired" in forged.get_data(as_text=True)
    assert len(_audit(demo_clinic, "booking.created")) == before


def test_admin_books_for_a_caller_with_any_provider(app, demo_clinic):
    client = app.test_client()
    code = pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).now()
    logged_in = client.post(
        "/api/v1/staff/session",
        json={"email": "admin@demo.clinic", "password": "demo", "totp": code},
    )
    assert logged_in.status_code == 200
    page = _book_page(client)
    assert "First available" in page
    assert _submit(client, page, _slots(page)[0]).status_code == 303


# --- the day's live feed ----------------------------------------------------------------


def test_the_day_feed_shows_an_arrival_as_it_happens(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    client = staff_client(app)
    before = client.get("/api/v1/staff/day").get_json()
    row = next(c for c in before["consults"] if c["id"] == consult.id)
    assert row["status"] == "Not arrived" and row["waiting"] is False
    assert row["room_url"] == f"/staff/consults/{consult.id}"

    patient = socketio.test_client(
        app, namespace="/consult", flask_test_client=patient_client(app, consult)
    )
    assert patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)["ok"]
    after = client.get("/api/v1/staff/day").get_json()
    row = next(c for c in after["consults"] if c["id"] == consult.id)
    assert row["status"] == "Patient waiting" and row["waiting"] is True
    assert row["detail"].startswith("In the waiting room since")
    assert row["no_show"] is False


def test_no_show_is_offered_only_after_the_wait(app, demo_clinic):
    on_time = instant_consult(demo_clinic, minutes_from_now=-1)  # the wait here is 2 minutes
    late = instant_consult(demo_clinic, minutes_from_now=-3)
    client = staff_client(app)
    rows = {c["id"]: c for c in client.get("/api/v1/staff/day").get_json()["consults"]}
    assert rows[on_time.id]["no_show"] is False
    assert rows[on_time.id]["detail"] == "Expected 1 minute ago"
    assert rows[late.id]["no_show"] is True
    assert rows[late.id]["no_show_url"] == f"/staff/consults/{late.id}/no-show"
    page = client.get("/staff").get_data(as_text=True)
    forms = re.findall(r'<form[^>]*action="([^"]*)" data-no-show[^>]*>', page)
    shown = [
        m.group(1)
        for m in re.finditer(r'<form[^>]*action="([^"]*)" data-no-show([^>]*)>', page)
        if "hidden" not in m.group(2)
    ]
    assert len(forms) == 3  # each row has the form (hidden until due), and the row template
    assert shown == [f"/staff/consults/{late.id}/no-show"]
    early = client.post(f"/staff/consults/{on_time.id}/no-show", data={"csrf_token": _csrf(page)})
    assert early.status_code == 409
    refusal = early.get_data(as_text=True)
    assert "Cannot mark a no-show" in refusal and 'aria-label="Staff"' in refusal


def test_the_day_feed_is_for_staff_only(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    anonymous = app.test_client().get("/api/v1/staff/day")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["code"] == "unauthorized"
    as_patient = patient_client(app, consult).get("/api/v1/staff/day")
    assert as_patient.status_code == 401
    assert "Ann Lee" not in as_patient.get_data(as_text=True)


def test_a_replayed_cookie_after_logout_reads_nothing(app, demo_clinic):
    instant_consult(demo_clinic)
    client = staff_client(app)
    assert client.get("/api/v1/staff/day").status_code == 200
    cookie = client.get_cookie("session")
    page = client.get("/staff").get_data(as_text=True)
    client.post("/staff/logout", data={"csrf_token": _csrf(page)})
    thief = app.test_client()
    thief.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
    assert thief.get("/api/v1/staff/day").status_code == 401


# --- the staff header -------------------------------------------------------------------


def test_staff_pages_carry_the_staff_header_and_no_public_links(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    client = staff_client(app)
    for path in ("/staff", "/staff/book", f"/staff/consults/{consult.id}", "/staff/password"):
        html = client.get(path).get_data(as_text=True)
        assert 'aria-label="Staff"' in html, path
        assert "Book for a caller" in html and "Log out" in html, path
        assert "Our team" not in html and "Book a free consult<" not in html, path


def test_login_page_has_no_public_header(app, demo_clinic):
    html = app.test_client().get("/staff/login").get_data(as_text=True)
    assert "Our team" not in html and "Log out" not in html


def test_admin_pages_carry_the_staff_header_with_admin_links(app, demo_clinic):
    client = app.test_client()
    code = pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).at(time.time())
    client.post(
        "/api/v1/staff/session",
        json={"email": "admin@demo.clinic", "password": "demo", "totp": code},
    )
    for path in ("/admin", "/admin/providers", "/admin/settings", "/admin/staff", "/admin/audit"):
        html = client.get(path).get_data(as_text=True)
        assert 'aria-label="Staff"' in html, path
        assert "Live rooms" in html and "Audit log" in html and "Book for a caller" in html
        assert html.count(">Log out<") == 1, path
        assert "Our team" not in html, path
