"""Socket.IO signaling between the two sides of a consult, and the admin monitor."""

from __future__ import annotations

import socketio as python_socketio
from flask import Flask

from ..extensions import socketio

MAX_MESSAGE_BYTES = 64 * 1024


def init_app(app: Flask, redis_url: str) -> None:
    """Bind Socket.IO: websocket only, Redis message queue shared by every web process."""
    origins = app.config["ALLOWED_ORIGINS"] or None  # None: same origin as the page only
    # Built here rather than through `message_queue=`: Flask-SocketIO routes unix:// URLs
    # (the embedded Redis) to kombu, while RedisManager itself speaks them.
    queue = (
        python_socketio.RedisManager(redis_url, channel="telehealth-socketio")
        if app.config.get("SOCKETIO_MESSAGE_QUEUE", True)
        else None
    )
    socketio.init_app(
        app,
        async_mode=app.config.get("SOCKETIO_ASYNC_MODE", "threading"),
        client_manager=queue,
        cors_allowed_origins=origins,
        transports=["websocket"],
        max_http_buffer_size=MAX_MESSAGE_BYTES,
        ping_interval=10,
        ping_timeout=10,
        logger=False,
        engineio_logger=False,
    )
    from .consult_namespace import ConsultNamespace

    namespace = ConsultNamespace(app)
    socketio.on_namespace(namespace)
    app.extensions["consult_namespace"] = namespace
