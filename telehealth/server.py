"""The web process: Flask-SocketIO on gevent, plus this process's background duties."""

from __future__ import annotations

import gc
import io
import logging
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)


def reminder_loop(app: Flask, root_url: str) -> None:
    """Send due reminders forever; several processes may run this safely."""
    from .booking.reminders import send_due_reminders

    interval = float(app.config["REMINDER_INTERVAL_SECONDS"])
    clinic = app.extensions["clinic"]
    while True:
        try:
            sent = send_due_reminders(clinic, root_url, datetime.now(UTC))
            if sent:
                log.info("sent %d reminder(s)", sent)
        except Exception:  # noqa: BLE001 - keep the loop alive through outages
            log.exception("reminder round failed")
        time.sleep(interval)


def retention_loop(app: Flask, interval: float = 3600.0) -> None:
    """Once a day (whichever process claims the day), remove data past its retention."""
    from .booking.retention import purge_if_due

    clinic = app.extensions["clinic"]
    while True:
        try:
            purged = purge_if_due(clinic, datetime.now(UTC))
            if purged:
                log.info("retention purge removed %d consult(s), %d patient(s)", *purged)
        except Exception:  # noqa: BLE001 - keep the loop alive through outages
            log.exception("retention purge failed")
        time.sleep(interval)


# A third of the "alive" key's life (ConsultNamespace.PROCESS_ALIVE_SECONDS).
ALIVE_EVERY_SECONDS = 2.0


def alive_loop(say_alive: Any, stopped: Any, interval: float) -> None:
    """Say this process is alive on its own beat, not on the clock's: a clock tick slowed by
    200 live consults or a slow database must not let the key lapse, or other processes
    would let go of this one's devices as a dead process's."""
    while not stopped.is_set():
        try:
            say_alive()
        except Exception:  # noqa: BLE001 - an outage is the clock's to report
            log.debug("could not say this process is alive", exc_info=True)
        time.sleep(interval)


def _in_app_context(app: Flask, duty: Any) -> None:
    with app.app_context():
        duty()


def start_background_duties(app: Flask, root_url: str) -> Any:
    """The consult clock and the reminder sender of this process."""
    from .booking.flows import resend_tally
    from .extensions import socketio
    from .sessions.clock import ConsultClock
    from .signaling import cut_disabled_staff, drop_local_sockets
    from .signaling.throttle import connect_gate

    clock = ConsultClock(
        app.extensions["clinic"].consults, app.config["CLOCK_TICK_SECONDS"], socketio.sleep
    )
    clock.sweeps.append(lambda: cut_disabled_staff(app))
    consult_namespace = app.extensions["consult_namespace"]
    clock.sweeps.append(consult_namespace.forget_dead_devices)
    clock.sweeps.append(connect_gate(app).denied.write_due)  # refused access, one row a window
    clock.sweeps.append(resend_tally(app.extensions["clinic"]).write_due)  # "resend my links"
    clock.outage_handlers.append(lambda: drop_local_sockets(app))
    socketio.start_background_task(_in_app_context, app, clock.run)
    socketio.start_background_task(
        alive_loop, consult_namespace.say_alive, clock.stopped, ALIVE_EVERY_SECONDS
    )
    # In the app's context: each reminder is worded in its booking's language (a catalog).
    socketio.start_background_task(_in_app_context, app, lambda: reminder_loop(app, root_url))
    socketio.start_background_task(retention_loop, app)
    app.extensions["consult_clock"] = clock
    return clock


def run_server(host: str, port: int, **overrides: Any) -> None:
    """Serve on host:port until stopped (expects gevent's monkey patching)."""
    from . import create_app

    reachable = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    app = create_app(
        SOCKETIO_ASYNC_MODE="gevent", SELF_URL=f"http://{reachable}:{port}", **overrides
    )
    root_url = app.config["PUBLIC_URL"] or f"http://{host}:{port}"
    start_background_duties(app, root_url)
    # What the start built (modules, the app, its routes and catalogs) lives as long as the
    # process: kept out of the collector's sight, a full collection no longer walks it
    # every time thousands of sockets' objects come and go (about 15 % of a connect's CPU).
    gc.collect()
    gc.freeze()
    log.info("serving on http://%s:%d (pid %d)", host, port, os.getpid())
    serve_forever(app, listening_socket(host, port))


def listening_socket(host: str, port: int) -> socket.socket:
    """A listener whose accepted connections inherit TCP_NODELAY: without it, a signal sent
    right after an ack waits ~40 ms for the peer's delayed ACK (Nagle's algorithm)."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind((host, port))
    listener.listen(1024)
    return listener


# What a request's head may hold, as nginx's default `large_client_header_buffers 4 8k`
# allows in front of gunicorn: Python's own parser would take 100 lines of 64 KiB each
# (a 5 MiB upgrade request grew the server by 41 MB).
MAX_HEADER_LINE_BYTES = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADER_LINES = 64


def read_request_head(rfile: Any) -> bytes | None:
    """The raw header lines of one request up to the blank line, or None when they pass
    the limits above (the rest is left unread: the connection is dropped)."""
    lines: list[bytes] = []
    total = 0
    while len(lines) <= MAX_HEADER_LINES:
        line = rfile.readline(MAX_HEADER_LINE_BYTES + 1)
        total += len(line)
        if len(line) > MAX_HEADER_LINE_BYTES or total > MAX_HEADER_BYTES:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n", b""):
            return b"".join(lines)
    return None


def serve_forever(app: Flask, listener: socket.socket) -> None:
    """gevent's WSGI server, as Flask-SocketIO runs it, on our own listening socket."""
    from gevent import pywsgi

    class BoundedHeadHandler(pywsgi.WSGIHandler):  # type: ignore[misc]
        """gevent's handler with the header limits above; through `MessageClass`, which
        gevent's handler lets subclasses replace, and its `status` that marks a bad head
        (the request is answered 400 and the connection closed)."""

        def MessageClass(self, rfile: Any, *args: Any) -> Any:  # noqa: N802 - gevent's name
            head = read_request_head(rfile)
            message = pywsgi.headers_factory(io.BytesIO(head or b"\r\n"))
            if head is None:
                message.status = "Request header fields too large"
            return message

    pywsgi.WSGIServer(listener, app, log=None, handler_class=BoundedHeadHandler).serve_forever()
