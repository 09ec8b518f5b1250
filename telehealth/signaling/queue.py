"""The Socket.IO message queue over Redis, quick to recover after an outage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import socketio

MAX_RETRY_SECONDS = 2.0


class ClinicRedisManager(socketio.RedisManager):  # type: ignore[misc]
    """RedisManager whose listener retries every ≤ 2 s instead of backing off to 60 s,
    so every web process hears the others again within seconds of Redis coming back."""

    def _redis_listen_with_retries(self) -> Iterator[Any]:  # pragma: no cover - needs outage
        retry_sleep = 0.25
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    subscribed = True
                    retry_sleep = 0.25
                yield from self.pubsub.listen()
            except Exception as error:  # noqa: BLE001 - any Redis failure means: retry
                self._get_logger().warning(
                    "message queue unavailable (%s); retrying", type(error).__name__
                )
                subscribed = False
                time.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, MAX_RETRY_SECONDS)
