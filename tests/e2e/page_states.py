"""Every page state a person can meet, each reached the way that person reaches it.

The accessibility check (test_accessibility_browser.py) and the screenshots (screens.py)
walk the same list, so a new page is one line in STATES: a name, the function that brings
a browser page to that state, and whether patients see it (then it is also checked and
shown at a phone's width).

A setup function gets a `Visit` (fresh browser contexts against the running clinic, a
logged-in physiotherapist or admin, bookings made as the clinic makes them) and returns
the page to look at, once the state is on screen.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

import pyotp

from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from telehealth.domain.availability import CLINIC_TZ
from tests.e2e.conftest import Backend, LiveServer
from tests.e2e.test_call_browser import admit, check_in, wait_for_frames
from tests.waiting import wait_until

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
PHYSIO = "physio@demo.clinic"
PHYSIO_PROVIDER_ID = 1  # the demo physiotherapist (tests/consults.py)
ADMIN = "admin@demo.clinic"


class Clinics:
    """The running clinics the states are shown on: the default one, and one per set of
    settings a state asks for (started when first needed)."""

    def __init__(self, backend: Backend, folder: Path, default: LiveServer) -> None:
        self.backend = backend
        self.folder = folder
        self.running: dict[tuple[tuple[str, str], ...], LiveServer] = {(): default}

    def get(self, settings: tuple[tuple[str, str], ...]) -> LiveServer:
        if settings not in self.running:
            folder = self.folder / f"clinic{len(self.running)}"
            self.running[settings] = self.backend.start_server(folder, **dict(settings))
        return self.running[settings]

    def stop(self) -> None:
        """Stop the clinics started here (the default one belongs to whoever gave it)."""
        for settings, server in self.running.items():
            if settings:
                server.stop()


@dataclass
class Tour:
    """A browser going through the states; staff log in once per clinic for the whole tour
    (the admin's one-time codes cannot be spent twice in the same 30 seconds)."""

    browser: Any
    clinics: Clinics
    logins: dict[tuple[str, str], Any] = field(default_factory=dict)

    def visit(self, state: PageState, viewport: str) -> Visit:
        server = self.clinics.get(state.clinic)
        return Visit(server, self.browser, VIEWPORTS[viewport], self.logins)


@dataclass
class Visit:
    """Browser pages against one clinic for one page state; `close` ends their calls."""

    server: LiveServer
    browser: Any
    viewport: dict[str, int]
    logins: dict[tuple[str, str], Any]  # (clinic, email) -> browser storage, from the Tour
    contexts: list[Any] = field(default_factory=list)
    booking_language: str = "en"  # the language the clinic books consults in

    def page(self, viewport: dict[str, int] | None = None, storage: Any = None) -> Any:
        """A new page in a fresh browser context (its own cookies), patient's viewport
        unless told otherwise."""
        context = self.browser.new_context(
            viewport=viewport or self.viewport,
            permissions=["camera", "microphone"],
            storage_state=storage,
            locale="en-CA",
            timezone_id="America/Toronto",  # a person at home in Ontario
        )
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        return context.new_page()

    def open(self, path: str) -> Any:
        """A patient's page at `path` (a path on this clinic, or a full link)."""
        page = self.page()
        page.goto(path if path.startswith("http") else self.server.url + path)
        return page

    def staff(self, email: str = PHYSIO, path: str = "/staff") -> Any:
        """A staff member's page at `path` on a desktop, logged in."""
        key = (self.server.url, email)
        if key not in self.logins:
            page = self.page(DESKTOP)
            log_in(page, self.server.url, email)
            self.logins[key] = page.context.storage_state()
        page = self.page(DESKTOP, storage=self.logins[key])
        page.goto(path if path.startswith("http") else self.server.url + path)
        return page

    def admin(self, path: str) -> Any:
        return self.staff(ADMIN, path)

    def book_now(self) -> dict[str, Any]:
        """A consult with the demo physiotherapist starting now, as the CLI books one."""
        return self.server.book_now(language=self.booking_language)

    def book_later(self, start: datetime | None = None) -> dict[str, Any]:
        """A consult with the demo physiotherapist at `start`, by default on the last free
        time of the coming week (not today: still changeable), booked as the clinic books
        by phone."""
        out = self.server.cli(
            "book",
            "--provider",
            PHYSIO,
            "--start",
            (start or self.last_free_time()).replace(microsecond=0).isoformat(),
            "--patient-name",
            "Ann Lee",
            "--patient-email",
            f"later{time.monotonic_ns()}@example.com",
            "--language",
            self.booking_language,
        )
        return dict(json.loads(out.strip().splitlines()[-1]))

    def last_free_time(self) -> datetime:
        today = datetime.now(CLINIC_TZ).date()
        query = urlencode(
            {
                "provider_id": PHYSIO_PROVIDER_ID,
                "from": (today + timedelta(days=1)).isoformat(),
                "to": (today + timedelta(days=8)).isoformat(),
            }
        )
        with urlopen(f"{self.server.url}/api/v1/slots?{query}", timeout=10) as answer:  # noqa: S310
            return datetime.fromisoformat(json.load(answer)["slots"][-1]["start"])

    def close(self) -> None:
        for context in self.contexts:
            for page in context.pages:
                try:  # an open RTCPeerConnection can make closing the browser hang
                    page.evaluate(
                        "window.telehealthCall && window.telehealthCall.pc "
                        "&& window.telehealthCall.pc.close()"
                    )
                except Exception:  # noqa: BLE001, S110 - the page may already be gone
                    pass
            context.close()
        self.contexts.clear()
        self.server.forget_throttles()  # rate limits and live rooms: the next state starts clean


def log_in(page: Any, url: str, email: str) -> None:
    page.goto(url + "/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log in").click()
    if email == ADMIN:
        page.get_by_label("Six-digit code").fill(pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).now())
        page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(staff|admin)$"))


