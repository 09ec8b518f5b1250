"""docker-compose.yml is valid and describes the production stack that docs/deploy.md promises.

Runs `docker-compose config` (no Docker engine needed). Skipped when docker-compose is not
installed, unless REQUIRE_COMPOSE is set (as CI does), in which case that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
TURNSERVER_CONF = REPO_ROOT / "deploy" / "turnserver.conf"

SERVICES = {"web", "media", "redis", "postgres", "coturn", "nginx"}
SCALABLE = {"web", "media"}
# Variables the app reads in production; .env.example documents every one of them.
APP_VARIABLES = {
    "TELEHEALTH_ENV",
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "PUBLIC_URL",
    "ALLOWED_ORIGINS",
    "SMTP_URL",
    "CLINIC_NAME",
    "CLINIC_EMAIL",
    "CLINIC_PHONE",
    "TURN_URLS",
    "TURN_SECRET",
    "MEDIA_SERVICE_TOKEN",
    "SESSION_COOKIE_SECURE",
    "PORT",
    "HOST",
    "STUN_URLS",
    "TURN_TTL_SECONDS",
    "METRICS_TOKEN",
}
# Read by docker-compose.yml for ${...} substitution: the test's environment must not
# override what .env.example says.
COMPOSE_VARIABLES = {
    "TELEHEALTH_ENV_FILE",
    "POSTGRES_PASSWORD",
    "TURN_SECRET",
    "TURN_REALM",
    "TURN_EXTERNAL_IP",
    "TLS_CERTS_DIR",
    "ACME_WEBROOT",
}


def _compose_binary() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("REQUIRE_COMPOSE"):
            pytest.fail("REQUIRE_COMPOSE is set but docker-compose is not installed")
        pytest.skip(
            "docker-compose is not installed (apt-get install docker-compose); "
            "set REQUIRE_COMPOSE=1 to make this a failure"
        )
    return binary


def _run_compose(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in COMPOSE_VARIABLES and not k.startswith("COMPOSE_")
    }
    # The services' env_file is `.env`, which a checkout does not have: point it at the
    # example instead (docker-compose.yml reads TELEHEALTH_ENV_FILE for exactly this).
    env["TELEHEALTH_ENV_FILE"] = ".env.example"
    return subprocess.run(
        [_compose_binary(), "-f", "docker-compose.yml", "--env-file", ".env.example", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- reading `docker-compose config` output ------------------------------------------------
#
# PyYAML is not among the test dependencies, so the block-style YAML that `docker-compose
# config` prints is read by the small parser below (mappings, sequences, plain and quoted
# scalars, `{}`/`[]`, and plain scalars folded over several lines); PyYAML is used instead
# when it happens to be installed.

_KEY = re.compile(r"""^(?P<key>[^\s'"#][^:]*?|'[^']*'|"[^"]*"):(?:\s+(?P<rest>.*))?$""")


def _scalar(text: str) -> Any:
    text = text.strip()
    if text in ("{}", "null", "~", ""):
        return {} if text == "{}" else None
    if text == "[]":
        return []
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].encode().decode("unicode_escape")
    return text


