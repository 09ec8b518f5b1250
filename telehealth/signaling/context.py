"""The socket behind the Socket.IO event being handled."""

from __future__ import annotations

from flask import request


def current_sid() -> str:
    """Flask-SocketIO puts the socket id on the request of every event it dispatches."""
    return str(request.sid)  # type: ignore[attr-defined]


def refused_connection(data: dict[str, str]) -> Exception:
    """The error a connect handler raises: clients get `connect_error` with `data` = this dict
    (Python's builtin ConnectionRefusedError would reach them as a generic message)."""
    from socketio.exceptions import ConnectionRefusedError as Refused

    return Refused(data["message"], data)
