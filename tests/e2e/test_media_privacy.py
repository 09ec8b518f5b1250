"""The media worker against hostile offers, and what it writes in its log.

- an offer naming the cloud metadata address (169.254.169.254) gets no STUN packet sent there:
  a listener bound to that address inside the test's network namespace hears nothing, while
  the check itself still echoes the video over the allowed (loopback) candidates;
- the worker's log of a whole check names no IP address, at INFO.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
from collections.abc import Iterator

import pytest

from telehealth.client.precheck import PrecheckBrowser
from tests.e2e.test_media_worker import _wait_for_worker

METADATA = "169.254.169.254"
PORT = 9999
IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){3,7}[0-9A-Fa-f]{1,4}(?![\w:])|\[?::1\]?")


@pytest.fixture
def metadata_listener() -> Iterator[socket.socket]:
    """A UDP socket on 169.254.169.254 in this namespace: what an attacker wants probed."""
    subprocess.run(["ip", "addr", "add", f"{METADATA}/32", "dev", "lo"], check=True)
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((METADATA, PORT))
    listener.setblocking(False)
    try:
        yield listener
    finally:
        listener.close()
        subprocess.run(["ip", "addr", "del", f"{METADATA}/32", "dev", "lo"], check=False)


def name_the_metadata_address(sdp: str) -> str:
    """Add a top-priority host candidate at 169.254.169.254 to every media section."""
    bogus = f"a=candidate:666 1 udp 2147483000 {METADATA} {PORT} typ host\r\n"
    lines = sdp.splitlines(keepends=True)
    out = []
    for line in lines:
        if line.startswith("a=candidate:") and (not out or not out[-1].startswith("a=candidate:")):
            out.append(bogus)
        out.append(line)
    return "".join(out)


def _received(listener: socket.socket) -> list[bytes]:
    packets = []
    while True:
        try:
            packets.append(listener.recv(2048))
        except BlockingIOError:
            return packets


async def _check(server, rewrite=None) -> None:
    browser = PrecheckBrowser(server.url, server.book_now()["join_url"])
    try:
        ack = await browser.start(rewrite_offer=rewrite)
        assert ack["ok"], ack
        await asyncio.wait_for(browser.answer, 10)
        await browser.wait_frames(10)
    finally:
        await browser.close()


def test_an_offer_naming_the_metadata_address_sends_no_stun_there(live_server, metadata_listener):
    live_server.start_media()
    _wait_for_worker(live_server)
    # The bogus pair has the highest priority, so it would be checked before the one that
    # carries the echo: once frames come back, any packet for it has long arrived.
    asyncio.run(_check(live_server, name_the_metadata_address))
    assert _received(metadata_listener) == []


def test_the_workers_log_of_a_check_names_no_ip_address(live_server):
    live_server.start_media()
    _wait_for_worker(live_server)
    asyncio.run(_check(live_server))
    log = (live_server.instance / "media.log").read_text(errors="replace")
    assert "pre-call check" in log or "media worker connected" in log
    assert IPV4.findall(log) == [] and IPV6.findall(log) == [], log[-3000:]
