"""Ways to hand an email over: a real SMTP server, or an outbox folder for development."""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10.0

Security = Literal["none", "tls", "starttls"]

_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("none", 25),
    "smtps": ("tls", 465),
    "smtp+starttls": ("starttls", 587),
}


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand one message over for delivery, raising if that fails."""


class MailDeliveryError(Exception):
    """The SMTP server would not take a message (details kept free of addresses)."""


class SmtpMailer:
    """Delivers through an SMTP server named by smtp://, smtps:// or smtp+starttls:// URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            # The URL may hold a password, so it never goes into an error message.
            raise ValueError(
                f"SMTP URL scheme must be one of {', '.join(_SCHEMES)}, not {scheme!r}"
            )
        if not parts.hostname:
            raise ValueError("SMTP URL has no host")
        self.security: Security
        self.security, default_port = _SCHEMES[scheme]
        self.host: str = parts.hostname
        self.port: int = parts.port or default_port
        self._username = unquote(parts.username) if parts.username else ""
        self._password = unquote(parts.password) if parts.password else ""

    def __repr__(self) -> str:
        return f"SmtpMailer(security={self.security!r}, host={self.host!r}, port={self.port})"

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the SMTP server, or raise."""
        try:
            with self._connect() as smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPException as error:
            # smtplib errors quote recipient addresses; callers log exceptions, so
            # re-raise with only the SMTP code and drop the original from the chain.
            code = getattr(error, "smtp_code", None)
            raise MailDeliveryError(
                f"SMTP server {self.host}:{self.port} refused the message "
                f"({type(error).__name__}, code {code})"
            ) from None
        log.info("email sent through %s:%s", self.host, self.port)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=SMTP_TIMEOUT_SECONDS,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)


class OutboxMailer:
    """Writes each message as an .eml file, so development needs no mail server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __repr__(self) -> str:
        return f"OutboxMailer(folder={str(self.folder)!r})"

    def send(self, message: EmailMessage) -> None:
        """Write the message to <folder>/<UTC timestamp>-<random>.eml."""
        # Messages hold patients' names and join links: keep them private to this user.
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / _outbox_filename()
        partial = path.with_name(path.name + ".part")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(message.as_bytes())
        # Renamed only when complete, so a watcher never opens half an email.
        os.replace(partial, path)
        log.info("email written to %s", path)


def _outbox_filename() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{secrets.token_hex(4)}.eml"


def mailer_from_config(smtp_url: str, outbox: Path) -> Mailer:
    """SMTP when a URL is configured, otherwise the outbox folder."""
    if smtp_url.strip():
        return SmtpMailer(smtp_url.strip())
    return OutboxMailer(outbox)
