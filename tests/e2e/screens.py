"""Screenshots of every page state (page_states.STATES) for reviewers: docs/screens/.

    python tests/netns.py python -m tests.e2e.screens [STATE ...]     (or: make screens)

Starts a demo clinic on the embedded defaults inside the network namespace (the call states
need it, as the browser tests do), walks the states in Chromium as the accessibility test
does, and writes one PNG of the visible window per state: `<state>.png` at 1280 x 800, and
`<state>-phone.png` at 360 x 740 for the pages patients see. With STATE names, only those
are taken again; the README lists every state either way. Where pngquant is installed
(Debian package pngquant), each PNG is reduced to a palette, about a third of the size.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS, Backend
from tests.e2e.page_states import CASES, DESKTOP, PHONE, STATES, Clinics, PageState, Tour

SCREENS = Path(__file__).parents[2] / "docs" / "screens"


def file_name(state: PageState, viewport: str) -> str:
    return f"{state.name}.png" if viewport == "desktop" else f"{state.name}-{viewport}.png"


def take(tour: Tour, state: PageState, viewport: str) -> Path:
    visit = tour.visit(state, viewport)
    try:
        page = state.reach(visit)
        target = SCREENS / file_name(state, viewport)
        page.screenshot(path=str(target), animations="disabled", caret="hide")
    finally:
        visit.close()
    shrink(target)
    return target


def shrink(png: Path) -> None:
    """A palette PNG looks the same for these flat pages and keeps the repository small."""
    if shutil.which("pngquant"):
        subprocess.run(
            ["pngquant", "--quality=70-95", "--speed=1", "--strip", "--force", "--ext=.png"]
            + [str(png)],
            check=False,
        )


def link(name: str) -> str:
    return f"[{name}]({name})"


def readme() -> str:
    lines = [
        "# Screens: every page state",
        "",
        "One screenshot per page state, as a person reaches it (tests/e2e/page_states.py),",
        f"of the visible window: {DESKTOP['width']} x {DESKTOP['height']} on a desktop, and "
        f"{PHONE['width']} x {PHONE['height']} on a phone for the pages patients see. The same",
        "states are checked with axe-core by tests/e2e/test_accessibility_browser.py.",
        "",
        "Taken again with `make screens` (all of them) or",
        "`.venv/bin/python tests/netns.py .venv/bin/python -m tests.e2e.screens STATE ...`.",
        "",
        "| page state | desktop | phone |",
        "|---|---|---|",
    ]
    for state in STATES:
        desktop = f"[{file_name(state, 'desktop')}]({file_name(state, 'desktop')})"
        phone = (
            f"[{file_name(state, 'phone')}]({file_name(state, 'phone')})" if state.patient else ""
        )
        doc = (state.reach.__doc__ or "").strip().split("\n")[0]
        lines.append(f"| `{state.name}`{': ' + doc if doc else ''} | {desktop} | {phone} |")
    return "\n".join(lines) + "\n"


def main(names: list[str]) -> int:
    if os.environ.get("TELEHEALTH_IN_NETNS") != "1":
        print("run inside the network namespace: python tests/netns.py python -m tests.e2e.screens")
        return 2
    unknown = set(names) - {state.name for state in STATES}
    if unknown:
        print(f"no such page state: {', '.join(sorted(unknown))}")
        return 2
    from playwright.sync_api import sync_playwright

    SCREENS.mkdir(parents=True, exist_ok=True)
    chosen = [(s, v) for s, v in CASES if not names or s.name in names]
    failed: list[str] = []
    backend = Backend("embedded")
    with tempfile.TemporaryDirectory(prefix="screens-") as folder:
        clinic = backend.start_server(Path(folder) / "instance")
        clinics = Clinics(backend, Path(folder), clinic)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=30_000
                )
                tour = Tour(browser, clinics)
                for state, viewport in chosen:
                    failed += shoot(tour, state, viewport)
                browser.close()
        finally:
            clinics.stop()
            clinic.stop()
    (SCREENS / "README.md").write_text(readme())
    if failed:
        print(f"not taken: {', '.join(failed)}")
    return 1 if failed else 0


def shoot(tour: Tour, state: PageState, viewport: str) -> list[str]:
    """Take one screenshot; a state that cannot be reached is reported, not fatal."""
    try:
        target = take(tour, state, viewport)
    except Exception as error:  # noqa: BLE001 - report every state that failed at the end
        print(f"{state.name} ({viewport}): {type(error).__name__}: {error}".splitlines()[0])
        return [f"{state.name}-{viewport}"]
    print(f"{target.relative_to(SCREENS.parents[1])}")
    return []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
