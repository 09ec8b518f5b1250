"""The `telehealth` command: serve, init-db, create-user, seed-demo, book, purge."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click


def main() -> None:
    """Entry point; `serve` needs gevent's monkey patching before anything else loads."""
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        from gevent import monkey

        monkey.patch_all()
    from .config import UnsafeSettings

    try:
        cli(prog_name="telehealth")
    except UnsafeSettings as refusal:  # a setting to fix, not a bug: no traceback
        click.echo(f"telehealth: {refusal}", err=True)
        sys.exit(2)


def _app(**overrides: Any) -> Any:
    from . import create_app

    return create_app(**overrides)


def _clinic(app: Any) -> Any:
    return app.extensions["clinic"]


@click.group()
def cli() -> None:
    """Free 20-minute virtual physiotherapy consults."""
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@cli.command("init-db")
def init_db() -> None:
    """Apply database migrations (safe to run again)."""
    from .config import Config
    from .migrate import upgrade

    upgrade(Config().DATABASE_URL)
    click.echo("database is up to date")


@cli.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo clinic and staff logins (demo mode only)."""
    from .demo import DEMO_ADMIN_TOTP_SECRET, DEMO_LOGINS, DEMO_PASSWORD, seed_demo

    app = _app()
    if not app.config["DEMO_MODE"]:
        raise click.ClickException("seed-demo runs only in demo mode (DEMO_MODE=1)")
    with _clinic(app).db.transaction() as session:
        created = seed_demo(session)
    click.echo("demo data created" if created else "demo data already present")
    for email, role in DEMO_LOGINS:
        click.echo(f"  {role:16} {email}  password: {DEMO_PASSWORD}")
    click.echo(f"  admin two-step key (add to an authenticator app): {DEMO_ADMIN_TOTP_SECRET}")


@cli.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["physiotherapist", "admin"]), required=True)
@click.option("--provider-email", help="Link a physiotherapist login to this provider.")
def create_user(email: str, name: str, role: str, provider_email: str | None) -> None:
    """Add a staff login; the password is read from standard input."""
    from sqlalchemy import select

    from .models import Provider, StaffRole
    from .staff.accounts import create_staff_user
    from .staff.passwords import password_problem

    password = sys.stdin.readline().rstrip("\n")
    problem = password_problem(password)
    if problem:
        raise click.ClickException(f"the password (from standard input): {problem}")
    app = _app()
    with _clinic(app).db.transaction() as session:
        provider = None
        if provider_email:
            provider = session.scalars(
                select(Provider).where(Provider.email == provider_email.lower())
            ).first()
            if provider is None:
                raise click.ClickException(f"no provider with email {provider_email}")
        user = create_staff_user(
            session,
            email=email,
            name=name,
            password=password,
            role=StaffRole(role),
            provider=provider,
            actor="cli",
        )
    click.echo(f"created {role} login {user.email}")


def _base_url(app: Any) -> str:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "5000")
    return app.config["PUBLIC_URL"] or f"http://{host}:{port}"


@cli.command("book")
@click.option("--provider", "provider_email", required=True, help="The provider's email.")
@click.option("--now", "starts_now", is_flag=True, help="An instant consult starting now.")
@click.option("--start", help="ISO 8601 start with offset (instead of --now).")
@click.option("--patient-name", required=True)
@click.option("--patient-email", required=True)
@click.option("--patient-phone", default="905-555-0100", show_default=True)
@click.option("--reason", default="Booked by phone", show_default=True)
@click.option(
    "--language", default="en", show_default=True, help="The patient's language: en or fr."
)
def book(
    provider_email: str,
    starts_now: bool,
    start: str | None,
    patient_name: str,
    patient_email: str,
    patient_phone: str,
    reason: str,
    language: str,
) -> None:
    """Book a consult for a patient (phone bookings, tests); prints JSON with the links."""
    from sqlalchemy import select

    from .booking.service import BookingRefused, book_consult
    from .domain.booking_rules import InvalidBooking, parse_booking
    from .models import Provider

    if starts_now == bool(start):
        raise click.ClickException("give exactly one of --now or --start")
    app = _app()
    clinic = _clinic(app)
    now = datetime.now(UTC)
    begin = now.replace(microsecond=0) if starts_now else start
    with clinic.db.sessions() as session:
        provider = session.scalars(
            select(Provider).where(Provider.email == provider_email.strip().lower())
        ).first()
    if provider is None:
        raise click.ClickException(f"no provider with email {provider_email}")
    payload = {
        "provider_id": provider.id,
        "start": begin.isoformat() if isinstance(begin, datetime) else begin,
        "patient": {"name": patient_name, "email": patient_email, "phone": patient_phone},
        "reason": reason,
        "consent": True,
        "language": language,
    }
    try:
        booked = book_consult(
            clinic.db,
            parse_booking(payload),
            rules=clinic.consult_rules(),
            now=now,
            secret_key=app.config["SECRET_KEY"],
            consent_version=app.config["CONSENT_VERSION"],
            # Staff booking by phone is a deliberate decision: no calendar or once-a-year rule.
            free_period=timedelta(0),
            actor="cli",
            enforce_calendar=False,
        )
    except InvalidBooking as error:
        raise click.ClickException(json.dumps(error.fields)) from error
    except BookingRefused as error:
        raise click.ClickException(error.message) from error
    base = _base_url(app)
    click.echo(
        json.dumps(
            {
                "id": booked.consult.id,
                "provider_id": provider.id,
                "start": booked.consult.starts_at.isoformat(),
                "end": booked.consult.ends_at.isoformat(),
                "join_url": f"{base}/join/{booked.credentials.join}",
                "manage_url": f"{base}/manage/{booked.credentials.manage}",
                "staff_url": f"{base}/staff/consults/{booked.consult.id}",
            }
        )
    )


@cli.command("send-reminders")
def send_reminders_command() -> None:
    """Send the reminders that are due now (the server also does this every minute)."""
    from .booking.reminders import send_due_reminders

    app = _app()
    with app.app_context():  # the catalogs: each reminder speaks its booking's language
        sent = send_due_reminders(_clinic(app), _base_url(app), datetime.now(UTC))
    click.echo(f"{sent} reminder(s) sent")


@cli.command("purge")
@click.option("--days", type=int, help="Retention in days (default RETENTION_DAYS).")
def purge(days: int | None) -> None:
    """Remove patients' personal data older than the retention period."""
    from .booking.retention import purge_expired

    app = _app()
    keep = timedelta(days=days if days is not None else app.config["RETENTION_DAYS"])
    with _clinic(app).db.transaction() as session:
        consults, patients = purge_expired(session, datetime.now(UTC) - keep)
    click.echo(f"removed {consults} consult(s) and {patients} patient record(s)")


