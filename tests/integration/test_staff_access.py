"""Staff accounts, roles on every route and namespace, two-step login, audit and metrics."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from telehealth.extensions import socketio
from telehealth.models import AuditEvent, StaffUser
from telehealth.signaling import cut_disabled_staff
from tests.consults import CHECK_IN, CHECKLIST, instant_consult, patient_client, staff_client
from tests.waiting import wait_until

ADMIN_PAGES = [
    "/admin",
    "/admin/providers",
    "/admin/providers/1",
    "/admin/providers/new",
    "/admin/settings",
    "/admin/staff",
    "/admin/audit",
    "/admin/audit.csv",
]
STAFF_PAGES = ["/staff", "/staff/consults/1", "/staff/consults/1/outcome"]


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False)


def _code(secret=DEMO_ADMIN_TOTP_SECRET, offset=0):
    return pyotp.TOTP(secret).at(time.time() + offset)


def admin_client(app):
    client = app.test_client()
    response = client.post(
        "/api/v1/staff/session",
        json={"email": "admin@demo.clinic", "password": "demo", "totp": _code()},
    )
    assert response.status_code == 200, response.get_json()
    return client


def _actions(clinic):
    with clinic.db.sessions() as session:
        return [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_anonymous_is_sent_to_login_from_every_staff_and_admin_page(app, demo_clinic):
    client = app.test_client()
    for path in ADMIN_PAGES + STAFF_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/staff/login" in response.headers["Location"]


def test_physiotherapist_is_refused_every_admin_page(app, demo_clinic):
    client = staff_client(app)
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path
    assert "access.denied" in _actions(demo_clinic)


def test_patient_cookie_opens_no_staff_page(app, demo_clinic):
    client = patient_client(app, instant_consult(demo_clinic))
    for path in ADMIN_PAGES + STAFF_PAGES:
        assert client.get(path).status_code == 302, path


def test_admin_is_refused_the_physiotherapist_consult_room(app, demo_clinic):
    client = admin_client(app)
    assert client.get("/staff/consults/1").status_code == 403
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 200, path


def _monitor(app, http_client):
    return socketio.test_client(app, namespace="/monitor", flask_test_client=http_client)


def test_monitor_namespace_is_for_admins_only(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    for client in (app.test_client(), staff_client(app), patient_client(app, consult)):
        assert not _monitor(app, client).is_connected("/monitor")
    assert _monitor(app, admin_client(app)).is_connected("/monitor")


def test_admin_login_needs_the_second_step(app, demo_clinic):
    client = app.test_client()
    response = client.post(
        "/api/v1/staff/session", json={"email": "admin@demo.clinic", "password": "demo"}
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "totp_required"
    wrong = client.post(
        "/api/v1/staff/session",
        json={"email": "admin@demo.clinic", "password": "demo", "totp": "000000"},
    )
    assert wrong.status_code == 401


def test_totp_code_cannot_be_replayed(app, demo_clinic):
    code = _code()
    first = app.test_client().post(
        "/api/v1/staff/session",
        json={"email": "admin@demo.clinic", "password": "demo", "totp": code},
    )
    again = app.test_client().post(
        "/api/v1/staff/session",
        json={"email": "admin@demo.clinic", "password": "demo", "totp": code},
    )
    assert first.status_code == 200 and again.status_code == 401


def test_admin_login_through_the_pages(app, demo_clinic):
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/staff/login", data={"csrf_token": token, "email": "admin@demo.clinic", "password": "demo"}
    )
    assert "Enter your code" in response.get_data(as_text=True)
    response = client.post("/staff/login/totp", data={"csrf_token": token, "code": _code()})
    assert response.status_code == 303
    assert client.get("/admin").status_code == 200
    assert "staff.login" in _actions(demo_clinic)


def test_admin_without_totp_must_enrol_before_getting_in(app, demo_clinic):
    with demo_clinic.db.transaction() as session:
        session.scalars(select(StaffUser).where(StaffUser.role == "admin")).one().totp_secret = None
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/staff/login", data={"csrf_token": token, "email": "admin@demo.clinic", "password": "demo"}
    )
    assert response.headers["Location"].endswith("/staff/totp/setup")
    setup = client.get("/staff/totp/setup").get_data(as_text=True)
    assert "data:image/svg+xml;base64," in setup
    assert client.get("/admin").status_code == 302  # not logged in yet
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', setup).group(1)
    response = client.post(
        "/staff/totp/setup", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}
    )
    assert response.status_code == 303
    assert client.get("/admin").status_code == 200
    assert "staff.totp_enrolled" in _actions(demo_clinic)


def test_wrong_passwords_are_audited_and_rate_limited(app_factory, demo_clinic):
    app = app_factory(LOGIN_RATE_LIMIT="3 per minute", SOCKETIO_MESSAGE_QUEUE=False)
    client = app.test_client()
    statuses = [
        client.post(
            "/api/v1/staff/session", json={"email": "physio@demo.clinic", "password": "nope"}
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    assert _actions(demo_clinic).count("staff.login_failed") == 3


def test_disabled_physiotherapist_is_cut_from_a_live_call(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    physio = socketio.test_client(
        app,
        namespace="/consult",
        flask_test_client=staff_client(app),
        auth={"consult_id": consult.id},
    )
    assert physio.is_connected("/consult")
    with demo_clinic.db.transaction() as session:
        session.scalars(
            select(StaffUser).where(StaffUser.email == "physio@demo.clinic")
        ).one().active = False
    assert cut_disabled_staff(app) == 1
    assert not physio.is_connected("/consult")
    assert staff_client_fails(app)


def staff_client_fails(app):
    response = app.test_client().post(
        "/api/v1/staff/session", json={"email": "physio@demo.clinic", "password": "demo"}
    )
    return response.status_code == 401


def _room_update(monitor, consult_id, wanted, timeout=5.0):
    """The latest `rooms_update` state of `consult_id` that `wanted` accepts, within `timeout`
    (updates come in one message per MONITOR_UPDATE_SECONDS)."""
    seen = []

    def shown():
        for event in monitor.get_received("/monitor"):
            if event["name"] == "rooms_update":
                rooms = event["args"][0]["rooms"]
                seen.extend(room for room in rooms if room["consult_id"] == consult_id)
        return any(wanted(room) for room in seen)

    wait_until(shown, timeout, f"the monitor showed consult {consult_id} so", every=0.02)
    return [room for room in seen if wanted(room)][-1]


def test_monitor_sees_rooms_change_and_can_end_one(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    monitor = _monitor(app, admin_client(app))
    snapshot = [e for e in monitor.get_received("/monitor") if e["name"] == "rooms"][0]
    assert consult.id in [r["consult_id"] for r in snapshot["args"][0]["rooms"]]

    patient = socketio.test_client(
        app, namespace="/consult", flask_test_client=patient_client(app, consult)
    )
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    _room_update(monitor, consult.id, lambda room: room["phase"] == "waiting")
    physio = socketio.test_client(
        app,
        namespace="/consult",
        flask_test_client=staff_client(app),
        auth={"consult_id": consult.id},
    )
    physio.emit("admit", CHECKLIST, namespace="/consult", callback=True)
    patient.emit(
        "stats",
        {"rtt_ms": 650, "loss_pct": 9.5, "bitrate_kbps": 90, "route": "relayed"},
        namespace="/consult",
        callback=True,
    )
    latest = _room_update(
        monitor, consult.id, lambda room: room["health"]["patient"].get("route") == "relayed"
    )
    assert latest["phase"] == "in_call"
    assert latest["health"]["patient"]["quality"] == "poor"
    assert "poor_quality" in latest["flags"]
    assert "sdp" not in str(latest).lower()

    ack = monitor.emit("end_room", {"consult_id": consult.id}, namespace="/monitor", callback=True)
    assert ack["ok"]
    ended = [e["args"][0] for e in patient.get_received("/consult") if e["name"] == "ended"]
    assert ended[0]["by"] == "admin" and "clinic ended" in ended[0]["reason"]
    assert "admin.force_end" in _actions(demo_clinic)


def test_audit_log_filters_and_exports_csv(app, demo_clinic):
    instant_consult(demo_clinic)
    client = admin_client(app)
    page = client.get("/admin/audit?action=booking").get_data(as_text=True)
    assert "booking.created" in page and "staff.login<" not in page
    csv_text = client.get("/admin/audit.csv?action=staff.login").get_data(as_text=True)
    assert csv_text.splitlines()[0] == "id,at,actor,action,consult_id,detail"
    assert all(",staff.login" in line for line in csv_text.splitlines()[1:])
    assert "admin.audit_viewed" in _actions(demo_clinic)


def test_audit_rows_cannot_be_rewritten(app, demo_clinic):
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DatabaseError

    with pytest.raises(DatabaseError):
        with demo_clinic.db.transaction() as session:
            session.execute(update(AuditEvent).values(action="tampered"))
    with pytest.raises(DatabaseError):
        with demo_clinic.db.transaction() as session:
            session.execute(delete(AuditEvent))


def test_metrics_report_rooms_and_events(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    patient = socketio.test_client(
        app, namespace="/consult", flask_test_client=patient_client(app, consult)
    )
    patient.emit("check_in", CHECK_IN, namespace="/consult", callback=True)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'telehealth_rooms{state="waiting"} 1.0' in text
    assert "telehealth_waiting_patients 1.0" in text
    assert 'telehealth_signaling_events_total{event="check_in"} 1.0' in text


def test_admin_hours_form_explains_a_bad_day_and_saves_a_good_one(app, demo_clinic):
    client = admin_client(app)
    page = client.get("/admin/providers/1").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    bad = client.post(
        "/admin/providers/1/hours", data={"csrf_token": token, "start_0": "17:00", "end_0": "09:00"}
    )
    assert bad.status_code == 422
    assert "Monday: give a start and a later end" in bad.get_data(as_text=True)
    good = client.post(
        "/admin/providers/1/hours", data={"csrf_token": token, "start_2": "10:00", "end_2": "12:00"}
    )
    assert good.status_code == 303
    assert 'value="10:00"' in client.get("/admin/providers/1").get_data(as_text=True)


def _connect_as(app, client, consult_id):
    return socketio.test_client(
        app, namespace="/consult", flask_test_client=client, auth={"consult_id": consult_id}
    )


@pytest.mark.parametrize("lapse", ["disabled", "must_change_password"])
def test_a_lapsed_accounts_replayed_cookie_opens_no_consult_socket(app, demo_clinic, lapse):
    """The socket's connect checks the account with the consult it loads (one query): a
    session cookie of an account disabled, or reset to a temporary password, opens nothing."""
    consult = instant_consult(demo_clinic)
    cookie_holder = staff_client(app)  # logged in while the account was fine
    assert _connect_as(app, cookie_holder, consult.id).is_connected("/consult")
    with demo_clinic.db.transaction() as session:
        user = session.scalars(
            select(StaffUser).where(StaffUser.email == "physio@demo.clinic")
        ).one()
        if lapse == "disabled":
            user.active = False
        else:
            user.must_change_password = True
    assert not _connect_as(app, cookie_holder, consult.id).is_connected("/consult")


def test_a_physiotherapist_cannot_open_another_physiotherapists_consult(app, demo_clinic):
    consult = instant_consult(demo_clinic)  # Priya's
    marco = staff_client(app, "marco@demo.clinic")
    assert not _connect_as(app, marco, consult.id).is_connected("/consult")
    assert not _connect_as(app, marco, 10_000).is_connected("/consult")  # no such consult
    assert not _connect_as(app, admin_client(app), consult.id).is_connected("/consult")
    priya = staff_client(app)
    assert _connect_as(app, priya, consult.id).is_connected("/consult")  # her own: in
