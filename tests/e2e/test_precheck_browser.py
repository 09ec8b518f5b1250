"""The patient's pre-call check in Chromium against a real media worker."""

from __future__ import annotations

import re

from tests.e2e.test_call_browser import staff_login
from tests.e2e.test_media_worker import _wait_for_worker


def test_check_in_page_runs_the_connection_check_and_shows_a_verdict(live_server, new_page):
    live_server.start_media()
    _wait_for_worker(live_server)
    booked = live_server.book_now()
    physio = new_page()
    staff_login(physio, live_server.url, "physio@demo.clinic")
    physio.goto(booked["staff_url"])

    patient = new_page(viewport={"width": 390, "height": 844})
    patient.goto(booked["join_url"])
    verdict = patient.locator("#check-verdict")
    verdict.get_by_text(
        re.compile("Your connection is (good enough for video|too weak for smooth video)")
    ).wait_for(timeout=30_000)
    # The numbers wait behind Details.
    patient.get_by_text("Details", exact=True).click()
    rtt = patient.locator("#precheck-rtt").inner_text()
    assert re.fullmatch(r"\d+ ms", rtt), rtt
    assert re.fullmatch(r"\d+ kbps", patient.locator("#precheck-bitrate").inner_text())
    assert patient.locator("#precheck-route").inner_text() == "Direct"
    # The worker's echo came back (the page no longer shows it as a paused, blank video).
    assert patient.evaluate("window.telehealthCheck.precheck.echoedTracks") >= 1

    physio.get_by_text(re.compile("connection check: (good for video|audio only)")).wait_for(
        timeout=10_000
    )
