"""A whole consult in French: two Chromium browsers whose language is French (Canada) check
in, admit, talk, write and end the call, and every state they see speaks French: <html
lang="fr-CA">, French accessible names, and none of the consult's English sentences (the
English message ids of the consult's catalog) anywhere in the page's visible text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from babel.messages.pofile import read_po

from tests.waiting import wait_until

CONSULT_CATALOG = (
    Path(__file__).resolve().parents[2]
    / "telehealth/translations/fr_CA/LC_MESSAGES/parts/consult.po"
)
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|<[^>]+>")


def english_sentences() -> list[str]:
    """The consult's English words that a French page must never show: every message id
    (both plural forms) with a French translation of its own, cut at its placeholders and
    markup into pieces long enough to be a sentence nobody writes in French."""
    with CONSULT_CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="fr_CA")
    pieces: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue  # the same words in both languages ("Message", "Microphone")
            for piece in PLACEHOLDER.split(english):
                piece = piece.strip(" .,:;·()")
                if len(piece.split()) >= 2:
                    pieces.add(piece)
    return sorted(pieces)


ENGLISH = english_sentences()


def assert_french(page: Any, where: str) -> None:
    assert page.locator("html").get_attribute("lang") == "fr-CA", where
    text = page.evaluate("document.body.innerText")
    found = [sentence for sentence in ENGLISH if sentence in text]
    assert not found, f"English on the {where}: {found}"


@pytest.fixture
def french_page(chromium: Any) -> Iterator[Any]:
    """Pages in fresh browser contexts whose language is French (Canada)."""
    contexts: list[Any] = []

    def open_page(viewport: dict[str, int] | None = None) -> Any:
        context = chromium.new_context(
            viewport=viewport or {"width": 1280, "height": 900},
            permissions=["camera", "microphone"],
            locale="fr-CA",
            extra_http_headers={"Accept-Language": "fr-CA,fr;q=0.9"},
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        for page in context.pages:
            try:  # an open RTCPeerConnection can make closing the browser hang
                page.evaluate(
                    "window.telehealthCall && window.telehealthCall.pc "
                    "&& window.telehealthCall.pc.close()"
                )
            except Exception:  # noqa: BLE001, S110 - the page may already be gone
                pass
        context.close()


def book_in_french(server: Any, name: str) -> dict[str, Any]:
    """A consult starting now, stored as booked in French (as the French booking page does;
    the CLI books in English), so the pages behind its link speak French by the booking's
    language as well as by the browser's."""
    booked = server.book_now(name=name)
    engine = sqlalchemy.create_engine(server.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sqlalchemy.text("UPDATE consults SET language = 'fr' WHERE id = :id"),
                {"id": booked["id"]},
            )
    finally:
        engine.dispose()
    return booked


def staff_login(page: Any, url: str) -> None:
    # By the fields' names: the staff pages' words belong to another part of the catalog.
    page.goto(url + "/staff/login")
    page.locator("input[name=email]").fill("physio@demo.clinic")
    page.locator("input[name=password]").fill("demo")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/staff$"))


def test_the_english_list_holds_the_consults_sentences() -> None:
    assert "Join waiting room" in ENGLISH
    assert "End the consult for both of you?" in ENGLISH
    assert "Write a message first" in ENGLISH
    assert "Message" not in ENGLISH  # the same word in French


@pytest.mark.slow
def test_a_consult_in_french(live_server, french_page):
    booked = book_in_french(live_server, "Anne Roy")
    physio, patient = french_page(), french_page(viewport={"width": 390, "height": 844})
    staff_login(physio, live_server.url)
    physio.goto(booked["staff_url"])
    physio.get_by_role("heading", name="Consultation avec Anne Roy").wait_for()
    physio.get_by_text("Pas encore arrivé").wait_for()
    assert_french(physio, "physiotherapist's lobby")

    # Check-in, by its French labels.
    patient.goto(booked["join_url"])
    patient.wait_for_url(re.compile(r"/consult$"))
    patient.get_by_role("heading", name="Préparez-vous pour votre consultation").wait_for()
    assert_french(patient, "check-in")
    patient.get_by_label("Votre emplacement (ville)").fill("Vaughan")
    patient.get_by_label("Oui").check()
    patient.get_by_label("Téléphone de la personne à joindre en cas d’urgence").fill("905-555-0100")
    patient.get_by_label("Je suis dans un endroit privé").check()
    patient.get_by_role("button", name="Rejoindre la salle d’attente").click()
    patient.get_by_role("heading", name="Vous êtes dans la salle d’attente").wait_for()
    patient.get_by_text(re.compile("En attente de .*, qui vous fera entrer sous peu")).wait_for()
    assert_french(patient, "waiting room")

    # Admit.
    physio.get_by_text(re.compile("En attente depuis")).wait_for()
    assert_french(physio, "lobby with the patient waiting")
    for label in (
        "Identité confirmée",
        "Emplacement du patient confirmé",
        "Personne à joindre en cas d’urgence confirmée",
    ):
        physio.get_by_label(label).check()
    physio.get_by_role("button", name="Admettre", exact=True).click()

    for page in (patient, physio):
        page.get_by_role("timer").wait_for()
        page.get_by_role("button", name="Terminer l’appel").wait_for()
        assert page.get_by_label("Votre vidéo").count() == 1
        assert page.get_by_label("Vidéo distante").count() == 1
        page.get_by_role("status").filter(has_text="Connecté").wait_for(timeout=20_000)

    # Messages both ways, in French words around them.
    patient.get_by_role("textbox", name="Message").filter(visible=True).fill(
        "J’ai mal au genou gauche"
    )
    patient.get_by_role("button", name="Envoyer").filter(visible=True).click()
    physio.get_by_role("log").get_by_text("J’ai mal au genou gauche").wait_for()
    patient.get_by_role("button", name="Couper le micro").click()
    patient.get_by_role("button", name="Réactiver le micro").wait_for()
    physio.get_by_text("Anne Roy a coupé son micro").wait_for()
    patient.get_by_role("button", name="Arrêter la caméra").click()
    patient.get_by_role("button", name="Démarrer la caméra").wait_for()
    assert patient.get_by_role("button", name="Partager l’écran").count() == 1
    assert_french(patient, "call")
    assert_french(physio, "physiotherapist's call")

    # End the call: the question in French, then the French ending page.
    patient.get_by_role("button", name="Terminer l’appel").click()
    dialog = patient.get_by_role("dialog", name="Terminer la consultation pour vous deux?")
    dialog.wait_for()
    assert_french(patient, "end call question")
    dialog.get_by_role("button", name="Terminer pour les deux").click()
    patient.wait_for_url(re.compile(r"/consult/ended$"), timeout=15_000)
    patient.get_by_role("heading", name="Merci pour votre consultation").wait_for()
    assert_french(patient, "ending page")
    physio.wait_for_url(re.compile(r"/outcome$"), timeout=15_000)
    wait_until(lambda: physio.locator("html").get_attribute("lang") == "fr-CA", 5, "French")
