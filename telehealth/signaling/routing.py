"""The routes of the consults this web process serves, in memory: relaying a signal asks
Redis nothing.

A route (telehealth/sessions/routes.py) is a consult's phase and each side's active socket,
with a version. This table holds one per consult that has a socket on this process. It
hears every change of them twice:

- from the store, synchronously, for a change this process wrote (so the process that
  switched a device or admitted a patient routes the very next signal by it), and
- from the route channel, for every change any process wrote. The Socket.IO message queue
  reads that channel on its own connection (signaling/queue.py), so a route change and the
  socket messages written after it reach this process in the order Redis ran them: no page
  here hears of a switch, an admission or an end before this table knows it.

A version no newer than the one held is ignored, so the two paths and a load racing a
message never move a route backwards. While the channel is not heard (before the first
subscription, after Redis went away) the table holds nothing and every lookup reads Redis:
correct, just slower, until the subscription is back.
"""

from __future__ import annotations

from collections import Counter

from ..sessions import LiveConsultStore, Phase, Side
from ..sessions.routes import Route


class RelayRoutes:
    """Per consult served here: its phase and each side's active socket."""

    def __init__(self, store: LiveConsultStore, *, shared: bool) -> None:
        self.store = store
        # Without a message queue there is one web process: every change is written here,
        # and the store tells the table synchronously. With one, the queue says when the
        # route channel is heard.
        self.hearing = not shared
        self._routes: dict[int, Route] = {}
        self._served: Counter[int] = Counter()
        self._generation = 0
        store.on_route(self.apply)

    # -- lookups ----------------------------------------------------------------------

    def route(self, consult_id: int) -> Route:
        """The consult's route: from memory, or read once (and kept while it is served)."""
        route = self._routes.get(consult_id)
        if route is not None:
            return route
        generation = self._generation
        route = self.store.route(consult_id)
        if self.hearing and generation == self._generation and consult_id in self._served:
            self._keep(route)
        return route

    def phase(self, consult_id: int) -> Phase | None:
        return self.route(consult_id).phase

    def active(self, consult_id: int, side: Side) -> str:
        """The socket of `side`'s device in the call ('' while it is away)."""
        return self.route(consult_id).active(side)

    # -- what keeps it fresh --------------------------------------------------------------

    def apply(self, route: Route) -> None:
        """A route change, from the store (this process's writes) or the route channel."""
        if route.forgotten:
            self._routes.pop(route.consult_id, None)
        elif route.consult_id in self._routes or (
            self.hearing and route.consult_id in self._served
        ):
            self._keep(route)

    def _keep(self, route: Route) -> None:
        held = self._routes.get(route.consult_id)
        if held is None or route.version > held.version:
            self._routes[route.consult_id] = route

    def heard(self, hearing: bool) -> None:
        """The route channel was (re)subscribed, or lost: messages may have been missed in
        between, so everything held is read afresh."""
        self._generation += 1
        self._routes.clear()
        self.hearing = hearing

    # -- which consults are served here ---------------------------------------------------

    def serve(self, consult_id: int) -> None:
        """A socket of the consult connected to this process."""
        self._served[consult_id] += 1

    def release(self, consult_id: int) -> None:
        """A socket of the consult left; the route goes with the consult's last one here."""
        self._served[consult_id] -= 1
        if self._served[consult_id] <= 0:
            del self._served[consult_id]
            self._routes.pop(consult_id, None)

    def __len__(self) -> int:
        return len(self._routes)
