"""The Socket.IO message queue over Redis, quick to recover after an outage, and the
consults' routes heard on the same connection."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import socketio

from ..sessions.routes import Route
from .routing import RelayRoutes

MAX_RETRY_SECONDS = 2.0


class ClinicRedisManager(socketio.RedisManager):  # type: ignore[misc]
    """RedisManager whose listener retries every ≤ 2 s instead of backing off to 60 s,
    so every web process hears the others again within seconds of Redis coming back.

    Its subscription also carries the route channel (telehealth/sessions/routes.py): one
    connection delivers the route changes and the socket messages in the order Redis
    received them, so a page here never hears of a device switch, an admission or an end
    before this process's route table does."""

    routes: RelayRoutes | None = None
    route_channel = ""

    def hear_routes(self, routes: RelayRoutes, channel: str) -> None:
        """Feed `routes` from `channel`; called before the first client connects, which is
        when python-socketio starts the listener."""
        self.routes, self.route_channel = routes, channel

    def _redis_connect(self) -> None:  # pragma: no cover - needs the listener's connection
        super()._redis_connect()
        # The route channel's subscription confirmations say when the routes are heard again.
        self.pubsub.ignore_subscribe_messages = False

    def _channels(self) -> list[str]:
        return [self.channel] if self.routes is None else [self.channel, self.route_channel]

    def _redis_listen_with_retries(self) -> Iterator[Any]:  # pragma: no cover - needs outage
        retry_sleep = 0.25
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(*self._channels())
                    subscribed = True
                    retry_sleep = 0.25
                for message in self.pubsub.listen():
                    if not self._took_route(message):
                        yield message
            except Exception as error:  # noqa: BLE001 - any Redis failure means: retry
                self._get_logger().warning(
                    "message queue unavailable (%s); retrying", type(error).__name__
                )
                if self.routes is not None:
                    self.routes.heard(False)
                subscribed = False
                time.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, MAX_RETRY_SECONDS)

    def _took_route(self, message: dict[str, Any]) -> bool:
        """Route messages go to the table; everything else is the Socket.IO queue's."""
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode("utf-8", "replace")
        if self.routes is None or channel != self.route_channel:
            return False
        kind = message.get("type")
        if kind == "subscribe":  # (re)subscribed, perhaps after a silent reconnect
            self.routes.heard(True)
        elif kind == "message":
            route = Route.decode(message.get("data") or b"")
            if route is not None:
                self.routes.apply(route)
        return True
