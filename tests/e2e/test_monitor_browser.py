"""The admin's live monitor in Chromium: it fits a 1280 px screen and 200 % zoom without
sideways scrolling, shows clinic times with the zone, and runs a probe call from a button."""

from __future__ import annotations

import re
from typing import Any

import pytest

from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from tests.e2e.test_call_browser import admit, check_in, staff_login

LONG_NAME = "Alexandrina Featherstonehaugh-Montgomery"

OVERFLOW = """() => {
  const page = document.documentElement;
  const clipped = (el) => {
    for (let at = el; at; at = at.parentElement) {
      const style = getComputedStyle(at);
      if (style.clip !== 'auto' || style.display === 'none') return true;
    }
    return false;
  };
  const boxes = [...document.querySelectorAll('main *')];
  const wider = boxes
    .filter((el) => el.getBoundingClientRect().right > page.clientWidth + 1 && !clipped(el))
    .map((el) => el.tagName + (el.id ? '#' + el.id : ''));
  const scrollers = boxes
    .filter((el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .map((el) => el.tagName + (el.id ? '#' + el.id : ''));
  return {scroll: page.scrollWidth, client: page.clientWidth, wider, scrollers};
}"""


def _no_sideways_scroll(page: Any) -> None:
    seen = page.evaluate(OVERFLOW)
    assert seen["scroll"] <= seen["client"], seen
    assert seen["wider"] == [] and seen["scrollers"] == [], seen


def _patient_page(new_page: Any, viewport: dict[str, int] | None = None) -> Any:
    """A page with room for a slow start: three browsers with fake cameras share the CPU."""
    page = new_page(viewport)
    page.set_default_timeout(30_000)
    page.set_default_navigation_timeout(30_000)
    return page


def _open_monitor(new_page: Any, url: str, viewport: dict[str, int]) -> Any:
    admin = _patient_page(new_page, viewport)
    staff_login(admin, url, "admin@demo.clinic", DEMO_ADMIN_TOTP_SECRET)
    admin.goto(url + "/admin")
    admin.get_by_text("Live: updates arrive as they happen.").wait_for()
    return admin


@pytest.mark.slow
def test_monitor_fits_1280_px_and_200_percent_zoom_with_live_rooms(live_server, new_page):
    in_call = live_server.book_now(name=LONG_NAME)
    waiting = live_server.book_now(name="Bo Chen")
    for _ in range(2):
        live_server.book_now(name="Ann Lee")
    physio, first, second = (_patient_page(new_page) for _ in range(3))
    staff_login(physio, live_server.url, "physio@demo.clinic")
    check_in(first, in_call["join_url"])
    check_in(second, waiting["join_url"])
    physio.goto(in_call["staff_url"])
    admit(physio)

    wide = _open_monitor(new_page, live_server.url, {"width": 1280, "height": 900})
    row = wide.locator(f'#rooms tr[data-consult="{in_call["id"]}"]')
    row.get_by_text("In call").wait_for()
    row.get_by_text(re.compile(r"\d+ ms")).first.wait_for(timeout=20_000)  # call health
    wide.locator(f'#rooms tr[data-consult="{waiting["id"]}"]').get_by_text(
        "Patient waiting"
    ).wait_for()
    assert wide.locator("#rooms tbody tr").count() >= 4
    _no_sideways_scroll(wide)
    # Clinic time with its zone, whatever the browser's own zone is.
    assert re.search(r"\d{1,2}:\d\d\s[ap]\.m\.\sE[SD]T", row.locator("td").first.inner_text())
    assert wide.locator("#rooms thead").is_visible()  # a real table at desk width

    # 200 % zoom of a 1280 px screen lays the page out in 640 CSS px (one login: a
    # two-step code is accepted only once).
    zoomed = wide
    zoomed.set_viewport_size({"width": 640, "height": 900})
    zoomed.reload()
    zoomed.get_by_text("Live: updates arrive as they happen.").wait_for()
    card = zoomed.locator(f'#rooms tr[data-consult="{in_call["id"]}"]')
    card.get_by_text("In call").wait_for()
    card.get_by_text(re.compile(r"\d+ ms")).first.wait_for(timeout=20_000)
    _no_sideways_scroll(zoomed)
    end = card.get_by_role("button", name=re.compile("End room"))
    box = end.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 640
    # Each value keeps its column's name beside it once the table turns into cards.
    names = card.evaluate(
        "(row) => [...row.cells].filter((td) => td.offsetParent)"
        ".map((td) => getComputedStyle(td, '::before').content)"
    )
    assert '"State"' in names and '"Call health"' in names, names


@pytest.mark.slow
def test_probe_call_runs_from_the_button_with_the_keyboard(live_server, new_page):
    admin = _open_monitor(new_page, live_server.url, {"width": 1280, "height": 900})
    button = admin.get_by_role("button", name="Run a probe call")
    button.focus()
    admin.keyboard.press("Enter")
    result = admin.get_by_role("status").filter(has_text="probe call")
    result.get_by_text(re.compile("Starting a probe call|Probe call running")).wait_for()
    result.get_by_text("The probe call worked").wait_for(timeout=120_000)
    assert button.is_enabled()
    admin.get_by_text("Details").click()
    assert "Admission to the patient's first video frame" in result.inner_text()
