"""`telehealth serve` and `telehealth book` as a newcomer runs them after `make run`."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


def _open(url: str):
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        return opener.open(url, timeout=10)
    except urllib.error.HTTPError as error:
        return error


def test_book_now_prints_the_patient_and_staff_links(live_server):
    booked = live_server.book_now()
    assert urlsplit(booked["join_url"]).netloc == urlsplit(live_server.url).netloc
    assert urlsplit(booked["join_url"]).path.startswith("/join/")
    assert urlsplit(booked["staff_url"]).path == f"/staff/consults/{booked['id']}"


def test_join_link_leaves_the_address_bar_and_the_log(live_server):
    booked = live_server.book_now()
    credential = urlsplit(booked["join_url"]).path.split("/")[-1]
    response = _open(booked["join_url"])
    assert response.status == 303
    assert response.headers["Location"].endswith("/consult")
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert credential not in live_server.log()
    assert "/join/<credential>" in live_server.log()


def test_bad_join_links_all_get_the_same_page(live_server):
    """A guessed link and a link that is not even shaped like one get one and the same 404.
    A real link opened too early is not a bad link: it is exchanged for the session like any
    other, and the page says when the waiting room opens (a guesser never holds one)."""
    booked = live_server.book_now()
    early = live_server.cli(
        "book",
        "--provider",
        "physio@demo.clinic",
        "--start",
        "2030-01-07T10:00:00-05:00",
        "--patient-name",
        "Early Bird",
        "--patient-email",
        "early@example.com",
    )
    import json

    early_url = json.loads(early)["join_url"]
    guessed = booked["join_url"][:-4] + "AAAA"
    bodies = set()
    for url in (guessed, live_server.url + "/join/x"):
        response = _open(url)
        assert response.status == 404
        bodies.add(response.read())
    assert len(bodies) == 1
    response = _open(early_url)
    assert response.status == 303 and urlsplit(response.headers["Location"]).path == "/consult"
