"""Response headers every answer carries, and the size of what a request may send."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response

# nginx's client_max_body_size (deploy/nginx.conf) is the same 64 KiB: booking and staff
# forms are a few KB, and no route accepts uploads.
MAX_REQUEST_BODY_BYTES = 64 * 1024

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def add_security_headers(response: Response) -> Response:
    """CSP without inline script, HSTS, nosniff, no framing and no referrer."""
    for name, value in SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    return response


class SecureEveryResponse:
    """WSGI middleware: the security headers on every answer, including those that never
    pass through Flask (Engine.IO's own refusals, the request limits below)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        def start_with_headers(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            present = {name.lower() for name, _ in headers}
            missing = [(n, v) for n, v in SECURITY_HEADERS if n.lower() not in present]
            return start_response(status, headers + missing, *exc)

        return self.app(environ, start_with_headers)


class RequestBodyLimit:
    """WSGI middleware: a body larger than the limit is refused with 413 from its declared
    length alone, before anything reads it; a body of unknown length (chunked) is refused
    with 411. The connection is closed rather than kept for a next request."""

    def __init__(self, app: WSGIApp, limit: int = MAX_REQUEST_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        refusal = self.refusal(environ)
        if refusal is None:
            return self.app(environ, start_response)
        status, code, message = refusal
        body = (
            f'{{"error": {{"code": "{code}", "message": "{message}", "fields": {{}}}}}}'
        ).encode()
        start_response(
            status,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ],
        )
        return [body]

    def refusal(self, environ: dict[str, Any]) -> tuple[str, str, str] | None:
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return ("411 LENGTH REQUIRED", "length_required", "Send a Content-Length.")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return ("400 BAD REQUEST", "bad_request", "Invalid Content-Length.")
        if length > self.limit:
            return ("413 REQUEST ENTITY TOO LARGE", "too_large", "The request is too large.")
        return None


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
    # Werkzeug's own cap, for any body that reaches Flask without a declared length.
    app.config.setdefault("MAX_CONTENT_LENGTH", MAX_REQUEST_BODY_BYTES)


def guard_every_request(app: Flask) -> None:
    """Wrap the whole WSGI stack, Engine.IO's middleware included: call it last."""
    app.wsgi_app = SecureEveryResponse(RequestBodyLimit(app.wsgi_app))  # type: ignore[method-assign]
