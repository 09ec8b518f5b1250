"""Test your setup, in Chromium: the setup page's verdict with the fake camera and
microphone, with the camera blocked, and without the setup link; the patient's check-in on
a phone; and, in a call on a phone, the unread chat count, the camera-off placeholder and
the outage banner that waits until the call is affected."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.e2e.test_call_browser import admit, check_in, staff_login, visible, wait_for_frames
from tests.e2e.test_media_worker import _wait_for_worker

PHONE = {"width": 360, "height": 740}
WORKS = "Your video and sound work."
CONNECTION = re.compile(
    r"Your connection is (good enough for video"
    r"|too weak for smooth video, but good enough to talk)\."
)
# What a person must never read on these pages.
NEVER = re.compile(r"NotAllowedError|TypeError|Uncaught|undefined|\bat \w+\.js")


def _setup_link(page: Any, booked: dict[str, Any]) -> str:
    """The setup link, as a patient finds it on their manage page."""
    page.goto(booked["manage_url"])
    link = page.get_by_role("link", name=re.compile("Test your setup"))
    href = link.get_attribute("href")
    assert href and href.startswith("/setup?token="), href
    return str(href)


def _verdict(page: Any) -> Any:
    return page.locator("#check-verdict")


def _no_internals(page: Any) -> None:
    text = page.locator("main").inner_text()
    assert not NEVER.search(text), text


def test_setup_link_says_video_and_sound_work_and_the_connection_is_checked(live_server, new_page):
    live_server.start_media()
    _wait_for_worker(live_server)
    booked = live_server.book_now()
    page = new_page(viewport=PHONE)
    page.goto(live_server.url + _setup_link(page, booked))
    page.get_by_role("heading", name="Test your setup").wait_for()

    verdict = _verdict(page)
    verdict.get_by_text(CONNECTION).wait_for(timeout=30_000)
    assert verdict.inner_text().startswith(WORKS), verdict.inner_text()
    assert verdict.get_attribute("role") == "status"

    # No raw numbers unless the person opens Details.
    assert not page.get_by_text(re.compile(r"\d+ (ms|kbps)")).first.is_visible()
    page.get_by_text("Details", exact=True).click()
    assert re.fullmatch(r"\d+ ms", page.locator("#precheck-rtt").inner_text())
    assert re.fullmatch(r"\d+ kbps", page.locator("#precheck-bitrate").inner_text())
    assert page.locator("#precheck-route").inner_text() == "Direct"
    assert page.evaluate("window.telehealthCheck.precheck.echoedTracks") >= 1

    # The speaker test: a tone, then the person says whether they heard it.
    page.get_by_role("button", name="Play a test sound").click()
    page.get_by_role("button", name="I heard it").click()
    page.get_by_text("your speaker works").wait_for()
    assert verdict.inner_text().startswith(WORKS)
    page.get_by_role("button", name="I didn’t hear it").click()
    page.get_by_role("heading", name="You didn’t hear the test sound").wait_for()
    assert "you didn’t hear the test sound" in verdict.inner_text()
    _no_internals(page)
    # There is no paused, blank echo video any more: the verdict says what came back.
    assert page.locator("video").count() == 1  # the camera preview only


def test_without_the_setup_link_the_page_tests_devices_and_says_where_the_connection_check_is(
    live_server, new_page
):
    page = new_page()
    page.goto(live_server.url + "/setup")
    verdict = _verdict(page)
    verdict.get_by_text(WORKS).wait_for()
    assert "open “Test your setup” from your email" in verdict.inner_text()
    assert page.get_by_role("button", name="Test my connection").count() == 0
    _no_internals(page)


def test_a_blocked_camera_gets_plain_advice_for_each_browser(live_server, chromium):
    # A browser that asks the person (no fake permission prompt) and a site allowed the
    # microphone but not the camera, as a person's "Block" on the camera leaves it.
    flags = [flag for flag in CHROMIUM_FLAGS if flag != "--use-fake-ui-for-media-stream"]
    asking = chromium.browser_type.launch(executable_path=CHROMIUM, args=flags, timeout=30_000)
    try:
        context = asking.new_context(permissions=["microphone"])
        context.set_default_timeout(15_000)
        _blocked_camera_advice(live_server, context.new_page())
        context.close()
    finally:
        asking.close()


def _blocked_camera_advice(live_server: Any, page: Any) -> None:
    page.goto(live_server.url + "/setup")
    verdict = _verdict(page)
    verdict.get_by_text("Your microphone works, but we can’t use your camera.").wait_for()
    help_box = page.locator("#help-permission")
    help_box.get_by_role("heading", name="Let this page use your camera and microphone").wait_for()
    browsers = ("Chrome:", "Safari on a Mac:", "Safari on an iPhone or iPad:", "Firefox:", "Edge:")
    for browser in browsers:
        assert help_box.get_by_text(browser).is_visible(), browser
    assert page.get_by_role("button", name="Try camera and microphone again").is_visible()
    page.get_by_text("Details", exact=True).click()
    assert page.locator("#detail-camera").inner_text() == "Blocked by the browser"
    _no_internals(page)


def test_the_lobby_check_on_a_phone_puts_the_form_first_and_gives_the_same_verdict(
    live_server, new_page
):
    live_server.start_media()
    _wait_for_worker(live_server)
    booked = live_server.book_now()
    page = new_page(viewport=PHONE)
    page.goto(booked["join_url"])
    page.wait_for_url(re.compile(r"/consult$"))

    field = page.get_by_label("Your location (city)")
    box = field.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box
    assert page.evaluate("window.scrollY") == 0

    # The check is one link away, below the form, and says the same as /setup.
    page.get_by_role("link", name="Check your camera and sound").click()
    verdict = _verdict(page)
    verdict.get_by_text(CONNECTION).wait_for(timeout=30_000)
    assert verdict.is_visible() and verdict.inner_text().startswith(WORKS)
    _no_internals(page)


def test_phone_call_unread_chat_count_camera_off_placeholder_and_outage_banner_only_if_affected(
    live_server, new_page
):
    booked = live_server.book_now()
    physio, patient = new_page(), new_page(viewport=PHONE)
    staff_login(physio, live_server.url, "physio@demo.clinic")
    physio.goto(booked["staff_url"])
    check_in(patient, booked["join_url"])
    admit(physio)
    wait_for_frames(patient)
    wait_for_frames(physio)

    # The physiotherapist writes; on the phone the chat is below the call.
    visible(physio.get_by_label("Message")).fill("Can you bend your knee for me?")
    visible(physio.get_by_role("button", name="Send")).click()
    jump = patient.get_by_role("link", name=re.compile(r"^Chat"))
    jump.get_by_text("1 new").wait_for()
    assert jump.is_visible()
    status = patient.locator("#chat-unread-status")
    assert status.get_attribute("role") == "status"
    assert re.fullmatch(r"1 new chat message from .+\.", status.inner_text()), status.inner_text()
    jump.click()
    patient.get_by_role("log").get_by_text("Can you bend your knee for me?").wait_for()
    patient.locator("#chat-unread").wait_for(state="hidden")

    # The patient stops their camera: the physiotherapist sees a placeholder, not a frozen frame.
    patient.get_by_role("button", name="Stop camera").click()
    physio.get_by_text(re.compile("turned their camera off")).wait_for()
    placeholder = physio.locator("#peer-camera-off")
    cover = placeholder.bounding_box()
    stage = physio.locator("#remote-video").bounding_box()
    assert cover and stage and cover["width"] >= stage["width"] - 1, (cover, stage)
    assert cover["height"] >= stage["height"] - 1, (cover, stage)
    assert patient.get_by_text("Your camera is off", exact=True).is_visible()
    patient.get_by_role("button", name="Start camera").click()
    placeholder.wait_for(state="hidden")

    # The server refuses a reconnect during a Redis outage while the call's media flows:
    # the people in the call are not affected, so no banner.
    outage = "The clinic’s live service is reconnecting."
    patient.evaluate(
        "message => window.telehealthCall.room.connectError("
        "{data: {code: 'unavailable', message}})",
        outage,
    )
    alert = patient.locator("#consult-alert")
    assert alert.inner_text() == ""
    # Then the call's own connection goes too: now the banner says it.
    patient.evaluate(
        "() => { const room = window.telehealthCall.room;"
        " room.call.pc.close(); room.outage.callChanged(); }"
    )
    alert.get_by_text(outage).wait_for()
