"""The pre-call check's events: the patient's browser against a media worker's echo peer,
over the same ICE path as the call. On /consult in the lobby, and on /setup (the setup
link's check, any day before the consult)."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from ..clinic import Clinic
from ..db import utcnow
from ..sessions import Phase, Side
from ..sessions.state import join_window
from .context import current_sid
from .ice import ice_servers, spend_from_budget, turn_budget_key
from .media_namespace import MAX_PRECHECK_SDP, REFUSALS, PrecheckRefused
from .members import OK, UNAUTHORIZED, Member, refusal
from .messages import Invalid, parse_precheck, parse_signal
from .rooms import send_state

# The pre-call check runs before admission, so its TURN credential is short-lived.
PRECHECK_TURN_TTL = 300


class PrecheckEvents:
    """The check's events; mixed into ConsultNamespace (which provides the members) and
    SetupNamespace (which overrides `_precheck_consult`)."""

    app: Flask
    clinic: Clinic
    socketio: Any
    namespace: str

    def _require(self, side: Side) -> Member | None:
        raise NotImplementedError

    def _precheck_consult(self) -> tuple[int, None] | tuple[None, dict[str, Any]]:
        """The consult whose check this socket may run now, or the refusal."""
        member = self._require(Side.PATIENT)
        refused = self._precheck_refusal(member)
        if refused is not None or member is None:
            return None, refused or UNAUTHORIZED
        return member.consult_id, None

    def _precheck_ice(self, consult_id: int) -> dict[str, Any]:
        config = self.app.config
        return ice_servers(
            stun_urls=config["STUN_URLS"],
            turn_urls=config["TURN_URLS"],
            turn_secret=config["TURN_SECRET"],
            ttl=PRECHECK_TURN_TTL,
            user_tag=f"c{consult_id}-precheck",
            now=time.time(),
            transport_policy=config["ICE_TRANSPORT_POLICY"],
        )

    def _precheck_refusal(self, member: Member | None) -> dict[str, Any] | None:
        """The check is the patient's, in an open lobby, before the call; else why not."""
        if member is None:
            return UNAUTHORIZED
        live = self.clinic.live.get(member.consult_id)
        if live is None or live.phase not in (Phase.SCHEDULED, Phase.WAITING):
            return refusal("wrong_phase", "The connection check runs before the call only.")
        opens, closes = join_window(live.starts_at, live.ends_at_booked, self.clinic.live.rules)
        if not opens <= utcnow() <= closes:
            return refusal("not_open_yet", "The connection check opens with the waiting room.")
        return None

    def on_precheck_ice(self, data: Any = None) -> dict[str, Any]:
        """The ICE servers for the check: the same path as the call, credentials for 5 min."""
        consult_id, refused = self._precheck_consult()
        if consult_id is None:
            return refused or UNAUTHORIZED
        # Each answer is a TURN credential: a consult gets as many as it has checks an hour.
        if not spend_from_budget(
            self.clinic.redis,
            turn_budget_key(consult_id, "precheck"),
            self.app.config["PRECHECKS_PER_CONSULT_HOUR"],
        ):
            return refusal("precheck_budget", REFUSALS["precheck_budget"])
        return {**OK, **self._precheck_ice(consult_id)}

    def on_precheck_offer(self, data: Any) -> dict[str, Any]:
        consult_id, refused = self._precheck_consult()
        if consult_id is None:
            return refused or UNAUTHORIZED
        offer = parse_signal(data).get("description")
        if not offer or offer["type"] != "offer":
            raise Invalid("Send an offer description.", {"description": "offer"})
        if len(offer["sdp"]) > MAX_PRECHECK_SDP:
            raise Invalid(
                "The offer is too large for the connection check.",
                {"description.sdp": f"at most {MAX_PRECHECK_SDP} characters"},
            )
        ice = self._precheck_ice(consult_id)
        try:
            # The worker's answer comes back to this socket, on this namespace.
            check_id = self.app.extensions["precheck_broker"].start(
                current_sid(), consult_id, offer, ice, namespace=self.namespace
            )
        except PrecheckRefused as refused_check:
            return refusal(refused_check.code, refused_check.message)
        return {**OK, "check_id": check_id}

    def on_precheck_stop(self, data: Any) -> dict[str, Any]:
        check_id = data.get("check_id") if isinstance(data, dict) else None
        if isinstance(check_id, str):
            self.app.extensions["precheck_broker"].stop(check_id, current_sid())
        return OK

    def on_precheck_result(self, data: Any) -> dict[str, Any]:
        member = self._require(Side.PATIENT)
        if member is None:
            return UNAUTHORIZED
        result = parse_precheck(data)
        result["at"] = utcnow().isoformat()
        self.clinic.live.set_note(
            member.consult_id, "precheck", {k: str(v) for k, v in result.items()}
        )
        send_state(self.socketio, self.clinic, member.consult_id)
        return OK