@cli.command("media")
@click.option(
    "--server",
    default=lambda: f"http://127.0.0.1:{os.environ.get('PORT', '5000')}",
    show_default="http://127.0.0.1:$PORT",
    help="The web server to signal through.",
)
def media(server: str) -> None:
    """Run a media worker: echo peers for the patients' pre-call check."""
    from .media.worker import run_worker

    run_worker(server)


@cli.command("probe")
@click.argument("base_url")
@click.option("--staff-email", envvar="PROBE_STAFF_EMAIL", help="A physiotherapist login.")
@click.option("--staff-password", envvar="PROBE_STAFF_PASSWORD")
def probe(base_url: str, staff_email: str | None, staff_password: str | None) -> None:
    """Run a synthetic consult through BASE_URL and print JSON timings (exit 1 on failure)."""
    import os as _os

    from .media.probe import main as run

    consult_id = _os.environ.get("PROBE_CONSULT_ID")
    if consult_id:  # started by the admin's "Run probe": the server made the consult
        status = run(
            base_url,
            service_token=_os.environ.get("MEDIA_SERVICE_TOKEN", ""),
            consult_id=int(consult_id),
            join_url=_os.environ["PROBE_JOIN_URL"],
        )
    else:
        if not staff_email or not staff_password:
            raise click.ClickException("give --staff-email and --staff-password")
        status = run(base_url, staff_email=staff_email, staff_password=staff_password)
    sys.exit(status)


@cli.command("serve")
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="HOST")
@click.option(
    "--port", type=int, default=lambda: int(os.environ.get("PORT", "5000")), show_default="PORT"
)
def serve(host: str, port: int) -> None:
    """Serve the clinic (Flask-SocketIO on gevent, websocket only)."""
    from .server import run_server

    run_server(host, port)
