"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from .clinic import current_clinic
from .extensions import limiter

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Any:
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz() -> Any:
    """Ready when both SQL and Redis answer."""
    clinic = current_clinic()
    checks = {"sql": _sql_answers(clinic), "redis": _redis_answers(clinic)}
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    return jsonify(body), 200 if ready else 503


def _sql_answers(clinic: Any) -> bool:
    try:
        with clinic.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False


def _redis_answers(clinic: Any) -> bool:
    try:
        return bool(clinic.redis.ping())
    except Exception:  # noqa: BLE001
        return False
