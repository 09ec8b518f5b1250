"""The synthetic probe, from the command line and from the admin's monitor."""

from __future__ import annotations

import asyncio
import json
import subprocess

import aiohttp
import pyotp
import socketio

from telehealth.demo import DEMO_ADMIN_TOTP_SECRET
from tests.e2e.conftest import TELEHEALTH


def test_probe_command_runs_a_whole_consult_and_prints_json(live_server):
    done = subprocess.run(
        [
            TELEHEALTH,
            "probe",
            live_server.url,
            "--staff-email",
            "physio@demo.clinic",
            "--staff-password",
            "demo",
        ],
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["problems"] == []
    assert result["frames"]["patient_video_frames"] > 0
    assert result["frames"]["provider_audio_frames"] > 0
    assert 0 < result["timings"]["admit_to_first_frame_patient"] < 10


def test_probe_exits_non_zero_when_the_server_is_unreachable(live_server):
    done = subprocess.run(
        [
            TELEHEALTH,
            "probe",
            "http://127.0.0.1:9",
            "--staff-email",
            "physio@demo.clinic",
            "--staff-password",
            "demo",
        ],
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert json.loads(done.stdout.strip().splitlines()[-1])["ok"] is False


def test_admin_runs_a_probe_from_the_monitor(live_server):
    async def scenario() -> dict:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            login = await http.post(
                f"{live_server.url}/api/v1/staff/session",
                json={
                    "email": "admin@demo.clinic",
                    "password": "demo",
                    "totp": pyotp.TOTP(DEMO_ADMIN_TOTP_SECRET).now(),
                },
            )
            assert login.status == 200
            cookie = "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)
        monitor = socketio.AsyncClient(reconnection=False)
        result: asyncio.Future = asyncio.get_running_loop().create_future()
        monitor.on("probe_result", lambda data: result.set_result(data), namespace="/monitor")
        await monitor.connect(
            live_server.url,
            namespaces=["/monitor"],
            transports=["websocket"],
            headers={"Cookie": cookie},
            wait_timeout=10,
        )
        try:
            ack = await monitor.call("run_probe", {}, namespace="/monitor", timeout=10)
            assert ack["ok"], ack
            return await asyncio.wait_for(result, 120)
        finally:
            await monitor.disconnect()

    outcome = asyncio.run(scenario())
    assert outcome["ok"], outcome
    assert outcome["frames"]["provider_video_frames"] > 0
