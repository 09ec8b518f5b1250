"""Attacks on the public booking routes, sent the way a script would send them.

- enumeration (M4): does this email address have a history with the clinic?
- abuse (M5): one client booking the calendar empty, or flooding a stranger's inbox;
- hostile text and far dates (L7): NUL, right-to-left overrides, year 9999, a taken email;
- forged Host headers (L2): links in emails must point at PUBLIC_URL, never at the Host.
Real SQL and Redis; the emails are read from the outbox folder the app writes to.
"""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
import redis
from sqlalchemy import func, select

from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from telehealth.models import AuditEvent, Consult, Patient, Provider
from tests.helpers import booking_payload, free_slots, unique_email

PUBLIC_URL = "https://consult.example.clinic"


def _outbox(app) -> list:
    folder = Path(app.config["OUTBOX_PATH"])
    files = sorted(folder.glob("*.eml"), key=lambda f: f.stat().st_mtime_ns)
    return [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]


def _mail_to(app, address: str) -> list:
    return [m for m in _outbox(app) if address.lower() in str(m["To"]).lower()]


def _text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _consults(clinic) -> int:
    with clinic.db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Consult)))


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _form(client, slot, email, **changes):
    form = {
        "csrf_token": _csrf(client.get("/book").get_data(as_text=True)),
        "slot": f"{slot['provider_id']}|{slot['start']}",
        "name": "Ann Lee",
        "email": email,
        "phone": "905-555-0123",
        "reason": "Back pain",
        "consent": "yes",
    }
    form.update(changes)
    return form


