"""The live objects one app owns: SQL, Redis, the mailer and the consult rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from flask import current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from .db import Database
from .domain.availability import ConsultRules
from .embedded_redis import ensure_embedded_redis
from .models import ConsultSettings
from .notify.mailer import Mailer, mailer_from_config
from .sessions import ClockRules, LiveConsultStore


def resolve_redis_url(configured: str, instance_path: Path) -> str:
    """The configured Redis, or the embedded one shared by this checkout's processes."""
    return configured or ensure_embedded_redis(instance_path / "redis")


def redis_client(url: str) -> redis.Redis:
    """A client that gives up within seconds, so an outage is reported, not waited out."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.5), 2),
        health_check_interval=15,
    )


def clock_rules(config: dict[str, Any]) -> ClockRules:
    """The live consult's clock from config (seconds, so tests can shrink it)."""
    warnings = tuple(
        timedelta(seconds=float(w)) for w in str(config["CALL_WARNING_SECONDS"]).split(",") if w
    )
    return ClockRules(
        length=timedelta(seconds=config["CALL_LENGTH_SECONDS"]),
        warnings=warnings,
        grace=timedelta(seconds=config["CALL_GRACE_SECONDS"]),
        lobby_opens=timedelta(seconds=config["LOBBY_OPENS_SECONDS"]),
        rejoin_window=timedelta(seconds=config["REJOIN_WINDOW_SECONDS"]),
        no_show_after=timedelta(seconds=config["NO_SHOW_SECONDS"]),
    )


@dataclass
class Clinic:
    config: dict[str, Any]
    db: Database
    redis: redis.Redis
    redis_url: str
    mailer: Mailer
    live: LiveConsultStore

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Clinic:
        redis_url = resolve_redis_url(config["REDIS_URL"], Path(config["INSTANCE_PATH"]))
        client = redis_client(redis_url)
        return cls(
            config=config,
            db=Database(config["DATABASE_URL"]),
            redis=client,
            redis_url=redis_url,
            mailer=mailer_from_config(config["SMTP_URL"], Path(config["OUTBOX_PATH"])),
            live=LiveConsultStore(client, clock_rules(config)),
        )

    def consult_rules(self) -> ConsultRules:
        """The clinic's booking rules as the availability domain wants them."""
        with self.db.sessions() as session:
            settings = session.get(ConsultSettings, 1) or ConsultSettings(
                length_minutes=20,
                buffer_minutes=10,
                minimum_notice_minutes=120,
                horizon_days=56,
                lobby_opens_minutes=10,
            )
        return ConsultRules(
            length=timedelta(minutes=settings.length_minutes),
            buffer=timedelta(minutes=settings.buffer_minutes),
            minimum_notice=timedelta(minutes=settings.minimum_notice_minutes),
            horizon=timedelta(days=settings.horizon_days),
        )

    def public_url(self, path: str, fallback_root: str = "") -> str:
        """An absolute link for emails and the CLI, from PUBLIC_URL or the request."""
        root = self.config.get("PUBLIC_URL") or fallback_root.rstrip("/")
        return f"{root}{path}"

    def close(self) -> None:
        self.db.dispose()
        self.redis.close()


def current_clinic() -> Clinic:
    """The Clinic of the app handling this request."""
    clinic: Clinic = current_app.extensions["clinic"]
    return clinic
