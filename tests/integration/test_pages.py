"""The public pages, driven like a browser would: forms with CSRF tokens, redirects, cookies."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tests.helpers import booking_payload, free_slots, unique_email


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def _form_for(client, slot, email=None, **changes):
    html = client.get("/book").get_data(as_text=True)
    form = {
        "csrf_token": _csrf(html),
        "slot": f"{slot['provider_id']}|{slot['start']}",
        "name": "Ann Lee",
        "email": email or unique_email(),
        "phone": "905-555-0123",
        "reason": "Back pain",
        "consent": "yes",
    }
    form.update(changes)
    return form


def test_home_page_explains_the_free_consult(client):
    html = client.get("/").get_data(as_text=True)
    assert "free 20-minute video consult" in html
    for condition in ("Pelvic-floor rehabilitation", "Ankle sprains", "Trigger points"):
        assert condition in html


def test_providers_page_shows_college_registration(demo_clinic, client):
    html = client.get("/providers").get_data(as_text=True)
    assert "College of Physiotherapists of Ontario, registration no. PT-18342" in html
    assert "College of Massage Therapists of Ontario" in html


def test_booking_form_books_and_confirms(demo_clinic, client):
    slot = free_slots(client)[0]
    response = client.post("/book", data=_form_for(client, slot))
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/book/confirmed"
    page = client.get("/book/confirmed").get_data(as_text=True)
    assert "You&#39;re booked" in page or "You're booked" in page
    assert "Priya Raman" in page or "Marco Bellini" in page


def test_form_without_csrf_token_is_refused(demo_clinic, client):
    slot = free_slots(client)[0]
    form = _form_for(client, slot)
    del form["csrf_token"]
    response = client.post("/book", data=form)
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_missing_details_show_readable_errors(demo_clinic, client):
    slot = free_slots(client)[0]
    response = client.post("/book", data=_form_for(client, slot, name="", consent=""))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Please fix the following" in html
    assert "Enter your name" in html and "Please agree to a virtual consult" in html
    assert "Traceback" not in html


def test_taken_slot_gets_a_friendly_page(demo_clinic, client):
    slot = free_slots(client)[0]
    client.post("/api/v1/bookings", json=booking_payload(slot))
    response = client.post("/book", data=_form_for(client, slot))
    assert response.status_code == 409
    assert "someone has just booked that time" in response.get_data(as_text=True)


def _manage_session(client, slot):
    body = client.post("/api/v1/bookings", json=booking_payload(slot)).get_json()
    response = client.get(urlsplit(body["manage_url"]).path)
    assert response.status_code == 303 and response.headers["Location"].endswith("/manage")
    return body


def test_manage_link_cancels_through_the_page(demo_clinic, client):
    slot = free_slots(client)[0]
    _manage_session(client, slot)
    page = client.get("/manage").get_data(as_text=True)
    response = client.post("/manage/cancel", data={"csrf_token": _csrf(page), "confirm": "yes"})
    assert response.status_code == 303
    assert "Your consult is cancelled" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert slot in free_slots(client)


def test_manage_link_reschedules_through_the_page(demo_clinic, client):
    slots = free_slots(client, provider_id=1)
    _manage_session(client, slots[0])
    page = client.get("/manage").get_data(as_text=True)
    new_value = re.findall(r'name="slot" value="([^"]+)"', page)[2]
    response = client.post(
        "/manage/reschedule", data={"csrf_token": _csrf(page), "slot": new_value}
    )
    assert response.status_code == 303
    starts = [s["start"] for s in free_slots(client, provider_id=1)]
    assert slots[0]["start"] in starts and new_value.split("|")[1] not in starts


def test_unknown_manage_link_gets_a_plain_404(client):
    response = client.get("/manage/" + "B" * 43)
    assert response.status_code == 404
    assert "We could not find that booking" in response.get_data(as_text=True)


def test_every_response_carries_the_security_headers(client):
    for path in ("/", "/api/v1/providers", "/nope", "/healthz"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_readyz_checks_sql_and_redis(client):
    body = client.get("/readyz").get_json()
    assert body == {"status": "ok", "checks": {"sql": True, "redis": True}}


def test_unknown_api_route_gets_json_error(client):
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
