"""GET /setup: "Test your setup", any day. Everyone gets the camera, microphone and speaker
test; the setup link from a patient's emails and manage page adds the connection check
against the clinic's media worker (see setup_token.py for what the link's token grants)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, render_template, request

from ..clinic import Clinic, current_clinic
from ..db import utcnow
from ..extensions import limiter
from ..i18n_format import format_local
from ..models import Consult
from ..notify.links import public_link
from .setup_token import consult_for_setup_token, make_setup_token

bp = Blueprint("setup", __name__)

SETUP_PAGE_LIMIT = "30 per minute"


def setup_path(clinic: Clinic, consult: Consult) -> str:
    """The setup page's path with this consult's token: valid until its join link ends."""
    expires = consult.ends_at + clinic.live.rules.join_valid_after_end
    token = make_setup_token(clinic.config["SECRET_KEY"], consult.id, consult.join_nonce, expires)
    return f"/setup?token={token}"


def setup_link(clinic: Clinic, consult: Consult, root_url: str | None = None) -> str:
    """The absolute setup link for an email (PUBLIC_URL, see notify/links.py)."""
    return public_link(clinic.config, setup_path(clinic, consult), root_url)


@bp.get("/setup")
@limiter.limit(SETUP_PAGE_LIMIT)
def setup() -> Any:
    """Test your camera, microphone and speaker (and, with a setup link, your connection)."""
    clinic = current_clinic()
    token = request.args.get("token")
    context: dict[str, Any] = {"setup_token": "", "consult_label": "", "link_problem": False}
    if token:
        with clinic.db.sessions() as db_session:
            consult = consult_for_setup_token(
                db_session, current_app.config["SECRET_KEY"], token, utcnow()
            )
            if consult is None:
                context["link_problem"] = True
            else:
                g.booking_language = consult.language  # the page speaks the booking's
                context["setup_token"] = token
                context["consult_label"] = (
                    f"{consult.provider.name} · {format_local(consult.starts_at)}"
                )
    return render_template("setup.html", **context)


@bp.app_context_processor
def _setup_link_helper() -> dict[str, Any]:
    """`setup_path_for(consult)` in every template (the manage page links the setup page)."""
    return {"setup_path_for": lambda consult: setup_path(current_clinic(), consult)}
