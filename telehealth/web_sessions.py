"""Browser sessions kept on the server, through Flask-Session's session interface.

The cookie holds only a random id. Logging out, changing a password, an admin's reset and
disabling an account delete the session on the server, so a copied cookie dies with it.
Sessions are rows in SQL (`WebSession`): Redis keeps no files, and a Redis restart must
neither log a physiotherapist out mid-consult nor bring a revoked session back.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response, request, session
from flask_session.base import ServerSideSession, ServerSideSessionInterface
from sqlalchemy import delete, select, update

from .db import Database, utcnow
from .models import WebSession

# How long a session lives after it was last written; a staff session also ends after
# STAFF_IDLE_SECONDS without a request (staff/auth.py keeps it written while in use).
SESSION_LIFETIME_SECONDS = 3 * 60 * 60
# Where Flask-SocketIO keeps a socket's copy of the session from its connect.
_SOCKETIO_SAVED_SESSION = "saved_session"
_PRIVATE_PREFIXES = ("/join", "/manage", "/staff", "/admin", "/api/v1/staff")


def id_hash(sid: str) -> str:
    """What the database keeps of a session id: a dump of it opens no session."""
    return hashlib.sha256(sid.encode()).hexdigest()


def _staff_id_of(data: ServerSideSession) -> int | None:
    user_id = data.get("_user_id")
    return int(user_id) if isinstance(user_id, str | int) and str(user_id).isdigit() else None


class SqlSessionInterface(ServerSideSessionInterface):
    """Flask-Session's server-side sessions (cookie, id, serializer, regenerate) stored in
    our SQL database, one row a session."""

    session_class = ServerSideSession
    ttl = True  # expired rows are never read; the daily purge deletes them

    def __init__(self, app: Flask, db: Database) -> None:
        self.db = db
        super().__init__(app, key_prefix="", use_signer=False, permanent=True)

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        # A Socket.IO event after its connect runs on the copy of the session that
        # Flask-SocketIO saved at connect, which replaces this one as soon as Flask opens it:
        # reading the row again for every call-health report would be an SQL query wasted.
        if _SOCKETIO_SAVED_SESSION in request.environ:
            return self.session_class(sid="", permanent=self.permanent)
        return super().open_session(app, request)

    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        with self.db.sessions() as db_session:
            data = db_session.scalar(
                select(WebSession.data).where(
                    WebSession.id_hash == id_hash(store_id), WebSession.expires_at > utcnow()
                )
            )
        return dict(self.serializer.decode(data)) if data is not None else None  # type: ignore[union-attr]

    def _delete_session(self, store_id: str) -> None:
        with self.db.transaction() as db_session:
            db_session.execute(delete(WebSession).where(WebSession.id_hash == id_hash(store_id)))

    def _upsert_session(
        self, session_lifetime: timedelta, session: ServerSideSession, store_id: str
    ) -> None:
        values = {
            "data": self.serializer.encode(session),  # type: ignore[union-attr]
            "staff_id": _staff_id_of(session),
            "expires_at": utcnow() + session_lifetime,
        }
        key = id_hash(store_id)
        with self.db.transaction() as db_session:
            changed = db_session.execute(
                update(WebSession).where(WebSession.id_hash == key).values(**values)
            ).rowcount  # type: ignore[attr-defined]
            if not changed:
                db_session.add(WebSession(id_hash=key, **values))


def current_session_id() -> str:
    return str(getattr(session, "sid", ""))


def renew_session_id() -> None:
    """A fresh id for the session (at login): an id planted before login is worth nothing.
    The old id's row is deleted."""
    from flask import current_app

    current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]


def delete_session(db: Database, sid: str) -> None:
    with db.transaction() as db_session:
        db_session.execute(delete(WebSession).where(WebSession.id_hash == id_hash(sid)))


def revoke_staff_sessions(db: Database, staff_id: int, keep: str = "") -> int:
    """Delete every session of this staff member (but `keep`); returns how many."""
    query = delete(WebSession).where(WebSession.staff_id == staff_id)
    if keep:
        query = query.where(WebSession.id_hash != id_hash(keep))
    with db.transaction() as db_session:
        return int(db_session.execute(query).rowcount)  # type: ignore[attr-defined]


def live_session_ids(db: Database, sids: list[str]) -> set[str]:
    """Which of these session ids are still valid (one query)."""
    if not sids:
        return set()
    by_hash = {id_hash(sid): sid for sid in sids}
    with db.sessions() as db_session:
        alive = db_session.scalars(
            select(WebSession.id_hash).where(
                WebSession.id_hash.in_(by_hash), WebSession.expires_at > utcnow()
            )
        )
        return {by_hash[h] for h in alive}


def purge_expired_sessions(db: Database) -> int:
    with db.transaction() as db_session:
        gone = db_session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
        return int(gone.rowcount)  # type: ignore[attr-defined]


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


def init_app(app: Flask, db: Database) -> None:
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME_SECONDS
    # Written when changed, not on every request: staff/auth.py rewrites a staff session
    # at most every 30 s while it is in use, which also keeps its cookie alive.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.session_interface = SqlSessionInterface(app, db)
    app.after_request(never_cache_private_pages)
