"""`telehealth probe`: a synthetic consult through the whole path, as a clinic would check it.

It books an instant probe consult, joins as the patient and as the physiotherapist with two
aiortc peers, checks in, admits, verifies video and audio both ways, sends a chat message,
ends, and reports timings as JSON. Probe consults are excluded from the clinic's numbers.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from ..client.peer import run_call
from ..client.signaling import staff_login


async def _new_probe_consult(base_url: str, email: str, password: str) -> dict[str, Any]:
    cookie, csrf_token = await staff_login(base_url, email, password)
    headers = {"Cookie": cookie, "X-CSRFToken": csrf_token}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{base_url}/api/v1/staff/probe-consults", json={}) as response:
            body = await response.json()
            if response.status != 201:
                raise RuntimeError(f"could not create a probe consult: {body}")
            return dict(body)


def verdict(result: dict[str, Any]) -> list[str]:
    """What failed, in words; empty when the call worked end to end."""
    problems = []
    for side in ("patient", "provider"):
        for kind in ("video", "audio"):
            if not result.get(f"{side}_{kind}_frames"):
                problems.append(f"no {kind} reached the {side}")
    if not result.get("chat_delivered"):
        problems.append("the chat message did not cross")
    return problems


async def run_probe(
    base_url: str,
    *,
    staff_email: str = "",
    staff_password: str = "",
    service_token: str = "",
    consult_id: int | None = None,
    join_url: str = "",
    hold_seconds: float = 1.0,
) -> dict[str, Any]:
    """Run one probe call; the result says ok, the timings and any problem."""
    base_url = base_url.rstrip("/")
    started = time.monotonic()
    try:
        if consult_id is None or not join_url:
            created = await _new_probe_consult(base_url, staff_email, staff_password)
            consult_id, join_url = int(created["id"]), str(created["join_url"])
        result = await run_call(
            base_url,
            join_url,
            staff_email,
            staff_password,
            consult_id,
            hold_seconds=hold_seconds,
            service_token=service_token or None,
        )
    except Exception as error:  # noqa: BLE001 - the probe reports every failure as JSON
        return {
            "ok": False,
            "consult_id": consult_id,
            "error": f"{type(error).__name__}: {error}",
            "elapsed": round(time.monotonic() - started, 3),
        }
    problems = verdict(result)
    timings = {k: round(v, 4) for k, v in result.items() if isinstance(v, float)}
    counts = {k: v for k, v in result.items() if k.endswith("_frames")}
    return {
        "ok": not problems,
        "consult_id": consult_id,
        "problems": problems,
        "timings": timings,
        "frames": counts,
    }


def main(base_url: str, **options: Any) -> int:
    """Print the probe's JSON; exit status 0 only when the whole call worked."""
    result = asyncio.run(run_probe(base_url, **options))
    print(json.dumps(result))
    return 0 if result["ok"] else 1
