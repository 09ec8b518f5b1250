"""A Python client for the /consult signaling protocol (docs/protocol.md), one socket per side."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import socketio

from ..protocol import REFUSALS, Admit, ChatMessage, CheckIn, NoPayload, encode, events, refusal_of

log = logging.getLogger(__name__)

NAMESPACE = events.CONSULT
Payload = dict[str, Any]
Predicate = Callable[[Payload], bool]

# Server → client events of docs/protocol.md; anything else the server sends is kept too.
SERVER_EVENTS = events.CONSULT_SERVER_EVENTS
# Unconsumed events kept per socket (a 20-minute call sees a few hundred at most).
MAX_PENDING = 1000
# The answers a test patient gives, and a physiotherapist's complete checklist.
CHECK_IN = encode(
    CheckIn(location="Vaughan, ON", in_ontario=True, emergency_phone="905-555-0100", consent=True)
)
ADMIT = encode(
    Admit(identity_confirmed=True, location_confirmed=True, emergency_contact_confirmed=True)
)


class SignalingError(Exception):
    """Something the server refused or a connection that failed."""

    def __init__(self, code: str, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data


class LoginFailed(SignalingError):
    """`POST /api/v1/staff/session` did not give a session."""


class ConnectRefused(SignalingError):
    """The server refused the Socket.IO connect; `data` is its connect_error payload."""


class RequestRefused(SignalingError):
    """An event acknowledged with `{"ok": false, "error": {...}}`; `data` is the whole ack."""


class SignalingClosed(SignalingError):
    """The client was closed while something waited on it."""


@dataclass(frozen=True)
class Received:
    """One server event as it arrived."""

    event: str
    data: Any
    at: float = field(default_factory=time.monotonic)


def credential_from_join_url(join_url: str) -> str:
    """The join credential in a `.../join/<credential>` link."""
    path = urlsplit(join_url).path.rstrip("/")
    head, _, credential = path.rpartition("/")
    if not head.endswith("/join") or not credential:
        raise ValueError("not a join link: expected .../join/<credential>")
    return credential


def _refusal_of(data: Any) -> tuple[str, str]:
    """The (code, message) in a connect_error payload, whichever shape the server used."""
    if isinstance(data, dict):
        nested = data.get("data")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else data
        code = inner.get("code") or data.get("code") or "refused"
        message = inner.get("message") or data.get("message") or REFUSALS.get(code)
        return str(code), str(message or "connection refused")
    if isinstance(data, str) and data:
        return "refused", data
    return "refused", "connection refused"


async def staff_session_cookie(
    base_url: str, email: str, password: str, *, timeout: float = 10.0
) -> str:
    """Log in with `POST /api/v1/staff/session`; the `Cookie` header value for later requests."""
    cookie, _ = await staff_login(base_url, email, password, timeout=timeout)
    return cookie


async def staff_login(
    base_url: str, email: str, password: str, *, timeout: float = 10.0
) -> tuple[str, str]:
    """Log in; the `Cookie` header value and the CSRF token later POSTs send as X-CSRFToken."""
    url = f"{base_url.rstrip('/')}/api/v1/staff/session"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
        http.post(url, json={"email": email, "password": password}) as response,
    ):
        text = await response.text()
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = None
        if response.status != 200:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise LoginFailed(
                str(error.get("code", f"http_{response.status}")),
                str(error.get("message", "staff login failed")),
                body,
            )
        cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in response.cookies.items())
    if not cookies:
        raise LoginFailed("no_session", "the login answer set no session cookie")
    return cookies, str(body.get("csrf_token", "")) if isinstance(body, dict) else ""


class ConsultSignaling:
    """One side's socket on /consult: requests with acknowledgements and a queue of events.

    Incoming events are kept until taken with `wait_for` / `next_event` / `events`, so an
    event that arrives before anyone waits for it is not lost. The latest payload of each
    event stays readable through `latest`.
    """

    def __init__(self, *, reconnection: bool = True, connect_timeout: float = 10.0) -> None:
        self.reconnection = reconnection
        self.connect_timeout = connect_timeout
        self.side: str | None = None
        self.connects = 0
        self._url = ""
        self._auth: Payload = {}
        self._headers: dict[str, str] = {}
        self._pending: list[Received] = []
        self._latest: dict[str, Any] = {}
        self._arrived = asyncio.Event()
        self._refusal: Any = None
        self._closed = False
        self._http: aiohttp.ClientSession | None = None
        self._sio: socketio.AsyncClient | None = None

    # -- connecting ----------------------------------------------------------------------

    @classmethod
    async def connect_as_patient(
        cls,
        base_url: str,
        join_credential: str,
        device: str = "Python client",
        **options: Any,
    ) -> ConsultSignaling:
        """A patient socket authenticated with the join credential itself."""
        client = cls(**options)
        client.side = "patient"
        await client._open(base_url, {"join_credential": join_credential, "device": device}, {})
        return client

    @classmethod
    async def connect_as_provider(
        cls,
        base_url: str,
        email: str,
        password: str,
        consult_id: int,
        device: str = "Python client",
        **options: Any,
    ) -> ConsultSignaling:
        """A physiotherapist socket: logs in over the JSON API, then connects with its cookie."""
        cookie = await staff_session_cookie(base_url, email, password)
        client = cls(**options)
        client.side = "provider"
        await client._open(
            base_url, {"consult_id": consult_id, "device": device}, {"Cookie": cookie}
        )
        return client

    @classmethod
    async def connect_as_probe_provider(
        cls,
        base_url: str,
        service_token: str,
        consult_id: int,
        device: str = "Synthetic probe",
        **options: Any,
    ) -> ConsultSignaling:
        """The physiotherapist's side of a probe consult, authenticated as the clinic's
        media service (the server accepts this only for consults marked as probes)."""
        client = cls(**options)
        client.side = "provider"
        await client._open(
            base_url,
            {"service_token": service_token, "consult_id": consult_id, "device": device},
            {},
        )
        return client

    async def _open(self, base_url: str, auth: Payload, headers: dict[str, str]) -> None:
        # One device id for this client's life: its reconnects come back as the same device.
        auth = {"device_id": secrets.token_urlsafe(16), **auth}
        self._url, self._auth, self._headers = base_url.rstrip("/"), auth, headers
        try:
            await self._connect()
        except BaseException:
            await self.close()
            raise

    def _new_client(self) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(
            reconnection=self.reconnection,
            reconnection_delay=0.5,
            # python-socketio adds the jitter (in seconds) after the cap: 4.5 + 0.5 ≤ 5 s.
            reconnection_delay_max=4.5,
            randomization_factor=0.5,
            handle_sigint=False,
            http_session=self._http,
        )

        async def on_connect() -> None:
            self.connects += 1
            self._refusal = None

        async def on_connect_error(data: Any = None) -> None:
            self._refusal = data
            self._deliver("connect_error", data)

        async def on_disconnect(reason: Any = None) -> None:
            log.debug("%s socket disconnected: %s", self.side, reason)
            self._deliver("disconnect", {"reason": str(reason) if reason else None})

        async def on_event(event: str, data: Any = None, *_: Any) -> None:
            self._deliver(event, data)

        sio.on("connect", on_connect, namespace=NAMESPACE)
        sio.on("connect_error", on_connect_error, namespace=NAMESPACE)
        sio.on("disconnect", on_disconnect, namespace=NAMESPACE)
        sio.on("*", on_event, namespace=NAMESPACE)
        return sio

    async def _connect(self) -> None:
        if self._http is None or self._http.closed:
            # An unsafe jar: the server is often reached by IP, and aiohttp's default jar
            # silently drops cookies for IP hosts (engine.io moves the Cookie header there).
            self._http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self._sio = self._new_client()
        self._refusal = None
        try:
            await self._sio.connect(
                self._url,
                headers=dict(self._headers),  # engine.io edits the dict it is given
                auth=dict(self._auth),
                transports=["websocket"],
                namespaces=[NAMESPACE],
                wait_timeout=self.connect_timeout,
            )
        except socketio.exceptions.ConnectionError as error:
            data = self._refusal if self._refusal is not None else str(error)
            code, message = _refusal_of(data)
            raise ConnectRefused(code, message, data) from error

    async def reconnect(self) -> None:
        """Drop this socket and connect again with the same credentials (as after a network cut).

        Pending `state` and `ice_servers` events from before are dropped so that waiting for
        them afterwards sees the server's answer to the new connection.
        """
        if self._closed:
            raise SignalingClosed("closed", "this client was closed")
        if self._sio is not None:
            await self._sio.disconnect()
        self.discard(events.STATE, events.ICE_SERVERS, "disconnect")
        await self._connect()

    async def disconnect(self) -> None:
        """Drop the socket but keep the client (and its pending events) for `reconnect`."""
        if self._sio is not None:
            await self._sio.disconnect()

    async def close(self) -> None:
        """Disconnect for good; waiters get `SignalingClosed`. Safe to call twice."""
        self._closed = True
        self._wake()
        try:
            if self._sio is not None:
                await asyncio.wait_for(self._sio.disconnect(), 5)
        except (TimeoutError, OSError) as error:
            log.debug("%s socket did not close cleanly: %s", self.side, error)
        finally:
            if self._http is not None and not self._http.closed:
                await self._http.close()

    async def __aenter__(self) -> ConsultSignaling:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._sio is not None and NAMESPACE in self._sio.namespaces

    # -- sending -------------------------------------------------------------------------

    async def request(
        self, event: str, payload: Any = None, *, timeout: float = 10.0, check: bool = True
    ) -> Payload:
        """Emit with an acknowledgement and return it; `RequestRefused` on `ok: false`."""
        if self._sio is None or not self.connected:
            raise SignalingClosed("disconnected", f"cannot send {event!r}: not connected")
        try:
            ack = await self._sio.call(
                event, {} if payload is None else payload, namespace=NAMESPACE, timeout=timeout
            )
        except socketio.exceptions.TimeoutError as error:
            raise TimeoutError(f"no acknowledgement for {event!r} within {timeout} s") from error
        answer: Payload = ack if isinstance(ack, dict) else {"ok": False, "raw": ack}
        refusal = refusal_of(answer)
        if check and refusal is not None:
            raise RequestRefused(*refusal, answer)
        return answer

    async def emit(self, event: str, payload: Any = None) -> None:
        """Emit without waiting for an acknowledgement."""
        if self._sio is None or not self.connected:
            raise SignalingClosed("disconnected", f"cannot send {event!r}: not connected")
        await self._sio.emit(event, {} if payload is None else payload, namespace=NAMESPACE)

    async def check_in(self, answers: Payload | None = None, *, timeout: float = 10.0) -> Payload:
        return await self.request(events.CHECK_IN, answers or CHECK_IN, timeout=timeout)

    async def admit(self, checklist: Payload | None = None, *, timeout: float = 10.0) -> Payload:
        return await self.request(events.ADMIT, checklist or ADMIT, timeout=timeout)

    async def chat(self, text: str, *, timeout: float = 10.0) -> Payload:
        return await self.request(events.CHAT, encode(ChatMessage(text=text)), timeout=timeout)

    async def end(self, *, timeout: float = 10.0) -> Payload:
        return await self.request(events.END, encode(NoPayload()), timeout=timeout)

    async def send_signal(self, payload: Payload) -> None:
        """Relay a description or candidate to the other side (raises if refused)."""
        await self.request(events.SIGNAL, payload)

    async def receive_signal(self, timeout: float | None = None) -> Payload:
        """The next `signal` from the other side."""
        return await self.wait_for(events.SIGNAL, timeout=timeout)

    # -- receiving -----------------------------------------------------------------------

    def _deliver(self, event: str, data: Any) -> None:
        self._latest[event] = data
        self._pending.append(Received(event, data))
        if len(self._pending) > MAX_PENDING:
            del self._pending[0]
        self._wake()

    def _wake(self) -> None:
        self._arrived.set()
        self._arrived = asyncio.Event()

    def latest(self, event: str) -> Any:
        """The last payload of `event` received (taken or not), or None."""
        return self._latest.get(event)

    def discard(self, *events: str) -> None:
        """Forget pending (untaken) events of these names, or all of them."""
        self._pending = [r for r in self._pending if events and r.event not in events]

    async def next_event(
        self,
        events: str | Iterable[str],
        predicate: Predicate | None = None,
        timeout: float | None = 10.0,
    ) -> Received:
        """Take the oldest pending event among `events` that matches; wait for one if none."""
        names = {events} if isinstance(events, str) else set(events)
        async with asyncio.timeout(timeout):
            while True:
                arrived = self._arrived
                for index, received in enumerate(self._pending):
                    if received.event in names and (predicate is None or predicate(received.data)):
                        del self._pending[index]
                        return received
                if self._closed:
                    raise SignalingClosed("closed", f"closed while waiting for {sorted(names)}")
                await arrived.wait()

    async def wait_for(
        self, event: str, predicate: Predicate | None = None, timeout: float | None = 10.0
    ) -> Any:
        """The payload of the next `event` matching `predicate` (TimeoutError after `timeout`)."""
        return (await self.next_event(event, predicate, timeout)).data

    async def events(self, event: str) -> AsyncIterator[Any]:
        """Every `event` payload, as it comes, until the client is closed."""
        while True:
            try:
                yield await self.wait_for(event, timeout=None)
            except SignalingClosed:
                return
