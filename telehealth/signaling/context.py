"""The socket behind the Socket.IO event being handled."""

from __future__ import annotations

from flask import request


def current_sid() -> str:
    """Flask-SocketIO puts the socket id on the request of every event it dispatches."""
    return str(request.sid)  # type: ignore[attr-defined]
