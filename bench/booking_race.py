"""Benchmark: 500 concurrent bookings of one slot, on SQLite and PostgreSQL.

Prints one JSON object. PostgreSQL is used from BENCH_POSTGRES_URL (default: the local
server on 127.0.0.1:5432, database `test`) and skipped, with the reason, if it is down.
Its database is wiped: point it at a scratch database only.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from telehealth import create_app  # noqa: E402
from telehealth.booking.race import race_for_slot  # noqa: E402
from telehealth.config import Config  # noqa: E402
from telehealth.demo import seed_demo  # noqa: E402
from telehealth.embedded_redis import ensure_embedded_redis, stop_embedded_redis  # noqa: E402
from telehealth.migrate import upgrade  # noqa: E402

ATTEMPTS = int(os.environ.get("BENCH_ATTEMPTS", "500"))
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _fresh_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def run_race(database_url: str, redis_url: str, folder: Path) -> dict[str, object]:
    upgrade(database_url)
    app = create_app(
        Config(
            INSTANCE_PATH=folder,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            SECRET_KEY="bench",
            BOOKING_RATE_LIMIT="1000000 per minute",
            OUTBOX_PATH=folder / "outbox",
            SOCKETIO_ASYNC_MODE="threading",
        )
    )
    clinic = app.extensions["clinic"]
    with clinic.db.transaction() as session:
        seed_demo(session)
    first = date.today() + timedelta(days=1)
    slots = app.test_client().get(f"/api/v1/slots?from={first}&to={first + timedelta(days=7)}")
    result = race_for_slot(app, slots.get_json()["slots"][0], ATTEMPTS)
    clinic.close()
    return {
        "attempts": result.attempts,
        "successes": result.successes,
        "conflicts": result.conflicts,
        "other": {str(k): v for k, v in result.statuses.items() if k not in (201, 409)},
        "duration_s": round(result.seconds, 3),
        "double_bookings": max(0, result.successes - 1),
    }


def main() -> None:
    results: dict[str, object] = {"benchmark": "booking_race", "attempts": ATTEMPTS}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        redis_url = ensure_embedded_redis(folder / "redis")
        try:
            results["sqlite"] = run_race(
                f"sqlite:///{folder / 'race.sqlite3'}", redis_url, folder / "sqlite"
            )
            try:
                _fresh_postgres(POSTGRES_URL)
            except Exception as error:  # noqa: BLE001
                results["postgresql"] = {"skipped": f"PostgreSQL unavailable: {error}"}
            else:
                results["postgresql"] = run_race(POSTGRES_URL, redis_url, folder / "pg")
        finally:
            stop_embedded_redis(folder / "redis")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
