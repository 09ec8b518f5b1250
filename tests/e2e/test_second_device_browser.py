"""The patient's join link opened on a second device during the call: that device waits,
the physiotherapist sees it and moves the call to it, and the patient can move it back."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.test_call_browser import FRAMES_DECODED, admit, check_in, staff_login
from tests.waiting import wait_until

# A fresh connection (after a switch) counts its frames from zero: wait for that one.
NEW_CALL_FRAMES = """async (old) => {
  const call = window.telehealthCall;
  if (!call || !call.pc || call.pc === window.__oldPc) return 0;
  const stats = await call.pc.getStats();
  let frames = 0;
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0;
  });
  return frames;
}"""
HAS_CONNECTION = "Boolean(window.telehealthCall && window.telehealthCall.pc)"


def frames(page: Any) -> int:
    return int(page.evaluate(FRAMES_DECODED))


def remember_connection(page: Any) -> None:
    page.evaluate("window.__oldPc = window.telehealthCall.pc")


def wait_for_new_call_frames(page: Any, what: str) -> None:
    wait_until(lambda: page.evaluate(NEW_CALL_FRAMES) > 0, 20, what, 0.05)


@pytest.mark.slow
def test_a_second_device_waits_until_the_physiotherapist_switches_to_it(live_server, new_page):
    booked = live_server.book_now()
    physio, phone = new_page(), new_page(viewport={"width": 390, "height": 844})
    staff_login(physio, live_server.url, "physio@demo.clinic")
    physio.goto(booked["staff_url"])
    check_in(phone, booked["join_url"])
    admit(physio)
    wait_until(lambda: frames(phone) > 0, 15, "video on the patient's phone", 0.05)
    wait_until(lambda: frames(physio) > 0, 15, "the patient's video at the desk", 0.05)

    # The same link on a laptop (its own browser, its own cookies): it waits.
    laptop = new_page()
    laptop.goto(booked["join_url"])
    laptop.wait_for_url(re.compile(r"/consult$"))
    laptop.get_by_text(
        "This consult is open on another device. Use this device instead?"
    ).wait_for()
    assert laptop.get_by_role("button", name="Use this device instead").is_visible()
    physio.get_by_text("The patient is joining from another device.").wait_for()
    # The call goes on with the phone, and the laptop never negotiated anything.
    before = frames(phone)
    wait_until(lambda: frames(phone) > before, 10, "the phone's call going on", 0.05)
    assert laptop.evaluate(HAS_CONNECTION) is False
    assert not laptop.get_by_role("button", name="End call").is_visible()

    remember_connection(physio)
    physio.get_by_role("button", name="Switch to the new device").click()

    wait_until(lambda: frames(laptop) > 0, 20, "video on the laptop after the switch", 0.05)
    wait_for_new_call_frames(physio, "the laptop's video at the desk")
    phone.get_by_text("This consult moved to your other device.").wait_for()
    assert phone.evaluate(HAS_CONNECTION) is False
    live_tracks = "window.telehealthCall.room.media.stream.getTracks().length"
    wait_until(lambda: phone.evaluate(live_tracks) == 0, 5, "the phone's camera stopped", 0.05)
    assert laptop.get_by_role("button", name="End call").is_visible()
    physio.get_by_text("The patient is joining from another device.").wait_for()

    # The patient changes their mind on the phone: the call comes back to it.
    remember_connection(physio)
    phone.get_by_role("button", name="Use this device instead").click()
    wait_until(lambda: frames(phone) > 0, 20, "video on the phone again", 0.05)
    wait_for_new_call_frames(physio, "the phone's video at the desk again")
    laptop.get_by_text("This consult moved to your other device.").wait_for()
    assert laptop.evaluate(HAS_CONNECTION) is False
