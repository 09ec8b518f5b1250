"""The browser's side of the pre-call check, in Python: for tests, benchmarks and monitors.

It sends an offer with a synthetic camera and microphone on /consult (`precheck_offer`),
gets the media worker's answer, and counts the video frames that come back echoed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import socketio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack

from ..protocol import Offer, PrecheckAnswer, PrecheckOffer, decode, encode, events


class PrecheckBrowser:
    """Plays the patient's browser on the check-in page: offer, answer, count echoed frames."""

    def __init__(self, base_url: str, join_url: str) -> None:
        self.base_url = base_url
        self.credential = join_url.rsplit("/", 1)[-1]
        self.sio = socketio.AsyncClient(reconnection=False)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.frames = 0
        self.answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.error: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.readers: list[asyncio.Task[None]] = []

    async def start(self, rewrite_offer: Callable[[str], str] | None = None) -> dict[str, Any]:
        """Connect, send the offer (rewritten first, as a hostile client would) and ack."""
        self.sio.on(events.PRECHECK_ANSWER, self._answered, namespace=events.CONSULT)
        self.sio.on(events.PRECHECK_ERROR, self._failed, namespace=events.CONSULT)
        await self.sio.connect(
            self.base_url,
            namespaces=[events.CONSULT],
            transports=["websocket"],
            auth={"join_credential": self.credential, "device": "probe"},
            wait_timeout=10,
        )

        @self.pc.on("track")
        def _track(track: Any) -> None:
            if track.kind == "video":
                self.readers.append(asyncio.create_task(self._count(track)))

        self.pc.addTrack(VideoStreamTrack())
        self.pc.addTrack(AudioStreamTrack())
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = self.pc.localDescription.sdp
        # Not checked here: a hostile rewrite may break the protocol's limits on purpose.
        offer = Offer(type="offer", sdp=rewrite_offer(sdp) if rewrite_offer else sdp)
        return dict(
            await self.sio.call(
                events.PRECHECK_OFFER,
                encode(PrecheckOffer(description=offer)),
                namespace=events.CONSULT,
                timeout=10,
            )
        )

    async def _answered(self, data: dict[str, Any]) -> None:
        answer = decode(PrecheckAnswer, data).description
        await self.pc.setRemoteDescription(RTCSessionDescription(answer.sdp, answer.type))
        if not self.answer.done():
            self.answer.set_result(data)

    async def _failed(self, data: dict[str, Any]) -> None:
        if not self.error.done():
            self.error.set_result(data)

    async def _count(self, track: Any) -> None:
        try:
            while True:
                await track.recv()
                self.frames += 1
        except MediaStreamError:
            return

    async def wait_frames(self, count: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.frames < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert self.frames >= count, f"only {self.frames} echoed frames arrived"

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        await self.pc.close()
        if self.sio.connected:
            await self.sio.disconnect()
