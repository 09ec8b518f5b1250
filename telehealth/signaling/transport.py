"""The socket transport's limits: what a stranger can make the server hold before any
credential is checked.

Engine.IO checks `max_http_buffer_size` only once simple-websocket has assembled a whole
message (a 200 MiB message grew a server by 350 MB), and gives simple-websocket no size
limit. Three guards close that:

- the websocket itself is built with simple-websocket's `max_message_size`, so a message
  is refused with close code 1009 as soon as it passes the cap, while it is still arriving;
- permessage-deflate is never negotiated: a compressed message is inflated (up to ~1000×
  per read) before anything can count it, and signaling messages are small anyway;
- `/socket.io/` answers only websocket upgrades (the server is websocket-only): any other
  request is refused here before Engine.IO, with no body read.

Malformed Engine.IO and Socket.IO packets cost one warning line and the connection, never
a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import socketio
from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def cap_websocket_messages(server: socketio.Server, max_message_bytes: int) -> None:
    """Build every websocket of this server with a message cap and without compression.

    Engine.IO offers no option and no public hook for either (its own size check runs
    on whole messages), so the websocket class of its driver table, a private attribute,
    is replaced for this server only: the table, shared by all servers, is copied rather
    than changed. Checked here at start-up, so that an Engine.IO that builds websockets
    differently stops the process instead of silently losing the cap."""
    eio = server.eio
    driver_websocket = eio._async["websocket"]  # noqa: SLF001 - no public hook, see above
    if not (
        isinstance(driver_websocket, type) and issubclass(driver_websocket, SimpleWebSocketWSGI)
    ):
        # e.g. gevent-websocket installed: its websockets would have no cap at all.
        raise RuntimeError(
            f"cannot cap websocket messages with {driver_websocket!r}: "
            "the web process needs simple-websocket (and never gevent-websocket)"
        )

    class CappedWebSocket(driver_websocket):  # type: ignore[valid-type, misc]
        """The driver's websocket, refusing messages over the cap while they arrive."""

        def __init__(self, handler: Any, server: Any, **kwargs: Any) -> None:
            super().__init__(handler, server, **kwargs)
            self.server_args["max_message_size"] = max_message_bytes

        def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
            # simple-websocket negotiates from these headers: without the offer there is
            # no permessage-deflate, so every byte is counted as it arrives.
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
            return super().__call__(environ, start_response)

        def wait(self) -> Any:
            """The next message; None (the client hung up) for one Engine.IO cannot read,
            which it would otherwise fail on with a traceback."""
            message = super().wait()
            fault = engineio_malformation(message)
            if fault is None:
                return message
            log.warning("malformed Engine.IO packet (%s): connection closed", fault)
            return None

    probe = CappedWebSocket(None, eio)
    if getattr(probe, "server_args", {}).get("max_message_size") != max_message_bytes:
        raise RuntimeError("cannot cap websocket messages: simple-websocket is not configurable")
    eio._async = {**eio._async, "websocket": CappedWebSocket}  # noqa: SLF001


def engineio_malformation(message: Any) -> str | None:
    """What Engine.IO's decoder would fail on in a websocket message, or None. (A type
    digit it does not know, 7 to 9, it ignores by itself.)"""
    if isinstance(message, str):
        if not message:
            return "empty packet"
        if message[0] not in "0123456789":
            return "unknown packet type"  # including "b": base64 is for long-polling only
    return None


def is_websocket_upgrade(environ: dict[str, Any]) -> bool:
    """A GET asking to open (or resume) an Engine.IO websocket, with no body."""
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and environ.get("HTTP_UPGRADE", "").lower() == "websocket"
        and parse_qs(environ.get("QUERY_STRING", "")).get("transport") == ["websocket"]
        and environ.get("CONTENT_LENGTH", "0") in ("", "0")
        and "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


class WebsocketOnly:
    """WSGI middleware: `/socket.io/` serves websocket upgrades only.

    Long-polling, a POST with a body, a plain GET: all refused with 400 before Engine.IO
    sees them, and the connection is closed rather than kept for a next request."""

    BODY = (
        b'{"error": {"code": "websocket_only", "message": '
        b'"This endpoint accepts only Socket.IO over websocket.", "fields": {}}}'
    )

    def __init__(self, app: WSGIApp, path: str = "/socket.io/") -> None:
        self.app = app
        self.path = path

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        on_socket_path = environ.get("PATH_INFO", "").startswith(self.path)
        if not on_socket_path or is_websocket_upgrade(environ):
            return self.app(environ, start_response)
        start_response(
            "400 BAD REQUEST",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(self.BODY))),
                ("Connection", "close"),
            ],
        )
        return [self.BODY]


def refuse_malformed_packets(server: socketio.Server) -> None:
    """A packet Socket.IO cannot read drops its connection with one warning line.

    Wraps the Engine.IO `message` handler (registered through its public `on`): the
    packet is decoded a second time only after a failure, to tell a malformed packet
    (the client's fault: a warning) from an error in our own handlers (a traceback)."""
    eio = server.eio
    dispatch = eio.handlers["message"]

    def on_message(eio_sid: str, data: Any) -> Any:
        try:
            return dispatch(eio_sid, data)
        except Exception as exc:
            fault = malformation(server, data)
            if fault is None:
                raise
            log.warning(
                "malformed Socket.IO packet (%s, %s, %d bytes): connection closed",
                fault,
                type(exc).__name__,
                len(data or ""),
            )
            eio.disconnect(eio_sid)
            return None

    eio.on("message", on_message)


def malformation(server: socketio.Server, data: Any) -> str | None:
    """What is wrong with a packet our clients would never send, or None if it is fine."""
    from socketio import packet

    if not isinstance(data, str):
        return "unexpected binary data"  # our protocol is JSON only
    if not data:
        return "empty packet"
    try:
        decoded = server.packet_class(encoded_packet=data)
    except Exception:  # noqa: BLE001 - whatever the decoder trips on, the packet is bad
        return "unreadable"
    kind, payload = decoded.packet_type, decoded.data
    if kind in (packet.BINARY_EVENT, packet.BINARY_ACK):
        return "unexpected binary packet"
    if kind not in (packet.CONNECT, packet.DISCONNECT, packet.EVENT, packet.ACK):
        return "unexpected packet type"
    if kind == packet.EVENT and not (payload and isinstance(payload, list)):
        return "event without a name"
    if kind == packet.ACK and not isinstance(payload, list):
        return "acknowledgement without arguments"
    if kind == packet.CONNECT and not (payload is None or isinstance(payload, dict)):
        return "connect with a payload that is not an object"
    return None
