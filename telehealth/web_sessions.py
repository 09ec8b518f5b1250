"""Browser sessions kept on the server (Flask-Session on our Redis).

The cookie holds only a random id. Logging out, changing a password, an admin's reset and
disabling an account delete the session on the server, so a copied cookie dies with it.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import redis
from flask import Flask, Response, current_app, request, session
from flask_session.redis import RedisSessionInterface

log = logging.getLogger(__name__)

KEY_PREFIX = "th:session:"
# Patients' and anonymous sessions live this long after their last request; a staff
# session also ends after STAFF_IDLE_MINUTES without a request (see staff/auth.py).
SESSION_LIFETIME_SECONDS = 3 * 60 * 60
_PRIVATE_PREFIXES = ("/join", "/manage", "/staff", "/admin", "/api/v1/staff")


def _staff_index(user_id: int) -> str:
    return f"th:staff-sessions:{user_id}"


class ClinicSessionInterface(RedisSessionInterface):
    """Flask-Session's Redis sessions; during a Redis outage a visitor is simply logged out
    (a fresh, unsaved session) instead of getting an error page."""

    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        try:
            return super()._retrieve_session_data(store_id)
        except redis.RedisError:
            log.warning("session store unavailable; treating the visitor as new")
            return None

    def _upsert_session(self, session_lifetime: Any, session: Any, store_id: str) -> None:
        try:
            super()._upsert_session(session_lifetime, session, store_id)
        except redis.RedisError:
            log.warning("session store unavailable; this session was not saved")


def session_key(sid: str) -> str:
    return KEY_PREFIX + sid


def current_session_id() -> str:
    return str(getattr(session, "sid", ""))


def renew_session_id() -> None:
    """A fresh id for the session (at login): an id planted before login is worth nothing.
    The old id's data is deleted on the server."""
    current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]


def remember_staff_session(store: redis.Redis, user_id: int, sid: str) -> None:
    """Index the session under its staff member, so every one of them can be revoked."""
    index = _staff_index(user_id)
    pipe = store.pipeline()
    pipe.sadd(index, sid)
    pipe.expire(index, SESSION_LIFETIME_SECONDS)
    pipe.execute()


def revoke_staff_sessions(store: redis.Redis, user_id: int, keep: str = "") -> int:
    """Delete every server-side session of this staff member (but `keep`); returns how many."""
    index = _staff_index(user_id)
    members = cast(set[Any], store.smembers(index))
    sids = [s.decode() if isinstance(s, bytes) else str(s) for s in members]
    doomed = [sid for sid in sids if sid != keep]
    pipe = store.pipeline()
    for sid in doomed:
        pipe.delete(session_key(sid))
        pipe.srem(index, sid)
    pipe.execute()
    return len(doomed)


def live_session_ids(store: redis.Redis, sids: list[str]) -> set[str]:
    """Which of these session ids still exist on the server (one round trip)."""
    if not sids:
        return set()
    pipe = store.pipeline()
    for sid in sids:
        pipe.exists(session_key(sid))
    return {sid for sid, alive in zip(sids, pipe.execute(), strict=True) if alive}


def session_id_of_environ(environ: dict[str, Any], cookie_name: str) -> str:
    """The session id a socket's handshake carried in its cookie ('' if none)."""
    from werkzeug.http import parse_cookie

    return parse_cookie(environ.get("HTTP_COOKIE", "")).get(cookie_name, "")


def never_cache_private_pages(response: Response) -> Response:
    """A page that depends on who asks (a session, a join or manage link) is never stored by
    a browser or proxy cache: a shared computer's Back button must not show patient data."""
    if request.path.startswith(_PRIVATE_PREFIXES) or getattr(session, "accessed", False):
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
    return response


def init_app(app: Flask, redis_url: str) -> None:
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME_SECONDS
    # Session data is msgpack (bytes): this client must not decode replies as text.
    store = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    app.session_interface = ClinicSessionInterface(
        app, client=store, key_prefix=KEY_PREFIX, use_signer=False, permanent=True
    )
    app.after_request(never_cache_private_pages)
