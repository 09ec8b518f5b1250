"""The public booking API against real SQL and Redis."""

from __future__ import annotations

from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from telehealth.models import AuditEvent, Consult
from tests.helpers import booking_payload, free_slots, unique_email


def test_providers_list_credentials(demo_clinic, client):
    providers = client.get("/api/v1/providers").get_json()
    by_name = {p["name"]: p for p in providers}
    assert by_name["Priya Raman"]["profession"] == "physiotherapist"
    assert by_name["Priya Raman"]["college"] == "College of Physiotherapists of Ontario"
    assert by_name["Hannah Okafor"]["profession"] == "massage_therapist"
    assert "Dry Needling Provider" in by_name["Priya Raman"]["designations"]
    assert all(p["registration_number"] for p in providers)


def test_slots_are_in_toronto_time_with_offset(demo_clinic, client):
    slots = free_slots(client)
    assert slots, "the demo clinic has weekly hours"
    for slot in slots[:20]:
        start = datetime.fromisoformat(slot["start"])
        end = datetime.fromisoformat(slot["end"])
        assert start.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
        assert end - start == timedelta(minutes=20)
    assert client.get("/api/v1/slots").get_json()["timezone"] == "America/Toronto"


def test_booking_returns_links_and_emails_the_patient(demo_clinic, client, app):
    slot = free_slots(client)[0]
    response = client.post("/api/v1/bookings", json=booking_payload(slot))
    assert response.status_code == 201
    body = response.get_json()
    assert body["start"] == slot["start"] and body["provider_id"] == slot["provider_id"]
    assert urlsplit(body["join_url"]).path.startswith("/join/")
    assert urlsplit(body["manage_url"]).path.startswith("/manage/")
    assert len(urlsplit(body["join_url"]).path.split("/")[-1]) >= 22  # >= 128 bits
    outbox = list(Path(app.config["OUTBOX_PATH"]).glob("*.eml"))
    assert len(outbox) == 1
    email = message_from_bytes(outbox[0].read_bytes(), policy=policy.default)
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert body["join_url"] in text
    assert "Knee pain" not in text  # no clinical detail in email


def test_booked_slot_disappears_from_listing(demo_clinic, client):
    slot = free_slots(client)[0]
    assert client.post("/api/v1/bookings", json=booking_payload(slot)).status_code == 201
    assert slot not in free_slots(client)


def test_second_booking_of_same_slot_gets_409(demo_clinic, client):
    slot = free_slots(client)[0]
    assert client.post("/api/v1/bookings", json=booking_payload(slot)).status_code == 201
    response = client.post("/api/v1/bookings", json=booking_payload(slot))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "slot_taken"


def test_one_free_consult_per_email(demo_clinic, client, app):
    first, second = free_slots(client)[0], free_slots(client)[5]
    email = unique_email()
    assert client.post("/api/v1/bookings", json=booking_payload(first, email)).status_code == 201
    # The answer does not say the address has consulted (see test_booking_abuse.py):
    # nothing is booked and only the address's owner is told why.
    response = client.post("/api/v1/bookings", json=booking_payload(second, email.upper()))
    assert response.status_code == 201
    with demo_clinic.db.sessions() as session:
        assert len(session.scalars(select(Consult)).all()) == 1
    outbox = sorted(
        Path(app.config["OUTBOX_PATH"]).glob("*.eml"), key=lambda f: f.stat().st_mtime_ns
    )
    last = message_from_bytes(outbox[-1].read_bytes(), policy=policy.default)
    assert "already had your free consult" in last.get_body(("plain",)).get_content()


def test_bad_input_gets_422_with_per_field_errors(demo_clinic, client):
    response = client.post(
        "/api/v1/bookings",
        json={
            "provider_id": 1,
            "start": "2027-03-15T09:00:00",  # no offset
            "patient": {"name": "", "email": "not-an-email", "phone": "12"},
            "reason": "",
            "consent": False,
        },
    )
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert set(fields) >= {
        "start",
        "patient.name",
        "patient.email",
        "patient.phone",
        "reason",
        "consent",
    }


