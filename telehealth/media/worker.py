"""Echo peers for the patients' pre-call check.

The worker connects to a web process like a browser does (Socket.IO namespace /media,
authenticated with the service token), takes offers the server hands it, and loops each
browser's audio and video straight back so the patient sees and hears themselves through
the same ICE and TURN path as the real call. Nothing is recorded; every peer connection
is closed when the check ends, when the browser goes, or after CHECK_SECONDS at most.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from ..protocol import (
    CheckId,
    Description,
    Heartbeat,
    IceServers,
    Invalid,
    Offer,
    PrecheckAnswer,
    PrecheckRefusal,
    PrecheckRequest,
    decode,
    encode,
    events,
)
from .candidates import CandidatePolicy, filter_sdp

log = logging.getLogger(__name__)

NAMESPACE = events.MEDIA
HEARTBEAT_SECONDS = 10.0


# IPv4, and IPv6 with at least three colons or a "::" (so clock times stay readable).
_ADDRESS = re.compile(
    r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])"
    r"|(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){3,7}[0-9A-Fa-f]{0,4}(?![\w:])"
    r"|(?<![\w:])[0-9A-Fa-f]{0,4}::[0-9A-Fa-f:]*(?![\w:])"
)


def without_addresses(text: str) -> str:
    """`text` with every IP address replaced: a patient's address is personal data."""
    return _ADDRESS.sub("[address]", text)


STARTUP_ATTEMPTS = 10


class NoAddressesInLogs(logging.Filter):
    """Rewrites each record's message and traceback without IP addresses."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = without_addresses(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = without_addresses(record.exc_text)
        return True


def keep_addresses_out_of_logs() -> None:
    """In the worker process: aioice and aiortc narrate every candidate pair at INFO."""
    for name in ("aioice", "aiortc"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(NoAddressesInLogs())


def ice_configuration(ice: IceServers) -> RTCConfiguration:
    """The RTCConfiguration from the server's ice_servers payload (empty: host candidates)."""
    servers = [
        RTCIceServer(urls=server.urls, username=server.username, credential=server.credential)
        for server in ice.ice_servers
        if server.urls
    ]
    return RTCConfiguration(iceServers=servers)


@dataclass
class EchoCheck:
    check_id: str
    pc: RTCPeerConnection
    done: asyncio.Event = field(default_factory=asyncio.Event)


