"""The WSGI entry for production: `gunicorn -k gevent -w 1 telehealth.wsgi:app`.

gunicorn's gevent worker monkey-patches before loading this module; each worker process
runs its own consult clock and reminder sender (Redis makes them act once between them).
The transport limits (64 KiB websocket messages cut off as they arrive, websocket-only
/socket.io/, bounded request bodies) come with the app, so gunicorn applies them too; the
Dockerfile bounds the request head with gunicorn's own --limit-request-* options.
"""

from __future__ import annotations

import os

from . import create_app
from .server import start_background_duties

app = create_app(
    SOCKETIO_ASYNC_MODE="gevent",
    SELF_URL=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}",
)
start_background_duties(app, app.config["PUBLIC_URL"])
