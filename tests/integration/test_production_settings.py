"""Production refuses to start with secrets an outsider could know (H2)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from telehealth.config import Config, UnsafeSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
TELEHEALTH = str(Path(sys.executable).parent / "telehealth")
GOOD = {
    "SECRET_KEY": secrets.token_hex(32),
    "MEDIA_SERVICE_TOKEN": secrets.token_hex(32),
    "TURN_SECRET": secrets.token_hex(32),
    "PUBLIC_URL": "https://consult.vaughan-physio.ca",
}


def _env_example() -> dict[str, str]:
    return {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in (REPO_ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    }


def _production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **values: str) -> Config:
    monkeypatch.setenv("TELEHEALTH_ENV", "production")
    for name in ("SECRET_KEY", "MEDIA_SERVICE_TOKEN", "TURN_SECRET", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Config(INSTANCE_PATH=tmp_path)


@pytest.mark.parametrize("name", ["SECRET_KEY", "MEDIA_SERVICE_TOKEN", "TURN_SECRET"])
@pytest.mark.parametrize(
    "bad", ["", "short-but-random-9f3a", "change-me-to-64-hex-characters-from-secrets-token-hex"]
)
def test_production_refuses_a_missing_short_or_placeholder_secret(tmp_path, monkeypatch, name, bad):
    config = _production(tmp_path, monkeypatch, **{**GOOD, name: bad})
    with pytest.raises(UnsafeSettings, match=name):
        config.validate()


def test_production_refuses_to_start_without_public_url(tmp_path, monkeypatch):
    values = {k: v for k, v in GOOD.items() if k != "PUBLIC_URL"}
    with pytest.raises(UnsafeSettings, match="PUBLIC_URL"):
        _production(tmp_path, monkeypatch, **values).validate()


def test_production_starts_with_generated_secrets(tmp_path, monkeypatch):
    _production(tmp_path, monkeypatch, **GOOD).validate()


def test_serve_with_the_env_example_values_exits_naming_each_setting(tmp_path):
    """What an operator who copied .env.example without editing it would run."""
    env = {**os.environ, **_env_example(), "INSTANCE_PATH": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [TELEHEALTH, "serve", "--host", "127.0.0.1", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    for name in ("SECRET_KEY", "MEDIA_SERVICE_TOKEN", "TURN_SECRET"):
        assert f"{name} is a placeholder" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_sqlite_database_is_readable_by_its_owner_only(app, clinic):
    """Another account on the same server must not read patients' names off the disk."""
    from sqlalchemy import make_url

    clinic.db.engine.dispose()
    with clinic.db.sessions() as session:  # a write, so the -wal file exists too
        from telehealth.demo import seed_demo

        seed_demo(session)
        session.commit()
    database = Path(make_url(app.config["DATABASE_URL"]).database or "")
    if app.config["DATABASE_URL"].startswith("postgresql"):
        return  # PostgreSQL's files belong to its own server account
    for file in (database, database.with_name(database.name + "-wal")):
        assert file.stat().st_mode & 0o077 == 0, f"{file.name} is {oct(file.stat().st_mode)}"


def test_the_daily_purge_runs_once_a_day_whoever_asks(app, clinic):
    """Patient data past retention goes without anyone remembering to run a command."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from telehealth.booking.retention import purge_if_due
    from telehealth.demo import seed_demo
    from telehealth.models import AuditEvent, Consult
    from tests.consults import instant_consult

    with clinic.db.transaction() as session:
        seed_demo(session)
    old = instant_consult(clinic)
    now = datetime.now(UTC) + timedelta(days=int(app.config["RETENTION_DAYS"]) + 1)
    assert purge_if_due(clinic, now) == (1, 1)
    assert purge_if_due(clinic, now) is None  # a second web process the same day
    with clinic.db.sessions() as session:
        assert session.get(Consult, old.id) is None
        purges = session.scalar(select(func.count()).where(AuditEvent.action == "retention.purged"))
    assert purges == 1
