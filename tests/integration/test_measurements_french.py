"""Range-of-motion measurements read in the page's language: the physiotherapist's Measure
panel, the saved reading, the API's refusals, the outcome page's list and the audit log's
sentences are French for a French browser, while the audit row keeps the English summary."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from telehealth.db import utcnow
from telehealth.models import AuditEvent
from tests.integration.test_admin_audit_page import admin_client
from tests.integration.test_measurements import in_call, login, save


@pytest.fixture
def app(app_factory):
    return app_factory(SOCKETIO_MESSAGE_QUEUE=False)


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def french(client: Any) -> Any:
    client.set_cookie("lang", "fr")
    return client


def test_a_saved_measurement_reads_in_french_and_the_record_stays_english(app, demo_clinic):
    consult_id = in_call(demo_clinic)
    client, token = login(app)
    french(client)

    saved = save(client, token, consult_id)
    assert saved.status_code == 201, saved.get_json()
    assert saved.get_json()["summary"] == "genou, côté droit, flexion, amplitude active, 93°"
    back = save(client, token, consult_id, joint="back", side="n/a", movement="extension")
    assert back.get_json()["summary"] == "dos/tronc, extension, amplitude active, 93°"
    gone = client.delete(
        f"/api/v1/staff/consults/{consult_id}/measurements/{back.get_json()['id']}",
        headers={"X-CSRFToken": token},
    )
    assert gone.get_json()["summary"] == "dos/tronc, extension, amplitude active, 93°"

    with demo_clinic.db.sessions() as session:
        query = select(AuditEvent.detail).where(
            AuditEvent.consult_id == consult_id,
            AuditEvent.action == "consult.measurement_recorded",
        )
        details = list(session.scalars(query.order_by(AuditEvent.id)))
    assert details[0]["summary"] == "knee, right, flexion, active, 93°"


def test_the_api_refuses_in_french(app, demo_clinic):
    consult_id = in_call(demo_clinic)
    client, token = login(app)
    french(client)

    refused = save(client, token, consult_id, joint="toe", degrees=200)
    assert refused.status_code == 400
    error = refused.get_json()["error"]
    assert error["message"] == "Certains champs de la mesure doivent être corrigés."
    assert error["fields"]["joint"].startswith("Choisissez l’articulation : shoulder, elbow")
    assert error["fields"]["degrees"] == "L’angle est un nombre entier de degrés, de 0 à 180."


def test_the_outcome_page_and_the_audit_log_read_the_measurement_in_french(app, demo_clinic):
    consult_id = in_call(demo_clinic)
    demo_clinic.consults.end(consult_id, "provider", "staff:2", utcnow())
    client, token = login(app)
    measurement_id = save(client, token, consult_id).get_json()["id"]
    french(client)

    page = client.get(f"/staff/consults/{consult_id}/outcome").get_data(as_text=True)
    assert "Amplitude articulaire mesurée pendant l’appel" in page
    assert 'aria-label="Supprimer genou, côté droit, flexion, amplitude active, 93°"' in page
    deleted = client.post(
        f"/staff/consults/{consult_id}/measurements/{measurement_id}/delete",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "Supprimée : genou, côté droit, flexion, amplitude active, 93°." in _text(
        deleted.get_data(as_text=True)
    )

    admin = french(admin_client(app))
    log = _text(admin.get(f"/admin/audit?consult={consult_id}").get_data(as_text=True))
    assert "A enregistré une mesure d’amplitude articulaire" in log
    assert "A supprimé une mesure d’amplitude articulaire" in log
    assert f"Mesure {measurement_id} : genou, côté droit, flexion, amplitude active, 93°" in log


def test_the_measure_panel_speaks_french(app, demo_clinic):
    consult_id = in_call(demo_clinic)
    client, _token = login(app)
    page = french(client).get(f"/staff/consults/{consult_id}").get_data(as_text=True)
    for words in ("Mesurer", "Articulation", "Épaule", "Rotation interne", "Enregistrer la mesure"):
        assert words in page, words
    block = re.search(
        r"<script type=\"application/json\" data-page-strings>(.*?)</script>", page, re.S
    )
    assert block, "no page strings"
    strings = json.loads(block.group(1))
    assert strings["measure.saved"] == "Enregistrée : {summary}."
    assert strings["measure.point.axis"] == "Axe"
    assert 'value="active" checked> Active' in page
