"""Every consult page in French (Canada), through the Flask test client: the patient's
check-in, waiting room and call page, the physiotherapist's page, the setup test, each
ending, the page before the waiting room opens and the one after its link closed. Each
answers (never a 500: plural forms count with numbers), says lang="fr-CA", hands its
scripts their words in French, and shows none of the consult's English sentences."""

from __future__ import annotations

import html as markup
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from babel.messages.pofile import read_po

from telehealth.db import utcnow
from telehealth.models import Consult
from telehealth.sessions import Side
from tests.consults import instant_consult, patient_client, staff_client

ANSWERS = {"location": "Vaughan, ON", "in_ontario": "yes", "emergency_phone": "9055550100"}
CATALOG = (
    Path(__file__).resolve().parents[2]
    / "telehealth/translations/fr_CA/LC_MESSAGES/parts/consult.po"
)
PIECES = re.compile(r"%\(\w+\)[sd]|<[^>]+>")


def _english_sentences() -> list[str]:
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="fr_CA")
    pieces: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue
            for piece in PIECES.split(english):
                piece = piece.strip(" .,:;·()")
                if len(piece.split()) >= 3:
                    pieces.add(piece)
    return sorted(pieces)


ENGLISH = _english_sentences()


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False, NO_SHOW_SECONDS=0, REJOIN_WINDOW_SECONDS=60)


def _french(client):
    client.set_cookie("lang", "fr")
    return client


def _visible_text(page: str) -> str:
    """The page's words as a person meets them: no scripts' data, no tags, entities read."""
    page = re.sub(r"<script\b.*?</script>", " ", page, flags=re.S)
    return " ".join(markup.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _assert_french(response, where: str) -> str:
    assert response.status_code in (200, 410), (where, response.status_code)
    page = response.get_data(as_text=True)
    assert '<html lang="fr-CA">' in page, where
    text = _visible_text(page)
    found = [sentence for sentence in ENGLISH if sentence in text]
    assert not found, f"English on the {where}: {found}"
    return page


def _script_words(page: str) -> dict:
    block = re.search(
        r'<script type="application/json" data-page-strings>(.*?)</script>', page, re.S
    )
    assert block, "the page hands its scripts their words"
    return json.loads(block.group(1))


def _open(clinic, minutes_from_now=0.0):
    booked = instant_consult(clinic, minutes_from_now=minutes_from_now)
    with clinic.db.sessions() as session:
        row = session.get(Consult, booked.id)
    clinic.consults.open_room(booked.id, row.starts_at, row.ends_at)
    return booked


def test_the_patients_and_physiotherapists_pages_speak_french(app, demo_clinic):
    booked = _open(demo_clinic)
    patient = _french(patient_client(app, booked))
    page = _assert_french(patient.get("/consult"), "check-in")
    assert "Rejoindre la salle d’attente" in page
    assert 'aria-label="Votre vidéo"' in page and 'aria-label="Vidéo distante"' in page
    words = _script_words(page)
    assert words["controls.mute"] == "Couper le micro"
    assert words["refusal.not_in_ontario"].startswith("Les physiothérapeutes de l’Ontario")
    assert words["countdown.minutesLeft"] == {
        "one": "Il reste {count} minute",
        "other": "Il reste {count} minutes",
    }

    staff = _french(staff_client(app))
    page = _assert_french(staff.get(f"/staff/consults/{booked.id}"), "physiotherapist's page")
    assert ">Admettre<" in page
    assert (
        _script_words(page)["provider.tickAll"] == "Cochez les trois vérifications pour admettre."
    )

    page = _assert_french(patient.get("/setup"), "setup test")
    assert "Testez votre équipement" in page


def test_english_pages_keep_their_words(app, demo_clinic):
    booked = _open(demo_clinic)
    page = patient_client(app, booked).get("/consult").get_data(as_text=True)
    assert '<html lang="en-CA">' in page
    assert "Join waiting room" in page and 'aria-label="Your video"' in page
    assert _script_words(page)["controls.mute"] == "Mute"


@pytest.mark.parametrize(
    ("ending", "heading"),
    [
        ("completed", "Merci pour votre consultation"),
        ("dropped", "Merci pour votre consultation"),
        ("clinic", "La clinique a mis fin à votre consultation"),
        ("provider_absent", "Nous sommes désolés : votre physiothérapeute n’a pas pu se joindre"),
        ("patient_no_show", "Nous vous avons manqué"),
        ("cancelled", "Votre consultation a été annulée"),
    ],
)
def test_every_ending_speaks_french(app, demo_clinic, ending, heading):
    consults = demo_clinic.consults
    booked = _open(demo_clinic, minutes_from_now=5 if ending == "cancelled" else 0)
    client = _french(patient_client(app, booked))
    if ending == "cancelled":
        consults.cancel(booked.id, "patient", utcnow())
    elif ending == "patient_no_show":
        consults.mark_no_show(booked.id, Side.PATIENT, "system", utcnow())
    else:
        consults.check_in(booked.id, "patient:x", "Phone", ANSWERS, utcnow())
        if ending == "provider_absent":
            consults.mark_no_show(booked.id, Side.PROVIDER, "system", utcnow())
        else:
            consults.admit(booked.id, "staff:2", utcnow())
            who = {"completed": ("provider", "staff:2"), "clinic": ("admin", "staff:1")}
            by, actor = who.get(ending, ("clock", "system"))
            reason = "patient_left" if ending == "dropped" else None
            consults.end(booked.id, by, actor, utcnow(), reason=reason)
    response = client.get("/consult")
    assert urlsplit(response.headers["Location"]).path == "/consult/ended"
    page = _assert_french(client.get("/consult/ended"), f"{ending} ending")
    assert heading in markup.unescape(page)


def test_before_and_after_the_link_window_speak_french(app, demo_clinic):
    early = instant_consult(demo_clinic, minutes_from_now=90)
    client = _french(app.test_client())
    client.get(f"/join/{early.join_credential}")
    page = _assert_french(client.get("/consult"), "page before the waiting room opens")
    assert "Votre consultation n’a pas encore commencé" in page
    assert re.search(r"\d+ h \d\d", page), "the time as French readers write it"

    late = instant_consult(demo_clinic, minutes_from_now=-120)
    page = _assert_french(_french(patient_client(app, late)).get("/consult"), "too-late page")
    assert "L’heure de cette consultation est passée" in page


def test_every_refusal_code_has_words_on_the_consult_pages(app, demo_clinic):
    """A refusal shows the page's words for its code: every code a consult page can meet
    (acks.REFUSALS and the connect refusals of docs/protocol.md) has them, in French too."""
    from telehealth.protocol.acks import REFUSALS

    booked = _open(demo_clinic)
    words = _script_words(_french(patient_client(app, booked)).get("/consult").get_data(True))
    staff_only = {"no_provider"}  # the admin's probe, never a consult page
    for code in sorted(set(REFUSALS) - staff_only):
        assert f"refusal.{code}" in words, code
        assert words[f"refusal.{code}"] != REFUSALS[code].replace("'", "’"), code
