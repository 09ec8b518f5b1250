"""An access log that never writes a join or manage credential."""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, Response, g, request

log = logging.getLogger("telehealth.access")

CREDENTIAL_PATHS = re.compile(r"^/(join|manage)/[^/]+")


def redacted_path(path: str) -> str:
    """The request path with any credential replaced by a placeholder."""
    return CREDENTIAL_PATHS.sub(lambda m: f"/{m.group(1)}/<credential>", path)


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    started = g.get("request_started")
    elapsed_ms = (time.perf_counter() - started) * 1000 if started else 0.0
    log.info(
        "%s %s %s %.1fms",
        request.method,
        redacted_path(request.path),
        response.status_code,
        elapsed_ms,
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_log_request)
