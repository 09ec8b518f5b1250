"""Two aiortc peers hold a consult through a real `telehealth serve` process.

Media flows peer to peer inside the test's network namespace (127.0.0.2 host candidates);
the server only relays the signaling, as it does for browsers.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import pytest

from telehealth.client import (
    ConnectRefused,
    ConsultSignaling,
    RequestRefused,
    connect_both,
    credential_from_join_url,
    join_call,
    run_call,
    staff_session_cookie,
)
from tests.waiting import wait_until_async

STAFF_EMAIL = "physio@demo.clinic"
STAFF_PASSWORD = "demo"  # noqa: S105 (the demo clinic's published login)
STEP = 15.0


async def _outcome_page(base_url: str, consult_id: int) -> str:
    cookie = await staff_session_cookie(base_url, STAFF_EMAIL, STAFF_PASSWORD)
    url = f"{base_url}/staff/consults/{consult_id}/outcome"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.get(url, headers={"Cookie": cookie}, allow_redirects=False) as response,
    ):
        assert response.status == 200, response.status
        return await response.text()


def _refused_connect(url: str, credential: str = "not-a-credential") -> ConnectRefused:
    async def scenario() -> ConnectRefused:
        with pytest.raises(ConnectRefused) as refused:
            await ConsultSignaling.connect_as_patient(url, credential, reconnection=False)
        return refused.value

    return asyncio.run(asyncio.wait_for(scenario(), 30))


def test_two_aiortc_peers_hold_a_consult_through_the_server(live_server):
    booked = live_server.book_now()

    async def scenario() -> tuple[dict[str, Any], str]:
        result = await run_call(
            live_server.url,
            booked["join_url"],
            STAFF_EMAIL,
            STAFF_PASSWORD,
            booked["id"],
            hold_seconds=1.0,
        )
        return result, await _outcome_page(live_server.url, booked["id"])

    result, outcome = asyncio.run(asyncio.wait_for(scenario(), 90))

    assert result["patient_video_frames"] > 0
    assert result["provider_video_frames"] > 0
    assert result["patient_audio_frames"] > 0
    assert result["provider_audio_frames"] > 0
    assert result["chat_delivered"]
    assert result["ended_patient"]["by"] == result["ended_provider"]["by"] == "provider"
    assert result["ended_patient"]["next_url"] == "/consult/ended"
    assert result["ended_provider"]["next_url"] == f"/staff/consults/{booked['id']}/outcome"
    assert 0 < result["admit_to_first_frame_patient"] < 5
    assert 0 < result["admit_to_first_frame_provider"] < 5
    # The end reached SQL: the outcome page shows the consult as completed.
    assert "<dt>Status</dt><dd>Completed</dd>" in outcome
    # An ended consult's link no longer connects, and the client says what the server said.
    refused = _refused_connect(live_server.url, credential_from_join_url(booked["join_url"]))
    assert isinstance(refused.data, dict) and refused.data.get("message")


def test_patient_socket_reconnecting_mid_call_resumes_without_a_new_admit(live_server):
    booked = live_server.book_now()
    credential = credential_from_join_url(booked["join_url"])

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with contextlib.AsyncExitStack() as stack:
            patient, provider = await connect_both(
                stack, live_server.url, credential, STAFF_EMAIL, STAFF_PASSWORD, booked["id"]
            )
            await patient.check_in(timeout=STEP)
            await provider.admit(timeout=STEP)
            patient_peer = await join_call(stack, patient, "patient", timeout=STEP)
            provider_peer = await join_call(stack, provider, "provider", timeout=STEP)
            await patient_peer.wait_for_frames(video=1, audio=1, timeout=STEP)
            await provider_peer.wait_for_frames(video=1, audio=1, timeout=STEP)
            in_call = await patient.wait_for(
                "state", lambda s: s["phase"] == "in_call", timeout=STEP
            )

            def frames() -> tuple[int, int]:
                return patient_peer.received.video_frames, provider_peer.received.video_frames

            seen["before"] = frames()
            await patient.disconnect()
            seen["peer_left"] = await provider.wait_for(
                "peer_left", lambda e: e["side"] == "patient", timeout=STEP
            )
            # Media is peer to peer: it keeps flowing both ways while the socket is away.
            await wait_until_async(
                lambda: all(n > b for n, b in zip(frames(), seen["before"])),
                STEP,
                "video both ways while the patient's socket is away",
            )
            seen["while_away"] = frames()

            await patient.reconnect()
            seen["state"] = await patient.wait_for("state", timeout=STEP)
            seen["ice_servers"] = await patient.wait_for("ice_servers", timeout=STEP)
            seen["peer_back"] = await provider.wait_for(
                "peer_back", lambda e: e["side"] == "patient", timeout=STEP
            )
            await wait_until_async(
                lambda: all(n > b for n, b in zip(frames(), seen["while_away"])),
                STEP,
                "video both ways after the socket is back",
            )
            seen["after"] = frames()
            seen["admitted_at"] = in_call["admitted_at"]
            seen["connects"] = patient.connects
            seen["pc_state"] = patient_peer.pc.connectionState
            with pytest.raises(RequestRefused) as second_admit:
                await provider.admit(timeout=STEP)
            seen["second_admit"] = second_admit.value.code

            await patient.chat("Still here", timeout=STEP)
            seen["chat"] = await provider.wait_for(
                "chat", lambda m: m["text"] == "Still here", timeout=STEP
            )
            await patient.end(timeout=STEP)
            seen["ended"] = await provider.wait_for("ended", timeout=STEP)
        return seen

    seen = asyncio.run(asyncio.wait_for(scenario(), 120))

    assert seen["state"]["phase"] == "in_call"
    assert seen["state"]["admitted_at"] == seen["admitted_at"]  # the same admission
    assert "iceServers" in seen["ice_servers"]
    assert seen["connects"] == 2
    assert seen["second_admit"] != "ok"
    # Media kept flowing on the same RTCPeerConnection while the socket was away, and after.
    before, away, after = seen["before"], seen["while_away"], seen["after"]
    assert away[0] > before[0] and away[1] > before[1], (before, away)
    assert after[0] > away[0] and after[1] > away[1], (away, after)
    assert seen["pc_state"] == "connected"
    assert seen["chat"]["from"] == "patient"
    assert seen["ended"]["by"] == "patient"


def test_a_refused_connect_says_unauthorized_as_the_protocol_documents(live_server):
    assert _refused_connect(live_server.url).code == "unauthorized"
