"""The "Test your setup" page and its connection check's token, on real Redis and SQL.

The setup link's token is the only thing that lets a socket on /setup reach a media worker:
an anonymous socket, a forged, tampered, expired or moved token, and a cancelled booking's
token are all refused at connect, and a valid token's checks share the consult's budget.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from telehealth.booking.notices import notice_for
from telehealth.consult.setup import setup_path
from telehealth.consult.setup_token import make_setup_token
from telehealth.db import utcnow
from telehealth.extensions import socketio
from telehealth.models import Consult
from telehealth.notify.messages import booking_confirmation, reminder
from tests.consults import instant_consult

SETUP = "/setup"
CHECKS_PER_HOUR = 10


@pytest.fixture
def app(app_factory):
    return app_factory(
        SOCKETIO_MESSAGE_QUEUE=False, SOCKET_EVENTS_PER_SECOND=1_000, SOCKET_EVENT_BURST=1_000
    )


@pytest.fixture
def consult(demo_clinic):
    return instant_consult(demo_clinic, minutes_from_now=3 * 24 * 60)


@pytest.fixture
def token(demo_clinic, consult) -> str:
    with demo_clinic.db.sessions() as db_session:
        row = db_session.get(Consult, consult.id)
        return _token_of(setup_path(demo_clinic, row))


@pytest.fixture
def worker(app):
    client = socketio.test_client(
        app, namespace="/media", auth={"service_token": app.config["MEDIA_SERVICE_TOKEN"]}
    )
    assert client.is_connected("/media")
    return client


def _token_of(path: str) -> str:
    return parse_qs(urlsplit(path).query)["token"][0]


def _setup_socket(app: Any, auth: Any) -> Any:
    return socketio.test_client(
        app, namespace=SETUP, flask_test_client=app.test_client(), auth=auth
    )


def _offer() -> dict[str, Any]:
    return {"description": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}


def _requests(worker: Any) -> list[dict[str, Any]]:
    return [e["args"][0] for e in worker.get_received("/media") if e["name"] == "precheck_request"]


def test_anyone_gets_the_device_test_without_the_connection_check(client):
    page = client.get(SETUP)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Test your setup" in html and "Play a test sound" in html
    assert 'data-connection-check="no"' in html
    assert "from your confirmation email" in html
    assert 'id="precheck-button"' not in html


def test_the_setup_link_adds_the_connection_check(client, token):
    html = client.get(f"{SETUP}?token={token}").get_data(as_text=True)
    assert 'data-connection-check="yes"' in html
    assert 'id="precheck-button"' in html
    assert f'data-setup-token="{token}"' in html


@pytest.mark.parametrize("bad", ["junk", "1.2.abc", "9" * 200, "<script>alert(1)</script>"])
def test_a_bad_token_gets_the_device_test_and_a_plain_note_never_a_500(client, bad):
    page = client.get(SETUP, query_string={"token": bad})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "expired or was replaced" in html
    assert 'data-connection-check="no"' in html
    assert "<script>alert(1)" not in html


def test_the_confirmation_and_the_reminder_link_the_setup_page(demo_clinic, consult):
    with demo_clinic.db.sessions() as db_session:
        row = db_session.get(Consult, consult.id)
        _ = row.patient.name, row.provider.name
        notice = notice_for(demo_clinic, row, "http://clinic.test/")
    for email in (booking_confirmation(notice), reminder(notice, 24)):
        text = email.get_body(("plain",)).get_content()
        assert "Test your setup" in text
        assert re.search(r"http://clinic\.test/setup\?token=\d+\.\d+\.[\w-]+", text), text


def test_the_manage_page_links_the_setup_page(app, consult):
    client = app.test_client()
    assert client.get(f"/manage/{consult.manage_credential}").status_code == 303
    html = client.get("/manage").get_data(as_text=True)
    assert re.search(r'href="/setup\?token=\d+\.\d+\.[\w-]+"', html), html


# -- attacks on /setup's socket --------------------------------------------------------


def test_a_socket_with_no_token_is_refused_at_connect(app, worker):
    for auth in (None, {}, {"setup_token": None}, {"setup_token": 12}, {"join_credential": "x"}):
        client = _setup_socket(app, auth)
        assert not client.is_connected(SETUP), auth
    assert _requests(worker) == []


def test_forged_tampered_and_moved_tokens_are_refused(app, demo_clinic, consult, token, worker):
    consult_id, expires, mac = token.split(".")
    later = str(int(expires) + 86_400)
    other = instant_consult(demo_clinic, minutes_from_now=4 * 24 * 60)
    forged = [
        f"{consult_id}.{expires}.{'A' * len(mac)}",  # a made-up signature
        f"{consult_id}.{later}.{mac}",  # stretched expiry
        f"{other.id}.{expires}.{mac}",  # another consult's id
        make_setup_token("not-the-secret-key", consult.id, "nonce", utcnow() + timedelta(1)),
    ]
    for bad in forged:
        client = _setup_socket(app, {"setup_token": bad})
        assert not client.is_connected(SETUP), bad
    assert _requests(worker) == []


def test_an_expired_token_is_refused(app, demo_clinic, consult, worker):
    with demo_clinic.db.sessions() as db_session:
        nonce = db_session.get(Consult, consult.id).join_nonce
    expired = make_setup_token(
        app.config["SECRET_KEY"], consult.id, nonce, utcnow() - timedelta(seconds=1)
    )
    assert not _setup_socket(app, {"setup_token": expired}).is_connected(SETUP)


def test_a_cancelled_bookings_token_stops_working(app, consult, token):
    client = app.test_client()
    client.get(f"/manage/{consult.manage_credential}")
    connected = _setup_socket(app, {"setup_token": token})
    assert connected.is_connected(SETUP)
    with app.app_context():
        from telehealth.booking.service import cancel_consult
        from telehealth.clinic import current_clinic

        clinic = current_clinic()
        cancel_consult(clinic.db, consult.manage_credential, utcnow(), clinic.consults)
    ack = connected.emit("precheck_ice", {}, namespace=SETUP, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "wrong_phase"
    assert not _setup_socket(app, {"setup_token": token}).is_connected(SETUP)


def test_a_valid_token_runs_the_check_through_a_worker_and_gets_the_answer(app, token, worker):
    browser = _setup_socket(app, {"setup_token": token})
    assert browser.is_connected(SETUP)
    ack = browser.emit("precheck_offer", _offer(), namespace=SETUP, callback=True)
    assert ack["ok"], ack
    (request,) = _requests(worker)
    worker.emit(
        "precheck_answer",
        {"check_id": request["check_id"], "description": {"type": "answer", "sdp": "v=0\r\n"}},
        namespace="/media",
        callback=True,
    )
    answers = [e for e in browser.get_received(SETUP) if e["name"] == "precheck_answer"]
    assert answers and answers[0]["args"][0]["check_id"] == request["check_id"]


def test_only_the_check_runs_on_setup_sockets(app, token):
    browser = _setup_socket(app, {"setup_token": token})
    for event in ("check_in", "chat", "signal", "admit", "end"):
        ack = browser.emit(event, {}, namespace=SETUP, callback=True)
        assert ack["ok"] is False and ack["error"]["code"] == "unknown_event", event


def test_setup_checks_share_the_consults_hourly_budget(app, token, worker):
    browser = _setup_socket(app, {"setup_token": token})
    acks = []
    for _ in range(CHECKS_PER_HOUR + 1):  # the socket's event budget allows a dozen
        ack = browser.emit("precheck_offer", _offer(), namespace=SETUP, callback=True)
        acks.append(ack)
        if ack.get("ok"):
            worker.emit("precheck_done", {"check_id": ack["check_id"]}, namespace="/media")
    assert sum(1 for a in acks if a.get("ok")) == CHECKS_PER_HOUR
    assert {a["error"]["code"] for a in acks[CHECKS_PER_HOUR:]} == {"precheck_budget"}
    # Reconnecting with the same link buys nothing: the budget is the consult's.
    again = _setup_socket(app, {"setup_token": token})
    ack = again.emit("precheck_offer", _offer(), namespace=SETUP, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "precheck_budget"


def test_a_flooding_setup_socket_is_throttled_then_cut_off(app_factory, demo_clinic):
    app = app_factory(SOCKETIO_MESSAGE_QUEUE=False)
    consult = instant_consult(app.extensions["clinic"], minutes_from_now=2 * 24 * 60)
    with app.extensions["clinic"].db.sessions() as db_session:
        token = _token_of(setup_path(app.extensions["clinic"], db_session.get(Consult, consult.id)))
    browser = _setup_socket(app, {"setup_token": token})
    codes = []
    for _ in range(60):
        if not browser.is_connected(SETUP):
            break
        ack = browser.emit("precheck_stop", {"check_id": "x"}, namespace=SETUP, callback=True)
        codes.append(ack.get("error", {}).get("code") if isinstance(ack, dict) else None)
    assert "rate_limited" in codes
    assert not browser.is_connected(SETUP)


def test_a_guesser_is_turned_away_even_with_a_valid_token_afterwards(app_factory, demo_clinic):
    app = app_factory(SOCKETIO_MESSAGE_QUEUE=False, CONNECT_REFUSALS_PER_MINUTE=5)
    clinic = app.extensions["clinic"]
    consult = instant_consult(clinic, minutes_from_now=2 * 24 * 60)
    with clinic.db.sessions() as db_session:
        token = _token_of(setup_path(clinic, db_session.get(Consult, consult.id)))
    for guess in range(5):
        forged = {"setup_token": f"{guess}.9999999999.{'A' * 22}"}
        assert not _setup_socket(app, forged).is_connected(SETUP)
    # Past the limit the address is refused before any lookup: guessing costs a minute.
    assert not _setup_socket(app, {"setup_token": token}).is_connected(SETUP)
