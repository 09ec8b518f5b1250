"""One error shape for the API, readable pages for people."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API answers as `{"error": {"code", "message", "fields"}}`."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _api_error(error: ApiError) -> tuple[Response, int]:
    return jsonify(error_body(error.code, error.message, error.fields)), error.status


def _rate_limited(error: RateLimitExceeded) -> Any:
    message = _("Too many requests. Please wait a minute and try again.")
    if _wants_json():
        return jsonify(error_body("rate_limited", message)), 429
    return render_template("error.html", title=_("Please slow down"), message=message), 429


def _csrf_failed(error: CSRFError) -> Any:
    message = _("This form has expired. Please go back, reload the page and try again.")
    if _wants_json():
        return jsonify(error_body("csrf_failed", message)), 400
    return render_template("error.html", title=_("Form expired"), message=message), 400


def _http_error(error: HTTPException) -> Any:
    status = error.code or 500
    messages = {
        404: _("We could not find that page."),
        405: _("That action is not allowed here."),
        403: _("You do not have access to this page."),
    }
    message = messages.get(status, error.description or _("Something went wrong."))
    if _wants_json():
        return jsonify(error_body(error.name.lower().replace(" ", "_"), message)), status
    return render_template(
        "error.html", title=_status_title(status, error.name), message=message
    ), status


def _status_title(status: int, name: str) -> str:
    """The page title of an HTTP error, in the page's language (HTTP's own name in English)."""
    titles = {
        400: _("Bad Request"),
        403: _("Forbidden"),
        404: _("Not Found"),
        405: _("Method Not Allowed"),
        413: _("Request Entity Too Large"),
        429: _("Too Many Requests"),
    }
    return titles.get(status, name)


def _unexpected(error: Exception) -> Any:
    log.exception("unhandled error on %s %s", request.method, request.path)
    message = _("Something went wrong on our side. Please try again, or call the clinic.")
    if _wants_json():
        return jsonify(error_body("internal_error", message)), 500
    return render_template("error.html", title=_("Something went wrong"), message=message), 500


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
