"""Range-of-motion measurements (the virtual goniometer): saved through the session service
as part of the consult's record, listed and deleted (with undo) on the outcome page, and
refused to everyone but the consult's own physiotherapist."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from telehealth.db import utcnow
from telehealth.extensions import socketio
from telehealth.models import AuditEvent, Consult, ConsultMeasurement
from tests.consults import CHECK_IN, CHECKLIST, instant_consult, patient_client, staff_client

KNEE = {"joint": "knee", "side": "right", "movement": "flexion", "mode": "active", "degrees": 93}


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False)


def login(app: Any, email: str = "physio@demo.clinic") -> tuple[Any, str]:
    """A staff test client and the CSRF token its JSON writes must carry."""
    client = app.test_client()
    response = client.post("/api/v1/staff/session", json={"email": email, "password": "demo"})
    assert response.status_code == 200, response.get_json()
    return client, response.get_json()["csrf_token"]


def in_call(clinic: Any, minutes_from_now: float = 0) -> int:
    """A consult of the demo physiotherapist whose patient was admitted."""
    consult = instant_consult(clinic, minutes_from_now=minutes_from_now)
    with clinic.db.sessions() as session:
        row = session.get(Consult, consult.id)
    clinic.consults.open_room(consult.id, row.starts_at, row.ends_at)
    now = utcnow()
    answers = {"location": "Vaughan", "in_ontario": "yes", "emergency_phone": "9055550100"}
    clinic.consults.check_in(consult.id, "patient", "test", answers, now)
    clinic.consults.admit(consult.id, "staff:2", now)
    return consult.id


def save(client: Any, token: str, consult_id: int, **changes: Any) -> Any:
    return client.post(
        f"/api/v1/staff/consults/{consult_id}/measurements",
        json={**KNEE, **changes},
        headers={"X-CSRFToken": token},
    )


def audit_actions(clinic: Any, consult_id: int) -> list[str]:
    with clinic.db.sessions() as session:
        query = select(AuditEvent.action).where(AuditEvent.consult_id == consult_id)
        return list(session.scalars(query.order_by(AuditEvent.id)))


def test_the_physiotherapist_saves_lists_and_deletes_measurements(app, demo_clinic):
    consult_id = in_call(demo_clinic)
    client, token = login(app)

    saved = save(client, token, consult_id)
    assert saved.status_code == 201, saved.get_json()
    body = saved.get_json()
    assert body["summary"] == "knee, right, flexion, active, 93°"
    second = save(client, token, consult_id, joint="shoulder", side="left", degrees=145)
    assert second.get_json()["summary"] == "shoulder, left, flexion, active, 145°"
    back = save(client, token, consult_id, joint="back", side="n/a", movement="extension")
    assert back.get_json()["summary"] == "back/trunk, extension, active, 93°"

    listed = client.get(f"/api/v1/staff/consults/{consult_id}/measurements").get_json()
    assert [m["degrees"] for m in listed["measurements"]] == [93, 145, 93]

    gone = client.delete(
        f"/api/v1/staff/consults/{consult_id}/measurements/{body['id']}",
        headers={"X-CSRFToken": token},
    )
    assert gone.status_code == 200
    listed = client.get(f"/api/v1/staff/consults/{consult_id}/measurements").get_json()
    assert [m["degrees"] for m in listed["measurements"]] == [145, 93]
    actions = audit_actions(demo_clinic, consult_id)
    assert actions.count("consult.measurement_recorded") == 3
    assert actions.count("consult.measurement_deleted") == 1


def test_the_outcome_page_lists_deletes_and_undoes(app, demo_clinic):
    consult_id = in_call(demo_clinic)
    demo_clinic.consults.end(consult_id, "provider", "staff:2", utcnow())
    client, token = login(app)
    measurement_id = save(client, token, consult_id).get_json()["id"]  # after the call, too

    page = client.get(f"/staff/consults/{consult_id}/outcome").get_data(as_text=True)
    assert "knee, right, flexion, active, 93°" in page
    assert 'aria-label="Delete knee, right, flexion, active, 93°"' in page

    deleted = client.post(
        f"/staff/consults/{consult_id}/measurements/{measurement_id}/delete",
        data={"csrf_token": token},
    )
    assert deleted.status_code == 303
    page = client.get(deleted.headers["Location"]).get_data(as_text=True)
    assert "Deleted: knee, right, flexion, active, 93°." in page
    assert "Undo" in page
    assert "No measurements are kept for this consult." in page

    restored = client.post(
        f"/staff/consults/{consult_id}/measurements/{measurement_id}/restore",
        data={"csrf_token": token},
    )
    page = client.get(restored.headers["Location"]).get_data(as_text=True)
    assert "Restored: knee, right, flexion, active, 93°." in page
    assert 'aria-label="Delete knee, right, flexion, active, 93°"' in page
    actions = audit_actions(demo_clinic, consult_id)
    assert "consult.measurement_deleted" in actions
    assert "consult.measurement_restored" in actions


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"degrees": 181}, "degrees"),
        ({"degrees": -1}, "degrees"),
        ({"degrees": 92.5}, "degrees"),
        ({"degrees": "93; drop table"}, "degrees"),
        ({"degrees": True}, "degrees"),
        ({"joint": "toe"}, "joint"),
        ({"side": "both"}, "side"),
        ({"movement": "twirl"}, "movement"),
        ({"mode": "assisted"}, "mode"),
    ],
)
def test_bad_input_gets_a_clear_400(app, demo_clinic, changes, field):
    consult_id = in_call(demo_clinic)
    client, token = login(app)
    response = save(client, token, consult_id, **changes)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert error["message"]
    assert list(error["fields"]) == [field]
    assert audit_actions(demo_clinic, consult_id).count("consult.measurement_recorded") == 0


def test_a_body_that_is_not_json_is_refused(app, demo_clinic):
    consult_id = in_call(demo_clinic)
    client, token = login(app)
    response = client.post(
        f"/api/v1/staff/consults/{consult_id}/measurements",
        data="degrees=93",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


def test_no_measurement_before_the_patient_is_admitted(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    client, token = login(app)
    response = save(client, token, consult.id)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "wrong_phase"


def test_another_physiotherapist_cannot_save_list_or_delete(app, demo_clinic):
    consult_id = in_call(demo_clinic)
    owner, owner_token = login(app)
    measurement_id = save(owner, owner_token, consult_id).get_json()["id"]
    other, token = login(app, "marco@demo.clinic")

    assert save(other, token, consult_id).status_code == 404
    assert other.get(f"/api/v1/staff/consults/{consult_id}/measurements").status_code == 404
    deleted = other.delete(
        f"/api/v1/staff/consults/{consult_id}/measurements/{measurement_id}",
        headers={"X-CSRFToken": token},
    )
    assert deleted.status_code == 404
    page_delete = other.post(
        f"/staff/consults/{consult_id}/measurements/{measurement_id}/delete",
        data={"csrf_token": token},
    )
    assert page_delete.status_code == 404
    assert "access.denied" in audit_actions(demo_clinic, consult_id)
    assert len(demo_clinic.consults.measurements(consult_id)) == 1


def test_a_measurement_id_of_another_consult_is_not_found(app, demo_clinic):
    first, second = in_call(demo_clinic), in_call(demo_clinic, minutes_from_now=-30)
    client, token = login(app)
    measurement_id = save(client, token, first).get_json()["id"]
    response = client.delete(
        f"/api/v1/staff/consults/{second}/measurements/{measurement_id}",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 404
    assert len(demo_clinic.consults.measurements(first)) == 1


def test_patients_and_anonymous_requests_are_refused(app, demo_clinic):
    consult_id = in_call(demo_clinic)
    owner, owner_token = login(app)
    measurement_id = save(owner, owner_token, consult_id).get_json()["id"]
    patient = patient_client(app, instant_consult(demo_clinic, minutes_from_now=5))
    for client in (patient, app.test_client()):
        assert client.post(
            f"/api/v1/staff/consults/{consult_id}/measurements", json=KNEE
        ).status_code in (400, 401)  # no CSRF token, or no login: never saved
        listed = client.get(f"/api/v1/staff/consults/{consult_id}/measurements")
        assert listed.status_code == 401
        assert listed.get_json()["error"]["code"] == "unauthorized"
        deleted = client.delete(
            f"/api/v1/staff/consults/{consult_id}/measurements/{measurement_id}"
        )
        assert deleted.status_code in (400, 401)
    assert len(demo_clinic.consults.measurements(consult_id)) == 1


def test_a_logged_in_cookie_without_the_csrf_token_cannot_save(app, demo_clinic):
    consult_id = in_call(demo_clinic)
    client, _token = login(app)
    forged = client.post(f"/api/v1/staff/consults/{consult_id}/measurements", json=KNEE)
    assert forged.status_code == 400
    assert forged.get_json()["error"]["code"] == "csrf_failed"
    assert demo_clinic.consults.measurements(consult_id) == []


def test_the_database_itself_refuses_an_impossible_angle(demo_clinic):
    consult_id = in_call(demo_clinic)
    with pytest.raises(Exception, match="(?i)check"):  # noqa: PT011 - SQLite's or PostgreSQL's
        with demo_clinic.db.transaction() as session:
            session.add(
                ConsultMeasurement(
                    consult_id=consult_id,
                    joint="knee",
                    side="left",
                    movement="flexion",
                    mode="active",
                    degrees=200,
                    taken_by=2,
                )
            )


# -- the patient's notice: `measuring` relayed as `peer_measuring` -----------------------------


def _socket(app: Any, http_client: Any, auth: dict[str, Any]) -> Any:
    client = socketio.test_client(
        app, namespace="/consult", flask_test_client=http_client, auth=auth
    )
    assert client.is_connected("/consult")
    return client


def _received(client: Any, name: str) -> list[Any]:
    return [e["args"][0] for e in client.get_received("/consult") if e["name"] == name]


def test_the_patient_hears_that_the_physiotherapist_is_measuring(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    patient = _socket(app, patient_client(app, consult), {"device": "Phone"})
    provider = _socket(app, staff_client(app), {"consult_id": consult.id, "device": "Desk"})

    early = provider.emit("measuring", {"active": True}, namespace="/consult", callback=True)
    assert early["ok"] is False and early["error"]["code"] == "wrong_phase"
    assert patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)["ok"]
    assert provider.emit("admit", CHECKLIST, namespace="/consult", callback=True)["ok"]
    patient.get_received("/consult")

    for active in (True, False):
        ack = provider.emit("measuring", {"active": active}, namespace="/consult", callback=True)
        assert ack["ok"] is True
    assert _received(patient, "peer_measuring") == [{"active": True}, {"active": False}]
    assert _received(provider, "peer_measuring") == []  # never echoed to the sender

    bad = provider.emit("measuring", {"active": "yes"}, namespace="/consult", callback=True)
    assert bad["ok"] is False and "active" in bad["fields"]
    # The patient cannot make the physiotherapist's page (or their own) say anything.
    forged = patient.emit("measuring", {"active": True}, namespace="/consult", callback=True)
    assert forged["ok"] is False and forged["error"]["code"] == "unauthorized"
    assert _received(provider, "peer_measuring") == []
