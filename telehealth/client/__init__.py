"""A Python client for consults: the /consult signaling socket and an aiortc call peer.

    async with contextlib.AsyncExitStack() as stack:
        patient = await ConsultSignaling.connect_as_patient(base_url, credential)
        stack.push_async_callback(patient.close)
        await patient.check_in()
        ice = await patient.wait_for("ice_servers", timeout=600)  # once admitted
        async with CallPeer("patient", ice_servers_from(ice)).running(patient) as peer:
            await peer.wait_for_frames(video=1, timeout=10)
            await patient.wait_for("ended", timeout=1200)

`run_call()` scripts a whole call between two such peers (the probe, benchmarks, tests).
"""

from __future__ import annotations

from .peer import (
    CallPeer,
    DirectChannel,
    RemoteMedia,
    Role,
    SignalChannel,
    connect_both,
    direct_pair,
    ice_servers_from,
    join_call,
    run_call,
)
from .signaling import (
    ADMIT,
    CHECK_IN,
    ConnectRefused,
    ConsultSignaling,
    LoginFailed,
    Received,
    RequestRefused,
    SignalingClosed,
    SignalingError,
    credential_from_join_url,
    staff_session_cookie,
)

__all__ = [
    "ADMIT",
    "CHECK_IN",
    "CallPeer",
    "ConnectRefused",
    "ConsultSignaling",
    "DirectChannel",
    "LoginFailed",
    "Received",
    "RemoteMedia",
    "RequestRefused",
    "Role",
    "SignalChannel",
    "SignalingClosed",
    "SignalingError",
    "connect_both",
    "credential_from_join_url",
    "direct_pair",
    "ice_servers_from",
    "join_call",
    "run_call",
    "staff_session_cookie",
]