# --- patients: the public site ---------------------------------------------------------


def booking_errors(visit: Visit) -> Any:
    """The booking form sent empty: the error summary and each field's message."""
    page = visit.open("/book")
    page.get_by_role("button", name="Book my free consult").click()
    page.get_by_role("alert").wait_for()
    return page


def slot_picker(visit: Visit) -> Any:
    """One physiotherapist chosen, another day picked, a time selected."""
    page = visit.open("/book")
    page.get_by_label("Physiotherapist").select_option(index=1)
    page.get_by_role("button", name="Show times").click()
    days = page.get_by_role("navigation", name="Days with free times").get_by_role("link")
    days.nth(min(1, days.count() - 1)).click()
    pick_first_time(page)
    return page


def pick_first_time(page: Any) -> None:
    """Click the first free time as a person does: on its face (the radio is styled away)."""
    page.locator(".slot-option").first.click()


def fill_booking(page: Any) -> None:
    pick_first_time(page)
    page.get_by_label("Full name").fill("Ann Lee")
    page.get_by_label("Email").fill(f"screens{time.monotonic_ns()}@example.com")
    page.get_by_label("Phone").fill("905-555-0123")
    page.get_by_label("What brings you in?").select_option(index=1)
    page.get_by_label("I understand and agree to a virtual consult.").check()


def booking_confirmed(visit: Visit) -> Any:
    """A free consult booked through the form: the confirmation."""
    page = visit.open("/book")
    fill_booking(page)
    page.get_by_role("button", name="Book my free consult").click()
    page.wait_for_url(re.compile(r"/book/confirmed$"))
    return page


def manage(visit: Visit) -> Any:
    """The manage link of a consult later this week: move or cancel."""
    page = visit.open(visit.book_later()["manage_url"])
    page.wait_for_url(re.compile(r"/manage$"))
    return page


def manage_cancel_question(visit: Visit) -> Any:
    """Cancel my consult pressed: the page asks first."""
    page = manage(visit)
    page.get_by_role("button", name="Cancel my consult").click()
    page.get_by_role("button", name="Yes, cancel it").wait_for()
    return page


def manage_cancelled(visit: Visit) -> Any:
    """The consult cancelled from the manage page."""
    page = manage_cancel_question(visit)
    page.get_by_role("button", name="Yes, cancel it").click()
    page.wait_for_url(re.compile(r"done=cancelled"))
    return page


def resend_links_errors(visit: Visit) -> Any:
    """Resend my links with an address that is not one."""
    page = visit.open("/resend-links")
    page.get_by_label("Email").fill("not an address")
    page.get_by_role("button", name="Send my links").click()
    page.get_by_role("alert").wait_for()
    return page


