"""Small helpers the tests share: finding a free slot and booking it through the API."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

_emails = itertools.count(1)


def unique_email() -> str:
    return f"patient{next(_emails)}@example.com"


def free_slots(client: Any, provider_id: int | None = None, days: int = 14) -> list[dict[str, Any]]:
    first = date.today() + timedelta(days=1)
    query = f"/api/v1/slots?from={first}&to={first + timedelta(days=days)}"
    if provider_id:
        query += f"&provider_id={provider_id}"
    response = client.get(query)
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["slots"])


def booking_payload(
    slot: dict[str, Any], email: str | None = None, **changes: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "provider_id": slot["provider_id"],
        "start": slot["start"],
        "patient": {"name": "Ann Lee", "email": email or unique_email(), "phone": "905-555-0123"},
        "reason": "Knee pain",
        "consent": True,
    }
    payload.update(changes)
    return payload