def test_off_grid_time_is_refused(demo_clinic, client):
    slot = free_slots(client)[0]
    off_grid = (datetime.fromisoformat(slot["start"]) + timedelta(minutes=7)).isoformat()
    response = client.post("/api/v1/bookings", json=booking_payload(slot, start=off_grid))
    assert response.status_code == 409


def test_non_json_and_junk_bodies_get_clear_errors(demo_clinic, client):
    assert client.post("/api/v1/bookings", data="x").status_code == 415
    response = client.post("/api/v1/bookings", data="[1]", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_booking_is_rate_limited_per_client(app_factory, demo_clinic):
    app = app_factory(BOOKING_RATE_LIMIT="3 per minute")
    from telehealth.demo import seed_demo  # noqa: F401 - demo data is already in this database

    client = app.test_client()
    statuses = [client.post("/api/v1/bookings", json={}).status_code for _ in range(5)]
    assert statuses[:3] == [422, 422, 422]
    assert statuses[3:] == [429, 429]
    assert client.post("/api/v1/bookings", json={}).get_json()["error"]["code"] == "rate_limited"


def _book(client):
    slot = free_slots(client)[0]
    body = client.post("/api/v1/bookings", json=booking_payload(slot)).get_json()
    credential = urlsplit(body["manage_url"]).path.split("/")[-1]
    return body, {"Authorization": f"Bearer {credential}"}


def test_cancel_frees_the_slot(demo_clinic, client):
    body, auth = _book(client)
    response = client.delete(f"/api/v1/bookings/{body['id']}", headers=auth)
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    slot = {"provider_id": body["provider_id"], "start": body["start"], "end": body["end"]}
    assert slot in free_slots(client)
    assert client.delete(f"/api/v1/bookings/{body['id']}", headers=auth).status_code == 409


def test_reschedule_moves_to_new_slot_and_frees_old(demo_clinic, client):
    body, auth = _book(client)
    new_slot = [s for s in free_slots(client, body["provider_id"]) if s["start"] != body["start"]][
        3
    ]
    response = client.patch(
        f"/api/v1/bookings/{body['id']}", headers=auth, json={"start": new_slot["start"]}
    )
    assert response.status_code == 200
    assert response.get_json()["start"] == new_slot["start"]
    starts = [s["start"] for s in free_slots(client, body["provider_id"])]
    assert body["start"] in starts and new_slot["start"] not in starts


def test_reschedule_onto_a_taken_slot_keeps_the_old_one(demo_clinic, client):
    body, auth = _book(client)
    other = [s for s in free_slots(client, body["provider_id"])][2]
    assert client.post("/api/v1/bookings", json=booking_payload(other)).status_code == 201
    response = client.patch(
        f"/api/v1/bookings/{body['id']}", headers=auth, json={"start": other["start"]}
    )
    assert response.status_code == 409
    assert (
        client.get(f"/api/v1/bookings/{body['id']}", headers=auth).get_json()["start"]
        == body["start"]
    )


def test_wrong_manage_credential_gets_404(demo_clinic, client):
    body, _ = _book(client)
    response = client.delete(
        f"/api/v1/bookings/{body['id']}", headers={"Authorization": "Bearer " + "A" * 43}
    )
    assert response.status_code == 404


def test_booking_cancel_and_reschedule_are_audited(demo_clinic, client, clinic):
    body, auth = _book(client)
    new_slot = [s for s in free_slots(client, body["provider_id"]) if s["start"] != body["start"]][
        1
    ]
    client.patch(f"/api/v1/bookings/{body['id']}", headers=auth, json={"start": new_slot["start"]})
    client.delete(f"/api/v1/bookings/{body['id']}", headers=auth)
    with clinic.db.sessions() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.consult_id == body["id"])
                .order_by(AuditEvent.id)
            )
        )
        consult = session.get(Consult, body["id"])
    assert actions == ["booking.created", "booking.rescheduled", "booking.cancelled"]
    assert consult.ics_sequence == 2


def test_openapi_describes_the_contract(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert {"/providers", "/slots", "/bookings"} <= set(document["paths"])
