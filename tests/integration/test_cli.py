"""The `telehealth` command's set-up commands, in-process through Click's runner."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from telehealth.cli import cli
from telehealth.models import StaffUser


def test_create_user_reads_the_password_from_stdin_and_hashes_it(app, clinic, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("REDIS_URL", app.config["REDIS_URL"])
    monkeypatch.setenv("INSTANCE_PATH", str(app.config["INSTANCE_PATH"]))
    result = CliRunner().invoke(
        cli,
        ["create-user", "--email", "New.Admin@Clinic.ca", "--name", "New Admin", "--role", "admin"],
        input="a-long-enough-password\n",
    )
    assert result.exit_code == 0, result.output
    with clinic.db.sessions() as session:
        user = session.scalars(
            select(StaffUser).where(StaffUser.email == "new.admin@clinic.ca")
        ).one()
    assert user.password_hash.startswith("$argon2id$")
    assert "a-long-enough-password" not in result.output


def test_create_user_refuses_a_short_password(app, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("REDIS_URL", app.config["REDIS_URL"])
    monkeypatch.setenv("INSTANCE_PATH", str(app.config["INSTANCE_PATH"]))
    result = CliRunner().invoke(
        cli,
        ["create-user", "--email", "x@clinic.ca", "--name", "X", "--role", "physiotherapist"],
        input="abcd1234\n",
    )
    assert result.exit_code != 0 and "12 characters" in result.output
