"""The setup link's token: lets a booked patient run the connection check any day before
the consult, without the join link (which only works around the consult's time).

A token names one consult and an expiry, signed with the app's secret and the consult's
join nonce, so it cannot be forged, stretched or moved to another consult. It grants only
the echo check of telehealth/signaling/setup_namespace.py, within the consult's hourly
budget of checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ..models import Consult, ConsultStatus

# 128 bits of the signature are plenty for a token that only buys a budgeted echo check.
_MAC_CHARS = 22
_MAX_TOKEN_CHARS = 80


@dataclass(frozen=True)
class SetupToken:
    """What a token says: which consult, and until when (UTC)."""

    consult_id: int
    expires_at: datetime


def _mac(secret_key: str, consult_id: int, expires: int, join_nonce: str) -> str:
    message = f"setup:{consult_id}:{expires}:{join_nonce}".encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:_MAC_CHARS]


def make_setup_token(
    secret_key: str, consult_id: int, join_nonce: str, expires_at: datetime
) -> str:
    """A token for this consult's setup link, valid until `expires_at`."""
    expires = int(expires_at.timestamp())
    return f"{consult_id}.{expires}.{_mac(secret_key, consult_id, expires, join_nonce)}"


def peek_setup_token(token: object) -> SetupToken | None:
    """The consult and expiry a token claims, before its signature is checked (None for junk)."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    if len(parts[0]) > 12 or len(parts[1]) > 12:
        return None
    return SetupToken(int(parts[0]), datetime.fromtimestamp(int(parts[1]), UTC))


def setup_token_valid(secret_key: str, token: str, join_nonce: str, now: datetime) -> bool:
    """Whether the token was signed for this consult's nonce and has not expired."""
    claim = peek_setup_token(token)
    if claim is None or claim.expires_at < now:
        return False
    expected = make_setup_token(secret_key, claim.consult_id, join_nonce, claim.expires_at)
    return hmac.compare_digest(expected.encode(), token.encode())


def consult_for_setup_token(
    db_session: Session, secret_key: str, token: object, now: datetime
) -> Consult | None:
    """The booked consult a genuine, unexpired setup token belongs to, or None."""
    claim = peek_setup_token(token)
    if claim is None or claim.expires_at < now:
        return None
    consult = db_session.get(Consult, claim.consult_id)
    if consult is None or consult.status != ConsultStatus.BOOKED or consult.is_probe:
        return None
    if not setup_token_valid(secret_key, str(token), consult.join_nonce, now):
        return None
    return consult
