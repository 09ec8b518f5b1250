"""One side's WebRTC peer (aiortc) for a consult, and a whole scripted call between two of them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import (
    AudioStreamTrack,
    MediaStreamError,
    MediaStreamTrack,
    VideoStreamTrack,
)
from aiortc.sdp import candidate_from_sdp
from msgspec import UNSET

from ..media.candidates import candidate_type, relay_only_sdp
from ..protocol import (
    Candidate,
    ChatLine,
    Description,
    IceServers,
    Invalid,
    Signal,
    decode,
    encode,
    events,
)
from .signaling import (
    ConsultSignaling,
    SignalingClosed,
    SignalingError,
    credential_from_join_url,
)

log = logging.getLogger(__name__)

Payload = dict[str, Any]
CLOSE_TIMEOUT = 10.0


class Role(StrEnum):
    """The patient is polite and answers; the physiotherapist is impolite and offers."""

    PATIENT = "patient"
    PROVIDER = "provider"


class SignalChannel(Protocol):
    """Where a peer sends and receives `signal` payloads (the server, or a direct pipe)."""

    async def send_signal(self, payload: Payload) -> None: ...

    async def receive_signal(self, timeout: float | None = None) -> Payload: ...


class DirectChannel:
    """One end of an in-process signal pipe: the baseline with no server in between."""

    def __init__(self, inbox: asyncio.Queue[Payload], outbox: asyncio.Queue[Payload]) -> None:
        self._inbox = inbox
        self._outbox = outbox

    async def send_signal(self, payload: Payload) -> None:
        await self._outbox.put(payload)

    async def receive_signal(self, timeout: float | None = None) -> Payload:
        async with asyncio.timeout(timeout):
            return await self._inbox.get()


def direct_pair() -> tuple[DirectChannel, DirectChannel]:
    """Two connected channels: what one sends, the other receives."""
    one: asyncio.Queue[Payload] = asyncio.Queue()
    two: asyncio.Queue[Payload] = asyncio.Queue()
    return DirectChannel(one, two), DirectChannel(two, one)


def ice_servers_from(payload: Mapping[str, Any] | None) -> list[RTCIceServer]:
    """RTCIceServer objects from an `ice_servers` event (`{"iceServers": [...], "ttl": ...}`)."""
    ice = decode(IceServers, dict(payload or {}))
    return [
        RTCIceServer(urls=server.urls, username=server.username, credential=server.credential)
        for server in ice.ice_servers
        if server.urls
    ]


def description_signal(description: RTCSessionDescription, relay_only: bool = False) -> Payload:
    """The `signal` payload carrying one of our descriptions, as the protocol shapes it."""
    sdp = relay_only_sdp(description.sdp) if relay_only else description.sdp
    return encode(Signal(description=decode(Description, {"type": description.type, "sdp": sdp})))


@dataclass
class RemoteMedia:
    """What arrived from the other side: decoded frames and when the first of each came."""

    video_frames: int = 0
    audio_frames: int = 0
    first_video_at: float | None = None
    first_audio_at: float | None = None


class CallPeer:
    """One side's RTCPeerConnection: sends a synthetic camera and silence, reads every track."""

    def __init__(
        self,
        role: Role | str,
        ice_servers: Iterable[RTCIceServer] = (),
        *,
        send_video: bool = True,
        send_audio: bool = True,
        transport_policy: str = "all",
    ) -> None:
        self.role = Role(role)
        # aiortc has no iceTransportPolicy: with "relay" this peer shows and uses only TURN
        # candidates, so neither side learns the other's address.
        self.relay_only = transport_policy == "relay"
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=list(ice_servers)))
        self.received = RemoteMedia()
        self.offer_started_at: float | None = None
        self.error: BaseException | None = None
        self.send_failures: list[Exception] = []
        self._local: list[MediaStreamTrack] = []
        if send_video:
            self._local.append(VideoStreamTrack())
        if send_audio:
            self._local.append(AudioStreamTrack())
        self._readers: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._finished = False
        self._task: asyncio.Task[None] | None = None

    # -- the peer's one coroutine ----------------------------------------------------------

    async def run(self, channel: SignalChannel) -> None:
        """Negotiate as this role and answer the other side's signals until `stop()`; then close."""
        pc = self.pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._readers.append(asyncio.ensure_future(self._consume(track)))

        @pc.on("connectionstatechange")
        async def on_connectionstatechange() -> None:
            log.debug("%s peer connection %s", self.role, pc.connectionState)
            self._wake()

        try:
            for track in self._local:
                pc.addTrack(track)
            if self.role is Role.PROVIDER:
                # aiortc gathers every candidate before localDescription is set: one signal.
                self.offer_started_at = time.monotonic()
                await pc.setLocalDescription(await pc.createOffer())
                await self._send(channel, description_signal(pc.localDescription, self.relay_only))
            while (signal := await self._next_signal(channel)) is not None:
                await self._apply(channel, signal)
        except Exception as error:
            self.error = error
            raise
        finally:
            await self._close_media()
            self._finished = True
            self._wake()

    async def _next_signal(self, channel: SignalChannel) -> Payload | None:
        """The next signal, or None once `stop()` was called or the channel closed."""
        if self._stopping.is_set():
            return None
        receive = asyncio.ensure_future(channel.receive_signal(None))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({receive, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (receive, stopping):
                waiter.cancel()
            await asyncio.gather(receive, stopping, return_exceptions=True)
        if receive.cancelled():
            return None
        if isinstance(receive.exception(), SignalingClosed):
            return None
        return receive.result()

    async def _apply(self, channel: SignalChannel, payload: Payload) -> None:
        try:
            signal = decode(Signal, payload)
        except Invalid as error:  # the server relays only valid ones; a direct pipe might not
            log.info("%s ignores a signal: %s %s", self.role, error.message, error.fields)
            return
        if signal.description is not UNSET:
            await self._apply_description(channel, signal.description)
        elif signal.candidate is not UNSET:
            await self._add_candidate(signal.candidate)

    async def _apply_description(self, channel: SignalChannel, description: Description) -> None:
        pc = self.pc
        kind = description.type
        if kind == "offer":
            if self.role is Role.PROVIDER and pc.signalingState != "stable":
                log.info("provider ignores a colliding offer (impolite side)")
                return
            await pc.setRemoteDescription(RTCSessionDescription(self._remote(description), "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await self._send(channel, description_signal(pc.localDescription, self.relay_only))
        elif kind == "answer":
            await pc.setRemoteDescription(
                RTCSessionDescription(self._remote(description), "answer")
            )
        else:  # rollback / pranswer: aiortc has neither, and our patient never offers
            log.info("%s ignores a %r description", self.role, kind)

    def _remote(self, description: Description) -> str:
        sdp = description.sdp
        return relay_only_sdp(sdp) if self.relay_only else sdp

    async def _send(self, channel: SignalChannel, payload: Payload) -> None:
        """Send a signal; a refused or disconnected socket must not close a working call."""
        try:
            await channel.send_signal(payload)
        except (SignalingError, TimeoutError) as error:
            self.send_failures.append(error)
            log.warning("%s could not send a signal: %s", self.role, error)

    async def _add_candidate(self, candidate: Candidate | None) -> None:
        """Trickled candidates (from browsers); aiortc's own SDP already carries its own."""
        if candidate is None or not candidate.candidate:
            return  # end of candidates
        text = candidate.candidate
        if self.relay_only and candidate_type(text) != "relay":
            return
        try:
            ice = candidate_from_sdp(
                text.split(":", 1)[1] if text.startswith("candidate:") else text
            )
            ice.sdpMid = candidate.sdp_mid
            ice.sdpMLineIndex = candidate.sdp_m_line_index
            await self.pc.addIceCandidate(ice)
        except Exception as error:  # a bad candidate must not end the call
            log.debug("%s could not add a candidate: %s", self.role, error)

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            media = self.received
            if track.kind == "video":
                media.video_frames += 1
                media.first_video_at = media.first_video_at or now
            else:
                media.audio_frames += 1
                media.first_audio_at = media.first_audio_at or now
            self._wake()

    async def _close_media(self) -> None:
        try:
            await asyncio.wait_for(self.pc.close(), CLOSE_TIMEOUT)
        finally:
            for track in self._local:
                track.stop()
            for reader in self._readers:
                reader.cancel()
            await asyncio.gather(*self._readers, return_exceptions=True)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- running it ----------------------------------------------------------------------

    def start(self, channel: SignalChannel) -> asyncio.Task[None]:
        """Run `run(channel)` in a task; `close()` ends it."""
        if self._task is not None:
            raise RuntimeError("this peer is already running")
        self._task = asyncio.create_task(self.run(channel), name=f"{self.role}-peer")
        return self._task

    def stop(self) -> None:
        """Ask `run` to return (it closes the peer connection on its way out)."""
        self._stopping.set()

    async def close(self) -> None:
        """Stop, wait (bounded) for `run` to finish, and make sure the connection is closed."""
        self.stop()
        task = self._task
        if task is None:
            if not self._finished:
                await self._close_media()
                self._finished = True
            return
        done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self._close_media()
        elif not task.cancelled() and task.exception() is not None:
            log.debug("%s peer had failed: %r", self.role, task.exception())

    @contextlib.asynccontextmanager
    async def running(self, channel: SignalChannel) -> AsyncIterator[CallPeer]:
        """`async with peer.running(channel):` the peer negotiates and is closed on exit."""
        task = self.start(channel)
        try:
            yield self
        finally:
            await self.close()
        error = task.exception() if task.done() and not task.cancelled() else None
        if error is not None:
            raise error

    async def wait_for_frames(
        self, *, video: int = 1, audio: int = 0, timeout: float = 10.0
    ) -> RemoteMedia:
        """Wait until at least this many remote frames were decoded (TimeoutError if not)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    media = self.received
                    if media.video_frames >= video and media.audio_frames >= audio:
                        return media
                    if self._finished:
                        raise RuntimeError(f"the {self.role} peer stopped") from self.error
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{self.role}: {self.received.video_frames} video / "
                f"{self.received.audio_frames} audio frames after {timeout} s "
                f"(connection {self.pc.connectionState}, ICE {self.pc.iceConnectionState})"
            ) from None


# -- a whole call through the server --------------------------------------------------------


async def _all(*steps: Coroutine[Any, Any, Any]) -> list[Any]:
    """Run steps concurrently; the first failure cancels the others and is raised as is."""
    tasks: list[asyncio.Task[Any]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(step) for step in steps]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def join_call(
    stack: contextlib.AsyncExitStack,
    signaling: ConsultSignaling,
    role: Role | str,
    *,
    timeout: float = 10.0,
) -> CallPeer:
    """Wait for this side's `ice_servers`, then start its peer (closed when `stack` closes)."""
    ice = await signaling.wait_for(events.ICE_SERVERS, timeout=timeout)
    policy = decode(IceServers, ice).ice_transport_policy
    peer = CallPeer(
        role, ice_servers_from(ice), transport_policy="all" if policy is UNSET else policy
    )
    stack.push_async_callback(peer.close)
    peer.start(signaling)
    return peer


async def connect_both(
    stack: contextlib.AsyncExitStack,
    base_url: str,
    join_credential: str,
    staff_email: str,
    staff_password: str,
    consult_id: int,
    service_token: str | None = None,
) -> tuple[ConsultSignaling, ConsultSignaling]:
    """The patient's and the physiotherapist's sockets, closed when `stack` closes."""

    async def patient() -> ConsultSignaling:
        client = await ConsultSignaling.connect_as_patient(
            base_url, join_credential, device="aiortc patient"
        )
        stack.push_async_callback(client.close)
        return client

    async def provider() -> ConsultSignaling:
        if service_token:
            client = await ConsultSignaling.connect_as_probe_provider(
                base_url, service_token, consult_id
            )
        else:
            client = await ConsultSignaling.connect_as_provider(
                base_url, staff_email, staff_password, consult_id, device="aiortc physiotherapist"
            )
        stack.push_async_callback(client.close)
        return client

    sockets = await _all(patient(), provider())
    return sockets[0], sockets[1]


async def run_call(
    base_url: str,
    join_url: str,
    staff_email: str,
    staff_password: str,
    consult_id: int,
    *,
    hold_seconds: float = 1.0,
    step_timeout: float = 15.0,
    chat_text: str = "Hello from the patient",
    service_token: str | None = None,
) -> dict[str, Any]:
    """A whole consult between two aiortc peers through the server; timings in seconds.

    Connect both sides, check in, admit, negotiate (the physiotherapist offers), wait for
    video and audio both ways, hold the call, cross a chat message, end it. Returns
    `connect`, `check_in`, `admit` (its acknowledgement), `admit_to_first_frame_patient` /
    `_provider` (admit sent → first decoded remote video frame), `total`, the frame counts
    each side received and both `ended` payloads.
    """
    clock = time.monotonic
    started = clock()
    credential = credential_from_join_url(join_url)
    async with contextlib.AsyncExitStack() as stack:
        patient, provider = await connect_both(
            stack, base_url, credential, staff_email, staff_password, consult_id, service_token
        )
        connected = clock()
        await patient.check_in(timeout=step_timeout)
        checked_in = clock()

        async def admit() -> float:
            await provider.admit(timeout=step_timeout)
            return clock()

        admit_sent = clock()
        admitted, patient_peer, provider_peer = await _all(
            admit(),
            join_call(stack, patient, Role.PATIENT, timeout=step_timeout),
            join_call(stack, provider, Role.PROVIDER, timeout=step_timeout),
        )
        await _all(
            patient_peer.wait_for_frames(video=1, audio=1, timeout=step_timeout),
            provider_peer.wait_for_frames(video=1, audio=1, timeout=step_timeout),
        )
        await asyncio.sleep(hold_seconds)

        def from_patient(message: Payload) -> bool:
            line = decode(ChatLine, message)
            return line.sender == "patient" and line.text == chat_text

        await patient.chat(chat_text, timeout=step_timeout)
        chats = await _all(
            patient.wait_for(events.CHAT, from_patient, timeout=step_timeout),
            provider.wait_for(events.CHAT, from_patient, timeout=step_timeout),
        )
        await provider.end(timeout=step_timeout)
        ended_patient, ended_provider = await _all(
            patient.wait_for(events.ENDED, timeout=step_timeout),
            provider.wait_for(events.ENDED, timeout=step_timeout),
        )
        ended = clock()
        patient_media, provider_media = patient_peer.received, provider_peer.received
    return {
        "consult_id": consult_id,
        "connect": connected - started,
        "check_in": checked_in - connected,
        "admit": admitted - admit_sent,
        "admit_to_first_frame_patient": (patient_media.first_video_at or ended) - admit_sent,
        "admit_to_first_frame_provider": (provider_media.first_video_at or ended) - admit_sent,
        "total": ended - started,
        "patient_video_frames": patient_media.video_frames,
        "patient_audio_frames": patient_media.audio_frames,
        "provider_video_frames": provider_media.video_frames,
        "provider_audio_frames": provider_media.audio_frames,
        "chat_delivered": len(chats) == 2,
        "ended_patient": ended_patient,
        "ended_provider": ended_provider,
    }
