"""The consult clock: every web process runs one; Redis makes each action happen once.

It asks the session service to act (warnings at 5 and 1 minute left, the end at 20:00, no-
shows, the rejoin window, reconciliation); this process's own duties (cutting disabled
staff's sockets, saying it is alive) ride along as sweeps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import redis

from ..db import utcnow
from .service import ConsultService

log = logging.getLogger(__name__)


class ConsultClock:
    """Ticks the live consults of the whole clinic."""

    SWEEP_EVERY = timedelta(seconds=2)
    OUTAGE_AFTER_FAILED_TICKS = 3

    def __init__(
        self,
        consults: ConsultService,
        tick_seconds: float,
        sleep: Callable[[float], object],
    ) -> None:
        self.consults = consults
        self.tick_seconds = tick_seconds
        self.sleep = sleep
        self.stopped = threading.Event()
        self._next_sweep = datetime.min.replace(tzinfo=utcnow().tzinfo)
        self.sweeps: list[Callable[[], object]] = []
        self.outage_handlers: list[Callable[[], object]] = []

    def tick(self, now: datetime) -> None:
        """One round of the service's clock, then this process's sweeps now and then."""
        self.consults.tick(now, pause=lambda: self.sleep(0))
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_EVERY
            for sweep in self.sweeps:
                sweep()

    def run(self) -> None:
        """Reconcile every live room once, then tick until stopped; an outage is logged and
        the next tick tries again."""
        failed_ticks = 0
        try:
            self.consults.reconcile_all(utcnow())
        except Exception:  # noqa: BLE001 - the first tick reconciles as well
            log.exception("start-up reconciliation failed")
        while not self.stopped.is_set():
            try:
                self.tick(utcnow())
                failed_ticks = 0
            except redis.RedisError as error:
                failed_ticks += 1
                log.warning("consult clock: Redis unavailable (%s)", type(error).__name__)
                if failed_ticks == self.OUTAGE_AFTER_FAILED_TICKS:
                    for handler in self.outage_handlers:
                        handler()
            except Exception:  # noqa: BLE001 - an SQL blip must not stop the clock
                log.exception("consult clock tick failed")
            self.sleep(self.tick_seconds)

    def stop(self) -> None:
        self.stopped.set()
