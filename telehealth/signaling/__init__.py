"""Socket.IO signaling between the two sides of a consult, and the admin monitor."""

from __future__ import annotations

import logging

from flask import Flask

from .. import security
from ..clinic import REDIS_READ_BUFFER_BYTES
from ..extensions import socketio
from .queue import ClinicRedisManager
from .transport import WebsocketOnly, cap_websocket_messages, refuse_malformed_packets

# One Socket.IO message: an SDP offer with many candidates is ~10 KB.
MAX_MESSAGE_BYTES = 64 * 1024


def init_app(app: Flask, redis_url: str) -> None:
    """Bind Socket.IO: websocket only, Redis message queue shared by every web process."""
    origins = app.config["ALLOWED_ORIGINS"] or None  # None: same origin as the page only
    # Built here rather than through `message_queue=`: Flask-SocketIO routes unix:// URLs
    # (the embedded Redis) to kombu, while RedisManager itself speaks them.
    queue = (
        ClinicRedisManager(
            redis_url,
            channel="telehealth-socketio",
            redis_options={"socket_read_size": REDIS_READ_BUFFER_BYTES},
        )
        if app.config.get("SOCKETIO_MESSAGE_QUEUE", True)
        else None
    )
    socketio.init_app(
        app,
        async_mode=app.config.get("SOCKETIO_ASYNC_MODE", "threading"),
        client_manager=queue,
        cors_allowed_origins=origins,
        transports=["websocket"],
        # One socket's events run in order, so a candidate never overtakes its offer.
        async_handlers=False,
        max_http_buffer_size=MAX_MESSAGE_BYTES,
        # A peer that vanishes without a goodbye is noticed within interval + 2 × timeout
        # (engine.io checks once per timeout): 5 + 2 × 4 = 13 s, inside the 15 s goal.
        ping_interval=5,
        ping_timeout=4,
        # Loggers of our own: with `False`, each library adds a second handler of its own
        # and every error is printed twice.
        logger=_library_logger("socketio"),
        engineio_logger=_library_logger("engineio"),
    )
    cap_websocket_messages(socketio.server, MAX_MESSAGE_BYTES)
    refuse_malformed_packets(socketio.server)
    app.wsgi_app = WebsocketOnly(app.wsgi_app)  # type: ignore[method-assign]
    # Outermost, around Engine.IO's middleware: every answer gets the security headers.
    security.guard_every_request(app)
    from .consult_namespace import ConsultNamespace
    from .monitor import MonitorNamespace, RoomUpdates

    namespace = ConsultNamespace(app)
    socketio.on_namespace(namespace)
    app.extensions["consult_namespace"] = namespace
    monitor = MonitorNamespace(app)
    socketio.on_namespace(monitor)
    app.extensions["monitor_namespace"] = monitor
    app.extensions["room_updates"] = RoomUpdates(
        socketio, app.extensions["clinic"], float(app.config["MONITOR_UPDATE_SECONDS"])
    )
    from .media_namespace import MediaNamespace, PrecheckBroker

    broker = PrecheckBroker(app.extensions["clinic"], socketio)
    app.extensions["precheck_broker"] = broker
    socketio.on_namespace(MediaNamespace(app, broker))
    from .setup_namespace import SetupNamespace

    socketio.on_namespace(SetupNamespace(app))  # the setup link's connection check
    from .rooms import listen_for_consult_changes

    # Every change of a consult, whoever made it (a socket, a page, booking, the clock),
    # reaches the open pages from here.
    listen_for_consult_changes(socketio, app.extensions["clinic"])


def _library_logger(name: str) -> logging.Logger:
    """Socket.IO's and Engine.IO's messages, warnings and up, through the app's handlers."""
    logger = logging.getLogger(f"{__name__}.{name}")
    logger.setLevel(logging.WARNING)
    return logger


def cut_disabled_staff(app: Flask) -> int:
    """Disconnect the live sockets of staff whose account was disabled or whose login
    session ended (logout, password change, an admin's reset); returns how many."""
    from sqlalchemy import select

    from ..models import StaffUser
    from ..web_sessions import live_session_ids, session_id_of_environ

    consult = app.extensions["consult_namespace"]
    monitor = app.extensions["monitor_namespace"]
    sockets: list[tuple[str, str, int]] = [
        (sid, consult.namespace, m.staff_id)
        for sid, m in list(consult.members.items())
        if m.staff_id is not None
    ] + [(sid, monitor.namespace, staff_id) for sid, staff_id in list(monitor.admins.items())]
    if not sockets:
        return 0
    ids = {staff_id for _, _, staff_id in sockets}
    clinic = app.extensions["clinic"]
    with clinic.db.sessions() as session:
        disabled = set(
            session.scalars(
                select(StaffUser.id).where(StaffUser.id.in_(ids), StaffUser.active.is_(False))
            )
        )
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    login_of = {
        sid: session_id_of_environ(socketio.server.get_environ(sid, namespace) or {}, cookie_name)
        for sid, namespace, _ in sockets
    }
    alive = live_session_ids(clinic.db, [login for login in login_of.values() if login])
    cut = 0
    for sid, namespace, staff_id in sockets:
        if staff_id in disabled or login_of[sid] not in alive:
            socketio.server.disconnect(sid, namespace=namespace)
            cut += 1
    return cut


def drop_local_sockets(app: Flask) -> int:
    """Redis is down: disconnect this process's sockets so pages show "reconnecting" and
    come back, with fresh state, once it returns. Calls keep flowing peer to peer."""
    consult = app.extensions["consult_namespace"]
    monitor = app.extensions["monitor_namespace"]
    sockets = [(sid, consult.namespace) for sid in list(consult.members)] + [
        (sid, monitor.namespace) for sid in list(monitor.admins)
    ]
    for sid, namespace in sockets:
        try:  # drop the transport, not a Socket.IO disconnect: clients then reconnect by themselves
            eio_sid = socketio.server.manager.eio_sid_from_sid(sid, namespace)
            socketio.server.eio.sockets[eio_sid].close(wait=False, abort=True)
        except Exception:  # noqa: BLE001, S110 - best effort while Redis is gone
            pass
    return len(sockets)
