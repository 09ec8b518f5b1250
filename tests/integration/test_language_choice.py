"""Which language a page speaks: the person's switch, else the browser's, else English."""

from __future__ import annotations

import re
from typing import Any

from telehealth.i18n import language_or_default


def _lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, "the page has no <html lang>"
    return match.group(1)


def test_english_by_default_with_a_switch_to_french(client: Any) -> None:
    page = client.get("/").get_data(as_text=True)
    assert _lang(page) == "en-CA"
    assert "Our team" in page
    assert 'lang="fr-CA"' in page and ">Français</a>" in page


def test_the_browser_s_french_is_heard(client: Any) -> None:
    page = client.get("/", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    html = page.get_data(as_text=True)
    assert _lang(html) == "fr-CA"
    assert "Notre équipe" in html and "Our team" not in html
    assert ">English</a>" in html


def test_the_switch_wins_over_the_browser_and_returns_to_the_same_page(client: Any) -> None:
    answer = client.get("/language/en?next=/providers", headers={"Accept-Language": "fr"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/providers")
    page = client.get("/providers", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert _lang(page) == "en-CA"
    client.get("/language/fr?next=/")
    assert _lang(client.get("/").get_data(as_text=True)) == "fr-CA"


def test_the_switch_never_leads_off_the_site(client: Any) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"):
        answer = client.get("/language/fr", query_string={"next": target})
        assert answer.status_code == 303
        assert answer.headers["Location"] in ("/", "http://localhost/"), target


def test_an_unknown_language_changes_nothing(client: Any) -> None:
    answer = client.get("/language/de?next=/")
    assert answer.status_code == 303 and "lang=" not in answer.headers.get("Set-Cookie", "")
    client.set_cookie("lang", "xx-evil")
    assert _lang(client.get("/").get_data(as_text=True)) == "en-CA"


def test_language_codes_are_read_generously() -> None:
    assert [language_or_default(v) for v in ("fr", "fr-CA", "fr_CA", "FR", "en", "de", None)] == [
        "fr",
        "fr",
        "fr",
        "fr",
        "en",
        "en",
        "en",
    ]