def _parse_block_yaml(text: str) -> Any:
    lines = [
        (len(raw) - len(raw.lstrip(" ")), raw.strip())
        for raw in text.splitlines()
        if raw.strip() and not raw.lstrip().startswith("#")
    ]

    def node(i: int, indent: int) -> tuple[Any, int]:
        if lines[i][1] == "-" or lines[i][1].startswith("- "):
            return sequence(i, indent)
        return mapping(i, indent)

    def value_after(i: int, indent: int, rest: str | None) -> tuple[Any, int]:
        """The value of a key or item whose text after the marker is `rest`."""
        if rest:
            folded = [rest]
            while i < len(lines) and lines[i][0] > indent:  # a folded plain scalar
                folded.append(lines[i][1])
                i += 1
            return _scalar(" ".join(folded)), i
        if i < len(lines) and (
            lines[i][0] > indent or (lines[i][0] == indent and lines[i][1].startswith("-"))
        ):
            return node(i, lines[i][0])
        return None, i

    def mapping(i: int, indent: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
            match = _KEY.match(lines[i][1])
            if match is None:
                raise ValueError(f"not a mapping entry: {lines[i][1]!r}")
            result[_scalar(match["key"])], i = value_after(i + 1, indent, match["rest"])
        return result, i

    def sequence(i: int, indent: int) -> tuple[list[Any], int]:
        result: list[Any] = []
        while (
            i < len(lines)
            and lines[i][0] == indent
            and (lines[i][1] == "-" or lines[i][1].startswith("- "))
        ):
            item = lines[i][1][1:].strip()
            if _KEY.match(item):  # "- key: value" opens a mapping two columns in
                lines[i] = (indent + 2, item)
                value, i = mapping(i, indent + 2)
            else:
                value, i = value_after(i + 1, indent, item or None)
            result.append(value)
        return result, i

    parsed, end = node(0, lines[0][0])
    if end != len(lines):
        raise ValueError(f"unparsed YAML from line {end}: {lines[end][1]!r}")
    return parsed


def _load_yaml(text: str) -> Any:
    try:
        import yaml
    except ImportError:
        return _parse_block_yaml(text)
    return yaml.safe_load(text)


def _published(port: Any) -> list[tuple[int, str]]:
    """(host port, protocol) pairs a `ports:` entry publishes; empty for container-only."""
    if isinstance(port, dict):
        if port.get("published") in (None, ""):
            return []
        published = str(port["published"])
        protocol = str(port.get("protocol") or "tcp")
    else:  # short syntax: [ip:]host:container[/protocol]
        spec, _, protocol = str(port).partition("/")
        parts = spec.split(":")
        if len(parts) < 2:
            return []
        published, protocol = parts[-2], protocol or "tcp"
    first, _, last = published.partition("-")
    return [(p, protocol) for p in range(int(first), int(last or first) + 1)]


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = _run_compose("config")
    assert result.returncode == 0, result.stderr
    parsed = _load_yaml(result.stdout)
    assert isinstance(parsed, dict)
    return parsed


# --- tests -------------------------------------------------------------------------------


def test_compose_file_is_valid() -> None:
    result = _run_compose("config", "-q")
    assert result.returncode == 0, f"docker-compose config -q failed:\n{result.stderr}"


def test_block_yaml_reader_handles_compose_output() -> None:
    text = (
        "services:\n"
        "  web:\n"
        "    command:\n"
        "    - redis-server\n"
        "    - ''\n"
        '    - "no"\n'
        "    healthcheck:\n"
        "      test:\n"
        "      - CMD\n"
        "      - import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/x',\n"
        "        timeout=4)\n"
        "    networks:\n"
        "      edge: null\n"
        "    ports:\n"
        "    - protocol: udp\n"
        "      published: 3478\n"
        "      target: 3478\n"
        "volumes:\n"
        "  pgdata: {}\n"
    )
    assert _parse_block_yaml(text) == {
        "services": {
            "web": {
                "command": ["redis-server", "", "no"],
                "healthcheck": {
                    "test": [
                        "CMD",
                        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/x', "
                        "timeout=4)",
                    ]
                },
                "networks": {"edge": None},
                "ports": [{"protocol": "udp", "published": "3478", "target": "3478"}],
            }
        },
        "volumes": {"pgdata": {}},
    }


def test_every_service_is_there_with_a_health_check(config: dict[str, Any]) -> None:
    services = config["services"]
    assert SERVICES <= set(services), f"missing: {SERVICES - set(services)}"
    for name in SERVICES:
        check = services[name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable") and check.get("test") not in (None, ["NONE"]), name


def test_web_and_media_can_scale(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in SCALABLE:
        assert "container_name" not in services[name], name
        published = [p for entry in services[name].get("ports") or [] for p in _published(entry)]
        assert published == [], f"{name} publishes host ports {published}: it could not scale"
    assert "8000" in [str(port) for port in services["web"].get("expose", [])]
    assert services["media"]["command"] == ["telehealth", "media", "--server", "http://web:8000"]
    assert services["media"]["image"] == services["web"]["image"]


def test_web_waits_for_healthy_databases(config: dict[str, Any]) -> None:
    depends = config["services"]["web"]["depends_on"]
    for dependency in ("postgres", "redis"):
        assert depends[dependency]["condition"] == "service_healthy", dependency
    readiness = " ".join(config["services"]["web"]["healthcheck"]["test"])
    assert "/readyz" in readiness


def test_redis_keeps_no_files(config: dict[str, Any]) -> None:
    command = config["services"]["redis"]["command"]
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"


def test_nginx_publishes_http_and_https(config: dict[str, Any]) -> None:
    nginx = config["services"]["nginx"]
    published = {p for entry in nginx["ports"] for p in _published(entry)}
    assert {(80, "tcp"), (443, "tcp")} <= published
    assert nginx["depends_on"]["web"]["condition"] == "service_healthy"


def test_coturn_publishes_its_relay_range(config: dict[str, Any]) -> None:
    coturn = config["services"]["coturn"]
    assert coturn.get("network_mode") != "host"
    published = {p for entry in coturn["ports"] for p in _published(entry)}
    assert {(3478, "udp"), (3478, "tcp"), (5349, "tcp")} <= published
    settings = dict(
        line.split("=", 1)
        for line in TURNSERVER_CONF.read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    )
    relay = range(int(settings["min-port"]), int(settings["max-port"]) + 1)
    assert {(port, "udp") for port in relay} <= published, "relay ports not all published"
    assert not [p for p, proto in published if proto == "udp" and p not in relay and p != 3478], (
        "published UDP ports outside min-port..max-port"
    )
    assert any(arg.startswith("--static-auth-secret=") for arg in coturn["command"])


def test_env_example_documents_every_setting() -> None:
    defined = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    }
    assert APP_VARIABLES <= defined, f"missing from .env.example: {APP_VARIABLES - defined}"
    referenced = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE_FILE.read_text()))
    assert referenced - {"TELEHEALTH_ENV_FILE", "TURN_TLS_IP"} <= defined