def resend_links_sent(visit: Visit) -> Any:
    """Resend my links sent: the same answer for every address."""
    page = visit.open("/resend-links")
    page.get_by_label("Email").fill(f"lost{time.monotonic_ns()}@example.com")
    page.get_by_role("button", name="Send my links").click()
    page.get_by_role("status").wait_for()
    return page


def setup_from_email(visit: Visit) -> Any:
    """The setup link of a booked consult (as in the emails and on the manage page)."""
    page = manage(visit)
    page.get_by_role("link", name=re.compile("Test your setup")).click()
    page.wait_for_url(re.compile(r"/setup\?token="))
    return camera_on(page)


def setup_any_day(visit: Visit) -> Any:
    """Test your setup from the site (no link): camera, microphone, speaker."""
    return camera_on(visit.open("/setup"))


def camera_on(page: Any) -> Any:
    """Wait until the page's first video shows the (fake) camera."""
    page.wait_for_function(
        "() => { const v = document.querySelector('video');"
        " return v && v.readyState >= 2 && v.videoWidth > 0; }"
    )
    return page


# --- patients: the consult ---------------------------------------------------------------


def check_in_page(visit: Visit) -> Any:
    """The join link opened: camera on, the check-in form."""
    page = visit.open(visit.book_now()["join_url"])
    page.wait_for_url(re.compile(r"/consult$"))
    page.locator("#camera-select:enabled").wait_for()  # the camera is on
    return page


def check_in_errors(visit: Visit) -> Any:
    """Join waiting room pressed with nothing filled in."""
    page = check_in_page(visit)
    page.get_by_role("button", name="Join waiting room").click()
    page.locator("#checkin-errors").wait_for()
    return page


def too_early(visit: Visit) -> Any:
    """A join link opened days before the waiting room opens: the time and a countdown."""
    page = visit.open(visit.book_later()["join_url"])
    page.get_by_role("timer").wait_for()
    return page


def too_late(visit: Visit) -> Any:
    """A join link opened two days after its consult (past the clock's watch, never ended)."""
    page = visit.open(visit.book_later(datetime.now(UTC) - timedelta(days=2))["join_url"])
    page.get_by_role("heading", level=1).wait_for()
    return page


def waiting_room(visit: Visit) -> Any:
    """Checked in, waiting for the physiotherapist."""
    page = visit.page()
    check_in(page, visit.book_now()["join_url"])
    return page


@dataclass
class Call:
    patient: Any
    physio: Any
    booked: dict[str, Any]


def in_call(visit: Visit) -> Call:
    """A patient (at the visit's viewport) and the physiotherapist, video flowing both ways."""
    booked = visit.book_now()
    physio = visit.staff(PHYSIO, booked["staff_url"])
    patient = visit.page()
    check_in(patient, booked["join_url"])
    admit(physio)
    wait_for_frames(patient)
    wait_for_frames(physio)
    return Call(patient, physio, booked)


def patient_in_call(visit: Visit) -> Any:
    """In the call, the patient's side."""
    return in_call(visit).patient


def end_question(visit: Visit) -> Any:
    """The patient pressed End call: the page asks first."""
    page = in_call(visit).patient
    page.get_by_role("button", name="End call").click()
    page.get_by_role("dialog", name="End the consult for both of you?").wait_for()
    return page


def left_call(visit: Visit) -> Any:
    """The patient stepped out with Leave: the call waits for them to rejoin."""
    page = in_call(visit).patient
    page.get_by_role("button", name="Leave").click()
    page.get_by_role("heading", name="You left the call").wait_for()
    return page


def physio_in_call(visit: Visit) -> Any:
    """In the call, the physiotherapist's side with the patient panel."""
    return in_call(visit).physio


def physio_measuring(visit: Visit) -> Any:
    """The physiotherapist froze a frame to measure a joint angle and saved one reading."""
    page = in_call(visit).physio
    page.get_by_role("button", name="Measure").click()
    page.get_by_label("Joint").select_option("knee")
    page.get_by_label("Side").select_option("right")
    page.get_by_label("Movement").select_option("flexion")
    page.get_by_role("button", name="Save measurement").click()
    page.get_by_text("Saved: knee, right, flexion, active").wait_for()
    return page