def _from(app, address: str):
    """A client on its own connection (the test client's REMOTE_ADDR)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


# --- M4: the answer never says whether an email has consulted ------------------------


def _shape(body: dict) -> dict:
    """Keys and kinds of values: what a script compares between two answers."""
    out = {}
    for key, value in body.items():
        if key.endswith("_url"):
            parts = urlsplit(value)
            head, _, credential = parts.path.rpartition("/")
            out[key] = (parts.scheme, parts.netloc, head, len(credential))
        else:
            out[key] = type(value).__name__
    return out


def test_known_email_gets_the_same_201_as_a_new_one_and_only_the_owner_learns_why(app, demo_clinic):
    slots = free_slots(app.test_client())
    victim = unique_email()
    first = _from(app, "10.0.0.1").post("/api/v1/bookings", json=booking_payload(slots[0], victim))
    assert first.status_code == 201

    # The attacker: another connection, the victim's address, a different name.
    attack = booking_payload(slots[6], victim.upper())
    attack["patient"]["name"] = "Probe"
    probe = _from(app, "10.0.0.2").post("/api/v1/bookings", json=attack)
    fresh = _from(app, "10.0.0.3").post(
        "/api/v1/bookings", json=booking_payload(slots[12], unique_email())
    )

    assert probe.status_code == fresh.status_code == 201
    assert _shape(probe.get_json()) == _shape(fresh.get_json())
    assert probe.get_json()["status"] == "booked"
    assert probe.get_json()["start"] == slots[6]["start"]
    # No consult was made, the patient's details were not touched, and the decoy links
    # open the same pages as any link that is not (yet) usable.
    assert _consults(demo_clinic) == 2
    with demo_clinic.db.sessions() as session:
        assert session.scalars(select(Patient.name).where(Patient.email == victim)).one() == (
            "Ann Lee"
        )
    client = app.test_client()
    manage = urlsplit(probe.get_json()["manage_url"]).path
    assert client.get(manage).status_code == 404
    join = urlsplit(probe.get_json()["join_url"]).path
    assert client.get(join).status_code == 404

    told = _mail_to(app, victim)
    assert len(told) == 2
    why = _text(told[-1])
    assert "already had your free consult in the last 12 months" in why
    assert app.config["CLINIC_PHONE"] in why
    assert "Probe" not in why  # nothing the requester typed reaches the owner's inbox
    with demo_clinic.db.sessions() as session:
        declined = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "booking.declined_free_consult_used")
        ).all()
    assert len(declined) == 1 and declined[0].consult_id is None


def test_known_email_on_the_booking_page_gets_the_same_confirmation(app, demo_clinic):
    slots = free_slots(app.test_client())
    victim = unique_email()
    owner = _from(app, "10.0.1.1")
    assert owner.post("/book", data=_form(owner, slots[0], victim)).status_code == 303

    attacker = _from(app, "10.0.1.2")
    response = attacker.post("/book", data=_form(attacker, slots[6], victim))

    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/book/confirmed"
    page = attacker.get("/book/confirmed").get_data(as_text=True)
    assert "You&#39;re booked" in page or "You're booked" in page
    assert "already" not in page.lower()
    assert _consults(demo_clinic) == 1


# --- M5: one budget per client and per email, a cap on what one client holds ----------


def test_a_script_alternating_api_and_form_holds_no_more_than_the_cap(app_factory, demo_clinic):
    app = app_factory(BOOKING_MAX_FUTURE_PER_ADDRESS=3, BOOKING_RATE_LIMIT="1000 per minute")
    client = _from(app, "198.51.100.7")
    slots = free_slots(client)
    outcomes = []
    for number, slot in enumerate(slots[:8:2] + slots[1:8:2]):
        if number % 2 == 0:
            response = client.post("/api/v1/bookings", json=booking_payload(slot))
        else:
            response = client.post("/book", data=_form(client, slot, unique_email()))
        outcomes.append(response)

    statuses = [r.status_code for r in outcomes]
    assert statuses[:3] == [201, 303, 201]
    assert set(statuses[3:]) == {429}
    api_refusal = next(r for r in outcomes[3:] if r.is_json).get_json()["error"]
    assert api_refusal["code"] == "too_many_bookings"
    assert "3 upcoming" in api_refusal["message"]
    page_refusal = next(r for r in outcomes[3:] if not r.is_json).get_data(as_text=True)
    assert "You already hold 3 upcoming free consults" in page_refusal
    assert "Traceback" not in page_refusal
    assert _consults(demo_clinic) == 3

    # Cancelling one gives the place back; another client address is not affected.
    manage = urlsplit(outcomes[0].get_json()["manage_url"]).path.rsplit("/", 1)[1]
    cancelled = client.delete(
        f"/api/v1/bookings/{outcomes[0].get_json()['id']}",
        headers={"Authorization": f"Bearer {manage}"},
    )
    assert cancelled.status_code == 200
    again = client.post("/api/v1/bookings", json=booking_payload(slots[10]))
    assert again.status_code == 201
    other = _from(app, "198.51.100.8").post("/api/v1/bookings", json=booking_payload(slots[11]))
    assert other.status_code == 201


def test_the_client_address_is_kept_only_as_an_hmac(app_factory, demo_clinic):
    app = app_factory(BOOKING_RATE_LIMIT="1000 per minute")
    client = _from(app, "203.0.113.99")
    assert (
        client.post("/api/v1/bookings", json=booking_payload(free_slots(client)[0])).status_code
        == 201
    )
    store = redis.Redis.from_url(app.extensions["clinic"].redis_url, decode_responses=True)
    seen = []
    for key in store.scan_iter(match="th:booking:*"):
        seen.append(key)
        kind = store.type(key)
        if kind == "zset":
            seen.extend(store.zrange(key, 0, -1))
        elif kind == "string":
            seen.append(store.get(key))
        ttl = store.ttl(key)
        assert 0 < ttl <= 60 * 60 * 24 * 60, (key, ttl)  # gone when the consult starts
    assert seen and not any("203.0.113.99" in item for item in seen)


def test_one_rate_budget_per_client_across_the_api_and_the_booking_page(app_factory, demo_clinic):
    app = app_factory(BOOKING_RATE_LIMIT="4 per minute")
    client = _from(app, "192.0.2.44")
    token = _csrf(client.get("/book").get_data(as_text=True))
    statuses = []
    for number in range(8):
        if number % 2 == 0:
            statuses.append(client.post("/api/v1/bookings", json={}).status_code)
        else:
            statuses.append(client.post("/book", data={"csrf_token": token}).status_code)
    assert statuses[:4] == [422, 422, 422, 422]
    assert statuses[4:] == [429, 429, 429, 429]


def test_one_mail_budget_per_email_whoever_asks(app_factory, demo_clinic):
    app = app_factory(BOOKING_EMAIL_RATE_LIMIT="2 per hour", BOOKING_RATE_LIMIT="1000 per minute")
    victim = unique_email()
    slots = free_slots(app.test_client())
    booked = _from(app, "10.1.0.1").post("/api/v1/bookings", json=booking_payload(slots[0], victim))
    assert booked.status_code == 201
    credential = urlsplit(booked.get_json()["manage_url"]).path.rsplit("/", 1)[1]
    cancel = _from(app, "10.1.0.2").delete(
        f"/api/v1/bookings/{booked.get_json()['id']}",
        headers={"Authorization": f"Bearer {credential}"},
    )
    assert cancel.status_code == 200

    third = _from(app, "10.1.0.3").post("/api/v1/bookings", json=booking_payload(slots[3], victim))
    page = _from(app, "10.1.0.4")
    fourth = page.post("/book", data=_form(page, slots[5], victim))

    assert third.status_code == 429
    assert third.get_json()["error"]["code"] == "too_many_emails"
    assert fourth.status_code == 429
    assert "several emails to this address" in fourth.get_data(as_text=True)
    assert len(_mail_to(app, victim)) == 2


# --- L7: hostile text and far-off dates get a 4xx naming the field ---------------------

HOSTILE = {"NUL": "\x00", "RLO": "\u202e", "LRI": "\u2066", "ESC": "\x1b"}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize(
    "field", ["patient.name", "patient.email", "patient.phone", "reason", "start"]
)
def test_api_refuses_control_and_bidi_characters_in_every_field(app, demo_clinic, field, kind):
    slot = free_slots(app.test_client())[0]
    payload = booking_payload(slot)
    char = HOSTILE[kind]
    evil = {
        "patient.name": f"Ann {char}eeL",
        "patient.email": f"ann{char}lee@example.com",
        "patient.phone": f"905{char}5550123",
        "reason": f"Knee {char}pain",
        "start": f"{char}{slot['start']}",
    }[field]
    section, _, key = field.rpartition(".")
    (payload["patient"] if section else payload)[key] = evil

    response = app.test_client().post("/api/v1/bookings", json=payload)

    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert _consults(demo_clinic) == 0


def test_booking_page_refuses_a_right_to_left_override_in_the_name(app, demo_clinic):
    client = app.test_client()
    slot = free_slots(client)[0]
    response = client.post("/book", data=_form(client, slot, unique_email(), name="Ann \u202eeeL"))
    assert response.status_code == 422
    assert "Remove control or text-direction characters" in response.get_data(as_text=True)
    response = client.post(
        "/book",
        data=_form(client, slot, unique_email(), reason="other", reason_other="Knee\x00pain"),
    )
    assert response.status_code == 422
    assert _consults(demo_clinic) == 0


@pytest.mark.parametrize("param", ["day", "week"])
def test_far_future_day_on_the_booking_page_is_a_422_naming_it(app, demo_clinic, param):
    response = app.test_client().get(f"/book?{param}=9999-12-31")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f"The {param} asked for is too far ahead" in html and "Traceback" not in html


def _manage_session(app, slot):
    client = app.test_client()
    body = client.post("/api/v1/bookings", json=booking_payload(slot)).get_json()
    credential = urlsplit(body["manage_url"]).path.rsplit("/", 1)[1]
    assert client.get(f"/manage/{credential}").status_code == 303
    return client, body, credential


def test_manage_and_reschedule_refuse_hostile_input(app, demo_clinic):
    slots = free_slots(app.test_client(), provider_id=1)
    client, body, credential = _manage_session(app, slots[0])

    assert client.get("/manage?day=9999-12-31").status_code == 422
    page = client.get("/manage").get_data(as_text=True)
    moved = client.post(
        "/manage/reschedule",
        data={"csrf_token": _csrf(page), "slot": f"1|\u202e{slots[2]['start']}"},
    )
    assert moved.status_code == 422
    assert "Choose a new time" in moved.get_data(as_text=True)
    api = client.patch(
        f"/api/v1/bookings/{body['id']}",
        headers={"Authorization": f"Bearer {credential}"},
        json={"start": "\x1f" + slots[2]["start"]},
    )
    assert api.status_code == 422
    assert "start" in api.get_json()["error"]["fields"]


def _admin(app):
    client = app.test_client()
    response = client.post(
        "/api/v1/staff/session",
        json={
            "email": "admin@demo.clinic",
            "password": "demo",
            "totp": pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).at(time.time()),
        },
    )
    assert response.status_code == 200, response.get_json()
    return client


def _provider_form(client, path, **changes):
    form = {
        "csrf_token": _csrf(client.get("/admin/providers/new").get_data(as_text=True)),
        "name": "Dana Fox",
        "email": "dana.fox@demo.clinic",
        "profession": "physiotherapist",
        "registration_number": "PT-55555",
        "designations": "Physiotherapist",
        "bio": "Line one.\nLine two.",
        "active": "yes",
    }
    form.update(changes)
    return client.post(path, data=form)


def test_admin_forms_refuse_hostile_text_and_a_taken_provider_email(app, demo_clinic):
    client = _admin(app)
    for field, value in (
        ("name", "Dana\x00Fox"),
        ("registration_number", "PT-\u202e555"),
        ("designations", "Physiotherapist, \u2067Hydro"),
        ("bio", "Kind \u202e words"),
    ):
        response = _provider_form(client, "/admin/providers/new", **{field: value})
        assert response.status_code == 422, field
        assert "Remove control or text-direction characters" in response.get_data(as_text=True)

    with demo_clinic.db.sessions() as session:
        taken = session.scalars(select(Provider.email).order_by(Provider.id)).first()
    response = _provider_form(client, "/admin/providers/new", email=taken.upper())
    assert response.status_code == 422
    assert "Another provider already uses this email" in response.get_data(as_text=True)
    response = _provider_form(client, "/admin/providers/2", email=taken)
    assert response.status_code == 422

    token = _csrf(client.get("/admin/staff").get_data(as_text=True))
    response = client.post(
        "/admin/staff",
        data={
            "csrf_token": token,
            "email": "new.physio@demo.clinic",
            "name": "New \u202eoisyhP",
            "password": "a long enough password here",
            "role": "physiotherapist",
        },
    )
    assert response.status_code == 422
    response = client.post(
        "/admin/providers/1/time-off",
        data={
            "csrf_token": token,
            "starts": "2031-01-05T09:00",
            "ends": "2031-01-05T17:00",
            "note": "Course\x00",
        },
    )
    assert response.status_code == 422


# --- L2: links that leave the site come from PUBLIC_URL, never from the Host header ----


def test_forged_host_header_never_reaches_the_patients_email(app_factory, demo_clinic):
    app = app_factory(PUBLIC_URL=PUBLIC_URL)
    client = app.test_client()
    slots = free_slots(client)
    evil = {"Host": "evil.example"}
    email = unique_email()
    booked = client.post("/api/v1/bookings", json=booking_payload(slots[0], email), headers=evil)
    assert booked.status_code == 201
    assert booked.get_json()["join_url"].startswith(PUBLIC_URL + "/join/")
    assert booked.get_json()["manage_url"].startswith(PUBLIC_URL + "/manage/")
    credential = urlsplit(booked.get_json()["manage_url"]).path.rsplit("/", 1)[1]
    auth = {**evil, "Authorization": f"Bearer {credential}"}
    moved = client.patch(
        f"/api/v1/bookings/{booked.get_json()['id']}",
        headers=auth,
        json={"start": slots[4]["start"]},
    )
    assert moved.status_code == 200
    form = _form(client, slots[8], unique_email())
    form["csrf_token"] = _csrf(client.get("/book", headers=evil).get_data(as_text=True))
    assert client.post("/book", data=form, headers=evil).status_code == 303
    page = client.get("/book/confirmed", headers=evil).get_data(as_text=True)

    mails = _outbox(app)
    assert len(mails) == 3
    for message in mails:
        for part in message.walk():
            if part.get_content_maintype() == "multipart":
                continue
            content = part.get_content()
            text = content.decode() if isinstance(content, bytes) else content
            links = re.findall(r"https?://[^\s\"<>]+", text.replace("\r\n ", ""))
            assert links, part.get_content_type()
            assert "evil.example" not in text
            assert all(link.startswith(PUBLIC_URL) for link in links), links
    assert "evil.example" not in page and f"{PUBLIC_URL}/join/" in page


def test_production_never_builds_links_from_the_host_header():
    from telehealth.notify.links import PublicUrlMissing, public_root

    assert public_root({"ENV": "development", "PUBLIC_URL": ""}, "http://127.0.0.1:5000/") == (
        "http://127.0.0.1:5000"
    )
    assert public_root({"ENV": "production", "PUBLIC_URL": PUBLIC_URL + "/"}, "http://evil/") == (
        PUBLIC_URL
    )
    with pytest.raises(PublicUrlMissing):
        public_root({"ENV": "production", "PUBLIC_URL": ""}, "http://evil.example/")