class MediaWorker:
    """Serves up to `capacity` pre-call checks at once, each for at most `check_seconds`."""

    def __init__(
        self,
        server_url: str,
        token: str,
        capacity: int = 8,
        check_seconds: float = 60.0,
        candidates: CandidatePolicy | None = None,
    ) -> None:
        self.server_url = server_url
        self.candidates = candidates or CandidatePolicy()
        self.token = token
        self.capacity = capacity
        self.check_seconds = check_seconds
        self.checks: dict[str, EchoCheck] = {}
        self.served = 0
        self.refused = 0
        self.sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_delay=0.5,
            reconnection_delay_max=5,
            randomization_factor=0.5,
        )
        self.sio.on(events.PRECHECK_REQUEST, self._on_request, namespace=NAMESPACE)
        self.sio.on(events.PRECHECK_CLOSE, self._on_close, namespace=NAMESPACE)

    async def connect(self) -> None:
        """Connect, retrying until the web process answers (it may still be starting)."""
        attempts = 0
        while True:
            try:
                await self.sio.connect(
                    self.server_url,
                    namespaces=[NAMESPACE],
                    transports=["websocket"],
                    auth={"service_token": self.token, "capacity": self.capacity},
                    wait_timeout=10,
                )
                log.info("media worker connected to %s", self.server_url)
                return
            except socketio.exceptions.ConnectionError as error:
                attempts += 1
                # `make run` starts the worker beside a web process that needs a few seconds:
                # only a server still unreachable after that is worth a warning.
                level = logging.INFO if attempts <= STARTUP_ATTEMPTS else logging.WARNING
                log.log(level, "media worker cannot connect yet: %s", error)
                await asyncio.sleep(1)

    async def run_forever(self) -> None:
        await warm_up_peer_connections()
        await self.connect()
        try:
            while True:
                await asyncio.sleep(HEARTBEAT_SECONDS)
                if self.sio.connected:
                    await self.sio.emit(
                        events.HEARTBEAT,
                        encode(Heartbeat(busy=len(self.checks))),
                        namespace=NAMESPACE,
                    )
        finally:
            await self.close()

    async def close(self) -> None:
        for check in list(self.checks.values()):
            check.done.set()
        await asyncio.gather(
            *(c.pc.close() for c in list(self.checks.values())), return_exceptions=True
        )
        if self.sio.connected:
            await self.sio.disconnect()

    # -- events from the server ---------------------------------------------------------

    async def _on_request(self, data: Any) -> None:
        try:
            request = decode(PrecheckRequest, data)
        except Invalid as error:
            log.warning("a pre-call check request off the protocol: %s", error.fields)
            check_id = data.get("check_id") if isinstance(data, dict) else None
            if isinstance(check_id, str):
                await self._say_done(check_id)  # nothing to run: the consult's place is free
            return
        if len(self.checks) >= self.capacity:
            self.refused += 1
            refusal = PrecheckRefusal(check_id=request.check_id, reason="busy")
            await self.sio.emit(events.PRECHECK_REFUSED, encode(refusal), namespace=NAMESPACE)
            return
        limit = request.max_seconds
        seconds = min(self.check_seconds, limit) if limit else self.check_seconds
        asyncio.create_task(
            self.run_check(request.check_id, request.description, request.ice_servers, seconds)
        )

    async def _on_close(self, data: Any) -> None:
        try:
            check = self.checks.get(decode(CheckId, data).check_id)
        except Invalid:
            return
        if check is not None:
            check.done.set()

    # -- one echo peer ------------------------------------------------------------------

    async def run_check(
        self,
        check_id: str,
        offer: Offer,
        ice: IceServers,
        seconds: float | None = None,
    ) -> None:
        """Answer the browser's offer and loop its media back until done or timed out."""
        pc = RTCPeerConnection(ice_configuration(ice))
        relay = MediaRelay()  # one per check: a shared relay keeps every past source track
        check = EchoCheck(check_id, pc)
        self.checks[check_id] = check

        @pc.on("track")
        def _echo(track: Any) -> None:
            pc.addTrack(relay.subscribe(track))

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                check.done.set()

        try:
            # Before aiortc sees the offer: only allowed addresses get connectivity checks.
            sdp, dropped = filter_sdp(offer.sdp, self.candidates)
            if dropped:
                log.info(
                    "pre-call check %s: %d candidates outside allowed networks", check_id, dropped
                )
            await pc.setRemoteDescription(RTCSessionDescription(sdp, offer.type))
            await pc.setLocalDescription(await pc.createAnswer())
            answer = Description(type="answer", sdp=pc.localDescription.sdp)
            await self.sio.emit(
                events.PRECHECK_ANSWER,
                encode(PrecheckAnswer(check_id=check_id, description=answer)),
                namespace=NAMESPACE,
            )
            await asyncio.wait_for(check.done.wait(), timeout=seconds or self.check_seconds)
        except TimeoutError:
            log.info("pre-call check %s reached its time limit", check_id)
        except Exception:  # noqa: BLE001 - one bad offer must not take the worker down
            log.exception("pre-call check %s failed", check_id)
        finally:
            await pc.close()
            self.checks.pop(check_id, None)
            self.served += 1
            await self._say_done(check_id)

    async def _say_done(self, check_id: str) -> None:
        """Free the consult's place on the server: it may start its next check."""
        if self.sio.connected:
            try:
                await self.sio.emit(
                    events.PRECHECK_DONE, encode(CheckId(check_id=check_id)), namespace=NAMESPACE
                )
            except socketio.exceptions.SocketIOError:  # the place expires on its own
                log.warning("could not report the end of pre-call check %s", check_id)


def run_worker(server_url: str) -> None:
    """`telehealth media`: run one worker until stopped."""
    from ..config import Config

    config = Config()
    keep_addresses_out_of_logs()
    worker = MediaWorker(
        server_url,
        config.MEDIA_SERVICE_TOKEN,
        capacity=int(os.environ.get("MEDIA_CAPACITY", "8")),
        check_seconds=float(os.environ.get("MEDIA_CHECK_SECONDS", "60")),
        candidates=CandidatePolicy.from_settings(
            config.MEDIA_ALLOWED_CANDIDATE_NETWORKS, config.MEDIA_DENIED_CANDIDATE_NETWORKS
        ),
    )
    asyncio.run(worker.run_forever())


async def warm_up_peer_connections() -> None:
    """Build and close one peer connection before the first patient's check: the first one
    imports cryptography's OpenSSL backend (8-95 ms, more under load) while the patient waits."""
    await RTCPeerConnection().close()
