"""axe-core finds no accessibility violation on any page state (page_states.STATES), on a
desktop and, for the pages patients see, on a 360 px phone.

Rules: WCAG 2.0 and 2.1, levels A and AA, plus axe's best-practice rules (landmarks, one
main heading, heading order, unique landmark names...): they all hold on our pages, and
each one stands for something a screen-reader user notices. axe runs in the real page,
under its real content security policy (injected through the DevTools protocol, not as a
script tag). A planted violation proves the check sees what it should.

axe leaves one question to people ("incomplete", not a violation): captions for the <video>
elements. They show the live camera of the two people in the call (and the patient's own
preview), two-way conversation rather than published media; the call's chat is the text
channel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.page_states import CASES, STATES, Clinics, PageState, Tour

AXE = Path(__file__).parents[1] / "vendor" / "axe-core" / "axe.min.js"
SLOW = [pytest.mark.slow]
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]

RUN_AXE = """async (tags) => {
  const results = await window.axe.run(document, {
    runOnly: { type: 'tag', values: tags },
    resultTypes: ['violations'],
  });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
  }));
}"""


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe's violations of RULE_TAGS on the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    return list(page.evaluate(RUN_AXE, RULE_TAGS))


# Elements that reach past the right edge of the window, innermost first (WCAG 1.4.10,
# reflow: a phone user must not scroll sideways to read a line). axe does not check this.
SIDEWAYS = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return [];
  const wide = [...document.querySelectorAll('body *')].filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1 && getComputedStyle(el).position !== 'fixed';
  });
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + [...el.classList].map((c) => '.' + c).join('');
  return wide.filter((el) => !wide.some((other) => other !== el && el.contains(other)))
    .slice(0, 10).map(name);
}"""


def describe(violations: list[dict[str, Any]]) -> str:
    """One block per rule broken: what, how bad, where (selectors), and how to fix it."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}  <{v['helpUrl']}>")
        for node in v["nodes"]:
            lines.append(f"    at {node['target']}")
            for hint in (node["summary"] or "").splitlines():
                lines.append(f"        {hint}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def tour(
    chromium: Any, backend: Any, module_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tour]:
    """The module's browser and clinics (the default one and those states ask for)."""
    clinics = Clinics(backend, tmp_path_factory.mktemp("clinics"), module_server)
    yield Tour(chromium, clinics)
    clinics.stop()


@pytest.mark.parametrize(
    ("state", "viewport"),
    [
        pytest.param(state, viewport, id=f"{state.name}-{viewport}", marks=SLOW * state.slow)
        for state, viewport in CASES
    ],
)
def test_page_state_has_no_axe_violations(state: PageState, viewport: str, tour: Tour) -> None:
    visit = tour.visit(state, viewport)
    try:
        page = state.reach(visit)
        violations = axe_violations(page)
        sideways = page.evaluate(SIDEWAYS) if viewport == "phone" else []
        where = page.url
    finally:
        visit.close()
    assert not violations, f"{state.name} at {viewport} width ({where}):\n{describe(violations)}"
    assert not sideways, f"{state.name} scrolls sideways on a phone ({where}): {sideways}"


def test_the_check_sees_a_planted_violation(tour: Tour) -> None:
    """The check itself works under the pages' security policy: an unlabelled field and an
    image without a text alternative, planted in the home page, are reported."""
    home = next(state for state in STATES if state.name == "home")
    visit = tour.visit(home, "desktop")
    try:
        page = home.reach(visit)
        page.evaluate(
            """() => {
              const main = document.querySelector('main');
              main.insertAdjacentHTML('beforeend', '<input type="text"><img src="/favicon.ico">');
            }"""
        )
        found = {violation["id"] for violation in axe_violations(page)}
    finally:
        visit.close()
    assert {"label", "image-alt"} <= found, found
