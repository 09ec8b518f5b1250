"""Every translated page state in French: a browser set to French (locale fr-CA, Accept-Language
fr) gets `<html lang="fr-CA">`, no English sentence of the catalog in what it shows, and no
axe-core violation.

The states are those of page_states.STATES, reached by the same steps. Those steps find
controls by their English names, so the browser carries the person's explicit choice of
English (the `lang` cookie) on the way; at the state, the choice is dropped and the page
loaded again, so what is checked is the page a French browser gets by itself. States whose
page comes from a form's answer are loaded again by sending the form again, as a browser's
reload does.

An area's states join once its translation is complete: add their names to FRENCH_STATES.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from telehealth.i18n import TRANSLATIONS, _catalog_sources, _merge
from tests.e2e.page_states import STATES, Clinics, PageState, Tour, Visit
from tests.e2e.test_accessibility_browser import axe_violations, describe
from tests.waiting import wait_until

FRENCH_STATES = (
    # the public site and the patient's pages (states whose page a reload brings back)
    "home",
    "home-french",
    "our-team",
    "booking",
    "booking-errors",
    "booking-french",
    "booking-confirmed",
    "manage",
    "manage-cancel-question",
    "manage-cancelled",
    "manage-not-found",
    "resend-links",
    "resend-links-errors",
    "resend-links-sent",
    "not-found",
    "link-not-active",
    "setup",
    "setup-from-email",
    "consult-too-early",
    "consult-too-late",
    "consult-check-in",
    "consult-waiting-room",
    "consult-ended",
    "consult-ended-by-clinic",
    "consult-ended-cancelled",
    "consult-ended-patient-no-show",
    "consult-ended-physiotherapist-absent",
    "consult-rebook",
    # staff and admin (and base.html's footer on every page)
    "staff-login",
    "staff-login-error",
    "staff-login-code",
    "staff-password",
    "staff-password-errors",
    "staff-two-step-setup",
    "staff-dashboard",
    "staff-lobby",
    "staff-lobby-patient-waiting",
    "staff-book-for-caller",
    "staff-book-for-caller-errors",
    "staff-booked-for-caller",
    "staff-outcome",
    "staff-outcome-errors",
    "admin-monitor",
    "admin-monitor-in-call",
    "admin-providers",
    "admin-provider-edit",
    "admin-provider-new",
    "admin-staff",
    "admin-settings",
    "admin-settings-errors",
    "admin-audit",
)
# A sentence of this many words or more, shown in English, is a missed translation (shorter
# ones, like a person's name or "Physio", may rightly read the same in both languages).
MIN_WORDS = 4
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\w+\}")
MARKUP = re.compile(r"<[^>]+>")


def english_sentences() -> list[str]:
    """The English text of every translated message: each run of words between its
    placeholders and markup, long enough to be a sentence."""
    catalog = _merge(_catalog_sources(TRANSLATIONS / "fr_CA"), "fr_CA")
    found = set()
    for message in catalog:
        for english in message.id if isinstance(message.id, tuple) else (message.id,):
            if not english:
                continue
            for piece in PLACEHOLDER.split(MARKUP.sub("%s", english)):
                words = " ".join(piece.split())
                if len(re.findall(r"[A-Za-z]+", words)) >= MIN_WORDS:
                    found.add(words)
    return sorted(found)


@dataclass
class FrenchVisit(Visit):
    """A Visit whose browsers are set to French, holding the explicit English choice that
    the English steps need until `in_french` drops it. The clinic books its consults in
    French: the pages behind a consult's links speak the booking's language."""

    booking_language: str = "fr"

    def page(self, viewport: dict[str, int] | None = None, storage: Any = None) -> Any:
        context = self.browser.new_context(
            viewport=viewport or self.viewport,
            permissions=["camera", "microphone"],
            storage_state=storage,
            locale="fr-CA",
            extra_http_headers={"Accept-Language": "fr-CA,fr;q=0.9"},
            timezone_id="America/Toronto",
        )
        context.add_cookies([{"name": "lang", "value": "en", "url": self.server.url}])
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        return context.new_page()


def in_french(page: Any) -> Any:
    """The same page as the French browser gets it: the English choice dropped, reloaded."""
    page.context.clear_cookies(name="lang")
    page.reload()
    page.wait_for_load_state("load")
    if page.locator("#rooms").count():  # the monitor: wait for the live rows again
        page.wait_for_function(
            "() => document.querySelector('#rooms tbody').rows.length > 0"
            " || !document.querySelector('#monitor-empty').hidden"
        )
    return page


class FrenchTour(Tour):
    def visit(self, state: PageState, viewport: str) -> Visit:
        plain = super().visit(state, viewport)
        return FrenchVisit(plain.server, plain.browser, plain.viewport, plain.logins)


@pytest.fixture(scope="module")
def french_tour(
    chromium: Any, backend: Any, module_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tour]:
    clinics = Clinics(backend, tmp_path_factory.mktemp("clinics"), module_server)
    yield FrenchTour(chromium, clinics)
    clinics.stop()


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return english_sentences()


def _state(name: str) -> PageState:
    return next(state for state in STATES if state.name == name)


def test_every_french_state_is_a_page_state() -> None:
    known = {state.name for state in STATES}
    assert set(FRENCH_STATES) <= known, set(FRENCH_STATES) - known


def test_the_english_sentences_are_found() -> None:
    found = english_sentences()
    assert "Open your authenticator app and enter the six-digit code for this clinic." in found
    assert "has not come to the consult booked for" in found  # between two placeholders


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, id=name, marks=[pytest.mark.slow] * _state(name).slow)
        for name in FRENCH_STATES
    ],
)
def test_page_state_in_french(name: str, french_tour: Tour, sentences: list[str]) -> None:
    state = _state(name)
    visit = french_tour.visit(state, "desktop")
    try:
        page = in_french(state.reach(visit))
        wait_until(
            lambda: page.evaluate("document.documentElement.lang") == "fr-CA",
            10,
            "the page in French",
        )
        shown = " ".join(page.evaluate("document.body.innerText + ' ' + document.title").split())
        english = [sentence for sentence in sentences if sentence in shown]
        violations = axe_violations(page)
        where = page.url
    finally:
        visit.close()
    assert not english, f"{name} ({where}) shows English: {english}"
    assert not violations, f"{name} in French ({where}):\n{describe(violations)}"
