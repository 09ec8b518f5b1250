"""Two Chromium pages meet in a consult: check-in, admit, video both ways, chat, mute,
reconnect, the shortened clock; and the admin's live monitor of the same room."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest

from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from tests.waiting import wait_until

FRAMES_DECODED = """async () => {
  const call = window.telehealthCall;
  if (!call || !call.pc) return 0;
  const stats = await call.pc.getStats();
  let frames = 0;
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0;
  });
  return frames;
}"""


def visible(locator: Any) -> Any:
    return locator.filter(visible=True)


def wait_for_frames(page: Any, timeout: float = 15) -> float:
    started = time.monotonic()
    seen = wait_until(
        lambda: page.evaluate(FRAMES_DECODED) > 0, timeout, "a decoded remote frame", 0.03
    )
    return seen - started


def staff_login(page: Any, url: str, email: str, totp_secret: str | None = None) -> None:
    page.goto(url + "/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log in").click()
    if totp_secret:
        page.get_by_label("Six-digit code").fill(pyotp.TOTP(totp_secret).now())
        page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(staff|admin)$"))


def check_in(page: Any, join_url: str) -> None:
    page.goto(join_url)
    page.wait_for_url(re.compile(r"/consult$"))
    page.get_by_label("Your location (city)").fill("Vaughan")
    page.get_by_label("Yes").check()
    page.get_by_label("Emergency contact phone").fill("905-555-0100")
    page.get_by_label("I am in a private place").check()
    page.get_by_role("button", name="Join waiting room").click()
    page.get_by_role("heading", name="You’re in the waiting room").wait_for()


def admit(page: Any) -> float:
    page.get_by_text(re.compile("waiting", re.I)).first.wait_for()
    for label in (
        "Identity confirmed",
        "Patient location confirmed",
        "Emergency contact confirmed",
    ):
        page.get_by_label(label).check()
    clicked = time.monotonic()
    page.get_by_role("button", name="Admit").click()
    return clicked


@pytest.mark.slow
def test_patient_and_physiotherapist_meet_in_chromium(live_server_factory, new_page):
    server = live_server_factory(
        CALL_LENGTH_SECONDS="45", CALL_WARNING_SECONDS="25,12", CALL_GRACE_SECONDS="1"
    )
    booked = server.book_now()
    physio, patient = new_page(), new_page(viewport={"width": 390, "height": 844})
    staff_login(physio, server.url, "physio@demo.clinic")
    physio.goto(booked["staff_url"])
    check_in(patient, booked["join_url"])
    assert "/join/" not in patient.url  # the credential left the address bar

    clicked = admit(physio)
    wait_for_frames(patient)
    admit_to_frame = time.monotonic() - clicked
    wait_for_frames(physio)
    print(f"browser admit -> first decoded frame: {admit_to_frame:.3f} s")
    assert admit_to_frame < 5  # the goal (<= 1 s) is measured and reported, not timed here
    assert patient.get_by_role("timer").is_visible()

    visible(patient.get_by_label("Message")).fill("My left knee hurts on stairs")
    visible(patient.get_by_role("button", name="Send")).click()
    physio.get_by_role("log").get_by_text("My left knee hurts on stairs").wait_for()

    patient.get_by_role("button", name="Mute").click()
    assert patient.get_by_role("button", name="Unmute").is_visible()
    physio.get_by_text(re.compile("muted", re.I)).first.wait_for()

    # The patient's signaling socket drops and comes back: same call, no second admit.
    first_socket = patient.evaluate("window.telehealthCall.socket.id")
    patient.evaluate("window.telehealthCall.socket.io.engine.close()")
    frames_before = patient.evaluate(FRAMES_DECODED)
    patient.wait_for_function(
        "id => window.telehealthCall.socket.connected && window.telehealthCall.socket.id !== id",
        arg=first_socket,
        timeout=15_000,
    )
    wait_until(
        lambda: patient.evaluate(FRAMES_DECODED) > frames_before, 10, "video after the reconnect"
    )
    assert patient.get_by_role("button", name="End call").is_visible()

    # The server's warnings (25 s, then 12 s left), then its end of the call at 45 s.
    patient.get_by_text("12 seconds left").wait_for(timeout=45_000)
    patient.wait_for_url(re.compile(r"/consult/ended$"), timeout=30_000)
    physio.wait_for_url(re.compile(r"/outcome$"), timeout=10_000)
    assert patient.get_by_role("heading", name="Thank you for your consult").is_visible()
    assert physio.get_by_text("Recommended service").is_visible()


@pytest.mark.slow
def test_admin_monitor_follows_a_room_and_ends_it(live_server, new_page):
    booked = live_server.book_now()
    admin, physio, patient = new_page(), new_page(), new_page()
    staff_login(admin, live_server.url, "admin@demo.clinic", DEMO_ADMIN_TOTP_SECRET)
    admin.goto(live_server.url + "/admin")
    row = admin.locator(f'#rooms tr[data-consult="{booked["id"]}"]')
    row.wait_for()
    staff_login(physio, live_server.url, "physio@demo.clinic")
    physio.goto(booked["staff_url"])

    check_in(patient, booked["join_url"])
    checked_in = time.monotonic()
    row.get_by_text("Patient waiting").wait_for(timeout=5_000)
    print(f"monitor shows the waiting patient after {time.monotonic() - checked_in:.3f} s")
    assert time.monotonic() - checked_in < 1.5

    admit(physio)
    row.get_by_text("In call").wait_for(timeout=5_000)
    row.get_by_text(re.compile(r"\d+ ms")).first.wait_for(timeout=15_000)  # call health

    admin.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("End room")).click()
    patient.wait_for_url(re.compile(r"/consult/ended$"), timeout=10_000)
    physio.wait_for_url(re.compile(r"/outcome$"), timeout=10_000)
