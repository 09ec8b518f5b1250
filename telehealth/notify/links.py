"""The root of every link that leaves the site: emails, calendar invites, API answers.

A request's Host header is chosen by whoever sends the request. Building a patient's join
link from it lets an attacker book in a patient's name with `Host: evil.example` and have
our own email send the patient to evil.example. So links come from PUBLIC_URL; only a
development server (no PUBLIC_URL, on a laptop) falls back to the address it was reached at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class PublicUrlMissing(RuntimeError):
    """PUBLIC_URL is not set outside development, so no outside link can be built safely."""


def public_root(config: Mapping[str, Any], request_root: str | None = None) -> str:
    """PUBLIC_URL without a trailing slash; the request's own root only in development."""
    configured = str(config.get("PUBLIC_URL") or "").rstrip("/")
    if configured:
        return configured
    if config.get("ENV", "development") != "development":
        raise PublicUrlMissing("PUBLIC_URL must be set: emailed links never use the Host header")
    return (request_root or "").rstrip("/")


def public_link(config: Mapping[str, Any], path: str, request_root: str | None = None) -> str:
    """An absolute link to `path` (which starts with '/') for someone outside the site."""
    return f"{public_root(config, request_root)}{path}"


def request_link(path: str) -> str:
    """`public_link` from inside a request: the request's root is the development fallback."""
    from flask import current_app, has_request_context, request

    root = request.url_root if has_request_context() else None
    return public_link(current_app.config, path, root)
