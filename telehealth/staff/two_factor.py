"""Time-based one-time passwords (TOTP): required for admins, optional for physiotherapists."""

from __future__ import annotations

import base64
import io
import time

import pyotp
import qrcode
import qrcode.image.svg
import redis

ISSUER = "Clinic telehealth"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """The enrolment QR code as an inline SVG image (no image library needed)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def code_is_valid(
    secret: str, code: str, user_id: int, store: redis.Redis, now: float | None = None
) -> bool:
    """Accept the current code (±30 s), and never the same code twice."""
    code = "".join(ch for ch in code if ch.isdigit())
    moment = time.time() if now is None else now
    totp = pyotp.TOTP(secret)
    if len(code) != 6 or not totp.verify(code, for_time=moment, valid_window=1):
        return False
    # A code seen once is spent, so a shoulder-surfed code cannot be replayed.
    return bool(store.set(f"th:totp-used:{user_id}:{code}", "1", nx=True, ex=120))
