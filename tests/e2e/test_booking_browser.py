"""A patient books a free consult in Chromium using only the keyboard."""

from __future__ import annotations

import re


def _tab_to(page, predicate: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches a JS predicate on `el`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return {predicate}; }})()"):
            return
    raise AssertionError(f"could not reach {predicate} with the keyboard")


def test_patient_books_with_the_keyboard_only(live_server, new_page):
    page = new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(live_server.url + "/")
    _tab_to(page, "el.textContent.trim() === 'Book a free consult' && el.closest('main')")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/book"))

    _tab_to(page, "el.name === 'slot'")
    page.keyboard.press("Space")
    chosen = page.evaluate("document.activeElement.value")
    _tab_to(page, "el.id === 'name'")
    page.keyboard.type("Ann Lee")
    page.keyboard.press("Tab")
    page.keyboard.type("ann.keyboard@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("905-555-0123")
    _tab_to(page, "el.id === 'reason'")
    page.keyboard.press("ArrowDown")
    _tab_to(page, "el.id === 'consent'")
    page.keyboard.press("Space")
    _tab_to(page, "el.textContent.trim() === 'Book my free consult'")
    page.keyboard.press("Enter")

    page.wait_for_url(re.compile(r"/book/confirmed"))
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == "You're booked"
    assert "ann.keyboard@example.com" in page.content()
    assert chosen.split("|")[0] in ("1", "2")
    outbox = list((live_server.instance / "outbox").glob("*.eml"))
    assert len(outbox) == 1


def test_missing_details_are_announced_and_focused(live_server, new_page):
    page = new_page()
    page.goto(live_server.url + "/book")
    page.get_by_role("button", name="Book my free consult").click()
    summary = page.get_by_role("alert")
    assert "Please fix the following" in summary.inner_text()
    # The page's script moves focus once it has run, which may be after the summary shows.
    page.wait_for_function("document.activeElement?.id === 'error-summary'", timeout=10_000)
    assert page.get_by_label("Full name").get_attribute("aria-invalid") == "true"