def press_and_confirm(page: Any, button: str, confirm: re.Pattern[str]) -> None:
    """Press `button`, then say yes where the page asks first (its own dialog or the
    browser's)."""
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=button).filter(visible=True).click()
    asked = page.get_by_role("dialog").get_by_role("button", name=confirm)
    try:
        asked.click(timeout=2_000)
    except Exception:  # noqa: BLE001, S110 - this page did not ask
        pass


def end_call(page: Any) -> None:
    press_and_confirm(page, "End call", re.compile("^End"))


def ended_call(visit: Visit) -> Call:
    """The physiotherapist ended a consult that went normally."""
    call = in_call(visit)
    end_call(call.physio)
    call.patient.wait_for_url(re.compile(r"/consult/(thanks|ended)"), timeout=15_000)
    call.physio.wait_for_url(re.compile(r"/outcome$"), timeout=15_000)
    return call


def patient_ended(visit: Visit) -> Any:
    """The patient's ending after a normal consult."""
    return ended_call(visit).patient


def ended_by_clinic(visit: Visit) -> Any:
    """An admin ended the room while the patient waited."""
    monitor, patient = watched_waiting_room(visit)
    monitor.once("dialog", lambda dialog: dialog.accept())
    monitor.get_by_role("button", name=re.compile("End room")).first.click()
    patient.wait_for_url(re.compile(r"/consult/ended$"))
    return patient


def ended_cancelled(visit: Visit) -> Any:
    """The link of a consult the patient cancelled."""
    booked = visit.book_later()
    page = visit.open(booked["manage_url"])
    page.get_by_role("button", name="Cancel my consult").click()
    page.get_by_role("button", name="Yes, cancel it").click()
    page.wait_for_url(re.compile(r"done=cancelled"))
    page.goto(booked["join_url"])
    page.wait_for_url(re.compile(r"/consult/ended$"))
    return page


def provider_absent(visit: Visit) -> Any:
    """The physiotherapist never came (a clinic whose no-show wait is 2 seconds). The
    consult starts 20 s from now: a busy machine's check-in must come before the patient's
    own no-show."""
    booked = visit.book_later(datetime.now(UTC) + timedelta(seconds=20))
    page = visit.page()
    check_in(page, booked["join_url"])
    page.wait_for_url(re.compile(r"/consult/ended$"), timeout=60_000)
    return page


def rebook_missed(visit: Visit) -> Any:
    """Other times to rebook the consult the physiotherapist missed."""
    page = provider_absent(visit)
    page.get_by_role("link", name=re.compile("See other times|Choose a new time")).click()
    page.wait_for_url(re.compile(r"/consult/rebook"))
    return page


def patient_no_show(visit: Visit) -> Any:
    """The patient never came and the clinic marked the consult missed (a clinic whose
    no-show wait is 2 seconds); the patient opens the link afterwards."""
    join_url = visit.book_now()["join_url"]
    page = visit.page()

    def missed() -> bool:
        page.goto(join_url)
        return page.url.endswith("/consult/ended")

    wait_until(missed, 30, "the consult marked as missed", every=0.5)
    return page


# --- physiotherapists ----------------------------------------------------------------------


def staff_login_error(visit: Visit) -> Any:
    """A wrong password."""
    page = visit.open("/staff/login")
    page.get_by_label("Email").fill(PHYSIO)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").wait_for()
    return page


def login_code(visit: Visit) -> Any:
    """The second login step: the six-digit code."""
    page = visit.page(DESKTOP)
    page.goto(visit.server.url + "/staff/login")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Six-digit code").wait_for()
    return page


def dashboard(visit: Visit) -> Any:
    """The physiotherapist's consults, one of them now."""
    visit.book_now()
    return visit.staff(PHYSIO, "/staff")


def lobby(visit: Visit) -> Any:
    """The physiotherapist's page of a consult before the patient arrives."""
    page = visit.staff(PHYSIO, visit.book_now()["staff_url"])
    page.get_by_role("heading", level=1).wait_for()
    return page


def lobby_patient_waiting(visit: Visit) -> Any:
    """The patient is waiting: checklist and Admit."""
    booked = visit.book_now()
    page = visit.staff(PHYSIO, booked["staff_url"])
    check_in(visit.page(), booked["join_url"])
    page.get_by_text(re.compile("waiting", re.I)).first.wait_for()
    return page


