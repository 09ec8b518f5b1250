"""The physiotherapist's and staff pages in Chromium: the patient panel beside the call, the
no-show offered only after the wait (and asked first), the dashboard following an arrival
without a reload, and the staff header in place of the public one."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

import pytest

from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from tests.e2e.test_call_browser import admit, check_in, staff_login, visible

NO_SHOW_SECONDS = 25  # long enough for a busy machine to load both pages first


def book(server: Any, name: str = "Ann Lee", reason: str = "Knee pain on stairs") -> dict[str, Any]:
    out = server.cli(
        "book",
        "--provider",
        "physio@demo.clinic",
        "--now",
        "--patient-name",
        name,
        "--patient-email",
        f"staff{time.monotonic_ns()}@example.com",
        "--patient-phone",
        "416-555-0199",
        "--reason",
        reason,
    )
    return dict(json.loads(out.strip().splitlines()[-1]))


def panel(page: Any, name: str = "Ann Lee") -> Any:
    return page.get_by_role("region", name=name, exact=True)


@pytest.mark.slow
def test_patient_panel_stays_beside_the_call(live_server, new_page):
    booked = book(live_server)
    physio, patient = new_page(), new_page(viewport={"width": 390, "height": 844})
    staff_login(physio, live_server.url, "physio@demo.clinic")
    physio.goto(booked["staff_url"])
    about = panel(physio)
    about.get_by_text("Knee pain on stairs").wait_for()
    phone = about.get_by_role("link", name="416-555-0199")
    assert phone.get_attribute("href") == "tel:4165550199"
    assert about.get_by_text("Not checked in yet").first.is_visible()

    check_in(patient, booked["join_url"])
    about.get_by_role("link", name="905-555-0100").wait_for()
    assert about.get_by_text("Vaughan").is_visible()
    assert about.get_by_text("Confirmed at check-in").is_visible()

    admit(physio)
    physio.get_by_role("heading", name="Video consult with Ann Lee").wait_for()
    # In the call, everything is still there, beside the video.
    for text in ("Knee pain on stairs", "Vaughan", "Agreed to a virtual consult when booking"):
        assert about.get_by_text(text).is_visible(), text
    assert about.get_by_role("link", name="905-555-0100").is_visible()
    assert about.get_by_role("link", name="416-555-0199").is_visible()
    assert physio.get_by_role("button", name="End call").is_visible()
    panel_box = about.bounding_box()
    video_box = physio.get_by_label("Remote video").bounding_box()
    assert panel_box["x"] + panel_box["width"] <= video_box["x"], "the panel is beside the video"

    # On a phone the panel folds into a disclosure above the video; one tap opens it.
    physio.set_viewport_size({"width": 360, "height": 780})
    summary = physio.get_by_text("Patient details: Ann Lee")
    summary.wait_for()
    reason = about.get_by_text("Knee pain on stairs")
    physio.wait_for_function(
        "() => !document.getElementById('patient-details').open", timeout=5_000
    )
    assert not reason.is_visible()
    assert summary.bounding_box()["y"] < physio.get_by_label("Remote video").bounding_box()["y"]
    summary.click()
    reason.wait_for()
    assert physio.evaluate("document.documentElement.scrollWidth") <= 360


@pytest.mark.slow
def test_no_show_is_offered_only_after_the_wait_and_asks_first(live_server_factory, new_page):
    server = live_server_factory(NO_SHOW_SECONDS=str(NO_SHOW_SECONDS))
    physio, patient = new_page(), new_page()
    staff_login(physio, server.url, "physio@demo.clinic")
    booked = book(server)
    starts = datetime.fromisoformat(booked["start"]).timestamp()
    physio.goto(booked["staff_url"])
    about = panel(physio)
    about.get_by_text(
        re.compile(r"^(Expected now|Expected 1 minute ago|Starts in 1 minute)$")
    ).wait_for()
    mark = about.get_by_role("button", name="Mark no-show")
    assert not mark.is_visible(), "no no-show before the wait"
    assert about.get_by_text("you can mark a no-show from").is_visible()

    # The patient checks in, then leaves the waiting room; the announced delay keeps the
    # clinic's clock from calling the physiotherapist the no-show meanwhile.
    physio.get_by_role("button", name="5 min", exact=True).click()
    physio.get_by_text("running about 5 minutes late").wait_for()
    check_in(patient, booked["join_url"])
    about.get_by_text(re.compile("^Waiting since")).wait_for()
    patient.close()
    about.get_by_text(re.compile("^Left the waiting room")).wait_for(timeout=15_000)

    mark.wait_for(timeout=(NO_SHOW_SECONDS + 15) * 1000)
    assert time.time() >= starts + NO_SHOW_SECONDS - 0.5, "offered before the wait was over"

    mark.click()
    dialog = physio.get_by_role("dialog", name="Mark Ann Lee as a no-show?")
    dialog.wait_for()
    assert dialog.get_by_text("Ann Lee has not come to the consult").is_visible()
    dialog.get_by_role("button", name="Keep waiting").click()
    assert not dialog.is_visible()
    assert "/staff/consults/" in physio.url

    mark.click()
    dialog.get_by_role("button", name="Mark no-show").click()
    physio.wait_for_url(re.compile(r"/staff$"))
    row = physio.locator(f'tr[data-consult-id="{booked["id"]}"]')
    assert row.get_by_text("Patient no-show").is_visible()


@pytest.mark.slow
def test_dashboard_follows_bookings_and_arrivals_without_a_reload(live_server, new_page):
    physio, patient = new_page(), new_page()
    staff_login(physio, live_server.url, "physio@demo.clinic")
    physio.evaluate("window.sameDocument = true")
    booked = book(live_server, name="Bea Arrival", reason="Shoulder pain")
    row = physio.locator(f'tr[data-consult-id="{booked["id"]}"]')
    row.wait_for(timeout=15_000)
    news = physio.get_by_role("status").filter(has_text="New booking: Bea Arrival")
    news.wait_for()
    assert row.get_by_text("Not arrived").is_visible()

    physio.get_by_role("link", name="Book for a caller").focus()
    check_in(patient, booked["join_url"])
    row.get_by_text("Patient waiting").wait_for(timeout=15_000)
    physio.get_by_role("status").filter(has_text="Bea Arrival is in the waiting room.").wait_for()
    assert physio.evaluate("window.sameDocument === true"), "the page was not reloaded"
    assert physio.evaluate("document.activeElement.textContent") == "Book for a caller"
    assert physio.title().startswith("(1 waiting)")


@pytest.mark.slow
def test_staff_and_admin_pages_have_the_staff_header_only(live_server, new_page):
    physio = new_page()
    staff_login(physio, live_server.url, "physio@demo.clinic")
    for path in ("/staff", "/staff/book", "/staff/password"):
        physio.goto(live_server.url + path)
        nav = physio.get_by_role("navigation", name="Staff")
        assert nav.get_by_role("link", name="My consults").is_visible(), path
        assert nav.get_by_role("link", name="Book for a caller").is_visible(), path
        assert nav.get_by_role("button", name="Log out").is_visible(), path
        assert physio.get_by_role("link", name="Our team").count() == 0, path
        assert physio.get_by_role("link", name="Book a free consult").count() == 0, path

    admin = new_page()
    staff_login(admin, live_server.url, "admin@demo.clinic", DEMO_ADMIN_TOTP_SECRET)
    for path in ("/admin", "/admin/providers", "/admin/audit", "/staff/book"):
        admin.goto(live_server.url + path)
        nav = admin.get_by_role("navigation", name="Staff")
        assert nav.get_by_role("link", name="Live rooms").is_visible(), path
        assert nav.get_by_role("link", name="Book for a caller").is_visible(), path
        assert nav.get_by_role("button", name="Log out").count() == 1, path
        assert admin.get_by_role("link", name="Our team").count() == 0, path

    visible(physio.get_by_role("button", name="Log out")).click()
    physio.wait_for_url(re.compile(r"/staff/login"))
    assert physio.get_by_role("navigation", name="Staff").count() == 0
