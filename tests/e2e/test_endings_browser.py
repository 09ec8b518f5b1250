"""The edges of a consult in Chromium: End call asks first, Leave and rejoin (also after a
closed tab), leaving the page during the call asks, every ending says why (also from the link
afterwards, whatever the address says), the physiotherapist's no-show rebooks with one click
past the once-a-year rule, and the page before the waiting room opens turns into it."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from tests.e2e.test_call_browser import FRAMES_DECODED, admit, check_in, staff_login
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

THANKS = "Thank you for your consult"


def _book_at(server: Any, start: datetime, email: str | None = None) -> dict[str, Any]:
    out = server.cli(
        "book",
        "--provider",
        "physio@demo.clinic",
        "--start",
        start.replace(microsecond=0).isoformat(),
        "--patient-name",
        "Ann Lee",
        "--patient-email",
        email or f"edge{time.monotonic_ns()}@example.com",
    )
    return dict(json.loads(out.strip().splitlines()[-1]))


def _frames(page: Any) -> int:
    return int(page.evaluate(FRAMES_DECODED))


def _in_call(server: Any, new_page: Any) -> tuple[Any, Any, dict[str, Any]]:
    booked = server.book_now()
    physio, patient = new_page(), new_page()
    staff_login(physio, server.url, "physio@demo.clinic")
    physio.goto(booked["staff_url"])
    check_in(patient, booked["join_url"])
    admit(physio)
    wait_until(lambda: _frames(patient) > 0, 20, "video on the patient's page", 0.05)
    return physio, patient, booked


def _heading(page: Any) -> str:
    return str(page.get_by_role("heading", level=1).inner_text()).strip()


@pytest.mark.slow
def test_end_call_asks_first_and_only_the_confirmation_ends_it_for_both(live_server, new_page):
    physio, patient, booked = _in_call(live_server, new_page)
    end = patient.get_by_role("button", name="End call")
    question = patient.get_by_role("dialog", name="End the consult for both of you?")

    end.click()
    question.wait_for()
    keep = question.get_by_role("button", name="Keep talking")
    assert keep.evaluate("b => b === document.activeElement")  # the safe answer has focus
    patient.keyboard.press("Escape")
    question.wait_for(state="hidden")
    assert end.evaluate("b => b === document.activeElement")  # focus back where it was

    end.click()
    keep.click()
    question.wait_for(state="hidden")
    before = _frames(patient)
    wait_until(lambda: _frames(patient) > before, 10, "the call going on", 0.05)
    assert patient.url.endswith("/consult")

    end.click()
    question.get_by_role("button", name="End consult for both").click()
    patient.wait_for_url(re.compile(r"/consult/ended$"), timeout=10_000)
    physio.wait_for_url(re.compile(r"/outcome$"), timeout=10_000)
    assert _heading(patient) == THANKS
    assert patient.get_by_text("will email you their recommendation").is_visible()

    # The link afterwards shows the same ending, never the check-in; the address cannot
    # choose another one.
    patient.goto(booked["join_url"])
    patient.wait_for_url(re.compile(r"/consult/ended$"))
    assert _heading(patient) == THANKS
    assert patient.get_by_role("button", name="Join waiting room").count() == 0
    for forged in ("reason=provider_left", "kind=provider_absent", "by=admin&phase=cancelled"):
        patient.goto(f"{live_server.url}/consult/ended?{forged}")
        assert _heading(patient) == THANKS
        assert patient.get_by_role("button", name=re.compile("^Book ")).count() == 0


@pytest.mark.slow
def test_leave_and_rejoin_and_leaving_the_page_asks_during_the_call(live_server, new_page):
    physio, patient, _ = _in_call(live_server, new_page)

    # A header link and the back button ask first; staying keeps the call.
    patient.get_by_role("link", name="Our team").click()
    question = patient.get_by_role("dialog", name="Leave the call?")
    question.wait_for()
    question.get_by_role("button", name="Stay in the call").click()
    patient.evaluate("history.back()")
    question.wait_for()
    question.get_by_role("button", name="Stay in the call").click()
    question.wait_for(state="hidden")
    assert patient.url.endswith("/consult")
    assert patient.get_by_role("button", name="End call").is_visible()

    # Leave: the call goes on without the patient, who may come back.
    patient.get_by_role("button", name="Leave").click()
    patient.get_by_role("heading", name="You left the call").wait_for()
    assert patient.get_by_role("timer").is_visible()
    physio.get_by_text(re.compile("lost their connection|left", re.I)).first.wait_for()
    patient.get_by_role("button", name="Rejoin").click()
    patient.get_by_role("button", name="End call").wait_for(timeout=15_000)
    wait_until(lambda: _frames(patient) > 0, 20, "video after rejoining", 0.05)

    # A closed tab: the same browser opening the consult again is back in the same call.
    context = patient.context
    patient.evaluate("window.telehealthCall.pc && window.telehealthCall.pc.close()")
    patient.close(run_before_unload=False)
    again = context.new_page()
    again.goto(live_server.url + "/consult")
    again.get_by_role("button", name="End call").wait_for(timeout=20_000)
    wait_until(lambda: _frames(again) > 0, 20, "video in the reopened tab", 0.05)
    assert physio.get_by_role("button", name="End call").is_visible()


@pytest.mark.slow
def test_the_physiotherapists_no_show_rebooks_with_one_click(live_server_factory, new_page):
    server = live_server_factory(NO_SHOW_SECONDS="2")
    email = f"missed{time.monotonic_ns()}@example.com"
    # Checked in well before the start (+ the wait), or the clock marks the patient absent.
    booked = _book_at(server, datetime.now(UTC) + timedelta(seconds=30), email)
    patient = new_page(viewport={"width": 360, "height": 740})
    check_in(patient, booked["join_url"])

    patient.wait_for_url(re.compile(r"/consult/ended$"), timeout=60_000)
    assert _heading(patient) == "We’re sorry: your physiotherapist could not join"
    assert patient.get_by_text("This was not your fault.").is_visible()
    assert patient.locator('a[href^="tel:"]').first.is_visible()
    # The missed consult would count toward the once-a-year rule; this one does not.
    patient.get_by_role("button", name=re.compile(r"^Book .* with ")).first.click()
    patient.wait_for_url(re.compile(r"/book/confirmed$"))
    patient.get_by_role("heading", name=re.compile("booked")).wait_for()
    assert email in patient.content()


@pytest.mark.slow
def test_the_clinic_ending_the_room_says_so(live_server, new_page):
    booked = live_server.book_now()
    admin, patient = new_page(), new_page()
    staff_login(admin, live_server.url, "admin@demo.clinic", DEMO_ADMIN_TOTP_SECRET)
    admin.goto(live_server.url + "/admin")
    check_in(patient, booked["join_url"])
    row = admin.locator(f'#rooms tr[data-consult="{booked["id"]}"]')
    row.get_by_text("Patient waiting").wait_for(timeout=10_000)
    admin.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("End room")).click()
    patient.wait_for_url(re.compile(r"/consult/ended$"), timeout=10_000)
    assert _heading(patient) == "The clinic ended your consult"
    assert patient.get_by_text("recommendation").count() == 0


@pytest.mark.slow
def test_the_page_before_the_waiting_room_opens_turns_into_it(live_server_factory, new_page):
    server = live_server_factory(LOBBY_OPENS_SECONDS="5")
    # Enough ahead that the booking and the first page load end before the lobby opens,
    # even on a CI machine busy with other suites.
    booked = _book_at(server, datetime.now(UTC) + timedelta(seconds=45))
    patient = new_page()
    patient.goto(booked["join_url"])
    patient.wait_for_url(re.compile(r"/consult$"))
    assert "/join/" not in patient.url
    assert _heading(patient) == "Your consult has not started yet"
    assert patient.get_by_text(re.compile(r"at \d+:\d\d [ap]\.m\. E[SD]T")).first.is_visible()
    timer = patient.get_by_role("timer")
    first = timer.inner_text()
    wait_until(lambda: timer.inner_text() != first, 5, "the countdown moving", 0.1)
    assert (
        patient.get_by_role("link", name=re.compile("Test your camera")).get_attribute("href")
        == "/setup"
    )

    patient.get_by_role("button", name="Join waiting room").wait_for(timeout=75_000)
    assert "/join/" not in patient.url