def outcome(visit: Visit) -> Any:
    """Where the physiotherapist lands when the call ends."""
    return ended_call(visit).physio


def outcome_errors(visit: Visit) -> Any:
    """The outcome form saved without a recommendation."""
    page = outcome(visit)
    page.get_by_role("button", name="Save outcome").click()
    page.locator(".field-error, [role=alert]").first.wait_for()
    return page


def password_errors(visit: Visit) -> Any:
    """A password change refused (wrong current password, common new one)."""
    page = visit.staff(PHYSIO, "/staff/password")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("password1234")
    page.get_by_role("button", name="Save password").click()
    page.locator(".field-error, [role=alert]").first.wait_for()
    return page


def caller_booking_errors(visit: Visit) -> Any:
    """Book for a caller sent empty."""
    page = visit.staff(PHYSIO, "/staff/book")
    page.get_by_role("button", name="Book the free consult").click()
    page.get_by_role("alert").wait_for()
    return page


def caller_booked(visit: Visit) -> Any:
    """A free consult booked for a caller."""
    page = visit.staff(PHYSIO, "/staff/book")
    pick_first_time(page)
    page.get_by_label("Full name").fill("Ann Lee")
    page.get_by_label("Email").fill(f"caller{time.monotonic_ns()}@example.com")
    page.get_by_label("Phone").fill("905-555-0123")
    page.get_by_label("Reason for visit").select_option(index=1)
    page.get_by_label("The caller understands and agrees to a virtual consult.").check()
    page.get_by_role("button", name="Book the free consult").click()
    page.wait_for_url(re.compile(r"/staff/book/done$"))
    return page


# --- admins ---------------------------------------------------------------------------------


def watched_waiting_room(visit: Visit) -> tuple[Any, Any]:
    """The admin's monitor, and a patient in the waiting room of a live room on it."""
    booked = visit.book_now()
    monitor = visit.admin("/admin")
    patient = visit.page()
    check_in(patient, booked["join_url"])
    row = monitor.locator(f'#rooms tr[data-consult="{booked["id"]}"]')
    row.get_by_text("Patient waiting").wait_for()
    row.scroll_into_view_if_needed()
    return monitor, patient


def admin_monitor(visit: Visit) -> Any:
    """The live monitor with a patient waiting in a room."""
    return watched_waiting_room(visit)[0]


def admin_monitor_call(visit: Visit) -> Any:
    """A room in call, with its call health."""
    call = in_call(visit)
    page = visit.admin("/admin")
    row = page.locator(f'#rooms tr[data-consult="{call.booked["id"]}"]')
    row.get_by_text(re.compile(r"\d+ ms")).first.wait_for(timeout=15_000)
    row.scroll_into_view_if_needed()
    return page


def settings_errors(visit: Visit) -> Any:
    """Consult settings with a length that is not allowed."""
    page = visit.admin("/admin/settings")
    page.get_by_label("Consult length (minutes)").fill("-1")
    page.get_by_role("button", name="Save settings").click()
    page.locator(".field-error, [role=alert]").first.wait_for()
    return page


# --- the list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PageState:
    """A page as someone sees it: `reach` brings a browser page there."""

    name: str
    reach: Callable[[Visit], Any]
    patient: bool = False  # patients see it: also at a phone's width
    clinic: tuple[tuple[str, str], ...] = ()  # settings of a clinic of its own, if it needs one
    slow: bool = False  # a call or a clinic's wait on the way: over 15 s


# A clinic where the no-show wait is over in 2 seconds: the physiotherapist's absence.
QUICK_NO_SHOW = (("NO_SHOW_SECONDS", "2"),)


def at(path: str) -> Callable[[Visit], Any]:
    """A page opened at its address."""

    def reach(visit: Visit) -> Any:
        return visit.open(path)

    reach.__doc__ = f"{path}"
    return reach


def staff_at(path: str, email: str = PHYSIO) -> Callable[[Visit], Any]:
    """A staff page opened at its address, logged in as `email`."""

    def reach(visit: Visit) -> Any:
        return visit.staff(email, path)

    reach.__doc__ = f"{path}, logged in as {email}"
    return reach


