"""Prometheus metrics at GET /metrics: live rooms from Redis, counters of this process."""

from __future__ import annotations

import hmac
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .clinic import Clinic
from .extensions import limiter

bp = Blueprint("metrics", __name__)


class LiveRoomsCollector(Collector):
    """Reads the shared live state at scrape time, so every process reports the same rooms."""

    def __init__(self, clinic: Clinic) -> None:
        self.clinic = clinic

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_phase = GaugeMetricFamily("telehealth_rooms", "Live consults by state", labels=["state"])
        waiting = GaugeMetricFamily("telehealth_waiting_patients", "Patients in a waiting room now")
        try:
            phases = Tally(
                str(c.phase) for c in map(self.clinic.live.get, self.clinic.live.live_ids()) if c
            )
            waiting.add_metric([], len(self.clinic.live.waiting_ids()))
        except Exception:  # noqa: BLE001 - a Redis outage must not break the scrape
            phases = Tally()
        for phase in ("scheduled", "waiting", "in_call"):
            by_phase.add_metric([phase], phases.get(phase, 0))
        yield by_phase
        yield waiting


class ClinicMetrics:
    """The counters one process keeps; created per app, never at import."""

    def __init__(self, clinic: Clinic) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(LiveRoomsCollector(clinic))
        self.consults_started = Counter(
            "telehealth_consults_started", "Calls admitted", registry=self.registry
        )
        self.consults_ended = Counter(
            "telehealth_consults_ended", "Calls ended", ["by"], registry=self.registry
        )
        self.no_shows = Counter("telehealth_no_shows", "No-shows", ["side"], registry=self.registry)
        self.signaling_events = Counter(
            "telehealth_signaling_events",
            "Socket.IO events handled",
            ["event"],
            registry=self.registry,
        )
        self.first_frame = Histogram(
            "telehealth_admit_to_first_frame_seconds",
            "Admit to the first decoded remote video frame, reported by browsers",
            buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30),
            registry=self.registry,
        )


def metrics_of(app: Flask | Any) -> ClinicMetrics:
    return app.extensions["metrics"]  # type: ignore[no-any-return]


def scraper_is_allowed() -> bool:
    """The scraper shows METRICS_TOKEN as a bearer token; without a token configured, only
    this machine may read the metrics (production refuses to start without one)."""
    token = str(current_app.config.get("METRICS_TOKEN") or "")
    if not token:
        return request.remote_addr in ("127.0.0.1", "::1")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.encode())


@bp.get("/metrics")
@limiter.exempt
def metrics() -> Response:
    """Prometheus text format, for the clinic's scraper only (nginx hides it as well)."""
    if not scraper_is_allowed():
        return Response(
            "metrics need the scraper's token\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body = generate_latest(metrics_of(current_app).registry)
    return Response(body, mimetype="text/plain; version=0.0.4")


def init_app(app: Flask) -> None:
    app.extensions["metrics"] = ClinicMetrics(app.extensions["clinic"])
    app.register_blueprint(bp)
