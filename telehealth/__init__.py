"""telehealth: free 20-minute virtual physiotherapy consults."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import Config
from .migrate import project_root

__all__ = ["create_app"]


def create_app(config: Config | None = None, **overrides: Any) -> Flask:
    """Build the web app: blueprints, extensions and the clinic's live objects."""
    config = config or Config(**overrides)
    config.validate()
    root = project_root()
    app = Flask(
        __name__,
        static_folder=str(root / "static"),
        template_folder=str(root / "templates"),
        instance_path=str(config.INSTANCE_PATH),
    )
    app.config.update(config.as_mapping())
    if config.PROXY_HOPS:
        # Behind nginx: trust exactly its X-Forwarded-* so rate limits see the real client.
        hops = config.PROXY_HOPS
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    config.INSTANCE_PATH.mkdir(parents=True, exist_ok=True)

    from .clinic import Clinic

    clinic = Clinic.from_config(app.config)
    app.extensions["clinic"] = clinic
    from . import metrics, web_sessions

    web_sessions.init_app(app, clinic.db)

    metrics.init_app(app)
    _init_extensions(app, clinic.redis_url)
    _register_blueprints(app)
    _register_template_helpers(app)
    return app


def _limiter_storage(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


def _init_extensions(app: Flask, redis_url: str) -> None:
    from . import access_log, errors, i18n, security, signaling
    from .extensions import csrf, limiter
    from .staff import auth

    app.config.setdefault("RATELIMIT_STORAGE_URI", _limiter_storage(redis_url))
    app.config.setdefault("RATELIMIT_STRATEGY", "fixed-window")
    # A Redis outage must not stop bookings: limits fall back to this process's memory.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)
    csrf.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    access_log.init_app(app)
    auth.init_app(app)
    signaling.init_app(app, redis_url)


def _register_blueprints(app: Flask) -> None:
    from .admin.views import bp as admin_bp
    from .api import staff as _staff_api  # noqa: F401 - its routes join the api blueprint
    from .api.views import bp as api_bp
    from .booking.views import bp as booking_bp
    from .consult.setup import bp as setup_bp
    from .consult.views import bp as consult_bp
    from .health import bp as health_bp
    from .staff.views import bp as staff_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(booking_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(consult_bp)
    app.register_blueprint(setup_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(admin_bp)


def _register_template_helpers(app: Flask) -> None:
    from .i18n_format import format_clock, format_local, translated

    # In the request's language ("jeudi 3 décembre 2026, 14 h 20 HNE" in French).
    app.jinja_env.filters["local_time"] = format_local
    app.jinja_env.filters["clock_time"] = format_clock
    app.jinja_env.filters["translated"] = translated
    app.jinja_env.globals["clinic_name"] = app.config["CLINIC_NAME"]
    app.jinja_env.globals["clinic_phone"] = app.config["CLINIC_PHONE"]