STATES = [
    PageState("home", at("/"), patient=True),
    PageState("home-french", at("/language/fr?next=/"), patient=True),
    PageState("our-team", at("/providers"), patient=True),
    PageState("booking", at("/book"), patient=True),
    PageState("booking-errors", booking_errors, patient=True),
    PageState("booking-french", at("/language/fr?next=/book"), patient=True),
    PageState("booking-slot-picker", slot_picker, patient=True),
    PageState("booking-confirmed", booking_confirmed, patient=True),
    PageState("manage", manage, patient=True),
    PageState("manage-cancel-question", manage_cancel_question, patient=True),
    PageState("manage-cancelled", manage_cancelled, patient=True),
    PageState("manage-not-found", at("/manage/not-a-real-link"), patient=True),
    PageState("resend-links", at("/resend-links"), patient=True),
    PageState("resend-links-errors", resend_links_errors, patient=True),
    PageState("resend-links-sent", resend_links_sent, patient=True),
    PageState("not-found", at("/no-such-page"), patient=True),
    PageState("link-not-active", at("/join/not-a-real-link"), patient=True),
    PageState("setup", setup_any_day, patient=True),
    PageState("setup-from-email", setup_from_email, patient=True),
    PageState("consult-too-early", too_early, patient=True),
    PageState("consult-too-late", too_late, patient=True),
    PageState("consult-check-in", check_in_page, patient=True),
    PageState("consult-check-in-errors", check_in_errors, patient=True),
    PageState("consult-waiting-room", waiting_room, patient=True),
    PageState("consult-in-call-patient", patient_in_call, patient=True, slow=True),
    PageState("consult-end-question", end_question, patient=True, slow=True),
    PageState("consult-left", left_call, patient=True, slow=True),
    PageState("consult-ended", patient_ended, patient=True, slow=True),
    PageState("consult-ended-by-clinic", ended_by_clinic, patient=True),
    PageState("consult-ended-cancelled", ended_cancelled, patient=True),
    PageState("consult-ended-patient-no-show", patient_no_show, True, QUICK_NO_SHOW, slow=True),
    PageState(
        "consult-ended-physiotherapist-absent", provider_absent, True, QUICK_NO_SHOW, slow=True
    ),
    PageState("consult-rebook", rebook_missed, True, QUICK_NO_SHOW, slow=True),
    PageState("staff-login", at("/staff/login")),
    PageState("staff-login-error", staff_login_error),
    PageState("staff-login-code", login_code),
    PageState("staff-password", staff_at("/staff/password")),
    PageState("staff-password-errors", password_errors),
    PageState("staff-two-step-setup", staff_at("/staff/totp/setup")),
    PageState("staff-dashboard", dashboard),
    PageState("staff-lobby", lobby),
    PageState("staff-lobby-patient-waiting", lobby_patient_waiting),
    PageState("consult-in-call-physiotherapist", physio_in_call, slow=True),
    PageState("consult-measuring-physiotherapist", physio_measuring, slow=True),
    PageState("staff-outcome", outcome, slow=True),
    PageState("staff-book-for-caller", staff_at("/staff/book")),
    PageState("staff-book-for-caller-errors", caller_booking_errors),
    PageState("staff-booked-for-caller", caller_booked),
    PageState("staff-outcome-errors", outcome_errors, slow=True),
    PageState("admin-monitor", admin_monitor),
    PageState("admin-monitor-in-call", admin_monitor_call, slow=True),
    PageState("admin-providers", staff_at("/admin/providers", ADMIN)),
    PageState("admin-provider-edit", staff_at("/admin/providers/1", ADMIN)),
    PageState("admin-provider-new", staff_at("/admin/providers/new", ADMIN)),
    PageState("admin-staff", staff_at("/admin/staff", ADMIN)),
    PageState("admin-settings", staff_at("/admin/settings", ADMIN)),
    PageState("admin-settings-errors", settings_errors),
    PageState("admin-audit", staff_at("/admin/audit", ADMIN)),
]

# (state, viewport name, viewport): every state on a desktop, patients' pages on a phone too.
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
CASES = [(state, "desktop") for state in STATES] + [
    (state, "phone") for state in STATES if state.patient
]
