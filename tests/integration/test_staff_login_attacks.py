"""Attacks on the staff login, its sessions and the staff-only endpoints, sent as raw requests.

Each test is what an outsider (or a thief holding only a password or an old cookie) would
try; each asserts the refusal they get.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pyotp
import pytest
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from telehealth.extensions import socketio
from telehealth.models import AuditEvent, StaffUser
from tests.consults import instant_consult, patient_client, staff_client

STRONG = "correct horse battery staple 42"


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False)


def _csrf(client, path="/staff/login"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _password_step(client, email="admin@demo.clinic", password="demo", query=""):
    token = _csrf(client)
    response = client.post(
        f"/staff/login{query}", data={"csrf_token": token, "email": email, "password": password}
    )
    return token, response


def _user(clinic, email):
    with clinic.db.sessions() as session:
        return session.scalars(select(StaffUser).where(StaffUser.email == email)).one()


def _actions(clinic):
    with clinic.db.sessions() as session:
        return [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def _admin(app):
    client = app.test_client()
    code = pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).now()
    response = client.post(
        "/api/v1/staff/session",
        json={"email": "admin@demo.clinic", "password": "demo", "totp": code},
    )
    assert response.status_code == 200, response.get_json()
    return client


def _session_cookie(client):
    return client.get_cookie("session").value


# --- C1: the second factor cannot be skipped or replaced with a password alone -------------


def test_password_alone_cannot_enrol_a_new_second_factor_over_the_old_one(app, demo_clinic):
    thief = app.test_client()
    token, response = _password_step(thief)
    assert "Enter your code" in response.get_data(as_text=True)
    setup = thief.get("/staff/totp/setup")
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', setup.get_data(as_text=True))
    if secret:  # the page must not offer one; if it does, the posted code must not count
        thief.post(
            "/staff/totp/setup",
            data={"csrf_token": token, "code": pyotp.TOTP(secret.group(1)).now()},
        )
    assert thief.get("/admin").status_code == 302
    assert thief.get("/staff").status_code == 302
    assert _user(demo_clinic, "admin@demo.clinic").totp_secret == DEMO_ADMIN_TOTP_SECRET


def test_code_step_without_a_recent_password_step_is_refused(app, demo_clinic):
    client = app.test_client()
    token = _csrf(client)
    code = pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).now()
    assert client.post("/staff/login/totp", data={"csrf_token": token, "code": code}).status_code
    assert client.get("/admin").status_code == 302
    _password_step(client)
    with client.session_transaction() as session:  # the password step was six minutes ago
        session["login_pending"] = {**session["login_pending"], "at": time.time() - 360}
    client.post("/staff/login/totp", data={"csrf_token": token, "code": code})
    assert client.get("/admin").status_code == 302


def test_enrolment_page_is_closed_to_anyone_without_the_password_step(app, demo_clinic):
    client = app.test_client()
    assert client.get("/staff/totp/setup").status_code == 303
    _password_step(client, "physio@demo.clinic", "demo")  # logged in: no second factor yet
    assert client.get("/staff/totp/setup").status_code == 200


def test_logged_in_admin_replaces_the_secret_only_with_a_current_code_of_the_old_one(
    app, demo_clinic
):
    admin = _admin(app)
    page = admin.get("/staff/totp/setup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    new = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    refused = admin.post(
        "/staff/totp/setup", data={"csrf_token": token, "code": pyotp.TOTP(new).now()}
    )
    assert refused.status_code == 401
    assert _user(demo_clinic, "admin@demo.clinic").totp_secret == DEMO_ADMIN_TOTP_SECRET
    old_code = pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).at(time.time() + 30)
    accepted = admin.post(
        "/staff/totp/setup",
        data={"csrf_token": token, "code": pyotp.TOTP(new).now(), "current_code": old_code},
    )
    assert accepted.status_code == 303
    assert _user(demo_clinic, "admin@demo.clinic").totp_secret == new
    assert "staff.totp_replaced" in _actions(demo_clinic)


def test_admin_reset_of_the_second_factor_forces_enrolment_at_next_login(app, demo_clinic):
    physio = _user(demo_clinic, "physio@demo.clinic")
    with demo_clinic.db.transaction() as session:
        session.get(StaffUser, physio.id).totp_secret = pyotp.random_base32()
    admin = _admin(app)
    token = _csrf(admin, "/admin/staff")
    reset = admin.post(f"/admin/staff/{physio.id}/reset-totp", data={"csrf_token": token})
    assert reset.status_code == 303
    assert "admin.staff_totp_reset" in _actions(demo_clinic)

    client = app.test_client()
    _, response = _password_step(client, "physio@demo.clinic", "demo")
    assert response.headers["Location"].endswith("/staff/totp/setup")
    assert client.get("/staff").status_code == 302  # not in before the new secret is confirmed
    api = app.test_client().post(
        "/api/v1/staff/session", json={"email": "physio@demo.clinic", "password": "demo"}
    )
    assert api.status_code == 403


# --- M1 and L3: sessions live on the server, the cookie is an opaque id --------------------


def test_a_replayed_cookie_is_dead_after_logout_from_any_browser(app, demo_clinic):
    client = staff_client(app)
    stolen = _session_cookie(client)
    token = _csrf(client, "/staff")
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 303
    other_browser = app.test_client()
    other_browser.set_cookie("session", stolen)
    assert other_browser.get("/staff").status_code == 302


def test_changing_the_password_ends_every_other_session(app, demo_clinic):
    laptop, phone = staff_client(app), staff_client(app)
    token = _csrf(laptop, "/staff/password")
    response = laptop.post(
        "/staff/password",
        data={"csrf_token": token, "current_password": "demo", "new_password": STRONG},
    )
    assert response.status_code == 303
    assert phone.get("/staff").status_code == 302
    assert laptop.get("/staff").status_code == 200
    assert "staff.password_changed" in _actions(demo_clinic)


def test_deactivated_staff_lose_their_sessions(app, demo_clinic):
    physio = staff_client(app)
    admin = _admin(app)
    user = _user(demo_clinic, "physio@demo.clinic")
    token = _csrf(admin, "/admin/staff")
    admin.post(f"/admin/staff/{user.id}/active", data={"csrf_token": token, "active": "no"})
    with demo_clinic.db.transaction() as session:  # enabled again: the old session stays dead
        session.get(StaffUser, user.id).active = True
    assert physio.get("/staff").status_code == 302


def test_a_logged_out_physiotherapist_is_cut_from_live_sockets(app, demo_clinic):
    from telehealth.signaling import cut_disabled_staff

    consult = instant_consult(demo_clinic)
    http = staff_client(app)
    physio = socketio.test_client(
        app, namespace="/consult", flask_test_client=http, auth={"consult_id": consult.id}
    )
    assert physio.is_connected("/consult")
    http.post("/staff/logout", data={"csrf_token": _csrf(http, "/staff")})
    assert cut_disabled_staff(app) == 1
    assert not physio.is_connected("/consult")


def test_the_session_cookie_holds_no_readable_data(app, demo_clinic):
    client = staff_client(app)
    value = _session_cookie(client)
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", value), value
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    with pytest.raises(Exception):  # noqa: B017 - any failure to read it will do
        serializer.loads(value)


def test_pages_with_patient_or_staff_data_are_never_cached(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    staff = staff_client(app)
    responses = [
        app.test_client().get(f"/join/{consult.join_credential}"),
        app.test_client().get(f"/manage/{consult.manage_credential}"),
        patient_client(app, consult).get(f"/join/{consult.join_credential}"),
        staff.get("/staff"),
        staff.get(f"/staff/consults/{consult.id}"),
        _admin(app).get("/admin/staff"),
        app.test_client().get("/staff/login"),
    ]
    for response in responses:
        assert "no-store" in response.headers.get("Cache-Control", ""), response.request.path


# --- M2: no open redirect after login ------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/staff",
        "/%0d%0a/evil.example",
        "/\t/evil.example",
        "/%5cevil.example",
        "javascript:alert(1)",
    ],
)
def test_login_never_redirects_off_site(app, demo_clinic, target):
    client = app.test_client()
    _, response = _password_step(client, "physio@demo.clinic", "demo", f"?next={target}")
    location = response.headers["Location"]
    cleaned = re.sub(r"[\t\r\n]", "", location)
    parts = urlsplit(cleaned)
    assert parts.netloc in ("", "localhost"), location
    assert not cleaned.startswith(("//", "/\\")), location
    assert parts.path.startswith("/staff"), location


def test_login_follows_next_to_a_known_staff_page(app, demo_clinic):
    consult = instant_consult(demo_clinic)
    client = app.test_client()
    _, response = _password_step(
        client, "physio@demo.clinic", "demo", f"?next=/staff/consults/{consult.id}"
    )
    assert response.headers["Location"].endswith(f"/staff/consults/{consult.id}")


# --- L1: one password rule, only failures throttled, admin resets --------------------------


@pytest.mark.parametrize("weak", ["demo", "abcd", "short pass", "password1234", "123456789012"])
def test_weak_passwords_are_refused_everywhere(app, demo_clinic, weak):
    admin = _admin(app)
    token = _csrf(admin, "/admin/staff")
    response = admin.post(
        "/admin/staff",
        data={
            "csrf_token": token,
            "name": "New Person",
            "email": f"new{len(weak)}@demo.clinic",
            "password": weak,
            "role": "physiotherapist",
        },
    )
    assert response.status_code == 422
    physio = staff_client(app)
    token = _csrf(physio, "/staff/password")
    change = physio.post(
        "/staff/password",
        data={"csrf_token": token, "current_password": "demo", "new_password": weak},
    )
    assert change.status_code == 422


def test_login_throttle_counts_only_failures(app_factory, demo_clinic):
    app = app_factory(LOGIN_RATE_LIMIT="3 per minute", SOCKETIO_MESSAGE_QUEUE=False)
    good = [
        app.test_client()
        .post("/api/v1/staff/session", json={"email": "physio@demo.clinic", "password": "demo"})
        .status_code
        for _ in range(5)
    ]
    assert good == [200] * 5
    bad = [
        app.test_client()
        .post("/api/v1/staff/session", json={"email": "physio@demo.clinic", "password": "x"})
        .status_code
        for _ in range(4)
    ]
    assert bad == [401, 401, 401, 429]


def test_admin_password_reset_makes_the_person_choose_a_new_one(app, demo_clinic):
    user = _user(demo_clinic, "physio@demo.clinic")
    old_session = staff_client(app)
    admin = _admin(app)
    token = _csrf(admin, "/admin/staff")
    reset = admin.post(f"/admin/staff/{user.id}/reset-password", data={"csrf_token": token})
    assert reset.status_code == 200
    temporary = re.search(r'<code class="secret">([^<]+)</code>', reset.get_data(as_text=True))
    assert temporary and len(temporary.group(1)) >= 12
    assert old_session.get("/staff").status_code == 302  # the reset ended their sessions
    assert "admin.staff_password_reset" in _actions(demo_clinic)

    client = app.test_client()
    assert _password_step(client, "physio@demo.clinic", "demo")[1].status_code == 401
    _, response = _password_step(client, "physio@demo.clinic", temporary.group(1))
    assert response.headers["Location"].endswith("/staff/password/new")
    assert client.get("/staff").status_code == 302  # not in before choosing a new one
    token = _csrf(client, "/staff/password/new")
    done = client.post("/staff/password/new", data={"csrf_token": token, "new_password": STRONG})
    assert done.status_code == 303
    assert client.get("/staff").status_code == 200


# --- L9: a cookie alone cannot make the server create a consult ----------------------------


def test_probe_consult_api_refuses_a_cookie_post_without_csrf_token(app, demo_clinic):
    client = app.test_client()
    login = client.post(
        "/api/v1/staff/session", json={"email": "physio@demo.clinic", "password": "demo"}
    )
    forged = client.post("/api/v1/staff/probe-consults", json={})
    assert forged.status_code in (400, 403)
    assert forged.get_json()["error"]["code"] == "csrf_failed"
    token = login.get_json()["csrf_token"]
    made = client.post("/api/v1/staff/probe-consults", json={}, headers={"X-CSRFToken": token})
    assert made.status_code == 201


# --- L12: metrics are not for everyone -----------------------------------------------------


def test_metrics_need_the_token_from_outside(app_factory, demo_clinic):
    app = app_factory(METRICS_TOKEN="m" * 40, SOCKETIO_MESSAGE_QUEUE=False)
    outsider = {"REMOTE_ADDR": "203.0.113.9"}
    assert app.test_client().get("/metrics", environ_base=outsider).status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * 40}
    assert (
        app.test_client().get("/metrics", environ_base=outsider, headers=wrong).status_code == 401
    )
    right = {"Authorization": "Bearer " + "m" * 40}
    ok = app.test_client().get("/metrics", environ_base=outsider, headers=right)
    assert ok.status_code == 200 and b"telehealth_" in ok.data


def test_a_redis_restart_neither_logs_staff_out_nor_brings_a_revoked_session_back(app, demo_clinic):
    """Redis keeps no files: sessions live in SQL, so its restart changes nothing here."""
    working, stolen_client = staff_client(app), staff_client(app)
    stolen = _session_cookie(stolen_client)
    stolen_client.post("/staff/logout", data={"csrf_token": _csrf(stolen_client, "/staff")})
    demo_clinic.redis.flushdb()
    assert working.get("/staff").status_code == 200
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/staff").status_code == 302


def test_the_database_holds_no_usable_session_id(app, demo_clinic):
    from telehealth.models import WebSession

    client = staff_client(app)
    sid = _session_cookie(client)
    with demo_clinic.db.sessions() as session:
        stored = list(session.scalars(select(WebSession.id_hash)))
    assert stored and sid not in stored
