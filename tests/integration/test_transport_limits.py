"""What reaches /socket.io/ and how big a request may be, checked in process through the
whole WSGI stack (Engine.IO's middleware included), plus the limits nginx is given.

The memory these limits save is measured on real server processes in
tests/e2e/test_message_limits.py.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

NGINX_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


class UnreadableBody(io.RawIOBase):
    """A request body of `size` bytes that fails the test if anything reads it."""

    def __init__(self, size: int = 50 * 1024 * 1024) -> None:
        self.size, self.position = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = self.size + offset if whence == io.SEEK_END else offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the server read a body it should have refused unread")


def assert_refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.data
    assert response.get_json()["error"]["code"] == code
    assert set(response.get_json()["error"]) == {"code", "message", "fields"}
    assert response.headers["Connection"] == "close"
    for name in SECURITY_HEADERS:
        assert name in response.headers, name


@pytest.mark.parametrize(
    "query",
    [
        "EIO=4&transport=polling",
        "EIO=4&transport=polling&sid=abc",
        "EIO=4&transport=websocket",  # asks for a websocket without the Upgrade header
        "EIO=4",
    ],
)
def test_long_polling_is_refused_before_engineio(client, query):
    response = client.get(f"/socket.io/?{query}")
    assert_refused(response, 400, "websocket_only")


def test_a_polling_post_with_a_50_mib_body_is_refused_unread(client):
    response = client.post(
        "/socket.io/?EIO=4&transport=polling&sid=abc",
        input_stream=UnreadableBody(),
        headers={"Content-Type": "text/plain"},
    )
    assert_refused(response, 413, "too_large")


def test_a_50_mib_json_body_to_the_api_is_refused_unread(client):
    response = client.post(
        "/api/v1/bookings",
        input_stream=UnreadableBody(),
        headers={"Content-Type": "application/json"},
    )
    assert_refused(response, 413, "too_large")


def test_a_chunked_body_of_unknown_length_is_refused_unread(client):
    response = client.post(
        "/api/v1/bookings",
        input_stream=UnreadableBody(),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
    )
    assert_refused(response, 411, "length_required")


def test_an_upgrade_request_carrying_a_body_is_refused(client):
    response = client.get(
        "/socket.io/?EIO=4&transport=websocket",
        input_stream=UnreadableBody(10),
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )
    assert_refused(response, 400, "websocket_only")


def test_engineio_own_refusal_carries_the_security_headers(client):
    """An upgrade with an Engine.IO version we do not speak: Engine.IO's own 400."""
    response = client.get(
        "/socket.io/?EIO=3&transport=websocket",
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )
    assert response.status_code == 400
    assert b"unsupported version" in response.data
    for name in SECURITY_HEADERS:
        assert name in response.headers, name


def test_a_small_body_still_reaches_the_api(client):
    response = client.post("/api/v1/bookings", json={"provider_id": 1})
    assert response.status_code in (400, 409, 422), response.data


# -- nginx ---------------------------------------------------------------------------------


def nginx_block(text: str, opener: str, inside: int | None = None) -> str:
    """The body of the first block that starts with `opener`, or of the last one before
    position `inside` (braces balanced)."""
    at = text.index(opener) if inside is None else text.rindex(opener, 0, inside)
    start = text.index("{", at)
    depth = 0
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            return text[start + 1 : end]
    raise AssertionError(f"unbalanced block after {opener!r}")


def directives(block: str) -> dict[str, str]:
    """The block's own one-line directives (nested blocks' lines included: fine here)."""
    lines = (line.split("#", 1)[0].strip() for line in block.splitlines())
    return {
        line.split()[0]: line.rstrip(";").split(None, 1)[1]
        for line in lines
        if line.endswith(";") and " " in line
    }


def test_nginx_caps_bodies_headers_and_socketio_requests():
    conf = NGINX_CONF.read_text()
    https = nginx_block(conf, "server {", conf.index("listen 443"))
    server = directives(https.split("location", 1)[0])
    assert server["client_max_body_size"] == "64k"
    assert server["large_client_header_buffers"] == "4 8k"
    socket_io = nginx_block(https, "location /socket.io/")
    # Only websocket upgrades pass: long-polling and anything with a body stop at nginx.
    assert re.search(r"limit_except GET \{\s*deny all;\s*\}", socket_io)
    assert re.search(r'if \(\$http_upgrade !~\* "\^websocket\$"\) \{\s*return 400;', socket_io)
    assert "client_max_body_size" not in socket_io  # inherits the server's 64k
    assert directives(socket_io)["limit_conn"].startswith("sockets_per_address ")
    assert "limit_conn_zone $binary_remote_addr zone=sockets_per_address:" in conf
