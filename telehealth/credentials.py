"""Join and manage credentials: unguessable, bound to one consult, never stored in clear."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

NONCE_BYTES = 16  # 128 random bits per credential


def new_nonce() -> str:
    """A fresh random nonce to store beside a consult."""
    return secrets.token_hex(NONCE_BYTES)


def derive_credential(secret_key: str, purpose: str, nonce: str) -> str:
    """The URL-safe credential for `purpose` ("join" or "manage") of one stored nonce."""
    digest = hmac.new(secret_key.encode(), f"{purpose}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def fingerprint(credential: str) -> str:
    """What the database stores and looks up: a hash of the credential."""
    return hashlib.sha256(credential.encode()).hexdigest()


def looks_like_credential(value: str) -> bool:
    """Cheap shape check so obvious junk never reaches the database."""
    return 20 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)
