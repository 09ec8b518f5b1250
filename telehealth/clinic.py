"""The live objects one app owns: SQL, Redis, the mailer and the consult rules."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from flask import current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from sqlalchemy.exc import SQLAlchemyError

from .config import POLICY_OVERRIDES
from .db import Database
from .domain.availability import ConsultRules
from .embedded_redis import ensure_embedded_redis
from .models import ConsultSettings
from .notify.mailer import Mailer, mailer_from_config
from .sessions import ConsultPolicy, ConsultService, LiveConsultStore
from .sessions.policy import consult_policy


def resolve_redis_url(configured: str, instance_path: Path) -> str:
    """The configured Redis, or the embedded one shared by this checkout's processes."""
    return configured or ensure_embedded_redis(instance_path / "redis")


# hiredis keeps a read buffer of this size per pooled connection (64 KiB by default); a
# burst of connects opens dozens of connections, and the clinic's replies are small.
REDIS_READ_BUFFER_BYTES = 8 * 1024


def redis_client(url: str) -> redis.Redis:
    """A client that gives up within seconds, so an outage is reported, not waited out."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_read_size=REDIS_READ_BUFFER_BYTES,
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.5), 2),
        health_check_interval=15,
    )


class PolicySource:
    """The consult policy from the admin's settings, re-read at most every few seconds (the
    clock asks on every tick)."""

    FRESH_SECONDS = 5.0

    def __init__(self, db: Database, overrides: dict[str, Any]) -> None:
        self.db = db
        self.overrides = {name: overrides.get(name) for name in POLICY_OVERRIDES}
        self._cached: tuple[float, ConsultPolicy] | None = None

    def __call__(self) -> ConsultPolicy:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self.FRESH_SECONDS:
            self._cached = (now, consult_policy(self._lobby_minutes(), self.overrides))
        return self._cached[1]

    def _lobby_minutes(self) -> int | None:
        try:
            with self.db.sessions() as session:
                settings = session.get(ConsultSettings, 1)
        except SQLAlchemyError:  # before migrations, or SQL briefly away: the defaults
            return None
        return settings.lobby_opens_minutes if settings else None


@dataclass
class Clinic:
    config: dict[str, Any]
    db: Database
    redis: redis.Redis
    redis_url: str
    mailer: Mailer
    live: LiveConsultStore  # reads of the live state; changes go through `consults`
    consults: ConsultService

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Clinic:
        redis_url = resolve_redis_url(config["REDIS_URL"], Path(config["INSTANCE_PATH"]))
        client = redis_client(redis_url)
        db = Database(config["DATABASE_URL"])
        store = LiveConsultStore(client, PolicySource(db, config))
        return cls(
            config=config,
            db=db,
            redis=client,
            redis_url=redis_url,
            mailer=mailer_from_config(config["SMTP_URL"], Path(config["OUTBOX_PATH"])),
            live=store,
            consults=ConsultService(store, db),
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
